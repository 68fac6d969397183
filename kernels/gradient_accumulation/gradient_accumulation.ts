/**
 * Launcher of gradient accumulation: what lets a batch run as several passes when one pass of
 * all its documents would not fit the adapter (see `gradient_accumulation.wgsl`).
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, tensorBuffer, uniformBuffer } from "../gpu.ts";
import { type Dispatch, encodeAll } from "../launch.ts";
import type { AccumulationPhase } from "./reference.ts";
import ACCUMULATION_WGSL from "./gradient_accumulation.wgsl" with { type: "text" };

/** A parameter's gradient buffer and its size in float32 elements. */
export interface AccumulatedGradient {
  name: string;
  grad: GPUBuffer; // [size]
  size: number;
}

/**
 * One accumulator per gradient, built once: after each pass {@link encode} records the phase's
 * dispatch for every gradient.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { GradientAccumulation } from "./gradient_accumulation.ts";
 * const gpu = await getGpu();
 * const grad = tensorBuffer(gpu, 2, "dw");
 * const accumulation = new GradientAccumulation(gpu, [{ name: "w", grad, size: 2 }]);
 * for (const [values, phase] of [[[1, 2], "first"], [[3, 4], "finish"]] as const) {
 *   gpu.device.queue.writeBuffer(grad, 0, new Float32Array(values));
 *   const encoder = gpu.device.createCommandEncoder();
 *   const pass = encoder.beginComputePass();
 *   accumulation.encode(pass, phase);
 *   pass.end();
 *   gpu.device.queue.submit([encoder.finish()]);
 * }
 * console.log(new Float32Array((await readBuffers(gpu, [grad]))[0])); // [4, 6]
 * accumulation.destroy();
 * ```
 */
export class GradientAccumulation {
  #gpu: Gpu;
  #dispatches: Record<AccumulationPhase, Dispatch[]> = { first: [], add: [], finish: [] };
  #owned: GPUBuffer[] = [];

  constructor(gpu: Gpu, gradients: AccumulatedGradient[]) {
    this.#gpu = gpu;
    const phases = Object.keys(this.#dispatches) as AccumulationPhase[];
    const pipelines = phases.map((phase) => computePipeline(gpu, ACCUMULATION_WGSL, phase));
    for (const { name, grad, size } of gradients) {
      const acc = tensorBuffer(gpu, size, `${name}:accumulated`);
      const params = uniformBuffer(gpu, [size], `${name}:accumulation`);
      this.#owned.push(acc, params);
      phases.forEach((phase, i) => {
        const group = bindBuffers(gpu, pipelines[i], { 0: params, 1: grad, 2: acc });
        this.#dispatches[phase].push({ pipeline: pipelines[i], group, invocations: size });
      });
    }
  }

  /** Records the update that follows a pass (`accumulationPhase` in reference.ts says which). */
  encode(pass: GPUComputePassEncoder, phase: AccumulationPhase): void {
    encodeAll(this.#gpu, pass, this.#dispatches[phase]);
  }

  /** Frees the accumulators (never the gradients). */
  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.#owned = [];
  }
}
