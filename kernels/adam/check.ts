/**
 * Verification of the optimizer: several GPU steps (norm, clip scale, w, m, v) against the
 * float64 reference, with tolerances derived from the float32 rounding of each quantity. There
 * is no finite-difference fixture: the optimizer has no backward.
 *
 * @module
 */

import { type Gpu, readBuffers, tensorBuffer } from "../gpu.ts";
import { fillUniform, mulberry32 } from "../../base/rng.ts";
import { type CheckResult, compare, F32_EPS, type KernelCheck, type Tolerance } from "../verify.ts";
import { Adam, type AdamOptions, decodeStats, normChunks } from "./adam.ts";
import { ADAM_DEFAULTS, type AdamHyper, type AdamState, adamSteps } from "./reference.ts";

const KERNEL = "adam";

interface AdamCase {
  /** What the case is about, for reports. */
  note: string;
  /** Elements of each parameter. */
  sizes: number[];
  /** Per step, gradients are drawn from U(−r, r): large r clips, small r does not. */
  gradRanges: number[];
  options?: AdamOptions;
  /** Per step, the learning-rate factor of a schedule (1 for every step without one). */
  lrScales?: number[];
  /** Rebuild the optimizer from a host checkpoint (w, m, v, step) before this step. */
  resumeAt?: number;
  /** One gradient element made non-finite at one step. */
  poison?: { step: number; param: number; index: number; value: number };
}

function label({ note, sizes, gradRanges, options }: AdamCase): string {
  const opts = options ? ` ${JSON.stringify(options)}` : "";
  return `${note}: sizes=${sizes.join(",")} grad ranges=${gradRanges.join(",")}${opts}`;
}

/** γ_n of rounding-error analysis: the relative error bound of n float32 operations. */
function gamma(n: number): number {
  return n * F32_EPS / (1 - n * F32_EPS);
}

/**
 * The norm's relative error bound. Each partial adds at most `trips` squares (γ_trips, the
 * dot-product bound) and the partials are added in order (γ_{partials−1}), so Σg² is within
 * γ_{trips+partials−1} of its value; √ halves that and adds its own error, taken as 10 units of
 * roundoff since WGSL grants sqrt the accuracy of 1 / inverseSqrt (about 4.5 ULP).
 */
function normTolerance(sizes: number[]): Tolerance {
  const chunks = sizes.map(normChunks);
  const trips = Math.max(...sizes.map((n, p) => Math.ceil(n / chunks[p])));
  const partials = chunks.reduce((sum, c) => sum + c, 0);
  return { atol: 0, rtol: gamma(trips + partials - 1) / 2 + 10 * F32_EPS };
}

/**
 * Largest |m̂| / √v̂ after `steps` steps, where m̂ sums |g'| in place of g': by Cauchy–Schwarz
 * m_t² ≤ (1−β1)²/(1−β2) · v_t · Σ_{j<t} (β1²/β2)^j, then the bias corrections. It bounds the
 * Adam update in units of lr, and so how far the moments' errors can move w.
 */
function updateBound(steps: number, { beta1, beta2 }: AdamHyper): number {
  const ratio = beta1 ** 2 / beta2;
  let bound = 0;
  for (let t = 1; t <= steps; t++) {
    const moments = (1 - beta1) ** 2 / (1 - beta2) * (1 - ratio ** t) / (1 - ratio);
    bound = Math.max(bound, Math.sqrt(moments * (1 - beta2 ** t) / (1 - beta1 ** t) ** 2));
  }
  return bound;
}

/**
 * Tolerances of the state after `steps` steps. With δ the clip scale's relative error, each g'
 * is off by (δ + 2u)·G at most (G bounds |scale·g| + λ|w|), and each step adds a few roundings
 * of m and v relative to their size, taken as 8u per step: m within (δ + 8(t+1)u)·G and v within
 * (2δ + 8(t+2)u)·G². The update lr·m̂/(√v̂ + ε) is then off by at most 2·R·(δ + 8(t+1)u) in units
 * of lr (R the {@link updateBound}), its division and square root included, plus one rounding
 * of w per step: w within t·(2u·W + 3·lr·R·(δ + 8(t+1)u)). No relative part: every error
 * scales with the largest values, not with each element.
 */
function stateTolerances(
  steps: number,
  scaleRtol: number,
  G: number,
  W: number,
  hyper: AdamHyper,
): { m: Tolerance; v: Tolerance; w: Tolerance } {
  const u = F32_EPS;
  const moment = scaleRtol + 8 * (steps + 1) * u;
  const R = updateBound(steps, hyper);
  return {
    m: { atol: moment * G, rtol: 0 },
    v: { atol: (2 * scaleRtol + 8 * (steps + 2) * u) * G * G, rtol: 0 },
    w: { atol: steps * (2 * u * W + 3 * hyper.lr * R * moment), rtol: 0 },
  };
}

