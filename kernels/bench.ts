/**
 * The benchmark behind `maskconv bench`: one forward + backward step of the shared masked
 * convolution (fast, or the naive materialised baseline) on fixed random inputs, timed, with
 * checksums of every result and, on request, the same checksums in float64 on the CPU.
 *
 * @module
 */

import { getGpu, type Gpu } from "./gpu.ts";
import { MaskedConv } from "./masked_conv/masked_conv.ts";
import type { MaskedConvShape } from "./masked_conv/reference.ts";
import {
  maskedMaxPoolBackward,
  maskedMaxPoolForward,
  preActivations,
} from "./masked_max_pool/reference.ts";
import { NaiveMaskedConv } from "./naive_conv/naive_conv.ts";
import { projectionBackward, projectionForward } from "./projection/reference.ts";
import { fillUniform, mulberry32 } from "../base/rng.ts";

/** One benchmark shape: B documents of L positions, D inputs, T targets, F filters of K taps. */
export interface BenchShape {
  B: number;
  L: number;
  D: number;
  T: number;
  F: number;
  K: number;
}

/**
 * The benchmark's shapes, from a few aspects to the ICD-9 coding task (8,922 codes).
 *
 * @example
 * ```ts
 * import { BENCH_SHAPES } from "./bench.ts";
 * console.log(Object.keys(BENCH_SHAPES)); // ["aspects", "labels100", "labels1k", "icd"]
 * ```
 */
export const BENCH_SHAPES: Record<string, BenchShape> = {
  aspects: { B: 32, L: 256, D: 200, T: 6, F: 100, K: 3 },
  labels100: { B: 16, L: 512, D: 100, T: 100, F: 50, K: 3 },
  labels1k: { B: 8, L: 512, D: 100, T: 1000, F: 50, K: 3 },
  icd: { B: 4, L: 2500, D: 100, T: 8922, F: 50, K: 3 },
};

/** What `maskconv bench` asks for. */
export interface BenchOptions {
  /** A key of {@link BENCH_SHAPES}. */
  shape: string;
  /** Timed steps after the warm-up step. */
  repeat: number;
  /** Time the naive materialised layer instead of the fast one. */
  naive: boolean;
  /** Also compute the checksums in float64 on the CPU and report the differences. */
  verify: boolean;
}

/**
 * FLOPs of one step (forward + backward of Σ h·G), counted as 2 per multiply-add and 1 per
 * lone multiply or add; comparisons of the max-pool are not counted. With C = K·F:
 *
 * - fast: 2·(B·L·D·C projection + B·T·L·C masked mix, forward; B·L·D·C for dW, B·L·D·C for dx
 *   and 2·B·T·F·K for the pooled backward's dP and dm), i.e. 2·(3·B·L·D·C + B·T·L·C + 2·B·T·F·K);
 * - naive: the masked copy B·L·T·D, then 2·B·T·L·F·K·D for each of the convolution, dxm and dW,
 *   B·T·L·F for dbias over the dense dz, 2·B·L·T·D for each of dm and dx, i.e.
 *   6·B·T·L·F·K·D + 5·B·L·T·D + B·T·L·F.
 *
 * @example
 * ```ts
 * import { BENCH_SHAPES, stepFlops } from "./bench.ts";
 * const shape = BENCH_SHAPES.labels1k;
 * console.log(stepFlops(shape, true) / stepFlops(shape, false)); // how much more naive does
 * ```
 */
export function stepFlops({ B, L, D, T, F, K }: BenchShape, naive: boolean): number {
  const C = K * F;
  if (naive) return 6 * B * T * L * F * K * D + 5 * B * L * T * D + B * T * L * F;
  return 2 * (3 * B * L * D * C + B * T * L * C + 2 * B * T * F * K);
}

/** The benchmark's inputs, all float32 (the CPU check widens the same values to float64). */
interface BenchInputs {
  x: Float32Array<ArrayBuffer>; // x: [B,L,D]
  m: Float32Array<ArrayBuffer>; // m: [B,L,T]
  W: Float32Array<ArrayBuffer>; // W: [F,D,K]
  bias: Float32Array<ArrayBuffer>; // bias: [F]
  G: Float32Array<ArrayBuffer>; // G: [B,T,F]
}

