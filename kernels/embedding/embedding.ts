/**
 * Launcher of the embedding lookup with inverted dropout and of its backward (the gradient of
 * the embedding table, for `--train-embeddings`), plus the host-side token index the backward
 * gathers through.
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
} from "../gpu.ts";
import { LOOP_TRIPS, type Stage } from "../launch.ts";
import { HASH_WGSL } from "../hash.ts";
import EMBEDDING_WGSL from "./embedding.wgsl" with { type: "text" };
import type { EmbeddingShape } from "./reference.ts";

const CODE = HASH_WGSL + EMBEDDING_WGSL;

/** Drop probability of the embeddings in training unless told otherwise. */
export const DEFAULT_DROPOUT = 0.1;

/**
 * The valid positions of a batch grouped by token (CSR): what the backward gathers through.
 * Tokens come most frequent first, so the later slices of long lists dispatch only the few
 * frequent tokens.
 */
export interface TokenIndex {
  /** Distinct ids at valid positions (l < len[b]), by decreasing count, ties by id. */
  tokens: Uint32Array<ArrayBuffer>; // [U]
  /** Token u's positions are positions[offsets[u] .. offsets[u+1]). */
  offsets: Uint32Array<ArrayBuffer>; // [U + 1]
  /** Flat positions b·L + l, grouped by token, increasing within each group. */
  positions: Uint32Array<ArrayBuffer>; // [Σ len]
}

/**
 * Groups the valid positions of a batch by token id, on the host, which knows the ids anyway.
 *
 * @example
 * ```ts
 * import { buildTokenIndex } from "./embedding.ts";
 * // Two documents of L = 3; the second has length 2, so its last id is padding.
 * const index = buildTokenIndex([4, 7, 4, 7, 4, 9], [3, 2], 3);
 * console.log(index.tokens, index.offsets, index.positions); // [4, 7] [0, 3, 5] [0, 2, 4, 1, 3]
 * ```
 */
export function buildTokenIndex(
  ids: ArrayLike<number>, // ids: [B,L]
  lengths: ArrayLike<number>, // lengths: [B]
  L: number,
): TokenIndex {
  const counts = new Map<number, number>();
  for (let b = 0; b < lengths.length; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const id = ids[b * L + l];
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  const tokens = Uint32Array.from(
    [...counts.keys()].sort((u, v) => counts.get(v)! - counts.get(u)! || u - v),
  );
  const offsets = new Uint32Array(tokens.length + 1);
  const next = new Map<number, number>();
  tokens.forEach((id, u) => {
    next.set(id, offsets[u]);
    offsets[u + 1] = offsets[u] + counts.get(id)!;
  });
  const positions = new Uint32Array(offsets[tokens.length]);
  for (let b = 0; b < lengths.length; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const id = ids[b * L + l];
      const at = next.get(id)!;
      positions[at] = b * L + l;
      next.set(id, at + 1);
    }
  }
  return { tokens, offsets, positions };
}

/** The caller's GPU buffers, in the layouts the WGSL file states. */
export interface EmbeddingBuffers {
  E: GPUBuffer; // [V, D]
  ids: GPUBuffer; // [B, L] u32; ids at padding are never read
  lengths: GPUBuffer; // [B] u32
  x: GPUBuffer; // [B, L, D], written whole by the forward
  /** Only to train the embeddings: dx is read, dE written whole by the backward. */
  grad?: {
    dx: GPUBuffer; // [B, L, D]
    dE: GPUBuffer; // [V, D]
  };
}

/** Dropout settings; the step starts at 0 and moves with {@link EmbeddingLaunch.setStep}. */
export interface DropoutOptions {
  /** Drop probability in training, in [0, 1); {@link DEFAULT_DROPOUT} when absent. */
  p?: number;
  /** Key of the masks; give other random consumers (Gumbel noise) another seed. */
  seed: number;
  /** Whether to start in training mode (dropout on). */
  training: boolean;
}

interface Slice {
  group: GPUBindGroup;
  /** Tokens of the current index whose list reaches this slice, the first ones by order. */
  tokens: number;
}

/** Byte offsets of the words of the WGSL `State` uniform. */
const STATE = { step: 4, training: 8, tokens: 12 };

/**
 * The lookup and its backward bound to their buffers, built once; per step the caller only
 * writes small uniforms ({@link setStep}, {@link setTraining}) and, to train the embeddings,
 * uploads the batch's {@link TokenIndex} into buffers preallocated for B·L positions.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { EmbeddingLaunch } from "./embedding.ts";
 * const gpu = await getGpu();
 * const shape = { B: 1, L: 2, D: 2, V: 3 };
 * const [E, ids, lengths, x] = [6, 2, 1, 4].map((n) => tensorBuffer(gpu, n, "t"));
 * gpu.device.queue.writeBuffer(E, 0, new Float32Array([1, 2, 3, 4, 5, 6]));
 * gpu.device.queue.writeBuffer(ids, 0, new Uint32Array([2, 0]));
 * gpu.device.queue.writeBuffer(lengths, 0, new Uint32Array([1]));
 * const embed = new EmbeddingLaunch(gpu, shape, { E, ids, lengths, x }, {
 *   seed: 1,
 *   training: false,
 * });
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * embed.encodeForward(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [x]))[0])); // [5, 6, 0, 0]
 * ```
 */
