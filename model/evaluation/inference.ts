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

/**
 * The part of a word's distribution over "none" and the targets that was kept: its classes
 * (0 = none, t+1 = target t) most probable first (ties: lower class first), with their
 * probabilities. A whole [T+1] row per word would not fit in memory at thousands of targets.
 */
export interface WordDistribution {
  classes: Int32Array;
  p: Float32Array;
}

/** Model outputs for a set of documents, in document order. */
export interface Outputs {
  /** Per document, per target: probabilities over the target's classes (or [σ] in labels mode). */
  probabilities: number[][][];
  /** Per document, per word: the class (0 = none, t+1 = target t) of highest probability. */
  wordClasses: Int32Array[];
  /** Per document, per word: what {@linkcode KeptWords} asked to keep of its distribution. */
  words: WordDistribution[][];
}

/** What {@linkcode predictAll} keeps of each word's distribution besides its most probable class. */
export interface KeptWords {
  /** The word's most probable classes to keep; "none" is always kept. */
  top: number;
  /** The targets every word of a document keeps, given the document's probabilities (e.g. its
   * predicted labels, whose words an explanation shows). */
  targets?: (probabilities: number[][]) => number[];
}

/**
 * Predicts every document in batches of similar length (no dropout, no noise). With `kept`, each
 * word also keeps part of its distribution (see {@linkcode KeptWords}).
 *
 * @example
 * ```ts ignore
 * const outputs = await predictAll(model, docs.ids, 64, 256, { top: 3 });
 * ```
 */
export async function predictAll(
  model: MtmModel,
  ids: Int32Array[],
  batchSize: number,
  maxLen: number,
  kept?: KeptWords,
): Promise<Outputs> {
  const { space } = model.spec;
  const T = space.targets.length;
  const C = outputClasses(space);
  const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);
  const outputs: Outputs = { probabilities: [], wordClasses: [], words: [] };
  for (const members of packSorted(order, ids.map((d) => d.length), batchSize, maxLen)) {
    const L = paddedLength(Math.max(1, ...members.map((i) => ids[i].length)), maxLen);
    let first = 0;
    // Pass by pass, so that no readback holds more than one pass's p [B,L,T+1].
    for (const part of model.passes({ ids: members.map((i) => ids[i]) }, L)) {
      const { probabilities, tokenProbabilities } = await model.predict(part, L);
      part.ids.forEach((doc, b) => {
        const d = members[first + b];
        const docProbabilities = space.targets.map((_, t) =>
          Array.from(
            probabilities.subarray((b * T + t) * C, (b * T + t) * C + space.classes[t].length),
          )
        );
        const keptTargets = kept?.targets?.(docProbabilities) ?? [];
        const classes = new Int32Array(doc.length);
        const words: WordDistribution[] = [];
        for (let l = 0; l < doc.length; l++) {
          const p = tokenProbabilities.subarray((b * L + l) * (T + 1), (b * L + l + 1) * (T + 1));
          const word = keptClasses(p, kept?.top ?? 1, keptTargets);
          classes[l] = word.classes[0];
          if (kept) words.push(word);
        }
        outputs.probabilities[d] = docProbabilities;
        outputs.wordClasses[d] = classes;
        outputs.words[d] = words;
      });
      first += part.ids.length;
    }
  }
  return outputs;
}

/**
 * A word's `top` most probable classes, "none" and the given targets, most probable first
 * (ties: lower class first); the first is the word's most probable class.
 *
 * @example
 * ```ts
 * import { keptClasses } from "./inference.ts";
 * const word = keptClasses(Float32Array.of(0.25, 0.5, 0.125, 0.125), 1, [1]);
 * console.log(word.classes, word.p); // Int32Array(3) [ 1, 0, 2 ] Float32Array(3) [ 0.5, 0.25, 0.125 ]
 * ```
 */
