/**
 * Float64 reference of the convolutional masker and its backward, written for clarity straight
 * from the definition with the canonical weights Wm [H,D,3]: no projection, so it checks the
 * GPU's weight layout and tap bookkeeping independently.
 *
 * @module
 */

/** Width of the masker's convolution: tap k of position l reads position l + k − 1. */
export const MASKER_TAPS = 3;

/** Sizes of the masker: B documents of L padded positions, D inputs, H hidden units, T targets. */
export interface MaskerShape {
  B: number;
  L: number;
  D: number;
  H: number;
  /** Targets; the logits have T+1 classes, class 0 being "none". */
  T: number;
}

/** The masker's parameters in their canonical layouts, float64, row-major. */
export interface MaskerWeights {
  Wm: Float64Array; // Wm: [H,D,3]
  c: Float64Array; // c: [H]
  Wo: Float64Array; // Wo: [H,T+1]
  bo: Float64Array; // bo: [T+1]
}

/** Forward results: hidden units (0 at padding) and logits (bo at padding). */
export interface MaskerForward {
  u: Float64Array; // u: [B,L,H]
  a: Float64Array; // a: [B,L,T+1]
}

/** Gradients of the masker's input and parameters, in the canonical layouts. */
export interface MaskerGradients {
  dx: Float64Array; // dx: [B,L,D]
  dWm: Float64Array; // dWm: [H,D,3]
  dc: Float64Array; // dc: [H]
  dWo: Float64Array; // dWo: [H,T+1]
  dbo: Float64Array; // dbo: [T+1]
}

/**
 * u[b,l,j] = tanh(c[j] + Σ_k Σ_d Wm[j,d,k]·x[b,l+k−1,d]) over taps inside [0, len[b]), u = 0 at
 * positions l ≥ len[b]; a[b,l,:] = u[b,l,:]·Wo + bo, hence a = bo at padding.
 *
 * @example
 * ```ts
 * import { convMaskerForward } from "./reference.ts";
 * const weights = {
 *   Wm: new Float64Array([0, 1, 0]), c: new Float64Array([0]),
 *   Wo: new Float64Array([1, -1]), bo: new Float64Array([0, 0.5]),
 * };
 * const { a } = convMaskerForward(new Float64Array([2]), [1], weights, { B: 1, L: 1, D: 1, H: 1, T: 1 });
 * console.log(a); // [tanh 2, 0.5 − tanh 2]
 * ```
 */
export function convMaskerForward(
  x: Float64Array, // x: [B,L,D]
  lengths: ArrayLike<number>, // lengths: [B]
  { Wm, c, Wo, bo }: MaskerWeights,
  { B, L, D, H, T }: MaskerShape,
): MaskerForward {
  const O = T + 1;
  const u = new Float64Array(B * L * H);
  const a = new Float64Array(B * L * O);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      const row = b * L + l;
      for (let j = 0; j < H && l < lengths[b]; j++) {
        let pre = c[j];
        for (let k = 0; k < MASKER_TAPS; k++) {
          const p = l + k - 1;
          if (p < 0 || p >= lengths[b]) continue;
          for (let d = 0; d < D; d++) {
            pre += Wm[(j * D + d) * MASKER_TAPS + k] * x[(b * L + p) * D + d];
          }
        }
        u[row * H + j] = Math.tanh(pre);
      }
      for (let o = 0; o < O; o++) {
        let logit = bo[o];
        for (let j = 0; j < H; j++) logit += u[row * H + j] * Wo[j * O + o];
        a[row * O + o] = logit;
      }
    }
  }
  return { u, a };
}

/**
 * Gradients of Σ a·da. With dpre = (da·Woᵀ)·(1 − u²) inside documents (0 at padding, where u is
 * a constant): dWo = uᵀ·da, dbo = Σ da (padding rows included, since a = bo there),
 * dc = Σ dpre, and each tap k of position l sends dpre to position p = l + k − 1:
 * dWm[j,d,k] += dpre·x[b,p,d], dx[b,p,d] += dpre·Wm[j,d,k].
 *
 * @example
 * ```ts
 * import { convMaskerBackward, convMaskerForward } from "./reference.ts";
 * const shape = { B: 1, L: 1, D: 1, H: 1, T: 1 };
 * const weights = {
 *   Wm: new Float64Array([0, 1, 0]), c: new Float64Array([0]),
 *   Wo: new Float64Array([1, -1]), bo: new Float64Array([0, 0.5]),
 * };
 * const x = new Float64Array([2]);
 * const { u } = convMaskerForward(x, [1], weights, shape);
 * const grads = convMaskerBackward(x, [1], weights, u, new Float64Array([1, 0]), shape);
 * console.log(grads.dx); // [1 − tanh² 2]
 * ```
 */
export function convMaskerBackward(
  x: Float64Array, // x: [B,L,D]
  lengths: ArrayLike<number>, // lengths: [B]
  { Wm, Wo }: MaskerWeights,
  u: Float64Array, // u: [B,L,H]
  da: Float64Array, // da: [B,L,T+1]
  { B, L, D, H, T }: MaskerShape,
): MaskerGradients {
  const O = T + 1;
  const dx = new Float64Array(B * L * D);
  const dWm = new Float64Array(H * D * MASKER_TAPS);
  const dc = new Float64Array(H);
  const dWo = new Float64Array(H * O);
  const dbo = new Float64Array(O);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      const row = b * L + l;
      for (let o = 0; o < O; o++) dbo[o] += da[row * O + o];
      for (let j = 0; j < H; j++) {
        let du = 0;
        for (let o = 0; o < O; o++) {
          dWo[j * O + o] += u[row * H + j] * da[row * O + o];
          du += da[row * O + o] * Wo[j * O + o];
        }
        if (l >= lengths[b]) continue;
        const dpre = du * (1 - u[row * H + j] ** 2);
        dc[j] += dpre;
        for (let k = 0; k < MASKER_TAPS; k++) {
          const p = l + k - 1;
          if (p < 0 || p >= lengths[b]) continue;
          for (let d = 0; d < D; d++) {
            const w = (j * D + d) * MASKER_TAPS + k;
            dWm[w] += dpre * x[(b * L + p) * D + d];
            dx[(b * L + p) * D + d] += dpre * Wm[w];
          }
        }
      }
    }
  }
  return { dx, dWm, dc, dWo, dbo };
}
