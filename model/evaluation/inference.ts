/**
 * Running a model over many documents, and turning its outputs into decisions, metrics and
 * per-word explanations.
 *
 * @module
 */

import type { Documents, TargetSpace } from "../task/dataset.ts";
import { packSorted, paddedLength } from "../task/dataset.ts";
import { type AspectMetrics, aspectMetrics, type LabelMetrics, labelMetrics } from "./metrics.ts";
import type { MtmModel } from "../network/mtm.ts";
import { outputClasses } from "../task/spec.ts";
import { mulberry32 } from "../../base/rng.ts";

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
  for (const members of packSorted(order, ids.map((d) => d.length), batchSize, maxLen)) {
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

/**
 * The positions of the `k` words a target reads most in one document: those with the largest
 * mask value p[l, t+1], largest first. Each target's classifier sees the words weighted by its
 * mask, so these are the words its prediction rests on, even when every word's own most
 * probable class is "none".
 *
 * @example
 * ```ts
 * import { wordsReadBy } from "./inference.ts";
 * const words = [Float32Array.of(0.5, 0.1, 0.4), Float32Array.of(0.2, 0.7, 0.1)];
 * console.log(wordsReadBy(words, 0, 1), wordsReadBy(words, 1, 2)); // [1] [0, 1]
 * ```
 */
export function wordsReadBy(
  wordProbabilities: ArrayLike<number>[],
  target: number,
  k: number,
): number[] {
  return Array.from(wordProbabilities, (p, l) => [p[target + 1], l])
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, l]) => l);
}

/**
 * The `k` distinct words (`words[l]` is word l as shown) a target reads most, in the order of
 * {@linkcode wordsReadBy}: what `explain` and the report show under each label.
 *
 * @example
 * ```ts
 * import { distinctWordsReadBy } from "./inference.ts";
 * const p = [0.6, 0.1, 0.5].map((m) => Float32Array.of(1 - m, m));
 * console.log(distinctWordsReadBy(p, ["noise", "gate", "noise"], 0, 2)); // ["noise", "gate"]
 * ```
 */
export function distinctWordsReadBy(
  wordProbabilities: ArrayLike<number>[],
  words: string[],
  target: number,
  k: number,
): string[] {
  const ranked = wordsReadBy(wordProbabilities, target, wordProbabilities.length);
  return [...new Set(ranked.map((l) => words[l]))].slice(0, k);
}

/** What deleting words does to the probability of each document's most probable label. */
export interface DeletionTest {
  /** Words deleted per document. */
  words: number;
  /** Documents with more than `words` words, the ones tested. */
  documents: number;
  /** Mean drop when the words that label reads most are deleted. */
  readWords: number;
  /** Mean drop when as many words at random positions are deleted. */
  randomWords: number;
}

/**
 * A faithfulness check of the explanations (ERASER's comprehensiveness): for each document,
 * deletes the `k` words its most probable label reads most (see {@linkcode wordsReadBy}), and
 * `k` seeded random words, and measures how much that label's probability drops. Masks that
 * explain the prediction make the first drop much larger than the second. Labels mode.
 *
 * @example
 * ```ts ignore
 * const outputs = await predictAll(model, docs.ids, 64, 256, true);
 * const { readWords, randomWords } = await deletionTest(model, docs.ids, outputs, 64, 256, 3);
 * ```
 */
export async function deletionTest(
  model: MtmModel,
  ids: Int32Array[],
  outputs: Outputs,
  batchSize: number,
  maxLen: number,
  k: number,
  seed = 1,
): Promise<DeletionTest> {
  const next = mulberry32(seed);
  const tested: { doc: number; label: number }[] = [];
  const withoutRead: Int32Array[] = [];
  const withoutRandom: Int32Array[] = [];
  const without = (doc: Int32Array, positions: number[]) =>
    doc.filter((_, l) => !positions.includes(l));
  ids.forEach((doc, d) => {
    if (doc.length <= k) return;
    const scores = outputs.probabilities[d].map((p) => p[0]);
    const label = scores.indexOf(Math.max(...scores));
    tested.push({ doc: d, label });
    withoutRead.push(without(doc, wordsReadBy(outputs.wordProbabilities[d], label, k)));
    const positions = Array.from(doc.keys());
    for (let i = positions.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [positions[i], positions[j]] = [positions[j], positions[i]];
    }
    withoutRandom.push(without(doc, positions.slice(0, k)));
  });
  const meanDrop = async (changed: Int32Array[]) => {
    const after = await predictAll(model, changed, batchSize, maxLen);
    const drops = tested.map(({ doc, label }, i) =>
      outputs.probabilities[doc][label][0] - after.probabilities[i][label][0]
    );
    return drops.length ? drops.reduce((a, b) => a + b, 0) / drops.length : 0;
  };
  return {
    words: k,
    documents: tested.length,
    readWords: await meanDrop(withoutRead),
    randomWords: await meanDrop(withoutRandom),
  };
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
