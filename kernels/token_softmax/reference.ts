/**
 * Float64 reference of the masker's per-token (Gumbel-)softmax and its backward, written for
 * clarity: one token at a time, the noise drawn from the same counter-based generator as the
 * GPU.
 *
 * @module
 */

import { hashUniform } from "../hash.ts";

/**
 * How the token distributions are drawn: "soft" softmax(a/τ) (evaluation), "gumbel"
 * softmax((a + Gumbel noise)/τ), "hard" the one-hot of the Gumbel arg-max with the gumbel
 * backward (straight-through), "sparse" softmax(a/τ) over "none" and the token's
 * `keepTargets` largest targets only, zero elsewhere (evaluation), "sparse-sampled" the same
 * over the targets largest after Gumbel noise (training: Gumbel top-k draws them without
 * replacement from softmax(a/τ), so every target is kept, and learns, now and then).
 */
export type SoftmaxMode = "soft" | "gumbel" | "hard" | "sparse" | "sparse-sampled";

/** The most targets a token may keep in sparse mode (the GPU's per-invocation list size). */
export const MAX_KEPT_TARGETS = 32;

/** Sizes: B documents of L padded positions, T targets (T + 1 classes, class 0 = "none"). */
export interface TokenSoftmaxShape {
  B: number;
  L: number;
  T: number;
}

/** The noise stream and temperature of one draw. */
export interface SoftmaxSampling {
  mode: SoftmaxMode;
  seed: number;
  /** The training step: each step draws fresh noise. */
  step: number;
  /** Temperature τ > 0. */
  tau: number;
  /** Sparse mode: targets each token keeps besides "none" (1 to MAX_KEPT_TARGETS). */
  keepTargets?: number;
}

/** Where a uniform draw of exactly 0 is moved to (2^-25, half the grid step of hashUniform). */
export const GUMBEL_U_MIN = 2 ** -25;

/**
 * The Gumbel noise −log(−log u) of class c of token (b, l) at flat index (b·L + l)·(T+1) + c.
 *
 * @example
 * ```ts
 * import { gumbelNoise } from "./reference.ts";
 * console.log(gumbelNoise(1, 0, 5));
 * ```
 */
export function gumbelNoise(seed: number, step: number, index: number): number {
  const u = Math.max(hashUniform(seed, step, index), GUMBEL_U_MIN);
  return -Math.log(-Math.log(u));
}

/**
 * Which classes a token keeps in sparse mode: "none" (class 0) and the `keep` largest of the
 * targets' logits y[1..T], ties broken towards the lower class, so exactly min(keep, T) targets.
 *
 * @example
 * ```ts
 * import { sparseKept } from "./reference.ts";
 * console.log(sparseKept([5, 1, 3, 3, 2], 2)); // [true, false, true, true, false]
 * ```
 */
export function sparseKept(y: ArrayLike<number>, keep: number): boolean[] {
  const targets = Array.from({ length: y.length - 1 }, (_, i) => i + 1);
  targets.sort((i, j) => y[j] - y[i] || i - j);
  const kept = Array.from({ length: y.length }, (_, c) => c === 0);
  for (const c of targets.slice(0, keep)) kept[c] = true;
  return kept;
}

/** Forward results, all 0 at padding. */
export interface TokenSoftmaxForward {
  p: Float64Array; // p: [B,L,T+1], one-hot in hard mode
  m: Float64Array; // m: [B,L,T], m[b,l,t] = s·p[b,l,t+1]
  pSoft: Float64Array; // pSoft: [B,L,T+1], the softmax even in hard mode
}

/**
 * p = softmax((a + n)/τ) per token, m = s·p without class 0 (s the mask scale); hard mode
 * outputs the one-hot of the first arg-max of (a + n)/τ instead; the sparse modes the softmax of
 * a/τ over the classes {@link sparseKept} keeps of (a + n)/τ (pSoft = p: its backward is exact
 * on the kept classes).
 *
 * @example
 * ```ts
 * import { tokenSoftmaxForward } from "./reference.ts";
 * const { p, m } = tokenSoftmaxForward(
 *   new Float64Array([0, Math.log(3)]), [1], { B: 1, L: 1, T: 1 },
 *   { mode: "soft", seed: 0, step: 0, tau: 1 },
 * );
 * console.log(p, m); // [0.25, 0.75] [0.75]
 * ```
 */
