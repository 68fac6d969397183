/**
 * Verification of the mask regularisers: GPU vs the float64 reference on soft and one-hot
 * token distributions (clamps binding included) and past the loop cut-off, and the reference's
 * gradient vs finite differences.
 *
 * @module
 */

import { type Gpu, readBuffers, tensorBuffer, WORKGROUP_SIZE } from "../gpu.ts";
import { mulberry32 } from "../../base/rng.ts";
import {
  centralDifferences,
  type CheckResult,
  compare,
  drawUntil,
  f32SumTolerance,
  FD_STEP,
  fdChecks,
  type FixtureTensor,
  type KernelCheck,
  KINK_MARGIN,
} from "../verify.ts";
import { MaskRegularisersLaunch } from "./mask_regularisers.ts";
import {
  documentStatistics,
  maskRegularisersBackward,
  maskRegularisersForward,
  PROB_CEIL,
  PROB_FLOOR,
  type RegulariserShape,
  type RegulariserWeights,
} from "./reference.ts";

const KERNEL = "mask regularisers";

interface RegulariserCase {
  shape: RegulariserShape;
  lengths: number[];
  /** "soft": softmax of random logits per token; "one-hot": hard masks, clamps binding. */
  distributions: "soft" | "one-hot";
  weights: RegulariserWeights;
}

/** Softmax of logits drawn in [-2, 2) per token, zero rows at padding. */
function softDistributions(
  next: () => number,
  { B, L, T }: RegulariserShape,
  lengths: number[],
): Float64Array {
  const classes = T + 1;
  const p = new Float64Array(B * L * classes);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const row = p.subarray((b * L + l) * classes, (b * L + l + 1) * classes);
      row.forEach((_, c) => row[c] = Math.exp(4 * next() - 2));
      const total = row.reduce((s, v) => s + v, 0);
      row.forEach((v, c) => row[c] = v / total);
    }
  }
  return p;
}

/**
 * One-hot rows: document 0 all "none" (p_sel = 0, its clamp binds), document 1 all selected
 * (1 − p_sel = 0), document 2 alternating "none" and target 1, the rest random classes.
 */
function oneHotDistributions(
  next: () => number,
  { B, L, T }: RegulariserShape,
  lengths: number[],
): Float64Array {
  const classes = T + 1;
  const p = new Float64Array(B * L * classes);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const random = Math.floor(next() * classes);
      const chosen = [0, 1 + (random % T), l % 2][b] ?? random;
      p[(b * L + l) * classes + chosen] = 1;
    }
  }
  return p;
}

function label({ shape: { B, L, T }, lengths, distributions, weights }: RegulariserCase): string {
  const { lambdaP, wSel, wCont } = weights;
  return `B=${B} L=${L} T=${T} lengths=${lengths.join(",")} ${distributions} ` +
    `lambdaP=${lambdaP} wSel=${wSel} wCont=${wCont}`;
}

/** Longest chain of f32 additions in a strided workgroup sum of `terms` values. */
function chainLength(terms: number): number {
  return Math.ceil(terms / WORKGROUP_SIZE) + Math.log2(WORKGROUP_SIZE);
}

/**
 * The largest coefficients of dp's two parts, as sums of the magnitudes of their terms: the
 * coefficients are differences of such terms, so their rounding scales with these, not with dp.
 */
function gradientScales(
  p: Float64Array,
  { shape, lengths, weights: { lambdaP, wSel, wCont } }: RegulariserCase,
): { perNone: number; perStep: number } {
  const inside = (x: number) => x > PROB_FLOOR && x < PROB_CEIL;
  const term = (weight: number, x: number) => inside(x) ? weight / x : 0;
  let perNone = 0;
  let perStep = 0;
  for (let b = 0; b < shape.B; b++) {
    const len = lengths[b];
    if (len === 0) continue;
    const { selected, unselected, disagreement } = documentStatistics(p, lengths, shape, b);
    const none = wSel * (term(lambdaP, selected) + term(1 - lambdaP, unselected)) / len;
    // Kept where the lower clamp binds, so that the exact zeros there still have a tolerance.
    const step = wCont / ((1 - Math.min(disagreement, PROB_CEIL)) * len * (shape.T + 1));
    perNone = Math.max(perNone, none + 2 * step);
    perStep = Math.max(perStep, 2 * step);
  }
  return { perNone, perStep };
}

/** Class 0 of every row, and the other classes, of a [B,L,T+1] tensor. */
function splitNone(x: ArrayLike<number>, classes: number): [number[], number[]] {
  const none: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < x.length; i++) (i % classes === 0 ? none : targets).push(x[i]);
  return [none, targets];
}

