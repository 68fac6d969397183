/**
 * Verification of the per-token (Gumbel-)softmax: GPU vs the float64 reference in every mode on
 * edge-case class counts (sparse mode with ties and with every target kept), hard mode's backward against the gumbel one, and the reference's
 * gradients vs finite differences.
 *
 * @module
 */

import { type Gpu, readBuffers, tensorBuffer, WORKGROUP_SIZE } from "../gpu.ts";
import { fillUniform, mulberry32 } from "../../base/rng.ts";
import {
  centralDifferences,
  type CheckResult,
  compare,
  f32SumTolerance,
  FD_STEP,
  fdChecks,
  type FixtureTensor,
  type KernelCheck,
  type ParityCase,
  type Tolerance,
} from "../verify.ts";
import {
  MAX_KEPT_TARGETS,
  type SoftmaxSampling,
  tokenSoftmaxBackward,
  tokenSoftmaxForward,
  type TokenSoftmaxShape,
} from "./reference.ts";
import { TokenSoftmaxLaunch } from "./token_softmax.ts";

const KERNEL = "token softmax";

/** One-hot outputs must match bit for bit (a zero atol would divide 0 by 0). */
const EXACT: Tolerance = { atol: Number.MIN_VALUE, rtol: 0 };

interface SoftmaxCase {
  shape: TokenSoftmaxShape;
  lengths: number[];
  sampling: SoftmaxSampling;
  /** Whether the backward gets a dp (else only dm). */
  withDp: boolean;
  /** s in m = s·p. */
  maskScale: number;
  /** Logits on a grid of 0.5, so that many classes tie (sparse mode's ranking). */
  ties?: boolean;
}

interface SoftmaxInputs {
  a: Float64Array; // a: [B,L,T+1], f32 values; padding filled too, to be ignored
  dp: Float64Array; // dp: [B,L,T+1]
  dm: Float64Array; // dm: [B,L,T]
}

/** Draws inputs already rounded to f32, so the reference sees exactly what the GPU sees. */
function drawInputs(
  next: () => number,
  { B, L, T }: TokenSoftmaxShape,
  ties = false,
): SoftmaxInputs {
  const f32 = (x: Float64Array) => Float64Array.from(Float32Array.from(x));
  const a = fillUniform(next, new Float64Array(B * L * (T + 1)), -2, 2);
  return {
    a: ties ? a.map((v) => Math.round(2 * v) / 2) : f32(a),
    dp: f32(fillUniform(next, new Float64Array(B * L * (T + 1)), -1, 1)),
    dm: f32(fillUniform(next, new Float64Array(B * L * T), -1, 1)),
  };
}

/** Longest chain of f32 additions in a strided workgroup sum of `terms` values. */
function chainLength(terms: number): number {
  return Math.ceil(terms / WORKGROUP_SIZE) + Math.log2(WORKGROUP_SIZE);
}

function label(
  { shape: { B, L, T }, lengths, sampling, withDp, maskScale, ties }: SoftmaxCase,
): string {
  const { mode, seed, step, tau, keepTargets } = sampling;
  const kept = mode === "sparse" ? ` keep=${keepTargets}` : "";
  return `B=${B} L=${L} T=${T} lengths=${lengths.join(",")} ${mode}${kept} seed=${seed} ` +
    `step=${step} tau=${tau} scale=${maskScale}${withDp ? "" : " no dp"}${ties ? " ties" : ""}`;
}

/** The GPU buffers of one case, with the inputs uploaded. */
function upload(gpu: Gpu, { shape: { B, L, T }, lengths, withDp }: SoftmaxCase, x: SoftmaxInputs) {
  const make = (elements: number, name: string, data?: Float64Array) => {
    const buffer = tensorBuffer(gpu, elements, name);
    if (data) gpu.device.queue.writeBuffer(buffer, 0, Float32Array.from(data));
    return buffer;
  };
  const buffers = {
    a: make(B * L * (T + 1), "a", x.a),
    lengths: tensorBuffer(gpu, B, "lengths"),
    p: make(B * L * (T + 1), "p"),
    m: make(B * L * T, "m"),
    dp: withDp ? make(B * L * (T + 1), "dp", x.dp) : undefined,
    dm: make(B * L * T, "dm", x.dm),
    da: make(B * L * (T + 1), "da"),
  };
  gpu.device.queue.writeBuffer(buffers.lengths, 0, Uint32Array.from(lengths));
  return buffers;
}

