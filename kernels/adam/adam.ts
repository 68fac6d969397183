/**
 * The optimizer on the GPU: global gradient-norm clipping and Adam with coupled L2 weight decay
 * over every trained parameter, recorded as a few dispatches per step with no readback.
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, tensorBuffer, uniformBuffer } from "../gpu.ts";
import { type Dispatch, encodeAll } from "../launch.ts";
import ADAM_WGSL from "./adam.wgsl" with { type: "text" };
import { ADAM_DEFAULTS, type AdamHyper } from "./reference.ts";

/**
 * Terms of one partial sum of the norm: squares per partial, and partials per dispatch of the
 * final sum. Far under `LOOP_TRIPS` (launch.ts), and kept this small so that the float32
 * rounding of the norm stays within (terms + partials + 1)/2 units of roundoff of it.
 */
export const NORM_CHUNK = 1024;

/**
 * Partial sums (= invocations) the norm spends on a parameter of `size` elements.
 *
 * @example
 * ```ts
 * import { normChunks } from "./adam.ts";
 * console.log(normChunks(1), normChunks(1_500_000)); // 1 1465
 * ```
 */
export function normChunks(size: number): number {
  return Math.ceil(size / NORM_CHUNK);
}

/** A trained parameter: its value and gradient buffers, `size` float32 elements each. */
export interface AdamParam {
  name: string;
  value: GPUBuffer; // [size], updated in place
  grad: GPUBuffer; // [size], read only
  size: number;
}

/** The optimizer's state of one parameter, for checkpoints: read or write m and v directly. */
export interface AdamMoments {
  name: string;
  m: GPUBuffer; // [size], first moment
  v: GPUBuffer; // [size], second moment
  size: number;
}

/** Options of {@link Adam}; every one left out takes its value in {@link ADAM_DEFAULTS}. */
export type AdamOptions = Partial<AdamHyper>;

/** Float32 offsets of the values in {@link Adam.stats}. */
export const STATS = { norm: 0, scale: 1, sumSquares: 2 } as const;

/**
 * The values of a read-back {@link Adam.stats} buffer: ‖g‖ of the last step (NaN or Inf when a
 * gradient was not finite, the step then skipped), its clip scale (0 when skipped) and Σg².
 *
 * @example
 * ```ts
 * import { decodeStats } from "./adam.ts";
 * console.log(decodeStats(new Float32Array([2, 0.5, 4, 0]).buffer)); // { norm: 2, scale: 0.5, … }
 * ```
 */
export function decodeStats(
  bytes: ArrayBuffer,
): { norm: number; scale: number; sumSquares: number } {
  const stats = new Float32Array(bytes);
  return {
    norm: stats[STATS.norm],
    scale: stats[STATS.scale],
    sumSquares: stats[STATS.sumSquares],
  };
}

/**
 * Adam over a fixed list of parameters (frozen ones are simply left out), built once: moments,
 * uniforms and bind groups are created here and every step only writes the 16-byte bias
 * corrections and records dispatches. The gradient norm ‖g‖ = √(Σ g²) over all parameters
 * clips the gradients by min(1, maxNorm / (‖g‖ + 1e-6)); then g' = scale·g + λ·w and
 * w −= lr·m̂ / (√v̂ + ε) with bias-corrected moments. When ‖g‖ is not finite the step leaves
 * w, m and v as they were; read {@link Adam.stats} to see it.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { Adam, decodeStats } from "./adam.ts";
 * const gpu = await getGpu();
 * const [value, grad] = [tensorBuffer(gpu, 2, "w"), tensorBuffer(gpu, 2, "dw")];
 * gpu.device.queue.writeBuffer(value, 0, new Float32Array([1, 1]));
 * gpu.device.queue.writeBuffer(grad, 0, new Float32Array([3, 4]));
 * const adam = new Adam(gpu, [{ name: "w", value, grad, size: 2 }], { lr: 0.1 });
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * adam.encodeStep(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * const [stats, w] = await readBuffers(gpu, [adam.stats, value]);
 * console.log(decodeStats(stats).norm, new Float32Array(w)); // 5 [≈0.9, ≈0.9]
 * adam.destroy();
 * ```
 */
export class Adam {
  /** The hyperparameters in use, defaults filled in. */
  readonly hyper: Readonly<AdamHyper>;
  /** [‖g‖, clip scale, Σg², 0] of the last step, float32 at the {@link STATS} offsets. */
  readonly stats: GPUBuffer;
  #gpu: Gpu;
  #step = 0;
  #corrections: GPUBuffer;
  #correctionValues = new Float32Array(4);
  #dispatches: Dispatch[] = [];
  #moments: AdamMoments[];
  #owned: GPUBuffer[];

