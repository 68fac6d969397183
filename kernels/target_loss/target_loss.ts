/**
 * Launcher of the prediction loss over the targets: per-document losses r [B], the gradient of
 * Σ_b r[b] with respect to the logits, and the probabilities for evaluation, in one pass.
 *
 * Layouts (row-major): logits, dlogits and probabilities [B,T,C] float32; labels y [B,T] i32
 * (aspects: a class in [0, n[t]) or −1 for a missing label; labels mode: 0 or 1); classes n [T]
 * u32; r [B] float32.
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, tensorBuffer, uniformBuffer } from "../gpu.ts";
import { type Dispatch, encodeAll, type Stage } from "../launch.ts";
import type { LossShape } from "./reference.ts";
import LOSS_WGSL from "./target_loss.wgsl" with { type: "text" };

/** Most classes per target: the softmax loops 3·C times per invocation, under ~12,000. */
export const MAX_CLASSES = 4000;

/** Most targets one invocation sums per dispatch: far under llvmpipe's silent ~65,535 cut-off. */
export const TARGET_SUM_CHUNK = 8192;

/** The caller's buffers: the classifier's logits and the gradient the loss writes for it. */
export interface LossBuffers {
  /** logits: [B,T,C], read. */
  logits: GPUBuffer;
  /** dlogits: [B,T,C], overwritten: w·(p − onehot) on known labels and valid classes, else 0. */
  dlogits: GPUBuffer;
}

/** Options of {@link TargetLossLaunch}. */
export interface LossOptions {
  /** w, the weight of every term: 1/B makes Σ_b r[b] the batch mean. */
  weight: number;
  /** Aspects mode: the classes n[t] of each target, 1 ≤ n[t] ≤ C; C for every target if absent. */
  classes?: ArrayLike<number>;
}

/**
 * The loss of one batch shape, built once; the caller uploads each batch's labels with
 * {@link TargetLossLaunch.setLabels} and encodes it after the classifier's forward. Nothing needs
 * clearing by the caller.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { TargetLossLaunch } from "./target_loss.ts";
 * const gpu = await getGpu();
 * const [logits, dlogits] = [tensorBuffer(gpu, 2, "logits"), tensorBuffer(gpu, 2, "dlogits")];
 * gpu.device.queue.writeBuffer(logits, 0, new Float32Array([0, 0]));
 * const shape = { B: 1, T: 1, C: 2, mode: "aspects" as const };
 * const loss = new TargetLossLaunch(gpu, shape, { logits, dlogits }, { weight: 1 });
 * loss.setLabels(Int32Array.from([1]));
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * loss.encodeForward(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * const [r, d] = await readBuffers(gpu, [loss.documentLoss, dlogits]);
 * console.log(new Float32Array(r), new Float32Array(d)); // [0.693…] [0.5, -0.5]
 * loss.destroy();
 * ```
 */
export class TargetLossLaunch implements Stage {
  readonly shape: LossShape;
  /** y: [B,T] i32, uploaded by {@link TargetLossLaunch.setLabels}. */
  readonly labels: GPUBuffer;
  /** probabilities: [B,T,C], softmax over the valid classes (0 beyond) or σ(z). */
  readonly probabilities: GPUBuffer;
  /** r: [B], each document's weighted loss summed over its targets. */
  readonly documentLoss: GPUBuffer;
  #gpu: Gpu;
  #classes: Uint32Array<ArrayBuffer>;
  #owned: GPUBuffer[] = [];
  #dispatches: Dispatch[] = [];