/** mulberry32(1), drawn in the order x, m, W, b, G; m in [0, 1), the rest in [-1, 1). */
function drawInputs({ B, L, D, T, F, K }: BenchShape): BenchInputs {
  const next = mulberry32(1);
  const x = fillUniform(next, new Float32Array(B * L * D), -1, 1);
  const m = fillUniform(next, new Float32Array(B * L * T), 0, 1);
  const W = fillUniform(next, new Float32Array(F * D * K), -1, 1);
  const bias = fillUniform(next, new Float32Array(F), -1, 1);
  const G = fillUniform(next, new Float32Array(B * T * F), -1, 1);
  return { x, m, W, bias, G };
}

/** Plain float64 sums of h, dx, dm, dW and dbias. */
interface Checksums {
  y: number;
  dx: number;
  dm: number;
  dW: number;
  db: number;
}

const CHECKSUM_NAMES = ["y", "dx", "dm", "dW", "db"] as const;

function sum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

function absSum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += Math.abs(values[i]);
  return s;
}

/** The float64 checksums, and what the GPU's arg-max choices change in them. */
interface ReferenceChecksums {
  sums: Checksums;
  absSums: Checksums;
  /** With the GPU's arg-max where it differs from float64's (absent without `gpuArgmax`). */
  resolved?: Checksums;
  /** Pooled values whose GPU arg-max differs from float64's. */
  disagreements: number;
  /** Largest float64 gap between the two positions of a disagreement. */
  largestGap: number;
}

/**
 * The checksums in float64 on the CPU, composed from the projection and masked max-pool
 * references one document at a time (an icd document's m is 178 MB in float64), with the sums
 * of absolute values that scale their errors. Given the GPU's arg-max, it also recomputes the
 * gradients with the GPU's choice wherever the two differ, and says by how much float64 rated
 * the two positions apart: a near-tie (a gap float32 cannot resolve) makes either choice right.
 */
function referenceChecksums(
  { x, m, W, bias, G }: BenchInputs,
  { B, L, D, T, F, K }: BenchShape,
  gpuArgmax?: Int32Array,
): ReferenceChecksums {
  const W64 = Float64Array.from(W);
  const bias64 = Float64Array.from(bias);
  const projection = { N: L, D, F, K };
  const pool = { B: 1, L, T, widths: [{ K, F }] };
  const zero = (): Checksums => ({ y: 0, dx: 0, dm: 0, dW: 0, db: 0 });
  const sums = zero();
  const absSums = zero();
  const resolved = zero();
  let disagreements = 0;
  let largestGap = 0;
  const add = (name: keyof Checksums, values: Float64Array) => {
    sums[name] += sum(values);
    absSums[name] += absSum(values);
  };
  const dW = new Float64Array(F * D * K);
  const db = new Float64Array(F);
  for (let b = 0; b < B; b++) {
    const xb = Float64Array.from(x.subarray(b * L * D, (b + 1) * L * D)); // xb: [L,D]
    const mb = Float64Array.from(m.subarray(b * L * T, (b + 1) * L * T)); // mb: [L,T]
    const gb = Float64Array.from(G.subarray(b * T * F, (b + 1) * T * F)); // gb: [T,F]
    const P = projectionForward(xb, W64, projection); // P: [L,K,F], the pool's [1,L,C]
    const forward = maskedMaxPoolForward(P, mb, bias64, [L], pool);
    const back = maskedMaxPoolBackward(P, mb, [L], forward, gb, pool);
    const grads = projectionBackward(xb, W64, back.dP, projection);
    add("y", forward.h);
    add("dx", grads.dx);
    add("dm", back.dm);
    grads.dW.forEach((v, i) => dW[i] += v);
    back.dbias.forEach((v, i) => db[i] += v);
    if (!gpuArgmax) continue;
    const chosen = { ...forward, argmax: forward.argmax.slice(), zmax: forward.zmax.slice() };
    for (let o = 0; o < T * F; o++) {
      const position = gpuArgmax[b * T * F + o];
      if (position === forward.argmax[o]) continue;
      const [t, f] = [Math.floor(o / F), o % F];
      const z = preActivations(P, mb, bias64[f], L, { L, T, C: K * F }, 0, t, { K, F }, 0, f);
      disagreements++;
      largestGap = Math.max(largestGap, forward.zmax[o] - z[position]);
      chosen.argmax[o] = position;
      chosen.zmax[o] = z[position];
    }
    const backChosen = maskedMaxPoolBackward(P, mb, [L], chosen, gb, pool);
    const gradsChosen = projectionBackward(xb, W64, backChosen.dP, projection);
    resolved.dx += sum(gradsChosen.dx);
    resolved.dm += sum(backChosen.dm);
    resolved.dW += sum(gradsChosen.dW);
    resolved.db += sum(backChosen.dbias);
  }
  add("dW", dW);
  add("db", db);
  resolved.y = sums.y;
  return { sums, absSums, resolved: gpuArgmax && resolved, disagreements, largestGap };
}