export function tokenSoftmaxForward(
  a: Float64Array, // a: [B,L,T+1]
  lengths: ArrayLike<number>, // lengths: [B]
  { B, L, T }: TokenSoftmaxShape,
  { mode, seed, step, tau, keepTargets = MAX_KEPT_TARGETS }: SoftmaxSampling,
  maskScale = 1,
): TokenSoftmaxForward {
  const classes = T + 1;
  const p = new Float64Array(B * L * classes);
  const m = new Float64Array(B * L * T);
  const pSoft = new Float64Array(B * L * classes);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const row = (b * L + l) * classes;
      const y = Array.from({ length: classes }, (_, c) => {
        const noisy = mode === "gumbel" || mode === "hard" || mode === "sparse-sampled";
        return (a[row + c] + (noisy ? gumbelNoise(seed, step, row + c) : 0)) / tau;
      });
      const best = y.indexOf(Math.max(...y));
      if (mode === "sparse" || mode === "sparse-sampled") {
        const kept = sparseKept(y, keepTargets);
        const logits = y.map((_, c) => kept[c] ? a[row + c] / tau : -Infinity);
        const top = Math.max(...logits);
        const e = logits.map((v) => Math.exp(v - top));
        const total = e.reduce((s, v) => s + v, 0);
        for (let c = 0; c < classes; c++) {
          p[row + c] = pSoft[row + c] = e[c] / total;
          if (c > 0) m[(b * L + l) * T + c - 1] = maskScale * p[row + c];
        }
        continue;
      }
      const e = y.map((v) => Math.exp(v - y[best]));
      const total = e.reduce((s, v) => s + v, 0);
      for (let c = 0; c < classes; c++) {
        pSoft[row + c] = e[c] / total;
        p[row + c] = mode === "hard" ? (c === best ? 1 : 0) : pSoft[row + c];
        if (c > 0) m[(b * L + l) * T + c - 1] = maskScale * p[row + c];
      }
    }
  }
  return { p, m, pSoft };
}

/**
 * da = (1/τ)·ps ⊙ (gp − Σ_c ps_c·gp_c) per token with gp = dp + s·[0, dm] and ps the soft p
 * (in every mode: hard mode's backward is the gumbel one), 0 at padding.
 *
 * @example
 * ```ts
 * import { tokenSoftmaxBackward } from "./reference.ts";
 * const da = tokenSoftmaxBackward(
 *   new Float64Array([0.25, 0.75]), undefined, new Float64Array([1]), [1], { B: 1, L: 1, T: 1 }, 1,
 * );
 * console.log(da); // [-0.1875, 0.1875]
 * ```
 */
export function tokenSoftmaxBackward(
  pSoft: Float64Array, // pSoft: [B,L,T+1]
  dp: Float64Array | undefined, // dp: [B,L,T+1], zeros when undefined
  dm: Float64Array, // dm: [B,L,T]
  lengths: ArrayLike<number>, // lengths: [B]
  { B, L, T }: TokenSoftmaxShape,
  tau: number,
  maskScale = 1,
): Float64Array {
  const classes = T + 1;
  const da = new Float64Array(B * L * classes);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < lengths[b]; l++) {
      const row = (b * L + l) * classes;
      const gp = Array.from(
        { length: classes },
        (_, c) => (dp ? dp[row + c] : 0) + (c > 0 ? maskScale * dm[(b * L + l) * T + c - 1] : 0),
      );
      const dot = gp.reduce((s, g, c) => s + pSoft[row + c] * g, 0);
      for (let c = 0; c < classes; c++) da[row + c] = pSoft[row + c] * (gp[c] - dot) / tau;
    }
  }
  return da;
}
