/**
 * Verification of the convolutional masker: the GPU path (projection, tap sum + tanh, output
 * layer and their backward) against the direct float64 definition, and that definition's
 * gradients against finite differences.
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
} from "../verify.ts";
import { ConvMasker, fromMaskerLayout, toMaskerLayout } from "./masker_conv.ts";
import {
  convMaskerBackward,
  convMaskerForward,
  MASKER_TAPS,
  type MaskerShape,
  type MaskerWeights,
} from "./reference.ts";

const KERNEL = "conv masker";

interface MaskerCase {
  shape: MaskerShape;
  lengths: number[];
  /** Add dx into a buffer already holding another layer's gradient. */
  accumulateDx?: boolean;
}

interface MaskerInputs {
  x: Float64Array; // x: [B,L,D], 0 past each document's length
  weights: MaskerWeights;
  /** Upstream gradient, nonzero at padding too: it must reach dbo only. */
  da: Float64Array; // da: [B,L,T+1]
}

function drawInputs(next: () => number, { shape, lengths }: MaskerCase): MaskerInputs {
  const { B, L, D, H, T } = shape;
  const x = fillUniform(next, new Float64Array(B * L * D), -1, 1);
  for (let b = 0; b < B; b++) x.fill(0, (b * L + lengths[b]) * D, (b + 1) * L * D);
  const weights = {
    Wm: fillUniform(next, new Float64Array(H * D * MASKER_TAPS), -1, 1),
    c: fillUniform(next, new Float64Array(H), -1, 1),
    Wo: fillUniform(next, new Float64Array(H * (T + 1)), -1, 1),
    bo: fillUniform(next, new Float64Array(T + 1), -1, 1),
  };
  const da = fillUniform(next, new Float64Array(B * L * (T + 1)), -1, 1);
  return { x, weights, da };
}

function label({ shape: { B, L, D, H, T }, lengths, accumulateDx }: MaskerCase): string {
  const lens = lengths.length <= 8
    ? lengths.join(",")
    : `${Math.min(...lengths)}..${Math.max(...lengths)}`;
  return `B=${B} L=${L} D=${D} H=${H} T=${T} lengths=${lens}${accumulateDx ? " dx+=" : ""}`;
}