/**
 * Times `opts.repeat` steps of the layer at an explicit shape, after one warm-up step, and
 * returns one JSON-able record (fields as in {@link runBench}).
 *
 * @param maxBindingBytes the binding size the layer tiles for; the adapter's unless a test
 *   wants tiling at a tiny shape.
 *
 * @example
 * ```ts
 * import { runBenchShape } from "./bench.ts";
 * const shape = { B: 2, L: 8, D: 4, T: 3, F: 2, K: 3 };
 * const result = await runBenchShape("tiny", shape, { repeat: 1, naive: false, verify: true });
 * console.log(result.ms_per_step_median, result.verify_rel_err_y);
 * ```
 */
export async function runBenchShape(
  name: string,
  shape: BenchShape,
  opts: Omit<BenchOptions, "shape">,
  maxBindingBytes?: number,
): Promise<Record<string, unknown>> {
  const { B, L, D, T, F, K } = shape;
  const rss = new PeakRss();
  const gpu = await getGpu();
  const layerShape: MaskedConvShape = { B, L, D, T, widths: [{ K, F }] };
  // Built before the inputs are drawn so that the naive layer's refusal comes at once.
  const layer = opts.naive
    ? new NaiveMaskedConv(gpu, layerShape, { maxBindingBytes })
    : new MaskedConv(gpu, layerShape, { maxBindingBytes });
  const inputs = drawInputs(shape);
  let timed: TimedSteps;
  try {
    timed = await timeSteps(gpu, layer, inputs, shape, opts, rss);
  } finally {
    layer.destroy();
  }
  const { stepMs, checksums } = timed;
  const sorted = [...stepMs].sort((a, b) => a - b);
  const median = sorted.length % 2
    ? sorted[(sorted.length - 1) / 2]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const flops = stepFlops(shape, opts.naive);
  const result: Record<string, unknown> = {
    shape: name,
    B,
    L,
    D,
    T,
    F,
    K,
    mode: opts.naive ? "naive" : "fast",
    ms_per_step_median: median,
    ms_min: sorted[0],
    ms_steps: stepMs,
    repeat: opts.repeat,
    ms_upload: timed.uploadMs,
    ms_readback: timed.readbackMs,
    flops_per_step: flops,
    gflops_per_s: flops / (median * 1e6),
    tiles: { ...layer.plan },
    adapter: gpu.description,
    ...Object.fromEntries(CHECKSUM_NAMES.map((n) => [`checksum_${n}`, checksums[n]])),
  };
  if (opts.verify) Object.assign(result, verifyFields(inputs, shape, timed, rss));
  result.peak_rss_mb = rss.peak / 2 ** 20;
  return result;
}

/** The largest resident set size seen at the samples taken. */
class PeakRss {
  peak = 0;
  constructor() {
    this.sample();
  }
  sample(): void {
    this.peak = Math.max(this.peak, Deno.memoryUsage().rss);
  }
}

/** What the timed steps leave: their times, the upload and readback times, the checksums. */
interface TimedSteps {
  stepMs: number[];
  uploadMs: number;
  readbackMs: number;
  checksums: Checksums;
  /** The fast layer's pooled positions, read when the run verifies. */
  gpuArgmax?: Int32Array;
}

