/**
 * What fixes a model's shapes: its config, vocabulary size, embedding size and targets (saved in
 * `config.json`), and the two quantities derived from them that every floor needs.
 *
 * @module
 */

import type { TrainConfig } from "./config.ts";
import type { TargetSpace } from "./dataset.ts";

/** Everything that fixes the model's shapes, saved in `config.json`. */
export interface ModelSpec {
  config: TrainConfig;
  vocabSize: number;
  /** Embedding size D. */
  dim: number;
  space: TargetSpace;
}

/**
 * The s in the encoder's input m = s·p: the config's `maskScale`, else T + 1, or with sparse
 * masks the classes a word keeps, min(maskTargets, T) + 1.
 *
 * Each target's mask starts near 1/(T + 1), so with s = 1 the shared encoder would see inputs
 * T + 1 times weaker than a plain CNN's and, under Adam's fixed-size steps, need thousands of
 * steps to grow its weights to match (on the full Debtags set: micro-F1 0.35 instead of 0.55).
 * A constant s only reparametrises the encoder's projection, so the model is the same function
 * family and the explanation, p, is unchanged. Sparse masks start near 1/(k + 1) on the k + 1
 * classes a word keeps, so there s = k + 1 starts the kept targets' inputs at the embeddings'
 * size.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "./config.ts";
 * import { encoderMaskScale } from "./spec.ts";
 * console.log(encoderMaskScale(DEFAULTS, 70)); // 71
 * ```
 */
export function encoderMaskScale(config: TrainConfig, T: number): number {
  if (config.maskScale !== undefined) return config.maskScale;
  return config.mask === "sparse" ? Math.min(config.maskTargets, T) + 1 : T + 1;
}

/** Classes C of the classifier output: the most classes of any target (1 in labels mode). */
export function outputClasses(space: TargetSpace): number {
  return space.mode === "labels" ? 1 : Math.max(...space.classes.map((c) => c.length));
}
