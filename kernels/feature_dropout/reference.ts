/**
 * Float64 reference of the dropout of the pooled features h [B,T,ΣF] between the shared
 * convolution and the per-target classifiers, and of its backward: y = h·s and dh = dy·s, with
 * s the inverted-dropout factor of each element (keyed by seed, step and the flat index, as the
 * embedding's dropout is).
 *
 * @module
 */

import { type Dropout, dropoutScale } from "../embedding/reference.ts";

/**
 * values[i]·keep[i]/(1−p): the forward on h, and the backward on the gradient of its output;
 * `values` unchanged without dropout (evaluation).
 *
 * @example
 * ```ts
 * import { featureDropout } from "./reference.ts";
 * console.log(featureDropout(Float64Array.of(1, 2, 3), { p: 0.5, seed: 1, step: 0 })); // 0 or 2, …
 * console.log(featureDropout(Float64Array.of(1, 2, 3), undefined)); // [1, 2, 3]
 * ```
 */
export function featureDropout(
  values: ArrayLike<number>, // values: [B,T,ΣF]
  dropout: Dropout | undefined,
): Float64Array {
  return Float64Array.from(values, (v, i) => v * dropoutScale(dropout, i));
}