/** Runs forward then backward and reads p, m and da back. */
async function forwardBackward(gpu: Gpu, softmax: TokenSoftmaxLaunch, out: GPUBuffer[]) {
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  softmax.encodeForward(pass);
  softmax.encodeBackward(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  return (await readBuffers(gpu, out)).map((b) => new Float32Array(b));
}

async function parity(gpu: Gpu, softmaxCase: SoftmaxCase): Promise<CheckResult[]> {
  const { shape, lengths, sampling, withDp, maskScale, ties } = softmaxCase;
  const inputs = drawInputs(mulberry32(5), shape, ties);
  const buffers = upload(gpu, softmaxCase, inputs);
  // Built at step 0, then moved to the case's step as a training loop would.
  const softmax = new TokenSoftmaxLaunch(gpu, shape, buffers, { ...sampling, step: 0 }, {
    maskScale,
  });
  softmax.setStep(sampling.step);
  const [p, m, da] = await forwardBackward(gpu, softmax, [buffers.p, buffers.m, buffers.da]);
  softmax.destroy();
  Object.values(buffers).forEach((b) => b?.destroy());

  const fwd = tokenSoftmaxForward(inputs.a, lengths, shape, sampling, maskScale);
  const dp = withDp ? inputs.dp : undefined;
  const refDa = tokenSoftmaxBackward(
    fwd.pSoft,
    dp,
    inputs.dm,
    lengths,
    shape,
    sampling.tau,
    maskScale,
  );
  const chain = chainLength(shape.T + 1);
  const maxP = Math.max(...fwd.pSoft);
  const hard = sampling.mode === "hard";
  // m = s·p is one more rounding; one-hot p times an integer s is exact.
  const probabilities = hard ? EXACT : f32SumTolerance(chain, maxP);
  const masks = hard ? EXACT : f32SumTolerance(chain + 1, maskScale * maxP);
  // da = ps·(gp − dot)/τ: the dot's rounding, at most chain·u·max|gp|, scaled by ps/τ.
  const maxGrad = (withDp ? 1 : 0) + maskScale;
  const what = label(softmaxCase);
  return [
    compare(KERNEL, "forward parity", `p ${what}`, p, fwd.p, probabilities),
    compare(KERNEL, "forward parity", `m ${what}`, m, fwd.m, masks),
    compare(
      KERNEL,
      "backward parity",
      `da ${what}`,
      da,
      refDa,
      f32SumTolerance(chain, maxGrad * maxP / sampling.tau),
    ),
  ];
}

/**
 * Hard mode on the GPU against gumbel mode on the same launcher and noise: the backward must be
 * the same bit for bit, the forward the one-hot of the gumbel p's first arg-max.
 */
async function hardIsStraightThrough(gpu: Gpu, softmaxCase: SoftmaxCase): Promise<CheckResult[]> {
  const { shape: { B, L, T }, lengths, sampling, maskScale } = softmaxCase;
  const buffers = upload(gpu, softmaxCase, drawInputs(mulberry32(9), softmaxCase.shape));
  const softmax = new TokenSoftmaxLaunch(gpu, softmaxCase.shape, buffers, sampling, {
    maskScale,
  });
  const out = [buffers.p, buffers.da];
  softmax.configure({ mode: "gumbel" });
  const [pGumbel, daGumbel] = await forwardBackward(gpu, softmax, out);
  softmax.configure({ mode: "hard" });
  const [pHard, daHard] = await forwardBackward(gpu, softmax, out);
  softmax.destroy();
  Object.values(buffers).forEach((b) => b?.destroy());

  const classes = T + 1;
  const oneHot = new Float64Array(B * L * classes);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const row = pGumbel.subarray((b * L + l) * classes, (b * L + l + 1) * classes);
      oneHot[(b * L + l) * classes + row.indexOf(Math.max(...row))] = 1;
    }
  }
  const what = `${label(softmaxCase)}, hard vs gumbel on the GPU`;
  return [
    compare(KERNEL, "forward parity", `p ${what}`, pHard, oneHot, EXACT),
    compare(KERNEL, "backward parity", `da ${what}`, daHard, daGumbel, EXACT),
  ];
}