export function keptClasses(p: Float32Array, top: number, targets: number[]): WordDistribution {
  const before = (a: number, b: number) => p[a] > p[b] || (p[a] === p[b] && a < b);
  // The `top` best classes by insertion into a short sorted list: one comparison per class for
  // most of a long row, since few beat the list's last.
  const best: number[] = [];
  for (let c = 0; c < p.length; c++) {
    if (best.length === top && !before(c, best[top - 1])) continue;
    let at = best.length === top ? top - 1 : best.length;
    while (at > 0 && before(c, best[at - 1])) at--;
    best.splice(at, 0, c);
    if (best.length > top) best.pop();
  }
  const classes = [...new Set([...best, 0, ...targets.map((t) => t + 1)])].sort((a, b) =>
    before(a, b) ? -1 : before(b, a) ? 1 : 0
  );
  return { classes: Int32Array.from(classes), p: Float32Array.from(classes, (c) => p[c]) };
}

/** The probability a word's kept distribution has for class `c`; undefined when not kept. */
export function probabilityOf(word: WordDistribution, c: number): number | undefined {
  const i = word.classes.indexOf(c);
  return i < 0 ? undefined : word.p[i];
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
 * probable class is "none". The words must have kept the target (see {@linkcode KeptWords}).
 *
 * @example
 * ```ts
 * import { keptClasses, wordsReadBy } from "./inference.ts";
 * const words = [Float32Array.of(0.5, 0.1, 0.4), Float32Array.of(0.2, 0.7, 0.1)]
 *   .map((p) => keptClasses(p, 3, []));
 * console.log(wordsReadBy(words, 0, 1), wordsReadBy(words, 1, 2)); // [1] [0, 1]
 * ```
 */
export function wordsReadBy(words: WordDistribution[], target: number, k: number): number[] {
  return words.map((word, l) => {
    const p = probabilityOf(word, target + 1);
    if (p === undefined) throw new Error(`word ${l} did not keep target ${target}'s probability`);
    return [p, l];
  })
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
 * import { distinctWordsReadBy, keptClasses } from "./inference.ts";
 * const kept = [0.6, 0.1, 0.5].map((m) => keptClasses(Float32Array.of(1 - m, m), 2, []));
 * console.log(distinctWordsReadBy(kept, ["noise", "gate", "noise"], 0, 2)); // ["noise", "gate"]
 * ```
 */
export function distinctWordsReadBy(
  kept: WordDistribution[],
  words: string[],
  target: number,
  k: number,
): string[] {
  const ranked = wordsReadBy(kept, target, kept.length);
  return [...new Set(ranked.map((l) => words[l]))].slice(0, k);
}

/**
 * Labels mode: the document's most probable label, as a list of targets for
 * {@linkcode KeptWords}; the label whose words {@linkcode deletionTest} deletes.
 *
 * @example
 * ```ts
 * import { topLabel } from "./inference.ts";
 * console.log(topLabel([[0.2], [0.9], [0.4]])); // [1]
 * ```
 */
export function topLabel(probabilities: number[][]): number[] {
  const scores = probabilities.map((p) => p[0]);
  return [scores.indexOf(Math.max(...scores))];
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
 * deletes the `k` words its most probable label reads most (see {@linkcode wordsReadBy}; the
 * outputs must keep that label, {@linkcode topLabel}), and
 * `k` seeded random words, and measures how much that label's probability drops. Masks that
 * explain the prediction make the first drop much larger than the second. Labels mode.
 *
 * @example
 * ```ts ignore
 * const outputs = await predictAll(model, docs.ids, 64, 256, { top: 1, targets: topLabel });
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
  const tested = testedLabels(ids, outputs, k + 1);
  const withoutRead = tested.map(({ doc, label }) =>
    keepPositions(ids[doc], wordsReadBy(outputs.words[doc], label, k), false)
  );
  const withoutRandom = tested.map(({ doc }) => {
    const positions = Array.from(ids[doc].keys());
    for (let i = positions.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [positions[i], positions[j]] = [positions[j], positions[i]];
    }
    return keepPositions(ids[doc], positions.slice(0, k), false);
  });
  const predict = { model, batchSize, maxLen };
  return {
    words: k,
    documents: tested.length,
    readWords: await meanDrop(predict, outputs, tested, withoutRead),
    randomWords: await meanDrop(predict, outputs, tested, withoutRandom),
  };
}

/** Each document of at least `minWords` words with its most probable label (labels mode). */
function testedLabels(ids: Int32Array[], outputs: Outputs, minWords: number) {
  return ids.flatMap((doc, d) =>
    doc.length >= minWords ? [{ doc: d, label: topLabel(outputs.probabilities[d])[0] }] : []
  );
}

/** The document with only (`keep`) or without (`!keep`) the words at `positions`, in order. */
function keepPositions(doc: Int32Array, positions: number[], keep: boolean): Int32Array {
  const chosen = new Set(positions);
  return doc.filter((_, l) => chosen.has(l) === keep);
}

/** The mean drop of each tested document's label probability when its text becomes `changed`. */
async function meanDrop(
  { model, batchSize, maxLen }: { model: MtmModel; batchSize: number; maxLen: number },
  outputs: Outputs,
  tested: { doc: number; label: number }[],
  changed: Int32Array[],
): Promise<number> {
  if (!tested.length) return 0;
  const after = await predictAll(model, changed, batchSize, maxLen);
  const drops = tested.map(({ doc, label }, i) =>
    outputs.probabilities[doc][label][0] - after.probabilities[i][label][0]
  );
  return drops.reduce((a, b) => a + b, 0) / drops.length;
}

/** The shares of a document's words that {@linkcode rationaleTest} takes as its rationale. */
export const RATIONALE_BINS = [0.01, 0.05, 0.1, 0.2, 0.5];

/** ERASER's faithfulness scores of the explanations, averaged over {@link RATIONALE_BINS}. */
export interface RationaleTest {
  /** Documents tested: those with at least one word. */
  documents: number;
  /** Mean drop of the top label's probability without its rationale (higher: faithful). */
  comprehensiveness: number;
  /** Mean drop with only its rationale left (lower: the rationale suffices). */
  sufficiency: number;
}

/**
 * ERASER's comprehensiveness and sufficiency (DeYoung et al. 2020) of the masks, in their
 * area-over-the-perturbation-curve form: for each document's most probable label and each bin
 * q of {@link RATIONALE_BINS}, the rationale is the ⌈q·n⌉ of its n words that label reads most
 * ({@linkcode wordsReadBy}); comprehensiveness averages the drop of the label's probability
 * when the rationale is deleted, sufficiency the drop when only the rationale is kept. The
 * outputs must keep each document's top label ({@linkcode topLabel}). Labels mode.
 *
 * @example
 * ```ts ignore
 * const outputs = await predictAll(model, docs.ids, 64, 256, { top: 1, targets: topLabel });
 * const { comprehensiveness, sufficiency } = await rationaleTest(model, docs.ids, outputs, 64, 256);
 * ```
 */
export async function rationaleTest(
  model: MtmModel,
  ids: Int32Array[],
  outputs: Outputs,
  batchSize: number,
  maxLen: number,
): Promise<RationaleTest> {
  const tested = testedLabels(ids, outputs, 1);
  const predict = { model, batchSize, maxLen };
  let comprehensiveness = 0;
  let sufficiency = 0;
  for (const q of RATIONALE_BINS) {
    const rationales = tested.map(({ doc, label }) =>
      wordsReadBy(outputs.words[doc], label, Math.ceil(q * ids[doc].length))
    );
    const docsWith = (keep: boolean) =>
      tested.map(({ doc }, i) => keepPositions(ids[doc], rationales[i], keep));
    comprehensiveness += await meanDrop(predict, outputs, tested, docsWith(false));
    sufficiency += await meanDrop(predict, outputs, tested, docsWith(true));
  }
  const bins = RATIONALE_BINS.length;
  return {
    documents: tested.length,
    comprehensiveness: comprehensiveness / bins,
    sufficiency: sufficiency / bins,
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
 *   words: [],
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
