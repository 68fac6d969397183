/**
 * Float64 reference of the fused masked mix + max-pool over time and its backward, written
 * for clarity: z is built in full for every (document, target, filter).
 *
 * @module
 */

import type { Width } from "../projection/projection.ts";

/** Sizes of the pool: B documents of L padded positions, T targets, the widths side by side. */
export interface PoolShape {
  B: number;
  L: number;
  T: number;
  widths: Width[];
}

/** Columns of P (Σ K·F) and filters of h (Σ F) over the widths. */
export function poolColumns(widths: Width[]): { C: number; F_total: number } {
  return {
    C: widths.reduce((sum, w) => sum + w.K * w.F, 0),
    F_total: widths.reduce((sum, w) => sum + w.F, 0),
  };
}

/** Forward results: h, the pre-activation max and its first arg-max (−1 for empty documents). */
export interface PoolForward {
  h: Float64Array; // h: [B,T,F_total]
  zmax: Float64Array; // zmax: [B,T,F_total]
  argmax: Int32Array; // argmax: [B,T,F_total]
}

/**
 * The pre-activations z[l] over the positions of document b for target t and filter f of a
 * width whose taps start at column pCol of P (positions outside [0, len) contribute nothing).
 */
export function preActivations(
  P: Float64Array, // P: [B,L,C]
  m: Float64Array, // m: [B,L,T]
  bias: number,
  len: number,
  { L, T, C }: { L: number; T: number; C: number },
  b: number,
  t: number,
  { K, F }: Width,
  pCol: number,
  f: number,
): Float64Array {
  const pad = (K - 1) / 2;
  const z = new Float64Array(len);
  for (let l = 0; l < len; l++) {
    z[l] = bias;
    for (let k = 0; k < K; k++) {
      const j = l + k - pad;
      if (j < 0 || j >= len) continue;
      z[l] += m[(b * L + j) * T + t] * P[(b * L + j) * C + pCol + k * F + f];
    }
  }
  return z;
}

/**
 * h[b,t,f] = relu(max_l z[b,t,f,l]) with z[b,t,f,l] = bias[f] + Σ_k m[b,j,t]·P[b,j,k,f],
 * j = l + k − (K−1)/2, for every width.
 *
 * @example
 * ```ts
 * import { maskedMaxPoolForward } from "./reference.ts";
 * const { h } = maskedMaxPoolForward(
 *   new Float64Array([2, 3]), new Float64Array([1, 0.5]), new Float64Array([0]), [2],
 *   { B: 1, L: 2, T: 1, widths: [{ K: 1, F: 1 }] },
 * );
 * console.log(h[0]); // 2
 * ```
 */
export function maskedMaxPoolForward(
  P: Float64Array, // P: [B,L,C]
  m: Float64Array, // m: [B,L,T]
  bias: Float64Array, // bias: [F_total]
  lengths: ArrayLike<number>, // lengths: [B]
  shape: PoolShape,
): PoolForward {
  const { B, L, T, widths } = shape;
  const { C, F_total } = poolColumns(widths);
  const h = new Float64Array(B * T * F_total);
  const zmax = new Float64Array(B * T * F_total).fill(-Infinity);
  const argmax = new Int32Array(B * T * F_total).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      let pCol = 0;
      let fOff = 0;
      for (const width of widths) {
        for (let f = 0; f < width.F; f++) {
          const z = preActivations(
            P,
            m,
            bias[fOff + f],
            lengths[b],
            { L, T, C },
            b,
            t,
            width,
            pCol,
            f,
          );
          const o = (b * T + t) * F_total + fOff + f;
          z.forEach((v, l) => {
            if (v > zmax[o]) [zmax[o], argmax[o]] = [v, l];
          });
          h[o] = argmax[o] < 0 ? 0 : Math.max(zmax[o], 0);
        }
        pCol += width.K * width.F;
        fOff += width.F;
      }
    }
  }
  return { h, zmax, argmax };
}

/**
 * Gradients of Σ h·g with respect to P, m and bias. With s = g·[max z > 0], each pooled value
 * sends s back to the taps of its arg-max position only.
 *
 * @example
 * ```ts
 * import { maskedMaxPoolBackward, maskedMaxPoolForward } from "./reference.ts";
 * const shape = { B: 1, L: 2, T: 1, widths: [{ K: 1, F: 1 }] };
 * const [P, m] = [new Float64Array([2, 3]), new Float64Array([1, 0.5])];
 * const fwd = maskedMaxPoolForward(P, m, new Float64Array([0]), [2], shape);
 * const { dP, dm } = maskedMaxPoolBackward(P, m, [2], fwd, new Float64Array([1]), shape);
 * console.log(dP, dm); // [1, 0] [2, 0]
 * ```
 */
export function maskedMaxPoolBackward(
  P: Float64Array, // P: [B,L,C]
  m: Float64Array, // m: [B,L,T]
  lengths: ArrayLike<number>, // lengths: [B]
  { zmax, argmax }: PoolForward,
  g: Float64Array, // g: [B,T,F_total]
  shape: PoolShape,
): { dP: Float64Array; dm: Float64Array; dbias: Float64Array } {
  const { B, L, T, widths } = shape;
  const { C, F_total } = poolColumns(widths);
  const dP = new Float64Array(B * L * C);
  const dm = new Float64Array(B * L * T);
  const dbias = new Float64Array(F_total);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      let pCol = 0;
      let fOff = 0;
      for (const { K, F } of widths) {
        const pad = (K - 1) / 2;
        for (let f = 0; f < F; f++) {
          const o = (b * T + t) * F_total + fOff + f;
          if (argmax[o] < 0 || zmax[o] <= 0) continue;
          const s = g[o];
          dbias[fOff + f] += s;
          for (let k = 0; k < K; k++) {
            const j = argmax[o] + k - pad;
            if (j < 0 || j >= lengths[b]) continue;
            const row = b * L + j;
            dP[row * C + pCol + k * F + f] += m[row * T + t] * s;
            dm[row * T + t] += P[row * C + pCol + k * F + f] * s;
          }
        }
        pCol += K * F;
        fOff += F;
      }
    }
  }
  return { dP, dm, dbias };
}
