/**
 * Launcher of the Multi-Target Masker's regularisers: the per-document losses r [B] and their
 * gradient dp with respect to the token distributions, in three dispatches built once.
 *
 * @module
 */

import {
  bindBuffers,
  computePipeline,
  type Gpu,
  tensorBuffer,
  uniformBuffer,
  WORKGROUP_SIZE,
} from "../gpu.ts";
import { type Dispatch, encodeAll, LOOP_TRIPS, type Stage } from "../launch.ts";
import REGULARISERS_WGSL from "./mask_regularisers.wgsl" with { type: "text" };
import type { RegulariserShape, RegulariserWeights } from "./reference.ts";

/** The GPU buffers of the regularisers, in the layouts the WGSL file states. */
export interface MaskRegularisersBuffers {
  p: GPUBuffer; // p: [B,L,T+1], the token distributions (0 at padding)
  lengths: GPUBuffer; // lengths: [B] u32
  r: GPUBuffer; // r: [B], written by the forward
  dp: GPUBuffer; // dp: [B,L,T+1], overwritten by the backward
}

/**
 * The regularisers over one batch: `encodeForward` writes r (and the per-document gradient
 * coefficients the backward scales), `encodeBackward` then overwrites dp.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { MaskRegularisersLaunch } from "./mask_regularisers.ts";
 * const gpu = await getGpu();
 * const [p, lengths, r, dp] = [4, 1, 1, 4].map((n) => tensorBuffer(gpu, n, "t"));
 * gpu.device.queue.writeBuffer(p, 0, new Float32Array([0.9, 0.1, 0.2, 0.8]));
 * gpu.device.queue.writeBuffer(lengths, 0, new Uint32Array([2]));
 * const regularisers = new MaskRegularisersLaunch(
 *   gpu, { B: 1, L: 2, T: 1 }, { p, lengths, r, dp }, { lambdaP: 0.5, wSel: 1, wCont: 1 },
 * );
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * regularisers.encodeForward(pass);
 * regularisers.encodeBackward(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [r]))[0]));
 * regularisers.destroy();
 * ```
 */
export class MaskRegularisersLaunch implements Stage {
  readonly shape: RegulariserShape;
  #gpu: Gpu;
  #own: GPUBuffer[];
  #forward: Dispatch[];
  #backward: Dispatch;

  constructor(
    gpu: Gpu,
    shape: RegulariserShape,
    buffers: MaskRegularisersBuffers,
    { lambdaP, wSel, wCont }: RegulariserWeights,
  ) {
    const { B, L, T } = shape;
    const classes = T + 1;
    if (
      Math.max(Math.ceil(classes / WORKGROUP_SIZE), Math.ceil(L / WORKGROUP_SIZE)) >
        LOOP_TRIPS
    ) {
      throw new RangeError(`L=${L} T=${T}: too long for one workgroup per row or document`);
    }
    this.#gpu = gpu;
    this.shape = shape;
    const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
    const params = uniformBuffer(
      gpu,
      [B, L, T, f32Bits(lambdaP), f32Bits(wSel), f32Bits(wCont)],
      "regulariser params",
    );
    const rowDistance = tensorBuffer(gpu, B * L, "row distance"); // [B,L]
    const coefficients = tensorBuffer(gpu, 2 * B, "regulariser coefficients"); // [B,2]
    this.#own = [params, rowDistance, coefficients];
    const dispatch = (entry: string, buffers: Record<number, GPUBuffer>, invocations: number) => {
      const pipeline = computePipeline(gpu, REGULARISERS_WGSL, entry);
      const group = bindBuffers(gpu, pipeline, { 0: params, ...buffers });
      return { pipeline, group, invocations };
    };
    const { p, lengths, r, dp } = buffers;
    this.#forward = [
      dispatch("row_distances", { 1: p, 2: lengths, 3: rowDistance }, B * L * WORKGROUP_SIZE),
      dispatch(
        "document_losses",
        { 1: p, 2: lengths, 3: rowDistance, 4: r, 5: coefficients },
        B * WORKGROUP_SIZE,
      ),
    ];
    this.#backward = dispatch(
      "gradients",
      { 1: p, 2: lengths, 5: coefficients, 6: dp },
      B * L * classes,
    );
  }

  /** Records the forward: r [B] (0 for empty documents). */
  encodeForward(pass: GPUComputePassEncoder): void {
    encodeAll(this.#gpu, pass, this.#forward);
  }

  /** Records the backward, after a forward on the same p: overwrites dp (0 at padding). */
  encodeBackward(pass: GPUComputePassEncoder): void {
    encodeAll(this.#gpu, pass, [this.#backward]);
  }

  /** Frees the launcher's own buffers (settings and scratch). */
  destroy(): void {
    this.#own.forEach((b) => b.destroy());
  }
}