  constructor(gpu: Gpu, params: AdamParam[], options: AdamOptions = {}) {
    const hyper = { ...ADAM_DEFAULTS, ...options };
    if (!(hyper.maxNorm > 0 && Number.isFinite(hyper.maxNorm))) {
      throw new RangeError(`maxNorm must be finite and positive, not ${hyper.maxNorm}`);
    }
    this.hyper = Object.freeze(hyper);
    this.#gpu = gpu;
    const { lr, beta1, beta2, eps, weightDecay, maxNorm } = hyper;
    const hyperValues = [lr, beta1, 1 - beta1, beta2, 1 - beta2, eps, weightDecay, maxNorm];
    const hyperBuffer = uniformBuffer(
      gpu,
      [...new Uint32Array(Float32Array.from(hyperValues).buffer)],
      "adam hyper",
    );
    this.#corrections = uniformBuffer(gpu, [0, 0, 0], "adam step");
    const chunks = params.map(({ size }) => normChunks(size));
    const partialCount = chunks.reduce((sum, c) => sum + c, 0);
    const partials = tensorBuffer(gpu, partialCount, "adam norm partials");
    this.stats = tensorBuffer(gpu, 4, "adam stats");
    this.#moments = params.map(({ name, size }) => ({
      name,
      m: tensorBuffer(gpu, size, `${name}:adam m`),
      v: tensorBuffer(gpu, size, `${name}:adam v`),
      size,
    }));
    this.#owned = [hyperBuffer, this.#corrections, partials, this.stats];
    for (const { m, v } of this.#moments) this.#owned.push(m, v);

    const sumSquares = computePipeline(gpu, ADAM_WGSL, "sum_squares");
    const finishNorm = computePipeline(gpu, ADAM_WGSL, "finish_norm");
    const adamStep = computePipeline(gpu, ADAM_WGSL, "adam_step");
    const paramUniforms: GPUBuffer[] = [];
    let offset = 0;
    params.forEach(({ name, grad, size }, p) => {
      const uniform = uniformBuffer(gpu, [size, chunks[p], offset], `${name}:adam param`);
      paramUniforms.push(uniform);
      const group = bindBuffers(gpu, sumSquares, { 1: uniform, 4: grad, 5: partials });
      this.#dispatches.push({ pipeline: sumSquares, group, invocations: chunks[p] });
      offset += chunks[p];
    });
    for (let begin = 0; begin < Math.max(partialCount, 1); begin += NORM_CHUNK) {
      const end = Math.min(partialCount, begin + NORM_CHUNK);
      const first = begin === 0 ? 1 : 0;
      const last = end === partialCount ? 1 : 0;
      const span = uniformBuffer(gpu, [begin, end, first, last], "adam norm span");
      this.#owned.push(span);
      const group = bindBuffers(gpu, finishNorm, {
        0: hyperBuffer,
        2: span,
        5: partials,
        6: this.stats,
      });
      this.#dispatches.push({ pipeline: finishNorm, group, invocations: 1 });
    }
    params.forEach(({ value, grad, size }, p) => {
      const group = bindBuffers(gpu, adamStep, {
        0: hyperBuffer,
        1: paramUniforms[p],
        3: this.#corrections,
        4: grad,
        6: this.stats,
        7: value,
        8: this.#moments[p].m,
        9: this.#moments[p].v,
      });
      this.#dispatches.push({ pipeline: adamStep, group, invocations: size });
    });
    this.#owned.push(...paramUniforms);
  }

  /** Steps taken so far: the next {@link encodeStep} takes step t = step + 1. */
  get step(): number {
    return this.#step;
  }

  /** Sets the steps taken so far, as when resuming from a checkpoint (with its moments). */
  setStep(t: number): void {
    if (!Number.isInteger(t) || t < 0) throw new RangeError(`step must be a count, not ${t}`);
    this.#step = t;
  }

  /** m and v of every parameter, in the order given, zero until the first step. */
  moments(): AdamMoments[] {
    return this.#moments.map((moments) => ({ ...moments }));
  }

  /**
   * Records step t = step + 1 (norm, clip and update) into `pass` and writes its bias
   * corrections and learning-rate factor (the step moves by lr · `lrScale`) to the queue at
   * once: submit the pass before recording the next step. A step skipped for a non-finite norm
   * still counts; {@link setStep} takes it back.
   */
  encodeStep(pass: GPUComputePassEncoder, lrScale = 1): void {
    if (!(lrScale >= 0 && Number.isFinite(lrScale))) {
      throw new RangeError(`learning-rate factor must be finite and non-negative, not ${lrScale}`);
    }
    this.#step += 1;
    // In float64 on the host: 1 − β2^t in float32 would lose ~1e-5 of itself at t = 1.
    this.#correctionValues[0] = 1 - this.hyper.beta1 ** this.#step;
    this.#correctionValues[1] = 1 - this.hyper.beta2 ** this.#step;
    this.#correctionValues[2] = lrScale;
    this.#gpu.device.queue.writeBuffer(this.#corrections, 0, this.#correctionValues);
    encodeAll(this.#gpu, pass, this.#dispatches);
  }

  /** Frees the buffers the optimizer owns (moments, stats, uniforms), not the parameters'. */
  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
  }
}
