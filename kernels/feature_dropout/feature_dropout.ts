/**
 * Launcher of the dropout of the pooled features (kernels/feature_dropout/reference.ts): it
 * scales h in place after the layer's forward, and the gradient of h in place after the
 * classifier's backward, with the same masks.
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, uniformBuffer } from "../gpu.ts";
import { HASH_WGSL } from "../hash.ts";
import { type Dispatch, encodeAll, type Stage } from "../launch.ts";
import DROPOUT_WGSL from "./feature_dropout.wgsl" with { type: "text" };

const CODE = HASH_WGSL + DROPOUT_WGSL;

/** Byte offsets of the words of State in feature_dropout.wgsl. */
const STATE = { step: 4, training: 8 };

/** The buffers it scales in place: h [B,T,ΣF] and its gradient g, same layout. */
export interface FeatureDropoutBuffers {
  h: GPUBuffer;
  g: GPUBuffer;
}

/**
 * The dropout of n pooled features with probability p, keyed by `seed` and the step set with
 * {@link FeatureDropoutLaunch.setStep}; it starts in training mode.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { FeatureDropoutLaunch } from "./feature_dropout.ts";
 * const gpu = await getGpu();
 * const [h, g] = [tensorBuffer(gpu, 4, "h"), tensorBuffer(gpu, 4, "g")];
 * gpu.device.queue.writeBuffer(h, 0, Float32Array.of(1, 2, 3, 4));
 * const dropout = new FeatureDropoutLaunch(gpu, 4, { h, g }, { p: 0.5, seed: 3 });
 * dropout.setStep(1);
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * dropout.encodeForward(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [h]))[0])); // each 0 or doubled
 * dropout.destroy();
 * ```
 */
export class FeatureDropoutLaunch implements Stage {
  readonly n: number;
  #gpu: Gpu;
  #state: GPUBuffer;
  #params: GPUBuffer;
  #dispatches: { h: Dispatch[]; g: Dispatch[] };

  constructor(
    gpu: Gpu,
    n: number,
    buffers: FeatureDropoutBuffers,
    { p, seed }: { p: number; seed: number },
  ) {
    if (!(p >= 0 && p < 1)) throw new RangeError(`feature dropout ${p} is not in [0, 1)`);
    for (const [name, buffer] of Object.entries(buffers)) {
      if (buffer.size < n * 4) throw new RangeError(`feature dropout: ${name} holds < ${n} values`);
    }
    this.#gpu = gpu;
    this.n = n;
    const pBits = new Uint32Array(Float32Array.of(p).buffer)[0];
    this.#params = uniformBuffer(gpu, [n, pBits], "feature dropout params");
    this.#state = uniformBuffer(gpu, [seed, 0, 1], "feature dropout state");
    const pipeline = computePipeline(gpu, CODE, "scale");
    const scale = (values: GPUBuffer): Dispatch[] => [{
      pipeline,
      group: bindBuffers(gpu, pipeline, { 0: this.#params, 1: this.#state, 2: values }),
      invocations: n,
    }];
    this.#dispatches = { h: scale(buffers.h), g: scale(buffers.g) };
  }

  /** Sets the step that keys the masks; a batch's forward and backward must see the same. */
  setStep(step: number): void {
    this.#gpu.device.queue.writeBuffer(this.#state, STATE.step, Uint32Array.of(step));
  }

  /** Switches dropout on (training) or off (evaluation: both dispatches leave values alone). */
  setTraining(training: boolean): void {
    const word = Uint32Array.of(training ? 1 : 0);
    this.#gpu.device.queue.writeBuffer(this.#state, STATE.training, word);
  }

  /** Records h ← h·keep/(1−p). */
  encodeForward(pass: GPUComputePassEncoder): void {
    encodeAll(this.#gpu, pass, this.#dispatches.h);
  }

  /** Records g ← g·keep/(1−p), the same masks as the forward of this step. */
  encodeBackward(pass: GPUComputePassEncoder): void {
    encodeAll(this.#gpu, pass, this.#dispatches.g);
  }

  /** Frees its uniforms (not h or g). */
  destroy(): void {
    this.#params.destroy();
    this.#state.destroy();
  }
}