const GUMBEL: SoftmaxSampling = { mode: "gumbel", seed: 1909, step: 11, tau: 0.5 };
const SOFT: SoftmaxSampling = { ...GUMBEL, mode: "soft", tau: 1.5 };
const HARD: SoftmaxSampling = { ...GUMBEL, mode: "hard" };
const sparse = (keepTargets: number, sampled = false): SoftmaxSampling => ({
  ...SOFT,
  mode: sampled ? "sparse-sampled" : "sparse",
  keepTargets,
});

const CASES: SoftmaxCase[] = [
  // T+1 = 2: one class per invocation, 62 invocations idle.
  ...[SOFT, GUMBEL, HARD].map((sampling) => ({
    shape: { B: 2, L: 3, T: 1 },
    lengths: [3, 1],
    sampling,
    withDp: true,
    maskScale: 2,
  })),
  // T+1 = 64 exactly, and T+1 = 71: some invocations stride twice; an empty document.
  {
    shape: { B: 2, L: 2, T: 63 },
    lengths: [2, 1],
    sampling: GUMBEL,
    withDp: false,
    maskScale: 1,
  },
  ...[SOFT, GUMBEL, HARD].map((sampling, i) => ({
    shape: { B: 3, L: 4, T: 70 },
    lengths: [4, 2, 0],
    sampling: { ...sampling, step: 100 + i },
    withDp: i !== 1,
    maskScale: 71,
  })),
  // ICD-sized: 9,001 classes, 141 per invocation per pass.
  ...[GUMBEL, HARD].map((sampling) => ({
    shape: { B: 1, L: 3, T: 9000 },
    lengths: [2],
    sampling,
    withDp: true,
    maskScale: 9001,
  })),
  // Sparse: keep ≥ T (all kept), keep = T + 1, and 8 of 70 with and without many ties.
  { shape: { B: 2, L: 3, T: 1 }, lengths: [3, 1], sampling: sparse(1), withDp: true, maskScale: 2 },
  { shape: { B: 1, L: 2, T: 5 }, lengths: [2], sampling: sparse(6), withDp: false, maskScale: 7 },
  ...[false, true].map((ties) => ({
    shape: { B: 3, L: 4, T: 70 },
    lengths: [4, 2, 0],
    sampling: sparse(8),
    withDp: true,
    maskScale: 9,
    ties,
  })),
  // Sampled: the kept targets drawn by Gumbel top-k, the softmax noise-free.
  ...[70, 9000].map((T) => ({
    shape: { B: 2, L: 3, T },
    lengths: [3, 1],
    sampling: sparse(8, true),
    withDp: true,
    maskScale: 9,
  })),
  // ICD-sized, at the most targets a token may keep: 141 targets per invocation, 33 trips each.
  ...[8, MAX_KEPT_TARGETS].map((keep) => ({
    shape: { B: 1, L: 3, T: 9000 },
    lengths: [3],
    sampling: sparse(keep),
    withDp: true,
    maskScale: keep + 1,
    ties: keep === 8,
  })),
];

const STRAIGHT_THROUGH_CASE: SoftmaxCase = {
  shape: { B: 3, L: 4, T: 70 },
  lengths: [4, 1, 0],
  sampling: HARD,
  withDp: true,
  maskScale: 71,
};