async function parity(gpu: Gpu, regulariserCase: RegulariserCase): Promise<CheckResult[]> {
  const { shape, lengths, distributions, weights } = regulariserCase;
  const { B, L, T } = shape;
  const draw = distributions === "soft" ? softDistributions : oneHotDistributions;
  const p = Float64Array.from(Float32Array.from(draw(mulberry32(21), shape, lengths)));
  const buffers = {
    p: tensorBuffer(gpu, B * L * (T + 1), "p"),
    lengths: tensorBuffer(gpu, B, "lengths"),
    r: tensorBuffer(gpu, B, "r"),
    dp: tensorBuffer(gpu, B * L * (T + 1), "dp"),
  };
  gpu.device.queue.writeBuffer(buffers.p, 0, Float32Array.from(p));
  gpu.device.queue.writeBuffer(buffers.lengths, 0, Uint32Array.from(lengths));
  // dp starts as garbage: the backward must overwrite it, padding included.
  gpu.device.queue.writeBuffer(buffers.dp, 0, new Float32Array(B * L * (T + 1)).fill(7));
  const regularisers = new MaskRegularisersLaunch(gpu, shape, buffers, weights);
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  regularisers.encodeForward(pass);
  regularisers.encodeBackward(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const [r, dp] = (await readBuffers(gpu, [buffers.r, buffers.dp])).map((b) => new Float32Array(b));
  regularisers.destroy();
  Object.values(buffers).forEach((b) => b.destroy());

  // The statistics are sums of nonnegative terms with relative error ≤ chain·u; the losses are
  // −logs of them (absolute error ≤ chain·u each, as p_dis ≤ 2/(T+1) ≤ 1/2 here or is exact).
  const chain = chainLength(T + 1) + chainLength(L) + 2;
  const what = label(regulariserCase);
  const [dpNone, dpTargets] = splitNone(dp, T + 1);
  const [refNone, refTargets] = splitNone(
    maskRegularisersBackward(p, lengths, shape, weights),
    T + 1,
  );
  const scales = gradientScales(p, regulariserCase);
  return [
    compare(
      KERNEL,
      "forward parity",
      `r ${what}`,
      r,
      maskRegularisersForward(p, lengths, shape, weights),
      f32SumTolerance(chain, weights.wSel + weights.wCont),
    ),
    compare(
      KERNEL,
      "backward parity",
      `dp[:,:,0] ${what}`,
      dpNone,
      refNone,
      f32SumTolerance(chain, scales.perNone),
    ),
    compare(
      KERNEL,
      "backward parity",
      `dp[:,:,1:] ${what}`,
      dpTargets,
      refTargets,
      f32SumTolerance(chain, scales.perStep),
    ),
  ];
}

const WEIGHTS: RegulariserWeights = { lambdaP: 0.3, wSel: 0.25, wCont: 0.75 };

const CASES: RegulariserCase[] = [
  // One token, one target, and an empty document.
  { shape: { B: 2, L: 1, T: 1 }, lengths: [1, 0], distributions: "soft", weights: WEIGHTS },
  // T+1 = 71 classes: invocations stride unevenly.
  {
    shape: { B: 3, L: 7, T: 70 },
    lengths: [7, 3, 0],
    distributions: "soft",
    weights: { lambdaP: 0.05, wSel: 1 / 3, wCont: 2 / 3 },
  },
  // Exact zeros: both p_sel clamps bind, sign(0) at every equal pair.
  {
    shape: { B: 4, L: 6, T: 4 },
    lengths: [6, 5, 6, 3],
    distributions: "one-hot",
    weights: WEIGHTS,
  },
  // len·(T+1) = 72,008 and 1,100·64 = 70,400 elements per document, past llvmpipe's cut-off.
  { shape: { B: 1, L: 9, T: 9000 }, lengths: [8], distributions: "soft", weights: WEIGHTS },
  {
    shape: { B: 2, L: 1100, T: 63 },
    lengths: [1100, 700],
    distributions: "soft",
    weights: WEIGHTS,
  },
];

const FIXTURE_CASE = {
  shape: { B: 3, L: 4, T: 3 },
  lengths: [4, 3, 1],
  weights: { lambdaP: 0.3, wSel: 0.5, wCont: 1.25 },
};

/** Whether every neighbouring difference and every statistic stands clear of its kink. */
function kinkFree(p: Float64Array): boolean {
  const { shape: { B, L, T }, lengths } = FIXTURE_CASE;
  const classes = T + 1;
  const clear = (x: number) => x >= KINK_MARGIN && x <= 1 - KINK_MARGIN;
  for (let b = 0; b < B; b++) {
    for (let i = (b * L + 1) * classes; i < (b * L + lengths[b]) * classes; i++) {
      if (Math.abs(p[i] - p[i - classes]) < KINK_MARGIN) return false;
    }
    const { selected, unselected, disagreement } = documentStatistics(
      p,
      lengths,
      FIXTURE_CASE.shape,
      b,
    );
    if (!clear(selected) || !clear(unselected)) return false;
    if (lengths[b] > 1 && !clear(disagreement)) return false;
  }
  return true;
}

function makeFixture(): FixtureTensor[] {
  const { shape, lengths, weights } = FIXTURE_CASE;
  const { B, L, T } = shape;
  const next = mulberry32(29);
  const p = drawUntil(() => softDistributions(next, shape, lengths), kinkFree);
  const loss = () => maskRegularisersForward(p, lengths, shape, weights).reduce((s, v) => s + v, 0);
  return [
    { name: "p", shape: [B, L, T + 1], values: p, fdGrad: centralDifferences(p, loss, FD_STEP) },
    { name: "lengths", shape: [B], values: Float64Array.from(lengths) },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const [p, lengths] = ["p", "lengths"].map((n) => fixture.get(n)!.values);
  const { shape, weights } = FIXTURE_CASE;
  return fdChecks(KERNEL, fixture, { p: maskRegularisersBackward(p, lengths, shape, weights) });
}

/**
 * The mask regularisers' checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { maskRegularisersCheck } from "./check.ts";
 * console.log(maskRegularisersCheck.parityCases.length);
 * ```
 */
export const maskRegularisersCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "mask_regularisers.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((regulariserCase) => ({
    label: label(regulariserCase),
    run: (gpu) => parity(gpu, regulariserCase),
  })),
};