/** Both non-finite and alike (NaN and NaN, or the same infinity). */
function nonFiniteCheck(what: string, actual: number, expected: number): CheckResult {
  const pass = Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected));
  const worst = pass ? 0 : Infinity;
  return {
    kernel: KERNEL,
    check: "forward parity",
    what,
    worstError: worst,
    worstRatio: worst,
    tolerance: { atol: 0, rtol: 0 },
    pass,
  };
}

function maxAbs(arrays: ArrayLike<number>[]): number {
  let max = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      if (Number.isFinite(a[i])) max = Math.max(max, Math.abs(a[i]));
    }
  }
  return max;
}

function concat(arrays: ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

/** The GPU side of a case: the optimizer on fresh buffers, or restored from a checkpoint. */
class GpuRun {
  values: GPUBuffer[];
  grads: GPUBuffer[];
  adam: Adam;
  gpu: Gpu;
  sizes: number[];
  options: AdamOptions | undefined;

  constructor(
    gpu: Gpu,
    sizes: number[],
    options: AdamOptions | undefined,
    w0: Float32Array<ArrayBuffer>[],
  ) {
    this.gpu = gpu;
    this.sizes = sizes;
    this.options = options;
    this.grads = sizes.map((n, p) => tensorBuffer(gpu, n, `g${p}`));
    this.values = this.#upload(w0);
    this.adam = this.#build();
  }

  #upload(arrays: Float32Array<ArrayBuffer>[]): GPUBuffer[] {
    return arrays.map((a, p) => {
      const buffer = tensorBuffer(this.gpu, a.length, `w${p}`);
      this.gpu.device.queue.writeBuffer(buffer, 0, a);
      return buffer;
    });
  }

  #build(): Adam {
    const params = this.sizes.map((size, p) => ({
      name: `p${p}`,
      value: this.values[p],
      grad: this.grads[p],
      size,
    }));
    return new Adam(this.gpu, params, this.options);
  }

  /** w, m and v of every parameter, read back. */
  async state(): Promise<{ w: Float32Array[]; m: Float32Array[]; v: Float32Array[] }> {
    const moments = this.adam.moments();
    const all = await readBuffers(this.gpu, [
      ...this.values,
      ...moments.map((x) => x.m),
      ...moments.map((x) => x.v),
    ]);
    const n = this.sizes.length;
    const arrays = all.map((b, i) => new Float32Array(b, 0, this.sizes[i % n]));
    return { w: arrays.slice(0, n), m: arrays.slice(n, 2 * n), v: arrays.slice(2 * n) };
  }

  /** Saves w, m, v and the step to the host, then continues on new buffers and a new Adam. */
  async resume(): Promise<void> {
    const { w, m, v } = await this.state();
    const step = this.adam.step;
    this.#destroyState();
    this.values = this.#upload(w.map((a) => Float32Array.from(a)));
    this.adam = this.#build();
    this.adam.setStep(step);
    this.adam.moments().forEach((moments, p) => {
      this.gpu.device.queue.writeBuffer(moments.m, 0, Float32Array.from(m[p]));
      this.gpu.device.queue.writeBuffer(moments.v, 0, Float32Array.from(v[p]));
    });
  }

  /** Uploads the step's gradients, runs one step and reads back its norm and scale. */
  async step(
    grads: Float32Array<ArrayBuffer>[],
    lrScale?: number,
  ): Promise<{ norm: number; scale: number }> {
    grads.forEach((g, p) => this.gpu.device.queue.writeBuffer(this.grads[p], 0, g));
    const encoder = this.gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.adam.encodeStep(pass, lrScale);
    pass.end();
    this.gpu.device.queue.submit([encoder.finish()]);
    return decodeStats((await readBuffers(this.gpu, [this.adam.stats]))[0]);
  }

  #destroyState() {
    this.adam.destroy();
    this.values.forEach((b) => b.destroy());
  }

  destroy(): void {
    this.#destroyState();
    this.grads.forEach((b) => b.destroy());
  }
}

