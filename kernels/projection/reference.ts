/**
 * Float64 reference of the per-tap projection, written for clarity. W is in the layer's
 * canonical layout [F,D,K]; P holds, for every position, what each tap of each filter adds.
 *
 * @module
 */

/** Sizes of one projection: N rows (B·L positions), D inputs, F filters, K taps. */
export interface ProjectionShape {
  N: number;
  D: number;
  F: number;
  K: number;
}

/**
 * P[n,k,f] = Σ_d W[f,d,k]·x[n,d].
 *
 * @example
 * ```ts
 * import { projectionForward } from "./reference.ts";
 * const P = projectionForward(new Float64Array([1, 2]), new Float64Array([3, 4]), {
 *   N: 1, D: 2, F: 1, K: 1,
 * });
 * console.log(P[0]); // 11
 * ```
 */
export function projectionForward(
  x: Float64Array, // x: [N,D]
  W: Float64Array, // W: [F,D,K]
  { N, D, F, K }: ProjectionShape,
): Float64Array {
  const P = new Float64Array(N * K * F); // P: [N,K,F]
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      for (let f = 0; f < F; f++) {
        let sum = 0;
        for (let d = 0; d < D; d++) sum += W[(f * D + d) * K + k] * x[n * D + d];
        P[(n * K + k) * F + f] = sum;
      }
    }
  }
  return P;
}

/**
 * Gradients of Σ P·dP: dx[n,d] = Σ_{k,f} W[f,d,k]·dP[n,k,f] and dW[f,d,k] = Σ_n x[n,d]·dP[n,k,f].
 *
 * @example
 * ```ts
 * import { projectionBackward } from "./reference.ts";
 * const { dx, dW } = projectionBackward(
 *   new Float64Array([1, 2]), new Float64Array([3, 4]), new Float64Array([1]),
 *   { N: 1, D: 2, F: 1, K: 1 },
 * );
 * console.log(dx, dW); // [3, 4] [1, 2]
 * ```
 */
export function projectionBackward(
  x: Float64Array, // x: [N,D]
  W: Float64Array, // W: [F,D,K]
  dP: Float64Array, // dP: [N,K,F]
  { N, D, F, K }: ProjectionShape,
): { dx: Float64Array; dW: Float64Array } {
  const dx = new Float64Array(N * D);
  const dW = new Float64Array(F * D * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      for (let f = 0; f < F; f++) {
        const g = dP[(n * K + k) * F + f];
        for (let d = 0; d < D; d++) {
          dx[n * D + d] += W[(f * D + d) * K + k] * g;
          dW[(f * D + d) * K + k] += x[n * D + d] * g;
        }
      }
    }
  }
  return { dx, dW };
}
