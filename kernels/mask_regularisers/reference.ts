/**
 * Float64 reference of the Multi-Target Masker's regularisers (selection prior and continuity)
 * and their gradient, written for clarity: one document at a time.
 *
 * @module
 */

/** Sizes: B documents of L padded positions, T targets (T + 1 classes, class 0 = "none"). */
export interface RegulariserShape {
  B: number;
  L: number;
  T: number;
}

/** The regularisers' constants: the prior and the weights of the two terms. */
export interface RegulariserWeights {
  /** λ_p: the share of tokens the selection term pulls towards. */
  lambdaP: number;
  /** λ_sel/B, so that the batch loss is Σ_b r[b]. */
  wSel: number;
  /** λ_cont/B. */
  wCont: number;
}

/** The f32 value of 1e-7: the lower clamp of every probability inside a log, as on the GPU. */
export const PROB_FLOOR = Math.fround(1e-7);
/** The f32 value of 1 − 1e-7: the upper clamp. */
export const PROB_CEIL = Math.fround(1 - 1e-7);

const clamp = (x: number) => Math.min(Math.max(x, PROB_FLOOR), PROB_CEIL);
/** The derivative of the clamp: 1 strictly inside, 0 where it binds. */
const inside = (x: number) => (x > PROB_FLOOR && x < PROB_CEIL ? 1 : 0);

/** The statistics of one document of length len > 0. */
export interface DocumentStatistics {
  /** p_sel = (1/len) Σ_l (1 − p[l,0]). */
  selected: number;
  /** q = 1 − p_sel, summed as (1/len) Σ_l p[l,0] (the GPU sums both). */
  unselected: number;
  /** p_dis = (1/len) Σ_{1≤l<len} ‖p[l,:] − p[l−1,:]‖₁ / (T+1). */
  disagreement: number;
}

/**
 * p_sel, 1 − p_sel and p_dis of document b (len > 0).
 *
 * @example
 * ```ts
 * import { documentStatistics } from "./reference.ts";
 * const p = new Float64Array([1, 0, 0, 1]); // "none", then target 1
 * console.log(documentStatistics(p, [2], { B: 1, L: 2, T: 1 }, 0)); // 0.5, 0.5, 0.5
 * ```
 */
export function documentStatistics(
  p: Float64Array, // p: [B,L,T+1]
  lengths: ArrayLike<number>, // lengths: [B]
  { L, T }: RegulariserShape,
  b: number,
): DocumentStatistics {
  const classes = T + 1;
  const len = lengths[b];
  let selected = 0;
  let unselected = 0;
  let distance = 0;
  for (let l = 0; l < len; l++) {
    const row = (b * L + l) * classes;
    selected += 1 - p[row];
    unselected += p[row];
    for (let c = 0; l > 0 && c < classes; c++) {
      distance += Math.abs(p[row + c] - p[row - classes + c]);
    }
  }
  return {
    selected: selected / len,
    unselected: unselected / len,
    disagreement: distance / (len * classes),
  };
}

/**
 * r[b] = w_sel·l_sel + w_cont·l_cont per document, 0 for empty ones, with
 * l_sel = −[λ_p·log p_sel + (1 − λ_p)·log(1 − p_sel)] and l_cont = −log(1 − p_dis), every
 * probability clamped into [PROB_FLOOR, PROB_CEIL] inside the logs.
 *
 * @example
 * ```ts
 * import { maskRegularisersForward } from "./reference.ts";
 * const p = new Float64Array([1, 0, 0, 1]);
 * const r = maskRegularisersForward(p, [2], { B: 1, L: 2, T: 1 }, {
 *   lambdaP: 0.5, wSel: 1, wCont: 1,
 * });
 * console.log(r); // [2·log 2]
 * ```
 */
export function maskRegularisersForward(
  p: Float64Array, // p: [B,L,T+1]
  lengths: ArrayLike<number>, // lengths: [B]
  shape: RegulariserShape,
  { lambdaP, wSel, wCont }: RegulariserWeights,
): Float64Array {
  const r = new Float64Array(shape.B);
  for (let b = 0; b < shape.B; b++) {
    if (lengths[b] === 0) continue;
    const { selected, unselected, disagreement } = documentStatistics(p, lengths, shape, b);
    const lSel = -(lambdaP * Math.log(clamp(selected)) +
      (1 - lambdaP) * Math.log(clamp(unselected)));
    const lCont = -Math.log(1 - clamp(disagreement));
    r[b] = wSel * lSel + wCont * lCont;
  }
  return r;
}

/**
 * dp = ∂(Σ_b r[b])/∂p, 0 at padding; the L1 norm's kink takes sign(0) = 0.
 *
 * @example
 * ```ts
 * import { maskRegularisersBackward } from "./reference.ts";
 * const p = new Float64Array([0.9, 0.1, 0.2, 0.8]);
 * const dp = maskRegularisersBackward(p, [2], { B: 1, L: 2, T: 1 }, {
 *   lambdaP: 0.5, wSel: 1, wCont: 1,
 * });
 * console.log(dp);
 * ```
 */
export function maskRegularisersBackward(
  p: Float64Array, // p: [B,L,T+1]
  lengths: ArrayLike<number>, // lengths: [B]
  shape: RegulariserShape,
  { lambdaP, wSel, wCont }: RegulariserWeights,
): Float64Array {
  const { B, L, T } = shape;
  const classes = T + 1;
  const dp = new Float64Array(B * L * classes);
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    if (len === 0) continue;
    const { selected, unselected, disagreement } = documentStatistics(p, lengths, shape, b);
    // ∂l_sel/∂p[l,0] through p_sel (∂p_sel/∂p[l,0] = −1/len) and q (∂q/∂p[l,0] = 1/len).
    const perNone = (lambdaP * inside(selected) / clamp(selected) -
      (1 - lambdaP) * inside(unselected) / clamp(unselected)) / len;
    // ∂l_cont/∂|p[l,c] − p[l−1,c]|.
    const perStep = inside(disagreement) / ((1 - clamp(disagreement)) * len * classes);
    for (let l = 0; l < len; l++) {
      const row = (b * L + l) * classes;
      dp[row] += wSel * perNone;
      for (let c = 0; c < classes; c++) {
        if (l > 0) dp[row + c] += wCont * perStep * Math.sign(p[row + c] - p[row - classes + c]);
        if (l + 1 < len) {
          dp[row + c] -= wCont * perStep * Math.sign(p[row + classes + c] - p[row + c]);
        }
      }
    }
  }
  return dp;
}
