/**
 * Float64 reference of the prediction loss over the targets and its gradient, written for
 * clarity.
 *
 *   aspects: r[b] = w·Σ_t CE(logits[b,t,:n[t]], y[b,t]) over the targets whose label is known
 *   labels:  r[b] = w·Σ_t BCE(σ(logits[b,t,0]), y[b,t])
 *
 * @module
 */

/** "aspects": one softmax over n[t] ≤ C classes per target; "labels": one sigmoid per target. */
export type LossMode = "aspects" | "labels";

/** Sizes of the loss: B documents, T targets, C logits per target (1 in labels mode). */
export interface LossShape {
  B: number;
  T: number;
  C: number;
  mode: LossMode;
}

/** What the loss gives: r [B], the gradient of Σ_b r[b] [B,T,C] and the probabilities [B,T,C]. */
export interface LossResult {
  r: Float64Array;
  dlogits: Float64Array;
  probabilities: Float64Array;
}

/**
 * The per-document losses, the gradient of their sum with respect to the logits and the
 * probabilities. Aspects mode: y[b,t] = −1 leaves target t out of document b (its gradient is 0,
 * its probabilities still given), and logits of classes c ≥ n[t] get probability and gradient 0.
 * Labels mode: y ∈ {0, 1} and `classes` is unused.
 *
 * @example
 * ```ts
 * import { targetLoss } from "./reference.ts";
 * const { r, dlogits } = targetLoss(
 *   new Float64Array([0, 0]), Int32Array.from([1]), [2], 1, { B: 1, T: 1, C: 2, mode: "aspects" },
 * );
 * console.log(r, dlogits); // [ln 2] [0.5, -0.5]
 * ```
 */
export function targetLoss(
  logits: Float64Array, // logits: [B,T,C]
  y: Int32Array, // y: [B,T]
  classes: ArrayLike<number>, // n: [T]
  w: number,
  { B, T, C, mode }: LossShape,
): LossResult {
  const r = new Float64Array(B);
  const dlogits = new Float64Array(B * T * C);
  const probabilities = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = b * T + t;
      const label = y[o];
      if (mode === "labels") {
        const z = logits[o];
        probabilities[o] = 1 / (1 + Math.exp(-z));
        // softplus(z) − y·z, stable for either sign of z.
        r[b] += w * (Math.max(z, 0) - label * z + Math.log1p(Math.exp(-Math.abs(z))));
        dlogits[o] = w * (probabilities[o] - label);
        continue;
      }
      const n = classes[t];
      const row = logits.subarray(o * C, o * C + n);
      const max = Math.max(...row);
      const sum = row.reduce((s, z) => s + Math.exp(z - max), 0);
      row.forEach((z, c) => probabilities[o * C + c] = Math.exp(z - max) / sum);
      if (label < 0) continue;
      r[b] += w * (max + Math.log(sum) - row[label]);
      row.forEach((_, c) => {
        dlogits[o * C + c] = w * (probabilities[o * C + c] - (c === label ? 1 : 0));
      });
    }
  }
  return { r, dlogits, probabilities };
}