/** Uploads the inputs, runs a warm-up and `opts.repeat` timed steps, and reads the results. */
async function timeSteps(
  gpu: Gpu,
  layer: MaskedConv | NaiveMaskedConv,
  inputs: BenchInputs,
  { B, L }: BenchShape,
  opts: Omit<BenchOptions, "shape">,
  rss: PeakRss,
): Promise<TimedSteps> {
  const done = () => gpu.device.queue.onSubmittedWorkDone();
  rss.sample();
  const uploadStart = performance.now();
  layer.setWeights([inputs.W], inputs.bias);
  layer.setInputs(inputs.x, inputs.m, new Array(B).fill(L));
  layer.setUpstream(inputs.G);
  await done();
  const uploadMs = performance.now() - uploadStart;
  rss.sample();
  const stepMs: number[] = [];
  for (let step = 0; step <= opts.repeat; step++) {
    const start = performance.now();
    layer.forward();
    layer.backward();
    await done();
    if (step > 0) stepMs.push(performance.now() - start); // step 0 is the warm-up
    rss.sample();
  }
  const readbackStart = performance.now();
  const h = await layer.readOutput();
  rss.sample();
  const grads = await layer.readGradients();
  const readbackMs = performance.now() - readbackStart;
  const gpuArgmax = opts.verify && layer instanceof MaskedConv
    ? await layer.readArgmax()
    : undefined;
  rss.sample();
  const checksums = {
    y: sum(h),
    dx: sum(grads.dx),
    dm: sum(grads.dm),
    dW: grads.dW.reduce((s, w) => s + sum(w), 0),
    db: sum(grads.dbias),
  };
  return { stepMs, uploadMs, readbackMs, checksums, gpuArgmax };
}

/** The float64 reference's checksums and the GPU's errors against them. */
function verifyFields(
  inputs: BenchInputs,
  shape: BenchShape,
  { checksums, gpuArgmax }: TimedSteps,
  rss: PeakRss,
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  const verifyStart = performance.now();
  const reference = referenceChecksums(inputs, shape, gpuArgmax);
  const { sums, absSums, resolved } = reference;
  rss.sample();
  result.verify_ms = performance.now() - verifyStart;
  for (const n of CHECKSUM_NAMES) {
    const error = Math.abs(checksums[n] - sums[n]);
    result[`verify_checksum_${n}`] = sums[n];
    result[`verify_abs_sum_${n}`] = absSums[n];
    // Plain relative difference: blows up when a checksum cancels to near 0 (dx, dm can).
    result[`verify_rel_err_${n}`] = error / Math.abs(sums[n]);
    // Scaled by Σ|ref|: what float32 rounding of the values themselves can explain.
    result[`verify_err_over_abs_sum_${n}`] = error / absSums[n];
    if (resolved) {
      result[`verify_resolved_rel_err_${n}`] = Math.abs(checksums[n] - resolved[n]) /
        Math.abs(resolved[n]);
    }
  }
  if (resolved) {
    result.verify_argmax_disagreements = reference.disagreements;
    result.verify_argmax_largest_gap = reference.largestGap;
  }
  return result;
}

/**
 * Runs the benchmark at one of {@link BENCH_SHAPES}: a warm-up step, then the median of
 * `repeat` timed steps (forward + backward + waiting for the GPU). The record holds the shape,
 * mode ("fast" | "naive"), ms_per_step_median, ms_min, repeat, peak_rss_mb, flops_per_step, the
 * adapter, checksum_y/dx/dm/dW/db and, with `verify`, verify_rel_err_* (|gpu − ref| / |ref|) and
 * verify_err_over_abs_sum_* (|gpu − ref| / Σ|ref values|). The naive mode throws its memory
 * estimate at shapes it cannot hold (icd).
 *
 * @example
 * ```ts
 * import { runBench } from "./bench.ts";
 * const result = await runBench({ shape: "aspects", repeat: 3, naive: false, verify: false });
 * console.log(JSON.stringify(result));
 * ```
 */
export function runBench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const shape = BENCH_SHAPES[opts.shape];
  if (!shape) {
    throw new RangeError(
      `unknown shape "${opts.shape}": one of ${Object.keys(BENCH_SHAPES).join(", ")}`,
    );
  }
  return runBenchShape(opts.shape, shape, opts);
}
