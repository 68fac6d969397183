/**
 * Verification of the masker's bidirectional LSTM and output layer: GPU vs the float64 reference
 * on edge-case shapes, and the reference's gradients vs finite differences.
 *
 * @module
 */

import { type Gpu, readBuffers, tensorBuffer } from "../gpu.ts";
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
  type Tolerance,
} from "../verify.ts";
import { type LstmParameters, MaskerLstmLaunch } from "./masker_lstm.ts";
import {
  type LstmWeights,
  maskerLstmBackward,
  maskerLstmForward,
  type MaskerLstmShape,
  type MaskerLstmWeights,
} from "./reference.ts";

const KERNEL = "masker lstm";

interface LstmCase {
  shape: MaskerLstmShape;
  lengths: number[];
  /** Run the backward adding into a dx that already holds values. */
  accumulate?: boolean;
}

interface LstmInputs {
  x: Float64Array; // x: [B,L,D]
  weights: MaskerLstmWeights;
  da: Float64Array; // da: [B,L,T+1], 0 at padding
}

function drawInputs(next: () => number, { shape, lengths }: LstmCase): LstmInputs {
  const { B, L, D, H, classes } = shape;
  const x = fillUniform(next, new Float64Array(B * L * D), -1, 1);
  const lstm = (): LstmWeights => ({
    Wx: fillUniform(next, new Float64Array(D * 4 * H), -0.5, 0.5),
    Wh: fillUniform(next, new Float64Array(H * 4 * H), -0.5, 0.5),
    bias: fillUniform(next, new Float64Array(4 * H), -0.5, 0.5),
  });
  const weights = {
    fwd: lstm(),
    bwd: lstm(),
    Wo: fillUniform(next, new Float64Array(2 * H * classes), -1, 1),
    bo: fillUniform(next, new Float64Array(classes), -1, 1),
  };
  const da = fillUniform(next, new Float64Array(B * L * classes), -1, 1);
  for (let b = 0; b < B; b++) da.fill(0, (b * L + lengths[b]) * classes, (b + 1) * L * classes);
  return { x, weights, da };
}

function label({ shape: { B, L, D, H, classes }, lengths, accumulate }: LstmCase): string {
  const added = accumulate ? " dx accumulated" : "";
  const shown = lengths.length > 6 ? `${lengths.slice(0, 6).join(",")},…` : lengths.join(",");
  return `B=${B} L=${L} D=${D} H=${H} T+1=${classes} lengths=${shown}${added}`;
}

/** The GPU results of one forward + backward, read back. */
interface GpuRun {
  u: Float32Array;
  a: Float32Array;
  dx: Float32Array;
  grads: Record<string, Float32Array>;
}