export class EmbeddingLaunch implements Stage {
  readonly shape: EmbeddingShape;
  #gpu: Gpu;
  #state: GPUBuffer;
  #owned: GPUBuffer[];
  #forward: { pipeline: GPUComputePipeline; group: GPUBindGroup };
  #backward?: {
    clear: { pipeline: GPUComputePipeline; group: GPUBindGroup };
    gather: GPUComputePipeline;
    slices: Slice[];
    index: { tokens: GPUBuffer; offsets: GPUBuffer; positions: GPUBuffer };
  };

  constructor(
    gpu: Gpu,
    shape: EmbeddingShape,
    buffers: EmbeddingBuffers,
    { p = DEFAULT_DROPOUT, seed, training }: DropoutOptions,
  ) {
    if (!(p >= 0 && p < 1)) throw new RangeError(`dropout ${p} is not in [0, 1)`);
    this.#gpu = gpu;
    this.shape = shape;
    const { B, L, D, V } = shape;
    const pBits = new Uint32Array(Float32Array.of(p).buffer)[0];
    const shapeParams = uniformBuffer(gpu, [B, L, D, V, pBits], "embedding shape");
    this.#state = uniformBuffer(gpu, [seed, 0, training ? 1 : 0, 0], "embedding state");
    this.#owned = [shapeParams, this.#state];
    const forward = computePipeline(gpu, CODE, "forward");
    this.#forward = {
      pipeline: forward,
      group: bindBuffers(gpu, forward, {
        0: shapeParams,
        1: this.#state,
        3: buffers.E,
        4: buffers.ids,
        5: buffers.lengths,
        6: buffers.x,
      }),
    };
    if (!buffers.grad) return;
    const { dx, dE } = buffers.grad;
    const index = {
      tokens: tensorBuffer(gpu, B * L, "embedding index tokens"),
      offsets: tensorBuffer(gpu, B * L + 1, "embedding index offsets"),
      positions: tensorBuffer(gpu, B * L, "embedding index positions"),
    };
    this.#owned.push(index.tokens, index.offsets, index.positions);
    const clear = computePipeline(gpu, CODE, "clear_grad");
    const gather = computePipeline(gpu, CODE, "backward_gather");
    const slices: Slice[] = [];
    for (let begin = 0; begin < Math.max(B * L, 1); begin += LOOP_TRIPS) {
      const slice = uniformBuffer(gpu, [begin, begin + LOOP_TRIPS], "embedding slice");
      this.#owned.push(slice);
      const group = bindBuffers(gpu, gather, {
        0: shapeParams,
        1: this.#state,
        2: slice,
        7: dx,
        8: dE,
        9: index.tokens,
        10: index.offsets,
        11: index.positions,
      });
      slices.push({ group, tokens: 0 });
    }
    this.#backward = {
      clear: { pipeline: clear, group: bindBuffers(gpu, clear, { 0: shapeParams, 8: dE }) },
      gather,
      slices,
      index,
    };
  }

  /**
   * Sets the step that keys the dropout masks, for the next submission on (a 4-byte write).
   * The forward and backward of one batch must see the same step.
   */
  setStep(step: number): void {
    this.#gpu.device.queue.writeBuffer(this.#state, STATE.step, Uint32Array.of(step));
  }

  /** Switches dropout on (training) or off (evaluation), for the next submission on. */
  setTraining(training: boolean): void {
    const word = Uint32Array.of(training ? 1 : 0);
    this.#gpu.device.queue.writeBuffer(this.#state, STATE.training, word);
  }

  /**
   * Uploads the batch's index (see {@link buildTokenIndex}) for the backward; ids must be
   * below V.
   */
  uploadIndex({ tokens, offsets, positions }: TokenIndex): void {
    const backward = this.#requireBackward();
    const { B, L, V } = this.shape;
    if (positions.length > B * L) {
      throw new RangeError(`${positions.length} positions exceed B·L = ${B * L}`);
    }
    const outside = tokens.find((v) => v >= V);
    if (outside !== undefined) throw new RangeError(`token id ${outside} is not below V = ${V}`);
    const queue = this.#gpu.device.queue;
    queue.writeBuffer(backward.index.offsets, 0, offsets);
    if (tokens.length > 0) {
      queue.writeBuffer(backward.index.tokens, 0, tokens);
      queue.writeBuffer(backward.index.positions, 0, positions);
    }
    queue.writeBuffer(this.#state, STATE.tokens, Uint32Array.of(tokens.length));
    backward.slices.forEach((slice, s) => {
      slice.tokens = 0;
      while (
        slice.tokens < tokens.length &&
        offsets[slice.tokens + 1] - offsets[slice.tokens] > s * LOOP_TRIPS
      ) slice.tokens++;
    });
  }

  /** Records the forward: all of x. */
  encodeForward(pass: GPUComputePassEncoder): void {
    const { pipeline, group } = this.#forward;
    const { B, L, D } = this.shape;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    dispatchFlat(this.#gpu, pass, B * L * D);
  }

  /**
   * Records the backward of the uploaded index: writes ALL of dE, the gradient for the rows the
   * batch uses and 0 for every other row, so the caller clears nothing. A launcher built
   * without gradient buffers (frozen embeddings) records nothing.
   */
  encodeBackward(pass: GPUComputePassEncoder): void {
    if (!this.#backward) return;
    const { clear, gather, slices } = this.#backward;
    const { D, V } = this.shape;
    pass.setPipeline(clear.pipeline);
    pass.setBindGroup(0, clear.group);
    dispatchFlat(this.#gpu, pass, V * D);
    pass.setPipeline(gather);
    for (const slice of slices) {
      if (slice.tokens === 0) break;
      pass.setBindGroup(0, slice.group);
      dispatchFlat(this.#gpu, pass, slice.tokens * D);
    }
  }

  /** Frees the buffers the launcher made (not E, ids, x or the gradients passed in). */
  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.#owned = [];
  }

  #requireBackward() {
    if (!this.#backward) throw new Error("embedding launcher built without grad buffers");
    return this.#backward;
  }
}