  constructor(gpu: Gpu, shape: LossShape, buffers: LossBuffers, options: LossOptions) {
    this.#gpu = gpu;
    this.shape = shape;
    const { B, T, C, mode } = shape;
    if (![B, T, C].every((n) => Number.isInteger(n) && n > 0)) {
      throw new RangeError(
        `target loss: sizes must be positive integers, got B=${B} T=${T} C=${C}`,
      );
    }
    if (mode === "labels" && C !== 1) throw new RangeError(`target loss: labels mode needs C=1`);
    if (C > MAX_CLASSES) {
      throw new RangeError(`target loss: C=${C} classes, at most ${MAX_CLASSES} are supported`);
    }
    this.#classes = Uint32Array.from(options.classes ?? new Array(T).fill(C));
    if (this.#classes.length !== T || this.#classes.some((n) => n < 1 || n > C)) {
      throw new RangeError(`target loss: need ${T} class counts, each in [1, ${C}]`);
    }
    const limit = gpu.limits.maxStorageBufferBindingSize;
    if (B * T * C * 4 > limit) {
      throw new RangeError(
        `target loss: logits [${B},${T},${C}] exceed maxStorageBufferBindingSize ${limit} bytes: ` +
          `split the targets into ranges, one loss per range, and add their r`,
      );
    }
    for (const [name, buffer] of Object.entries(buffers)) {
      if (buffer.size < B * T * C * 4) {
        throw new RangeError(
          `target loss: ${name} needs ${B * T * C * 4} bytes, got ${buffer.size}`,
        );
      }
    }

    const owned = (elements: number, label: string) => {
      const buffer = tensorBuffer(gpu, elements, label);
      this.#owned.push(buffer);
      return buffer;
    };
    this.labels = owned(B * T, "labels");
    this.probabilities = owned(B * T * C, "probabilities");
    this.documentLoss = owned(B, "document loss");
    const terms = owned(B * T, "loss terms");
    const weightBits = new Uint32Array(Float32Array.of(options.weight).buffer)[0];
    const uniform = (begin: number, end: number, add: boolean) => {
      const words = [B, T, C, weightBits, begin, end, add ? 1 : 0];
      const buffer = uniformBuffer(gpu, words, "loss params");
      this.#owned.push(buffer);
      return buffer;
    };

    const entry = mode === "aspects" ? "softmax_cross_entropy" : "sigmoid_cross_entropy";
    const elementwise = computePipeline(gpu, LOSS_WGSL, entry);
    const bindings: Record<number, GPUBuffer> = {
      0: uniform(0, T, false),
      1: buffers.logits,
      2: this.labels,
      4: buffers.dlogits,
      5: this.probabilities,
      6: terms,
    };
    if (mode === "aspects") {
      const classes = owned(T, "classes");
      gpu.device.queue.writeBuffer(classes, 0, this.#classes);
      bindings[3] = classes;
    }
    this.#dispatches.push({
      pipeline: elementwise,
      group: bindBuffers(gpu, elementwise, bindings),
      invocations: B * T,
    });
    const sum = computePipeline(gpu, LOSS_WGSL, "sum_targets");
    for (let begin = 0; begin < T; begin += TARGET_SUM_CHUNK) {
      const end = Math.min(T, begin + TARGET_SUM_CHUNK);
      const group = bindBuffers(gpu, sum, {
        0: uniform(begin, end, begin > 0),
        6: terms,
        7: this.documentLoss,
      });
      this.#dispatches.push({ pipeline: sum, group, invocations: B });
    }
  }

  /**
   * Uploads the batch's labels y [B,T] after checking them: aspects, −1 or a class below n[t];
   * labels mode, 0 or 1.
   */
  setLabels(y: Int32Array<ArrayBuffer>): void {
    const { B, T, mode } = this.shape;
    if (y.length !== B * T) throw new RangeError(`target loss: ${y.length} labels, need ${B * T}`);
    y.forEach((label, i) => {
      const t = i % T;
      const ok = mode === "labels"
        ? label === 0 || label === 1
        : label >= -1 && label < this.#classes[t];
      if (!ok) {
        throw new RangeError(
          `target loss: label ${label} of document ${Math.floor(i / T)}, target ${t} is not ` +
            (mode === "labels" ? "0 or 1" : `−1 or a class below ${this.#classes[t]}`),
        );
      }
    });
    this.#gpu.device.queue.writeBuffer(this.labels, 0, y);
  }

  /** Records the loss: probabilities, dlogits and r. */
  encodeForward(pass: GPUComputePassEncoder): void {
    encodeAll(this.#gpu, pass, this.#dispatches);
  }

  /** Records nothing: the forward already wrote the logits' gradient. */
  encodeBackward(_pass: GPUComputePassEncoder): void {}

  /** Frees the buffers the launcher owns (not the caller's logits and dlogits). */
  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.#owned = [];
  }
}
