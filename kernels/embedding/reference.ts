/**
 * Float64 reference of the embedding lookup with inverted dropout and its backward, written for
 * clarity: one loop over every valid position and dimension.
 *
 * @module
 */

import { hashUniform } from "../hash.ts";

/** Sizes of the lookup: B documents of L padded positions, D dimensions, V vocabulary rows. */
export interface EmbeddingShape {
  B: number;
  L: number;
  D: number;
  V: number;
}

/** Dropout of one training step: drop probability p and the key of its masks. */
export interface Dropout {
  p: number;
  seed: number;
  step: number;
}

/**
 * The inverted-dropout factor of element `index` = (b·L + l)·D + d: 1/(1−p) when kept, 0 when
 * dropped, 1 without dropout. The draw is compared with p rounded to f32, as the GPU holds it,
 * so both keep exactly the same elements.
 *
 * @example
 * ```ts
 * import { dropoutScale } from "./reference.ts";
 * console.log(dropoutScale({ p: 0.5, seed: 1, step: 0 }, 3)); // 0 or 2
 * console.log(dropoutScale(undefined, 3)); // 1
 * ```
 */
export function dropoutScale(dropout: Dropout | undefined, index: number): number {
  if (!dropout) return 1;
  const { p, seed, step } = dropout;
  return hashUniform(seed, step, index) >= Math.fround(p) ? 1 / (1 - p) : 0;
}

/**
 * x[b,l,d] = E[ids[b,l], d]·keep[b,l,d]/(1−p) for l < len[b], 0 at padding; no dropout when
 * `dropout` is absent (evaluation).
 *
 * @example
 * ```ts
 * import { embeddingForward } from "./reference.ts";
 * const E = new Float64Array([1, 2, 3, 4]); // V = 2 rows of D = 2
 * const x = embeddingForward(E, [1, 0], [1], { B: 1, L: 2, D: 2, V: 2 });
 * console.log(x); // [3, 4, 0, 0]
 * ```
 */
export function embeddingForward(
  E: Float64Array, // E: [V,D]
  ids: ArrayLike<number>, // ids: [B,L]
  lengths: ArrayLike<number>, // lengths: [B]
  { B, L, D }: EmbeddingShape,
  dropout?: Dropout,
): Float64Array {
  const x = new Float64Array(B * L * D);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const row = b * L + l;
      for (let d = 0; d < D; d++) {
        x[row * D + d] = E[ids[row] * D + d] * dropoutScale(dropout, row * D + d);
      }
    }
  }
  return x;
}

/**
 * Gradient of Σ x·dx with respect to E: dE[v,:] = Σ over valid (b,l) with ids[b,l] = v of
 * dx[b,l,:]·keep/(1−p); rows no valid position uses are 0.
 *
 * @example
 * ```ts
 * import { embeddingBackward } from "./reference.ts";
 * const dx = new Float64Array([1, 2, 3, 4, 5, 6]); // B = 1, L = 3, D = 2
 * const dE = embeddingBackward(dx, [1, 1, 0], [2], { B: 1, L: 3, D: 2, V: 2 });
 * console.log(dE); // [0, 0, 4, 6]
 * ```
 */
export function embeddingBackward(
  dx: Float64Array, // dx: [B,L,D]
  ids: ArrayLike<number>, // ids: [B,L]
  lengths: ArrayLike<number>, // lengths: [B]
  { B, L, D, V }: EmbeddingShape,
  dropout?: Dropout,
): Float64Array {
  const dE = new Float64Array(V * D);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const row = b * L + l;
      for (let d = 0; d < D; d++) {
        dE[ids[row] * D + d] += dx[row * D + d] * dropoutScale(dropout, row * D + d);
      }
    }
  }
  return dE;
}