async function parity(gpu: Gpu, maskerCase: MaskerCase): Promise<CheckResult[]> {
  const { shape, lengths, accumulateDx } = maskerCase;
  const { B, L, D, H, T } = shape;
  const O = T + 1;
  const next = mulberry32(19);
  const { x, weights, da } = drawInputs(next, maskerCase);
  const dxBefore = accumulateDx
    ? fillUniform(next, new Float64Array(B * L * D), -1, 1)
    : new Float64Array(B * L * D);
  const make = (elements: number, name: string, data?: Float32Array<ArrayBuffer>) => {
    const buffer = tensorBuffer(gpu, elements, name);
    if (data) gpu.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  const taps = MASKER_TAPS * H;
  const parameters = {
    Wt: make(D * taps, "Wt", toMaskerLayout(weights.Wm, D, H)),
    c: make(H, "c", Float32Array.from(weights.c)),
    Wo: make(H * O, "Wo", Float32Array.from(weights.Wo)),
    bo: make(O, "bo", Float32Array.from(weights.bo)),
    dWt: make(D * taps, "dWt"),
    dc: make(H, "dc"),
    dWo: make(H * O, "dWo"),
    dbo: make(O, "dbo"),
  };
  const io = {
    x: make(B * L * D, "x", Float32Array.from(x)),
    lengths: tensorBuffer(gpu, B, "lengths"),
    da: make(B * L * O, "da", Float32Array.from(da)),
    dx: make(B * L * D, "dx", Float32Array.from(dxBefore)),
  };
  gpu.device.queue.writeBuffer(io.lengths, 0, Uint32Array.from(lengths));
  const masker = new ConvMasker(gpu, shape, parameters, io, { accumulateDx });
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  masker.encodeForward(pass);
  masker.encodeBackward(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const [u, a, dWt, dc, dWo, dbo, dx] = (await readBuffers(gpu, [
    masker.u,
    masker.a,
    parameters.dWt,
    parameters.dc,
    parameters.dWo,
    parameters.dbo,
    io.dx,
  ])).map((b) => new Float32Array(b));
  masker.destroy();
  [...Object.values(parameters), ...Object.values(io)].forEach((b) => b.destroy());

  const fwd = convMaskerForward(x, lengths, weights, shape);
  const ref = convMaskerBackward(x, lengths, weights, fwd.u, da, shape);
  const what = label(maskerCase);
  const rows = B * L;
  const check = (
    kind: CheckResult["check"],
    name: string,
    gpuValues: ArrayLike<number>,
    refValues: ArrayLike<number>,
    terms: number,
  ) => compare(KERNEL, kind, `${name} ${what}`, gpuValues, refValues, f32SumTolerance(terms, 1));
  return [
    check("forward parity", "u", u, fwd.u, MASKER_TAPS * D + 1),
    check("forward parity", "a", a, fwd.a, H * (MASKER_TAPS * D + 2) + 1),
    check("backward parity", "dWo", dWo, ref.dWo, rows),
    check("backward parity", "dbo", dbo, ref.dbo, rows),
    check("backward parity", "dc", dc, ref.dc, rows * O),
    check("backward parity", "dWm", fromMaskerLayout(dWt, D, H), ref.dWm, rows * O),
    check("backward parity", "dx", dx, ref.dx.map((g, i) => g + dxBefore[i]), taps * O + 1),
  ];
}

/** Lengths 0..L of B documents, spread by a fixed stride. */
function spreadLengths(B: number, L: number): number[] {
  return Array.from({ length: B }, (_, b) => (b * 7) % (L + 1));
}

const CASES: MaskerCase[] = [
  { shape: { B: 2, L: 1, D: 3, H: 2, T: 1 }, lengths: [1, 0] },
  { shape: { B: 3, L: 7, D: 5, H: 4, T: 3 }, lengths: [7, 1, 0], accumulateDx: true },
  { shape: { B: 1, L: 2, D: 1, H: 1, T: 1 }, lengths: [2] },
  { shape: { B: 3, L: 37, D: 20, H: 16, T: 9 }, lengths: [37, 20, 2], accumulateDx: true },
  // dbo, dc, dWo and dWt reduce over B·L = 66,000 rows: past llvmpipe's ~65,535 cut-off.
  { shape: { B: 1100, L: 60, D: 2, H: 3, T: 2 }, lengths: spreadLengths(1100, 60) },
];

const FIXTURE_CASE: MaskerCase = {
  shape: { B: 3, L: 4, D: 3, H: 2, T: 2 },
  lengths: [4, 1, 2],
};

function makeFixture(): FixtureTensor[] {
  const { shape, lengths } = FIXTURE_CASE;
  const { B, L, D, H, T } = shape;
  const { x, weights, da: G } = drawInputs(mulberry32(23), FIXTURE_CASE);
  const { Wm, c, Wo, bo } = weights;
  const loss = () =>
    convMaskerForward(x, lengths, weights, shape).a.reduce((s, a, i) => s + a * G[i], 0);
  const fd = (values: Float64Array) => centralDifferences(values, loss, FD_STEP);
  return [
    { name: "x", shape: [B, L, D], values: x, fdGrad: fd(x) },
    { name: "Wm", shape: [H, D, MASKER_TAPS], values: Wm, fdGrad: fd(Wm) },
    { name: "c", shape: [H], values: c, fdGrad: fd(c) },
    { name: "Wo", shape: [H, T + 1], values: Wo, fdGrad: fd(Wo) },
    { name: "bo", shape: [T + 1], values: bo, fdGrad: fd(bo) },
    { name: "G", shape: [B, L, T + 1], values: G },
    { name: "lengths", shape: [B], values: Float64Array.from(lengths) },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const { shape } = FIXTURE_CASE;
  const get = (name: string) => fixture.get(name)!.values;
  const [x, lengths] = [get("x"), get("lengths")];
  const weights = { Wm: get("Wm"), c: get("c"), Wo: get("Wo"), bo: get("bo") };
  const { u } = convMaskerForward(x, lengths, weights, shape);
  const grads = convMaskerBackward(x, lengths, weights, u, get("G"), shape);
  return fdChecks(KERNEL, fixture, {
    x: grads.dx,
    Wm: grads.dWm,
    c: grads.dc,
    Wo: grads.dWo,
    bo: grads.dbo,
  });
}

/**
 * The convolutional masker's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { convMaskerCheck } from "./check.ts";
 * console.log(convMaskerCheck.parityCases.map((c) => c.label));
 * ```
 */
export const convMaskerCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "masker_conv.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((maskerCase) => ({
    label: label(maskerCase),
    run: (gpu) => parity(gpu, maskerCase),
  })),
};
