/**
 * Launcher of the masker's per-token (Gumbel-)softmax and its backward: one workgroup per
 * token, the sampling settings in a uniform buffer that `setStep` and `configure` rewrite in
 * place, so a training loop never rebuilds anything.
 *
 * @module
 */

import {
  bindBuffers,
  computePipeline,
  dispatchFlat,
  type Gpu,
  tensorBuffer,
  uniformBuffer,
  WORKGROUP_SIZE,
} from "../gpu.ts";
import { LOOP_TRIPS, type Stage } from "../launch.ts";
import { HASH_WGSL } from "../hash.ts";
import {
  MAX_KEPT_TARGETS,
  type SoftmaxMode,
  type SoftmaxSampling,
  type TokenSoftmaxShape,
} from "./reference.ts";
import SOFTMAX_WGSL from "./token_softmax.wgsl" with { type: "text" };

const CODE = HASH_WGSL + SOFTMAX_WGSL;

const MODE_CODES: Record<SoftmaxMode, number> = {
  soft: 0,
  gumbel: 1,
  hard: 2,
  sparse: 3,
  "sparse-sampled": 4,
};

/**
 * An invocation's loop trips in the forward: three strided passes over the classes, and in the
 * sparse modes a fourth, its insertion sort (≤ keep + 1 trips per target) and the merge rounds.
 */
function forwardTrips(T: number, { mode, keepTargets = MAX_KEPT_TARGETS }: SoftmaxSampling) {
  const strided = Math.ceil((T + 1) / WORKGROUP_SIZE);
  if (mode !== "sparse" && mode !== "sparse-sampled") return 3 * strided;
  const keep = Math.min(keepTargets, T);
  return 4 * strided + Math.ceil(T / WORKGROUP_SIZE) * (keep + 1) +
    keep * (1 + Math.log2(WORKGROUP_SIZE));
}

function checkSampling(T: number, sampling: SoftmaxSampling): void {
  const keep = sampling.keepTargets ?? MAX_KEPT_TARGETS;
  if (!Number.isInteger(keep) || keep < 1 || keep > MAX_KEPT_TARGETS) {
    throw new RangeError(`keep ${keep} targets: sparse masks keep 1 to ${MAX_KEPT_TARGETS}`);
  }
  if (forwardTrips(T, sampling) > LOOP_TRIPS) {
    throw new RangeError(`T=${T}: too many classes for one workgroup per token`);
  }
}

/** The GPU buffers of the softmax, in the layouts the WGSL file states. */
export interface TokenSoftmaxBuffers {
  a: GPUBuffer; // a: [B,L,T+1], the masker's logits
  lengths: GPUBuffer; // lengths: [B] u32
  p: GPUBuffer; // p: [B,L,T+1], written by the forward
  m: GPUBuffer; // m: [B,L,T], written by the forward
  dp?: GPUBuffer; // dp: [B,L,T+1], upstream gradient of p; absent means zeros
  dm: GPUBuffer; // dm: [B,L,T], upstream gradient of m
  da: GPUBuffer; // da: [B,L,T+1], overwritten by the backward
}

/**
 * The forward and backward dispatches over B·L tokens, built once; the soft p the backward
 * needs lives in the launcher's own buffer `pSoft`. `maskScale` s (default 1) gives m = s·p.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { TokenSoftmaxLaunch } from "./token_softmax.ts";
 * const gpu = await getGpu();
 * const shape = { B: 1, L: 1, T: 1 };
 * const names = ["a", "lengths", "p", "m", "dm", "da"];
 * const buffers = Object.fromEntries(names.map((n) => [n, tensorBuffer(gpu, 2, n)]));
 * gpu.device.queue.writeBuffer(buffers.lengths, 0, new Uint32Array([1]));
 * const softmax = new TokenSoftmaxLaunch(gpu, shape, buffers as never, {
 *   mode: "gumbel", seed: 7, step: 0, tau: 0.5,
 * });
 * softmax.setStep(1);
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * softmax.encodeForward(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [buffers.p]))[0])); // sums to 1
 * softmax.destroy();
 * ```
 */