async function parity(gpu: Gpu, adamCase: AdamCase): Promise<CheckResult[]> {
  const { sizes, gradRanges, options, resumeAt, poison, lrScales } = adamCase;
  const hyper = { ...ADAM_DEFAULTS, ...options };
  const steps = gradRanges.length;
  const next = mulberry32(11);
  const w0 = sizes.map((n) => fillUniform(next, new Float32Array(n), -1, 1));
  const grads = gradRanges.map((r) =>
    sizes.map((n) => fillUniform(next, new Float32Array(n), -r, r))
  );
  if (poison) grads[poison.step][poison.param][poison.index] = poison.value;

  const run = new GpuRun(gpu, sizes, options, w0);
  const gpuStats: { norm: number; scale: number }[] = [];
  for (let s = 0; s < steps; s++) {
    if (s === resumeAt) await run.resume();
    gpuStats.push(await run.step(grads[s], lrScales?.[s]));
  }
  const state = await run.state();
  run.destroy();

  const initial: AdamState[] = w0.map((w) => ({
    w: Float64Array.from(w),
    m: new Float64Array(w.length),
    v: new Float64Array(w.length),
  }));
  const ref = adamSteps(initial, grads, 1, hyper, lrScales);
  const what = label(adamCase);
  const normTol = normTolerance(sizes);
  const scaleRtol = normTol.rtol + 6 * F32_EPS;
  const finite = ref.norms.map((n) => Number.isFinite(n));
  const G = Math.max(...ref.scales.map((scale, s) => scale * maxAbs(grads[s]))) +
    hyper.weightDecay * maxAbs(initial.map((p) => p.w));
  const W = Math.max(maxAbs(initial.map((p) => p.w)), maxAbs(ref.params.map((p) => p.w)));
  const tol = stateTolerances(steps, scaleRtol, G, W, hyper);
  const results = [
    compare(
      KERNEL,
      "forward parity",
      `‖g‖ of each finite step, ${what}`,
      gpuStats.filter((_, s) => finite[s]).map((x) => x.norm),
      ref.norms.filter((_, s) => finite[s]),
      normTol,
    ),
    compare(
      KERNEL,
      "forward parity",
      `clip scale of each step, ${what}`,
      gpuStats.map((x) => x.scale),
      ref.scales,
      { atol: F32_EPS, rtol: scaleRtol },
    ),
    ...ref.norms.flatMap((norm, s) =>
      finite[s] ? [] : [nonFiniteCheck(`‖g‖ of step ${s + 1}, ${what}`, gpuStats[s].norm, norm)]
    ),
  ];
  for (const name of ["w", "m", "v"] as const) {
    results.push(
      compare(
        KERNEL,
        "forward parity",
        `${name} after ${steps} steps, ${what}`,
        concat(state[name]),
        concat(ref.params.map((p) => p[name])),
        tol[name],
      ),
    );
  }
  return results;
}

const CASES: AdamCase[] = [
  { note: "one element, clipping active", sizes: [1], gradRanges: [3, 3] },
  {
    note: "odd sizes, clipping active then not",
    sizes: [1, 63, 65, 1000, 4097],
    gradRanges: [1, 1e-3, 1],
  },
  {
    note: "no weight decay, clipping never active",
    sizes: [7, 129, 3000],
    gradRanges: [1e-3, 2e-3, 1e-4, 1e-3],
    options: { weightDecay: 0 },
  },
  {
    note: "strong weight decay, other hyperparameters",
    sizes: [5, 300],
    gradRanges: [1e-2, 1e-2, 2],
    options: { lr: 1e-2, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 1e-2, maxNorm: 0.5 },
  },
  {
    note: "a learning-rate schedule: warm-up, full rate, decay to zero",
    sizes: [9, 257],
    gradRanges: [1, 1e-3, 1, 1e-2, 1],
    lrScales: [0.25, 0.75, 1, 0.4, 0],
  },
  {
    note: "resumed from a checkpoint of w, m, v and t after two steps",
    sizes: [65, 200],
    gradRanges: [1, 1e-3, 1, 1e-3],
    resumeAt: 2,
  },
  {
    note: "a NaN gradient at step 2: NaN norm, the step skipped",
    sizes: [10, 100],
    gradRanges: [1, 1, 1],
    poison: { step: 1, param: 1, index: 17, value: NaN },
  },
  {
    note: "an infinite gradient at step 1: infinite norm, the step skipped",
    sizes: [3, 64],
    gradRanges: [1, 1e-3],
    poison: { step: 0, param: 0, index: 2, value: -Infinity },
  },
  // 1,465 partials of 1,024 squares, summed over two dispatches of the final sum.
  {
    note: "1.5 M elements in one buffer",
    sizes: [1_500_001, 33, 70_000],
    gradRanges: [1, 1e-4],
  },
];

/**
 * The optimizer's checks for `maskconv gradcheck` and the tests: parity cases only.
 *
 * @example
 * ```ts
 * import { adamCheck } from "./check.ts";
 * console.log(adamCheck.parityCases.length, adamCheck.fixture); // 8 undefined
 * ```
 */
export const adamCheck: KernelCheck = {
  name: KERNEL,
  parityCases: CASES.map((adamCase) => ({
    label: label(adamCase),
    run: (gpu) => parity(gpu, adamCase),
  })),
};
