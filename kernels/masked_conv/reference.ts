/**
 * Float64 reference of the whole shared masked convolution, straight from its definition: every
 * target's masked copy of the embeddings goes through the same convolution, then relu and
 * max-pool over time. No projection trick, so it checks the fast path independently.
 *
 * @module
 */

import type { Width } from "../projection/projection.ts";

/** Sizes of the layer: B documents of L padded positions, D inputs, T targets, the widths. */
export interface MaskedConvShape {
  B: number;
  L: number;
  D: number;
  T: number;
  widths: Width[];
}

/** The layer's inputs and parameters, float64, row-major. */
export interface MaskedConvInputs {
  x: Float64Array; // x: [B,L,D]
  m: Float64Array; // m: [B,L,T]
  lengths: ArrayLike<number>; // lengths: [B]
  W: Float64Array[]; // W_i: [F_i,D,K_i], one per width
  bias: Float64Array[]; // bias_i: [F_i]
}

/** Forward results: h [B,T,ΣF], the pre-activation max and its first arg-max (−1: none). */
export interface MaskedConvForward {
  h: Float64Array;
  zmax: Float64Array;
  argmax: Int32Array;
}

function filtersOf(widths: Width[]): number {
  return widths.reduce((sum, w) => sum + w.F, 0);
}

/**
 * z[b,t,f,l] = bias[f] + Σ_k Σ_d W[f,d,k]·m[b,j,t]·x[b,j,d] with j = l + k − (K−1)/2 inside
 * [0, len[b]), for every width side by side in f; positions l ≥ len[b] are left at −∞.
 *
 * @example
 * ```ts
 * import { maskedConvPreActivations } from "./reference.ts";
 * const z = maskedConvPreActivations({
 *   x: new Float64Array([1, 2]), m: new Float64Array([1, 0.5]), lengths: [2],
 *   W: [new Float64Array([3])], bias: [new Float64Array([0])],
 * }, { B: 1, L: 2, D: 1, T: 1, widths: [{ K: 1, F: 1 }] });
 * console.log(z); // [3, 3]
 * ```
 */
export function maskedConvPreActivations(
  { x, m, lengths, W, bias }: MaskedConvInputs,
  { B, L, D, T, widths }: MaskedConvShape,
): Float64Array {
  const F_total = filtersOf(widths);
  const z = new Float64Array(B * T * F_total * L).fill(-Infinity); // z: [B,T,ΣF,L]
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      let fOff = 0;
      widths.forEach(({ K, F }, w) => {
        const pad = (K - 1) / 2;
        for (let f = 0; f < F; f++) {
          for (let l = 0; l < lengths[b]; l++) {
            let sum = bias[w][f];
            for (let k = 0; k < K; k++) {
              const j = l + k - pad;
              if (j < 0 || j >= lengths[b]) continue;
              for (let d = 0; d < D; d++) {
                sum += W[w][(f * D + d) * K + k] * m[(b * L + j) * T + t] * x[(b * L + j) * D + d];
              }
            }
            z[((b * T + t) * F_total + fOff + f) * L + l] = sum;
          }
        }
        fOff += F;
      });
    }
  }
  return z;
}

/**
 * h[b,t,f] = relu(max over l < len[b] of z[b,t,f,l]), keeping the first arg-max.
 *
 * @example
 * ```ts
 * import { maskedConvForward } from "./reference.ts";
 * const { h } = maskedConvForward({
 *   x: new Float64Array([1, 2]), m: new Float64Array([1, 0.5]), lengths: [2],
 *   W: [new Float64Array([3])], bias: [new Float64Array([0])],
 * }, { B: 1, L: 2, D: 1, T: 1, widths: [{ K: 1, F: 1 }] });
 * console.log(h[0]); // 3
 * ```
 */
export function maskedConvForward(
  inputs: MaskedConvInputs,
  shape: MaskedConvShape,
): MaskedConvForward {
  const { L } = shape;
  const z = maskedConvPreActivations(inputs, shape);
  const pooled = z.length / L;
  const h = new Float64Array(pooled);
  const zmax = new Float64Array(pooled).fill(-Infinity);
  const argmax = new Int32Array(pooled).fill(-1);
  for (let o = 0; o < pooled; o++) {
    for (let l = 0; l < L; l++) {
      if (z[o * L + l] > zmax[o]) [zmax[o], argmax[o]] = [z[o * L + l], l];
    }
    h[o] = argmax[o] < 0 ? 0 : Math.max(zmax[o], 0);
  }
  return { h, zmax, argmax };
}

/** Gradients of the layer's inputs and parameters. */
export interface MaskedConvGradients {
  dx: Float64Array; // dx: [B,L,D]
  dm: Float64Array; // dm: [B,L,T]
  dW: Float64Array[]; // dW_i: [F_i,D,K_i]
  dbias: Float64Array[]; // dbias_i: [F_i]
}

/**
 * Gradients of Σ h·g. With s = g·[max z > 0] and a the arg-max, only the window of taps around
 * a receives gradient: for each tap k at j = a + k − pad,
 * dW[f,d,k] += s·m[b,j,t]·x[b,j,d], dx[b,j,d] += s·W[f,d,k]·m[b,j,t],
 * dm[b,j,t] += s·Σ_d W[f,d,k]·x[b,j,d], dbias[f] += s.
 *
 * @example
 * ```ts
 * import { maskedConvBackward, maskedConvForward } from "./reference.ts";
 * const inputs = {
 *   x: new Float64Array([1, 2]), m: new Float64Array([1, 0.5]), lengths: [2],
 *   W: [new Float64Array([3])], bias: [new Float64Array([0])],
 * };
 * const shape = { B: 1, L: 2, D: 1, T: 1, widths: [{ K: 1, F: 1 }] };
 * const fwd = maskedConvForward(inputs, shape);
 * console.log(maskedConvBackward(inputs, fwd, new Float64Array([1]), shape).dm); // [3, 0]
 * ```
 */
export function maskedConvBackward(
  { x, m, lengths, W }: MaskedConvInputs,
  { zmax, argmax }: MaskedConvForward,
  g: Float64Array, // g: [B,T,ΣF]
  { B, L, D, T, widths }: MaskedConvShape,
): MaskedConvGradients {
  const F_total = filtersOf(widths);
  const dx = new Float64Array(B * L * D);
  const dm = new Float64Array(B * L * T);
  const dW = widths.map(({ K, F }) => new Float64Array(F * D * K));
  const dbias = widths.map(({ F }) => new Float64Array(F));
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      let fOff = 0;
      widths.forEach(({ K, F }, w) => {
        const pad = (K - 1) / 2;
        for (let f = 0; f < F; f++) {
          const o = (b * T + t) * F_total + fOff + f;
          if (argmax[o] < 0 || zmax[o] <= 0) continue;
          const s = g[o];
          dbias[w][f] += s;
          for (let k = 0; k < K; k++) {
            const j = argmax[o] + k - pad;
            if (j < 0 || j >= lengths[b]) continue;
            const mask = m[(b * L + j) * T + t];
            for (let d = 0; d < D; d++) {
              const weight = W[w][(f * D + d) * K + k];
              const input = x[(b * L + j) * D + d];
              dW[w][(f * D + d) * K + k] += s * mask * input;
              dx[(b * L + j) * D + d] += s * weight * mask;
              dm[(b * L + j) * T + t] += s * weight * input;
            }
          }
        }
        fOff += F;
      });
    }
  }
  return { dx, dm, dW, dbias };
}