export class TokenSoftmaxLaunch implements Stage {
  readonly shape: TokenSoftmaxShape;
  /** The soft p [B,L,T+1] of the last forward (equal to p except in hard mode). */
  readonly pSoft: GPUBuffer;
  #gpu: Gpu;
  #sampling: SoftmaxSampling;
  #maskScale: number;
  #params: GPUBuffer;
  #forward: { pipeline: GPUComputePipeline; group: GPUBindGroup };
  #backward: { pipeline: GPUComputePipeline; group: GPUBindGroup };

  constructor(
    gpu: Gpu,
    shape: TokenSoftmaxShape,
    buffers: TokenSoftmaxBuffers,
    sampling: SoftmaxSampling,
    { maskScale = 1 }: { maskScale?: number } = {},
  ) {
    const { B, L, T } = shape;
    checkSampling(T, sampling);
    this.#gpu = gpu;
    this.shape = shape;
    this.#sampling = { ...sampling };
    this.#maskScale = maskScale;
    this.#params = uniformBuffer(gpu, this.#paramWords(), "token softmax params");
    this.pSoft = tensorBuffer(gpu, B * L * (T + 1), "p soft");
    const forward = computePipeline(gpu, CODE, "forward");
    this.#forward = {
      pipeline: forward,
      group: bindBuffers(gpu, forward, {
        0: this.#params,
        1: buffers.a,
        2: buffers.lengths,
        3: buffers.p,
        4: buffers.m,
        5: this.pSoft,
      }),
    };
    const backward = computePipeline(gpu, CODE, "backward", { HAS_DP: buffers.dp ? 1 : 0 });
    this.#backward = {
      pipeline: backward,
      group: bindBuffers(gpu, backward, {
        0: this.#params,
        2: buffers.lengths,
        5: this.pSoft,
        // Without dp the shader never reads binding 6, but its layout still holds it.
        6: buffers.dp ?? buffers.dm,
        7: buffers.dm,
        8: buffers.da,
      }),
    };
  }

  #paramWords(): number[] {
    const { B, L, T } = this.shape;
    const { mode, seed, step, tau, keepTargets = MAX_KEPT_TARGETS } = this.#sampling;
    const [tauBits, scaleBits] = new Uint32Array(Float32Array.of(tau, this.#maskScale).buffer);
    return [B, L, T, seed, step, MODE_CODES[mode], tauBits, scaleBits, keepTargets];
  }

  /** Sets the noise stream of the next submitted forward: one 4-byte write. */
  setStep(step: number): void {
    this.#sampling.step = step;
    this.#gpu.device.queue.writeBuffer(this.#params, 16, Uint32Array.of(step));
  }

  /** Changes mode, seed, step or temperature for the next submitted forward and backward. */
  configure(sampling: Partial<SoftmaxSampling>): void {
    checkSampling(this.shape.T, { ...this.#sampling, ...sampling });
    Object.assign(this.#sampling, sampling);
    this.#gpu.device.queue.writeBuffer(this.#params, 0, Uint32Array.from(this.#paramWords()));
  }

  /** Records the forward: p, m and pSoft (zeros at padding). */
  encodeForward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#forward);
  }

  /** Records the backward: overwrites da from pSoft, dp and dm (zeros at padding). */
  encodeBackward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#backward);
  }

  /** Frees the launcher's own buffers (pSoft and the settings). */
  destroy(): void {
    this.pSoft.destroy();
    this.#params.destroy();
  }

  #encode(
    pass: GPUComputePassEncoder,
    { pipeline, group }: { pipeline: GPUComputePipeline; group: GPUBindGroup },
  ) {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    dispatchFlat(this.#gpu, pass, this.shape.B * this.shape.L * WORKGROUP_SIZE);
  }
}
