/**
 * Verification of the whole layer: the GPU path (projection, fused pool, tiling) against the
 * direct float64 definition, and that definition's gradients against finite differences.
 *
 * @module
 */

import type { Gpu } from "../gpu.ts";
import { fillUniform, mulberry32 } from "../../base/rng.ts";
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
import { MaskedConv } from "./masked_conv.ts";
import {
  maskedConvBackward,
  maskedConvForward,
  type MaskedConvInputs,
  maskedConvPreActivations,
  type MaskedConvShape,
} from "./reference.ts";

const KERNEL = "masked conv layer";

interface LayerCase {
  shape: MaskedConvShape;
  lengths: number[];
  /** A binding size small enough to force tiling over documents and targets. */
  maxBindingBytes?: number;
}

/**
 * The layer's inputs for a shape and lengths, drawn in a fixed order: x, W, bias and g in
 * [-1, 1), m in [0, 1) and zero past each document's length.
 *
 * @example
 * ```ts
 * import { mulberry32 } from "../../base/rng.ts";
 * import { drawLayerInputs } from "./check.ts";
 * const shape = { B: 1, L: 2, D: 1, T: 1, widths: [{ K: 1, F: 1 }] };
 * console.log(drawLayerInputs(mulberry32(1), { shape, lengths: [2] }).inputs.x);
 * ```
 */
export function drawLayerInputs(
  next: () => number,
  { shape, lengths }: { shape: MaskedConvShape; lengths: number[] },
) {
  const { B, L, D, T, widths } = shape;
  const x = fillUniform(next, new Float64Array(B * L * D), -1, 1);
  const m = fillUniform(next, new Float64Array(B * L * T), 0, 1);
  for (let b = 0; b < B; b++) m.fill(0, (b * L + lengths[b]) * T, (b + 1) * L * T);
  const W = widths.map(({ K, F }) => fillUniform(next, new Float64Array(F * D * K), -1, 1));
  const bias = widths.map(({ F }) => fillUniform(next, new Float64Array(F), -1, 1));
  const F_total = widths.reduce((s, w) => s + w.F, 0);
  const g = fillUniform(next, new Float64Array(B * T * F_total), -1, 1);
  const inputs: MaskedConvInputs = { x, m, lengths, W, bias };
  return { inputs, g };
}

function label({ shape: { B, L, D, T, widths }, lengths, maxBindingBytes }: LayerCase): string {
  const ws = widths.map((w) => `${w.K}x${w.F}`).join(",");
  const tiled = maxBindingBytes ? ` tiled to ${maxBindingBytes} B bindings` : "";
  return `B=${B} L=${L} D=${D} T=${T} widths(KxF)=${ws} lengths=${lengths.join(",")}${tiled}`;
}

/** What a layer (the fast one or the naive one) offers on the host. */
export type HostLayer = Pick<
  MaskedConv,
  | "setWeights"
  | "setInputs"
  | "setUpstream"
  | "forward"
  | "backward"
  | "readOutput"
  | "readGradients"
>;

/**
 * Runs `layer` forward and backward on `inputs` and compares h, dx, dm, dW and dbias with the
 * float64 definition. Tolerances are `f32SumTolerance(n, 1)` (every input is bounded by 1) with
 * n the products a value sums: K·D + 1 for h, T·ΣF·K for dx, ΣF·K·D for dm, B·L·T for dW and
 * B·T for dbias.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu.ts";
 * import { mulberry32 } from "../../base/rng.ts";
 * import { drawLayerInputs, layerParity } from "./check.ts";
 * import { MaskedConv } from "./masked_conv.ts";
 * const shape = { B: 1, L: 3, D: 2, T: 2, widths: [{ K: 3, F: 2 }] };
 * const { inputs, g } = drawLayerInputs(mulberry32(1), { shape, lengths: [3] });
 * const layer = new MaskedConv(await getGpu(), shape);
 * const results = await layerParity("layer", layer, inputs, g, shape, "demo");
 * console.log(results.every((r) => r.pass));
 * ```
 */
export async function layerParity(
  kernel: string,
  layer: HostLayer,
  inputs: MaskedConvInputs,
  g: Float64Array,
  shape: MaskedConvShape,
  what: string,
): Promise<CheckResult[]> {
  const { B, L, D, T, widths } = shape;
  layer.setWeights(inputs.W, inputs.bias.flatMap((b) => [...b]));
  layer.setInputs(Float32Array.from(inputs.x), Float32Array.from(inputs.m), inputs.lengths);
  layer.setUpstream(Float32Array.from(g));
  layer.forward();
  layer.backward();
  const h = await layer.readOutput();
  const grads = await layer.readGradients();
  const fwd = maskedConvForward(inputs, shape);
  const ref = maskedConvBackward(inputs, fwd, g, shape);
  const K = Math.max(...widths.map((w) => w.K));
  const F = widths.reduce((s, w) => s + w.F, 0);
  const backward = (
    name: string,
    actual: ArrayLike<number>,
    expected: ArrayLike<number>,
    n: number,
  ) =>
    compare(kernel, "backward parity", `${name} ${what}`, actual, expected, f32SumTolerance(n, 1));
  return [
    compare(kernel, "forward parity", `h ${what}`, h, fwd.h, f32SumTolerance(K * D + 1, 1)),
    backward("dx", grads.dx, ref.dx, T * F * K),
    backward("dm", grads.dm, ref.dm, F * K * D),
    ...widths.map((w, i) => backward(`dW(K=${w.K})`, grads.dW[i], ref.dW[i], B * L * T)),
    backward("dbias", grads.dbias, ref.dbias.flatMap((b) => [...b]), B * T),
  ];
}

