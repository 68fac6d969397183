/**
 * Launchers of the per-tap projection P = x·Wt and the two matmuls of its backward
 * (dx = dP·Wtᵀ, dWt = xᵀ·dP), all one WGSL matmul with transposes chosen by override constants.
 *
 * On the GPU the weights of every width live side by side in one "projection layout" matrix
 * Wt [D, C] with C = Σ_widths K·F, column k·F + f of a width's segment being W[f,:,k], so one
 * matmul projects every tap of every width at once.
 *
 * @module
 */

import { bindBuffers, computePipeline, dispatchFlat, type Gpu, uniformBuffer } from "../gpu.ts";
import type { Launch } from "../launch.ts";
import MATMUL_WGSL from "./matmul.wgsl" with { type: "text" };

/**
 * Longest reduction one dispatch walks: one loop iteration per step, far under llvmpipe's silent
 * ~65,535 cut-off.
 */
export const MATMUL_K_CHUNK = 8192;

/** Rows and columns of C each invocation computes (the WGSL's BLOCK). */
const MATMUL_BLOCK = 8;

/** Sizes and options of C[M,N] (+)= A'[M,K]·B'[K,N]. */
export interface MatmulSpec {
  M: number;
  N: number;
  K: number;
  /** A is stored [K,M] and used transposed. */
  transA?: boolean;
  /** B is stored [N,K] and used transposed. */
  transB?: boolean;
  /** Add to C instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * One matmul bound to its buffers, its reduction split into dispatches of at most
 * {@link MATMUL_K_CHUNK}; built once and encoded every step.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { MatmulLaunch } from "./projection.ts";
 * const gpu = await getGpu();
 * const [a, b, c] = [2, 2, 1].map((n) => tensorBuffer(gpu, n, "t"));
 * gpu.device.queue.writeBuffer(a, 0, new Float32Array([1, 2]));
 * gpu.device.queue.writeBuffer(b, 0, new Float32Array([3, 4]));
 * const matmul = new MatmulLaunch(gpu, { M: 1, N: 1, K: 2 }, a, b, c);
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * matmul.encode(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [c]))[0])); // [11]
 * ```
 */
export class MatmulLaunch implements Launch {
  #gpu: Gpu;
  #pipeline: GPUComputePipeline;
  #groups: GPUBindGroup[] = [];
  #invocations: number;

  constructor(gpu: Gpu, spec: MatmulSpec, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer) {
    const { M, N, K } = spec;
    this.#gpu = gpu;
    this.#invocations = Math.ceil(M / MATMUL_BLOCK) * Math.ceil(N / MATMUL_BLOCK);
    this.#pipeline = computePipeline(gpu, MATMUL_WGSL, "matmul", {
      TRANS_A: spec.transA ? 1 : 0,
      TRANS_B: spec.transB ? 1 : 0,
    });
    for (let begin = 0; begin < Math.max(K, 1); begin += MATMUL_K_CHUNK) {
      const end = Math.min(K, begin + MATMUL_K_CHUNK);
      const accumulate = begin > 0 || spec.accumulate ? 1 : 0;
      const params = uniformBuffer(gpu, [M, N, K, begin, end, accumulate], "matmul params");
      this.#groups.push(bindBuffers(gpu, this.#pipeline, { 0: params, 1: a, 2: b, 3: c }));
    }
  }

  /** Records the dispatches into `pass`. */
  encode(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.#pipeline);
    for (const group of this.#groups) {
      pass.setBindGroup(0, group);
      dispatchFlat(this.#gpu, pass, this.#invocations);
    }
  }
}

/** Taps and filters of one convolution width. */
export interface Width {
  K: number;
  F: number;
}

/**
 * Packs per-width weights W_i [F,D,K] into the projection layout Wt [D, Σ K·F].
 *
 * @example
 * ```ts
 * import { toProjectionLayout } from "./projection.ts";
 * const Wt = toProjectionLayout([new Float64Array([1, 2, 3, 4])], [{ K: 2, F: 1 }], 2);
 * console.log(Wt); // W[0,d,k] at d·2 + k·1: [1, 2, 3, 4]
 * ```
 */
export function toProjectionLayout(
  weights: ArrayLike<number>[],
  widths: Width[],
  D: number,
): Float32Array<ArrayBuffer> {
  const C = widths.reduce((sum, w) => sum + w.K * w.F, 0);
  const Wt = new Float32Array(D * C);
  let offset = 0;
  widths.forEach(({ K, F }, i) => {
    for (let f = 0; f < F; f++) {
      for (let d = 0; d < D; d++) {
        for (let k = 0; k < K; k++) {
          Wt[d * C + offset + k * F + f] = weights[i][(f * D + d) * K + k];
        }
      }
    }
    offset += K * F;
  });
  return Wt;
}

/**
 * Unpacks the projection layout Wt [D, Σ K·F] into per-width W_i [F,D,K].
 *
 * @example
 * ```ts
 * import { fromProjectionLayout, toProjectionLayout } from "./projection.ts";
 * const widths = [{ K: 2, F: 1 }];
 * const Wt = toProjectionLayout([new Float64Array([1, 2, 3, 4])], widths, 2);
 * console.log(fromProjectionLayout(Wt, widths, 2)[0]); // [1, 2, 3, 4]
 * ```
 */
export function fromProjectionLayout(
  Wt: ArrayLike<number>,
  widths: Width[],
  D: number,
): Float64Array[] {
  const C = widths.reduce((sum, w) => sum + w.K * w.F, 0);
  let offset = 0;
  return widths.map(({ K, F }) => {
    const W = new Float64Array(F * D * K);
    for (let f = 0; f < F; f++) {
      for (let d = 0; d < D; d++) {
        for (let k = 0; k < K; k++) W[(f * D + d) * K + k] = Wt[d * C + offset + k * F + f];
      }
    }
    offset += K * F;
    return W;
  });
}
