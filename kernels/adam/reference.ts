/**
 * Float64 reference of the optimizer step, written for clarity: the global gradient norm, the
 * clip scale, and Adam with PyTorch's coupled L2 weight decay and bias correction.
 *
 * @module
 */

/** Hyperparameters of the step; {@link ADAM_DEFAULTS} holds the defaults. */
export interface AdamHyper {
  /** Learning rate. */
  lr: number;
  beta1: number;
  beta2: number;
  /** Added to √v̂ in the denominator. */
  eps: number;
  /** λ of the L2 term λ·w added to the (clipped) gradient, as PyTorch's Adam weight_decay. */
  weightDecay: number;
  /** The global gradient norm is clipped to this (finite, positive). */
  maxNorm: number;
}

/** lr 1e-3, β1 0.9, β2 0.999, ε 1e-8, λ 1e-6, max norm 1. */
export const ADAM_DEFAULTS: Readonly<AdamHyper> = Object.freeze({
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 1e-6,
  maxNorm: 1,
});

/** Added to the norm in the clip scale's denominator, as PyTorch's clip_grad_norm_. */
export const CLIP_EPS = 1e-6;

/**
 * ‖g‖ = √(Σ g²) over every gradient; NaN or ±Inf anywhere makes it non-finite.
 *
 * @example
 * ```ts
 * import { globalNorm } from "./reference.ts";
 * console.log(globalNorm([new Float64Array([3]), new Float64Array([4])])); // 5
 * ```
 */
export function globalNorm(grads: ArrayLike<number>[]): number {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  return Math.sqrt(sum);
}

/**
 * The factor every gradient is multiplied by: min(1, maxNorm / (‖g‖ + 1e-6)).
 *
 * @example
 * ```ts
 * import { clipScale } from "./reference.ts";
 * console.log(clipScale(4, 1), clipScale(0.5, 1)); // ≈0.25 1
 * ```
 */
export function clipScale(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + CLIP_EPS));
}

/** One parameter's value and its first and second moments, all of one length. */
export interface AdamState {
  w: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/**
 * Step t (1-based) of Adam on every parameter, the gradients first clipped by their global
 * norm, moving by lr · `lrScale` (a schedule's factor); a non-finite norm leaves the state as it
 * was, as the GPU step does.
 *
 * @example
 * ```ts
 * import { ADAM_DEFAULTS, adamStep } from "./reference.ts";
 * const state = { w: new Float64Array([1]), m: new Float64Array(1), v: new Float64Array(1) };
 * const { params, norm } = adamStep([state], [new Float64Array([2])], 1, ADAM_DEFAULTS);
 * console.log(norm, params[0].w); // 2 [≈0.999]
 * ```
 */
export function adamStep(
  params: AdamState[],
  grads: ArrayLike<number>[],
  t: number,
  hyper: AdamHyper,
  lrScale = 1,
): { params: AdamState[]; norm: number; scale: number } {
  const { lr, beta1, beta2, eps, weightDecay } = hyper;
  const norm = globalNorm(grads);
  if (!Number.isFinite(norm)) return { params, norm, scale: 0 };
  const scale = clipScale(norm, hyper.maxNorm);
  const next = params.map(({ w, m, v }, p) => {
    const state = { w: new Float64Array(w), m: new Float64Array(m), v: new Float64Array(v) };
    for (let i = 0; i < w.length; i++) {
      const g = scale * grads[p][i] + weightDecay * w[i];
      state.m[i] = beta1 * m[i] + (1 - beta1) * g;
      state.v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      const mHat = state.m[i] / (1 - beta1 ** t);
      const vHat = state.v[i] / (1 - beta2 ** t);
      state.w[i] = w[i] - lr * lrScale * mHat / (Math.sqrt(vHat) + eps);
    }
    return state;
  });
  return { params: next, norm, scale };
}

/**
 * Steps firstStep, firstStep + 1, … of Adam, one per entry of `gradsPerStep` (with the
 * learning-rate factor of the same entry of `lrScales`, 1 without one), returning the final
 * state and each step's norm and scale.
 *
 * @example
 * ```ts
 * import { ADAM_DEFAULTS, adamSteps } from "./reference.ts";
 * const state = { w: new Float64Array([1]), m: new Float64Array(1), v: new Float64Array(1) };
 * const grads = [[new Float64Array([2])], [new Float64Array([0.5])]];
 * const { params, norms } = adamSteps([state], grads, 1, ADAM_DEFAULTS);
 * console.log(norms, params[0].w); // [2, 0.5] [≈0.998]
 * ```
 */
export function adamSteps(
  params: AdamState[],
  gradsPerStep: ArrayLike<number>[][],
  firstStep: number,
  hyper: AdamHyper,
  lrScales: number[] = [],
): { params: AdamState[]; norms: number[]; scales: number[] } {
  const norms: number[] = [];
  const scales: number[] = [];
  gradsPerStep.forEach((grads, s) => {
    const result = adamStep(params, grads, firstStep + s, hyper, lrScales[s] ?? 1);
    params = result.params;
    norms.push(result.norm);
    scales.push(result.scale);
  });
  return { params, norms, scales };
}