async function parity(gpu: Gpu, layerCase: LayerCase): Promise<CheckResult[]> {
  const { shape, lengths, maxBindingBytes } = layerCase;
  const { B, T } = shape;
  const { inputs, g } = drawLayerInputs(mulberry32(5), { shape, lengths });
  const layer = new MaskedConv(gpu, shape, { maxBindingBytes });
  if (maxBindingBytes && layer.plan.docsPerTile === B && layer.plan.targetsPerTile === T) {
    throw new Error(`${label(layerCase)} was meant to tile but fits one tile`);
  }
  try {
    return await layerParity(KERNEL, layer, inputs, g, shape, label(layerCase));
  } finally {
    layer.destroy();
  }
}

const CASES: LayerCase[] = [
  { shape: { B: 1, L: 1, D: 4, T: 1, widths: [{ K: 3, F: 2 }] }, lengths: [1] },
  { shape: { B: 2, L: 2, D: 3, T: 2, widths: [{ K: 5, F: 3 }, { K: 3, F: 2 }] }, lengths: [2, 1] },
  {
    shape: { B: 3, L: 11, D: 5, T: 13, widths: [{ K: 3, F: 4 }, { K: 5, F: 3 }, { K: 7, F: 2 }] },
    lengths: [11, 5, 1],
  },
  {
    shape: { B: 3, L: 9, D: 5, T: 30, widths: [{ K: 3, F: 3 }, { K: 5, F: 2 }] },
    lengths: [9, 4, 7],
    maxBindingBytes: 800,
  },
];

const FIXTURE_CASE: LayerCase = {
  shape: { B: 2, L: 5, D: 3, T: 2, widths: [{ K: 3, F: 2 }, { K: 5, F: 1 }] },
  lengths: [5, 3],
};

/**
 * Whether every pooled maximum stands clear of 0 and of the runner-up by the kink margin, so
 * that no rounding moves it.
 *
 * @example
 * ```ts
 * import { drawLayerInputs, kinkFree } from "./check.ts";
 * import { mulberry32 } from "../../base/rng.ts";
 * const layerCase = { shape: { B: 1, L: 4, D: 2, T: 1, widths: [{ K: 3, F: 1 }] }, lengths: [4] };
 * console.log(kinkFree(drawLayerInputs(mulberry32(1), layerCase).inputs, layerCase.shape));
 * ```
 */
export function kinkFree(inputs: MaskedConvInputs, shape: MaskedConvShape): boolean {
  const z = maskedConvPreActivations(inputs, shape); // z: [B,T,ΣF,L]
  const { L } = shape;
  for (let o = 0; o < z.length / L; o++) {
    const sorted = z.slice(o * L, (o + 1) * L).sort((u, v) => v - u);
    if (sorted[0] === -Infinity) continue;
    if (Math.abs(sorted[0]) < KINK_MARGIN || sorted[0] - sorted[1] < KINK_MARGIN) return false;
  }
  return true;
}

function fixtureTensors(): { inputs: MaskedConvInputs; g: Float64Array } {
  const next = mulberry32(17);
  return drawUntil(
    () => drawLayerInputs(next, FIXTURE_CASE),
    ({ inputs }) => kinkFree(inputs, FIXTURE_CASE.shape),
  );
}

function makeFixture(): FixtureTensor[] {
  const { shape, lengths } = FIXTURE_CASE;
  const { B, L, D, T, widths } = shape;
  const { inputs, g } = fixtureTensors();
  const loss = () => maskedConvForward(inputs, shape).h.reduce((s, h, i) => s + h * g[i], 0);
  const fd = (values: Float64Array) => centralDifferences(values, loss, FD_STEP);
  return [
    { name: "x", shape: [B, L, D], values: inputs.x, fdGrad: fd(inputs.x) },
    { name: "m", shape: [B, L, T], values: inputs.m, fdGrad: fd(inputs.m) },
    ...widths.flatMap(({ K, F }, i) => [
      { name: `W${i}`, shape: [F, D, K], values: inputs.W[i], fdGrad: fd(inputs.W[i]) },
      { name: `bias${i}`, shape: [F], values: inputs.bias[i], fdGrad: fd(inputs.bias[i]) },
    ]),
    { name: "G", shape: [B, T, g.length / (B * T)], values: g },
    { name: "lengths", shape: [B], values: Float64Array.from(lengths) },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const { shape } = FIXTURE_CASE;
  const get = (name: string) => fixture.get(name)!.values;
  const inputs: MaskedConvInputs = {
    x: get("x"),
    m: get("m"),
    lengths: get("lengths"),
    W: shape.widths.map((_, i) => get(`W${i}`)),
    bias: shape.widths.map((_, i) => get(`bias${i}`)),
  };
  const fwd = maskedConvForward(inputs, shape);
  const { dx, dm, dW, dbias } = maskedConvBackward(inputs, fwd, get("G"), shape);
  return fdChecks(KERNEL, fixture, {
    x: dx,
    m: dm,
    ...Object.fromEntries(dW.map((d, i) => [`W${i}`, d])),
    ...Object.fromEntries(dbias.map((d, i) => [`bias${i}`, d])),
  });
}

/**
 * The whole layer's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { maskedConvCheck } from "./check.ts";
 * console.log(maskedConvCheck.parityCases.map((c) => c.label));
 * ```
 */
export const maskedConvCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "masked_conv.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((layerCase) => ({
    label: label(layerCase),
    run: (gpu) => parity(gpu, layerCase),
  })),
};
