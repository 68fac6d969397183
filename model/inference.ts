/**
 * Running a model over many documents, and turning its outputs into decisions, metrics and
 * per-word explanations.
 *
 * @module
 */

import type { Documents, TargetSpace } from "./dataset.ts";
import { paddedLength } from "./dataset.ts";
import { type AspectMetrics, aspectMetrics, type LabelMetrics, labelMetrics } from "./metrics.ts";
import { type MtmModel, outputClasses } from "./mtm.ts";

/** Model outputs for a set of documents, in document order. */
export interface Outputs {
  /** Per document, per target: probabilities over the target's classes (or [σ] in labels mode). */
  probabilities: number[][][];
  /** Per document, per word: the class (0 = none, t+1 = target t) of highest probability. */
  wordClasses: Int32Array[];
  /** Per document, per word: the distribution over none and the targets. */
  wordProbabilities: Float32Array[][];
}

/**
 * Predicts every document in batches of similar length (no dropout, no noise).
 *
 * @example
 * ```ts ignore
 * const outputs = await predictAll(model, docs.ids, 64, 256);
 * ```
 */
export async function predictAll(
  model: MtmModel,
  ids: Int32Array[],
  batchSize: number,
  maxLen: number,
  keepWordProbabilities = false,
): Promise<Outputs> {
  const { space } = model.spec;
  const T = space.targets.length;
  const C = outputClasses(space);
  const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);
  const outputs: Outputs = { probabilities: [], wordClasses: [], wordProbabilities: [] };
  for (let start = 0; start < order.length; start += batchSize) {
    const members = order.slice(start, start + batchSize);
    const batch = { ids: members.map((i) => ids[i]) };
    const L = paddedLength(Math.max(1, ...batch.ids.map((d) => d.length)), maxLen);
    const { probabilities, tokenProbabilities } = await model.predict(batch, L);
    members.forEach((doc, b) => {
      outputs.probabilities[doc] = space.targets.map((_, t) =>
        Array.from(
          probabilities.subarray((b * T + t) * C, (b * T + t) * C + space.classes[t].length),
        )
      );
      const length = ids[doc].length;
      const classes = new Int32Array(length);
      const words: Float32Array[] = [];
      for (let l = 0; l < length; l++) {
        const p = tokenProbabilities.subarray((b * L + l) * (T + 1), (b * L + l + 1) * (T + 1));
        classes[l] = p.indexOf(Math.max(...p));
        if (keepWordProbabilities) words.push(Float32Array.from(p));
      }
      outputs.wordClasses[doc] = classes;
      outputs.wordProbabilities[doc] = words;
    });
  }
  return outputs;
}

/** The decided value of every target: class index (aspects) or 0/1 at the threshold (labels). */
export function decisions(outputs: Outputs, space: TargetSpace, threshold: number): number[][] {
  return outputs.probabilities.map((targets) =>
    targets.map((p) =>
      space.mode === "labels" ? (p[0] >= threshold ? 1 : 0) : p.indexOf(Math.max(...p))
    )
  );
}

/** Per target, the share of words whose most probable class is that target. */
export function maskShares(outputs: Outputs, targets: number): number[] {
  const counts = new Array(targets + 1).fill(0);
  let words = 0;
  for (const classes of outputs.wordClasses) {
    for (const c of classes) counts[c]++;
    words += classes.length;
  }
  return counts.slice(1).map((n) => words ? n / words : 0);
}

/** How far the explanations agree with the documents' labels (labels mode). */
export interface MaskAgreement {
  /** Share of all words whose most probable class is a target rather than "none". */
  selected: number;
  /** Of those words, the share whose target is one of their document's labels. */
  onLabel: number;
  /** What `onLabel` would be if each selected word's target were drawn at random. */
  chance: number;
}

/**
 * Checks the masks against the labels: a word selected for a target should mostly be selected
 * for one of its document's labels. A share near `chance` means the masks explain nothing,
 * however good the predictions are. Both shares are 0 when no word is selected.
 *
 * @example
 * ```ts
 * import { maskAgreement } from "./inference.ts";
 * const outputs = {
 *   probabilities: [],
 *   wordClasses: [Int32Array.of(0, 1, 2, 1)],
 *   wordProbabilities: [],
 * };
 * console.log(maskAgreement(outputs, [Int32Array.of(1, 0)])); // { selected: 0.75, onLabel: 0.6666666666666666, chance: 0.5 }
 * ```
 */
export function maskAgreement(outputs: Outputs, labels: Int32Array[]): MaskAgreement {
  let words = 0, selected = 0, onLabel = 0, expected = 0;
  outputs.wordClasses.forEach((classes, doc) => {
    const truth = labels[doc];
    const share = truth.reduce((s, y) => s + y, 0) / truth.length;
    words += classes.length;
    for (const c of classes) {
      if (c === 0) continue;
      selected++;
      onLabel += truth[c - 1];
      expected += share;
    }
  });
  return {
    selected: words ? selected / words : 0,
    onLabel: selected ? onLabel / selected : 0,
    chance: selected ? expected / selected : 0,
  };
}

/** Metrics of one evaluation, in either mode. */
export type Evaluation =
  | { mode: "aspects"; metrics: AspectMetrics; maskShares: number[] }
  | {
    mode: "labels";
    metrics: LabelMetrics;
    maskShares: number[];
    maskAgreement: MaskAgreement;
  };

/**
 * The metrics of `outputs` against the documents' targets.
 *
 * @example
 * ```ts ignore
 * const evaluation = evaluate(outputs, docs, space, threshold);
 * ```
 */
export function evaluate(
  outputs: Outputs,
  docs: Documents,
  space: TargetSpace,
  threshold: number,
): Evaluation {
  const truth = docs.targets.map((row) => Array.from(row));
  const shares = maskShares(outputs, space.targets.length);
  if (space.mode === "aspects") {
    const predicted = decisions(outputs, space, threshold);
    return {
      mode: "aspects",
      metrics: aspectMetrics(predicted, truth, space.targets.length),
      maskShares: shares,
    };
  }
  const scores = outputs.probabilities.map((targets) => targets.map((p) => p[0]));
  return {
    mode: "labels",
    metrics: labelMetrics(scores, truth, threshold),
    maskShares: shares,
    maskAgreement: maskAgreement(outputs, docs.targets),
  };
}

/** The validation metric training maximises: macro-F1 (aspects) or micro-F1 (labels). */
export function validationScore(evaluation: Evaluation): number {
  return evaluation.mode === "aspects" ? evaluation.metrics.macroF1 : evaluation.metrics.microF1;
}