async function runGpu(
  gpu: Gpu,
  { shape, lengths, accumulate }: LstmCase,
  inputs: LstmInputs,
  dx0: Float64Array, // dx0: [B,L,D], what dx holds before the backward
): Promise<GpuRun> {
  const { B, D, H, classes } = shape;
  const created: GPUBuffer[] = [];
  const make = (data: ArrayLike<number> | number, name: string) => {
    const buffer = tensorBuffer(gpu, typeof data === "number" ? data : data.length, name);
    if (typeof data !== "number") gpu.device.queue.writeBuffer(buffer, 0, Float32Array.from(data));
    created.push(buffer);
    return buffer;
  };
  const lstm = (w: LstmWeights, name: string): LstmParameters => ({
    Wx: make(w.Wx, `${name} Wx`),
    Wh: make(w.Wh, `${name} Wh`),
    bias: make(w.bias, `${name} bias`),
    dWx: make(D * 4 * H, `${name} dWx`),
    dWh: make(H * 4 * H, `${name} dWh`),
    dbias: make(4 * H, `${name} dbias`),
  });
  const { weights } = inputs;
  const parameters = {
    fwd: lstm(weights.fwd, "fwd"),
    bwd: lstm(weights.bwd, "bwd"),
    Wo: make(weights.Wo, "Wo"),
    bo: make(weights.bo, "bo"),
    dWo: make(2 * H * classes, "dWo"),
    dbo: make(classes, "dbo"),
  };
  const lengthsBuffer = make(B, "lengths");
  gpu.device.queue.writeBuffer(lengthsBuffer, 0, Uint32Array.from(lengths));
  const io = { x: make(inputs.x, "x"), lengths: lengthsBuffer, dx: make(dx0, "dx") };
  const masker = new MaskerLstmLaunch(gpu, shape, parameters, io, { accumulate });
  const { u, a, da } = masker.activations;
  gpu.device.queue.writeBuffer(da, 0, Float32Array.from(inputs.da));
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  masker.encodeForward(pass);
  masker.encodeBackward(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const gradBuffers = {
    "fwd Wx": parameters.fwd.dWx,
    "fwd Wh": parameters.fwd.dWh,
    "fwd bias": parameters.fwd.dbias,
    "bwd Wx": parameters.bwd.dWx,
    "bwd Wh": parameters.bwd.dWh,
    "bwd bias": parameters.bwd.dbias,
    Wo: parameters.dWo,
    bo: parameters.dbo,
  };
  const read = (await readBuffers(gpu, [u, a, io.dx, ...Object.values(gradBuffers)]))
    .map((b) => new Float32Array(b));
  masker.destroy();
  created.forEach((b) => b.destroy());
  const names = Object.keys(gradBuffers);
  return {
    u: read[0],
    a: read[1],
    dx: read[2],
    grads: Object.fromEntries(names.map((n, i) => [n, read[3 + i]])),
  };
}

/**
 * Tolerances of one case, counting the products each result sums along its whole dependency
 * chain: a step's pre-activation sums D + H + 1 products of magnitude ≤ 1 and h at step s depends
 * on every step before it (L·(D + H + 1) in all); a step of the backward adds the 4H recurrent
 * products and the T+1 of du; reductions over positions add B·L terms on top.
 */
function tolerances({ shape: { B, L, D, H, classes } }: LstmCase) {
  const forwardChain = L * (D + H + 1);
  const backwardChain = forwardChain + L * (4 * H + classes);
  const rows = B * L;
  return {
    u: f32SumTolerance(forwardChain, 1),
    a: f32SumTolerance(forwardChain + 2 * H + 1, 1),
    dx: f32SumTolerance(backwardChain + 2 * 4 * H, 1),
    lstmWeights: f32SumTolerance(backwardChain + rows, 1),
    outputWeights: f32SumTolerance(forwardChain + rows, 1),
  } satisfies Record<string, Tolerance>;
}

async function parity(gpu: Gpu, lstmCase: LstmCase): Promise<CheckResult[]> {
  const { shape, lengths, accumulate } = lstmCase;
  const next = mulberry32(23);
  const inputs = drawInputs(next, lstmCase);
  const dx0 = accumulate
    ? fillUniform(next, new Float64Array(inputs.x.length), -1, 1)
    : new Float64Array(inputs.x.length);
  const run = await runGpu(gpu, lstmCase, inputs, dx0);

  const fwd = maskerLstmForward(inputs.x, lengths, inputs.weights, shape);
  const ref = maskerLstmBackward(inputs.x, lengths, inputs.weights, fwd, inputs.da, shape);
  const w = ref.weights;
  const tol = tolerances(lstmCase);
  const expected: [string, Float64Array, Tolerance][] = [
    ["fwd Wx", w.fwd.Wx, tol.lstmWeights],
    ["fwd Wh", w.fwd.Wh, tol.lstmWeights],
    ["fwd bias", w.fwd.bias, tol.lstmWeights],
    ["bwd Wx", w.bwd.Wx, tol.lstmWeights],
    ["bwd Wh", w.bwd.Wh, tol.lstmWeights],
    ["bwd bias", w.bwd.bias, tol.lstmWeights],
    ["Wo", w.Wo, tol.outputWeights],
    ["bo", w.bo, tol.outputWeights],
  ];
  const what = label(lstmCase);
  return [
    compare(KERNEL, "forward parity", `u ${what}`, run.u, fwd.u, tol.u),
    compare(KERNEL, "forward parity", `a ${what}`, run.a, fwd.a, tol.a),
    compare(
      KERNEL,
      "backward parity",
      `dx ${what}`,
      run.dx,
      ref.dx.map((v, i) => v + dx0[i]),
      tol.dx,
    ),
    ...expected.map(([name, values, tolerance]) =>
      compare(KERNEL, "backward parity", `d(${name}) ${what}`, run.grads[name], values, tolerance)
    ),
  ];
}

const CASES: LstmCase[] = [
  { shape: { B: 2, L: 1, D: 3, H: 4, classes: 3 }, lengths: [1, 0] },
  { shape: { B: 3, L: 5, D: 4, H: 3, classes: 2 }, lengths: [0, 1, 5] },
  { shape: { B: 2, L: 6, D: 2, H: 1, classes: 4 }, lengths: [6, 3] },
  // B·H = 65 invocations per step: one past a workgroup.
  {
    shape: { B: 5, L: 7, D: 6, H: 13, classes: 5 },
    lengths: [7, 2, 5, 1, 6],
    accumulate: true,
  },
  { shape: { B: 2, L: 4, D: 10, H: 100, classes: 71 }, lengths: [4, 3] },
  // 60 steps each way; the reductions over B·L = 8,400 positions pass MATMUL_K_CHUNK.
  {
    shape: { B: 140, L: 60, D: 3, H: 5, classes: 3 },
    lengths: Array.from({ length: 140 }, (_, b) => b === 0 ? 60 : 1 + (b * 37) % 60),
  },
];

const FIXTURE_CASE: LstmCase = {
  shape: { B: 2, L: 4, D: 3, H: 2, classes: 3 },
  lengths: [4, 2],
};

function makeFixture(): FixtureTensor[] {
  const { shape, lengths } = FIXTURE_CASE;
  const { B, L, D, H, classes } = shape;
  const { x, weights, da } = drawInputs(mulberry32(29), FIXTURE_CASE);
  const loss = () =>
    maskerLstmForward(x, lengths, weights, shape).a.reduce((s, a, i) => s + a * da[i], 0);
  const fd = (values: Float64Array) => centralDifferences(values, loss, FD_STEP);
  const lstm = (direction: "fwd" | "bwd"): FixtureTensor[] => {
    const { Wx, Wh, bias } = weights[direction];
    return [
      { name: `Wx_${direction}`, shape: [D, 4 * H], values: Wx, fdGrad: fd(Wx) },
      { name: `Wh_${direction}`, shape: [H, 4 * H], values: Wh, fdGrad: fd(Wh) },
      { name: `bias_${direction}`, shape: [4 * H], values: bias, fdGrad: fd(bias) },
    ];
  };
  return [
    { name: "x", shape: [B, L, D], values: x, fdGrad: fd(x) },
    ...lstm("fwd"),
    ...lstm("bwd"),
    { name: "Wo", shape: [2 * H, classes], values: weights.Wo, fdGrad: fd(weights.Wo) },
    { name: "bo", shape: [classes], values: weights.bo, fdGrad: fd(weights.bo) },
    { name: "G", shape: [B, L, classes], values: da },
    { name: "lengths", shape: [B], values: Float64Array.from(lengths) },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const { shape } = FIXTURE_CASE;
  const get = (name: string) => fixture.get(name)!.values;
  const lstm = (direction: string): LstmWeights => ({
    Wx: get(`Wx_${direction}`),
    Wh: get(`Wh_${direction}`),
    bias: get(`bias_${direction}`),
  });
  const weights = { fwd: lstm("fwd"), bwd: lstm("bwd"), Wo: get("Wo"), bo: get("bo") };
  const [x, lengths] = [get("x"), get("lengths")];
  const fwd = maskerLstmForward(x, lengths, weights, shape);
  const { dx, weights: w } = maskerLstmBackward(x, lengths, weights, fwd, get("G"), shape);
  return fdChecks(KERNEL, fixture, {
    x: dx,
    Wx_fwd: w.fwd.Wx,
    Wh_fwd: w.fwd.Wh,
    bias_fwd: w.fwd.bias,
    Wx_bwd: w.bwd.Wx,
    Wh_bwd: w.bwd.Wh,
    bias_bwd: w.bwd.bias,
    Wo: w.Wo,
    bo: w.bo,
  });
}

/**
 * The masker LSTM's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { maskerLstmCheck } from "./check.ts";
 * console.log(maskerLstmCheck.parityCases.map((c) => c.label));
 * ```
 */
export const maskerLstmCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "masker_lstm.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((lstmCase) => ({
    label: label(lstmCase),
    run: (gpu) => parity(gpu, lstmCase),
  })),
};