const FIXTURE_SHAPE: TokenSoftmaxShape = { B: 2, L: 3, T: 3 };
const FIXTURE_LENGTHS = [3, 2];
/** T + 1, as the model uses. */
const FIXTURE_MASK_SCALE = 4;
/** The fixture's soft and gumbel draws (the FD fixture cannot check hard mode: it is flat). */
const FIXTURE_SAMPLINGS: SoftmaxSampling[] = [
  { mode: "soft", seed: 0, step: 0, tau: 0.75 },
  { mode: "gumbel", seed: 20190925, step: 3, tau: 0.75 },
  // Two of three targets: the logits (and noisy scores) are far from the selection boundary at
  // FD's step.
  { mode: "sparse", seed: 0, step: 0, tau: 0.75, keepTargets: 2 },
  { mode: "sparse-sampled", seed: 20190925, step: 3, tau: 0.75, keepTargets: 2 },
];

function fixtureLoss(
  a: Float64Array,
  Gp: Float64Array,
  Gm: Float64Array,
  sampling: SoftmaxSampling,
): number {
  const { p, m } = tokenSoftmaxForward(
    a,
    FIXTURE_LENGTHS,
    FIXTURE_SHAPE,
    sampling,
    FIXTURE_MASK_SCALE,
  );
  return p.reduce((s, v, i) => s + v * Gp[i], 0) + m.reduce((s, v, i) => s + v * Gm[i], 0);
}

function makeFixture(): FixtureTensor[] {
  const { B, L, T } = FIXTURE_SHAPE;
  const next = mulberry32(17);
  const a = fillUniform(next, new Float64Array(B * L * (T + 1)), -2, 2);
  const Gp = fillUniform(next, new Float64Array(B * L * (T + 1)), -1, 1);
  const Gm = fillUniform(next, new Float64Array(B * L * T), -1, 1);
  return [
    ...FIXTURE_SAMPLINGS.map((sampling) => ({
      name: `a_${sampling.mode}`,
      shape: [B, L, T + 1],
      values: a,
      fdGrad: centralDifferences(a, () => fixtureLoss(a, Gp, Gm, sampling), FD_STEP),
    })),
    { name: "Gp", shape: [B, L, T + 1], values: Gp },
    { name: "Gm", shape: [B, L, T], values: Gm },
    { name: "lengths", shape: [B], values: Float64Array.from(FIXTURE_LENGTHS) },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const [Gp, Gm, lengths] = ["Gp", "Gm", "lengths"].map((n) => fixture.get(n)!.values);
  const analytic = Object.fromEntries(FIXTURE_SAMPLINGS.map((sampling) => {
    const name = `a_${sampling.mode}`;
    const a = fixture.get(name)!.values;
    const { pSoft } = tokenSoftmaxForward(a, lengths, FIXTURE_SHAPE, sampling, FIXTURE_MASK_SCALE);
    const tau = sampling.tau;
    return [
      name,
      tokenSoftmaxBackward(pSoft, Gp, Gm, lengths, FIXTURE_SHAPE, tau, FIXTURE_MASK_SCALE),
    ];
  }));
  return fdChecks(KERNEL, fixture, analytic);
}

const straightThrough: ParityCase = {
  label: `${label(STRAIGHT_THROUGH_CASE)}: hard backward = gumbel backward`,
  run: (gpu) => hardIsStraightThrough(gpu, STRAIGHT_THROUGH_CASE),
};

/**
 * The token softmax's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { tokenSoftmaxCheck } from "./check.ts";
 * console.log(tokenSoftmaxCheck.parityCases.length);
 * ```
 */
export const tokenSoftmaxCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "token_softmax.csv", make: makeFixture, check: checkFixture },
  parityCases: [
    ...CASES.map((softmaxCase) => ({
      label: label(softmaxCase),
      run: (gpu: Gpu) => parity(gpu, softmaxCase),
    })),
    straightThrough,
  ],
};
