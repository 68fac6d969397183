/**
 * The baseline a labels-mode model should be compared with: one linear SVM per label on TF-IDF
 * word features, scored like `maskconv train` scores its validation set (micro-F1 at the one
 * threshold tuned on that set).
 *
 *     deno run -A data/svm_baseline.ts --train A.csv --valid B.csv
 *       [--labels-column tags] [--text-column text] [--separator "|"] [--c 1]
 *
 * Features: the words of the model's tokenizer seen in at least 2 training documents, weighted
 * (1 + log tf)·(1 + log(N/df)) and L2-normalised per document. Each label's SVM minimises
 * ½‖w‖² + C·Σ max(0, 1 − y·wᵀx)² (bias as a constant feature) by dual coordinate descent, the
 * liblinear solver, for a fixed number of seeded passes: the same data gives the same figures.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { multiLabels, readTable, textColumn } from "./csv.ts";
import { tokenize } from "./tokenize.ts";
import { labelMetrics, tuneThreshold } from "../model/metrics.ts";
import { mulberry32 } from "../kernels/rng.ts";

/** A sparse document vector: feature indices and their weights. */
export interface SparseVector {
  indices: Int32Array;
  values: Float64Array;
}

/** TF-IDF features learnt from training documents. */
export interface Tfidf {
  vocabulary: Map<string, number>;
  /** idf: [features] */
  idf: Float64Array;
}

/**
 * Learns the vocabulary (words in at least `minDf` documents) and idf weights.
 *
 * @example
 * ```ts
 * import { fitTfidf } from "./svm_baseline.ts";
 * const tfidf = fitTfidf([["a", "b"], ["a"]], 1);
 * console.log(tfidf.vocabulary.size); // 2
 * ```
 */
export function fitTfidf(docs: readonly string[][], minDf = 2): Tfidf {
  const df = new Map<string, number>();
  for (const doc of docs) for (const word of new Set(doc)) df.set(word, (df.get(word) ?? 0) + 1);
  const vocabulary = new Map<string, number>();
  for (const [word, count] of df) if (count >= minDf) vocabulary.set(word, vocabulary.size);
  const idf = new Float64Array(vocabulary.size);
  for (const [word, i] of vocabulary) idf[i] = 1 + Math.log(docs.length / df.get(word)!);
  return { vocabulary, idf };
}

/**
 * A document's L2-normalised (1 + log tf)·idf vector; unknown words are ignored.
 *
 * @example
 * ```ts
 * import { fitTfidf, tfidfVector } from "./svm_baseline.ts";
 * const v = tfidfVector(fitTfidf([["a", "b"], ["a"]], 1), ["b", "b", "c"]);
 * console.log(v.indices, v.values); // Int32Array [1] Float64Array [1]
 * ```
 */
export function tfidfVector({ vocabulary, idf }: Tfidf, doc: readonly string[]): SparseVector {
  const tf = new Map<number, number>();
  for (const word of doc) {
    const i = vocabulary.get(word);
    if (i !== undefined) tf.set(i, (tf.get(i) ?? 0) + 1);
  }
  const indices = Int32Array.from([...tf.keys()].sort((a, b) => a - b));
  const values = Float64Array.from(indices, (i) => (1 + Math.log(tf.get(i)!)) * idf[i]);
  const norm = Math.hypot(...values) || 1;
  return { indices, values: values.map((v) => v / norm) };
}

/**
 * Trains an L2-regularised, squared-hinge linear SVM by dual coordinate descent; `y` is ±1.
 * Returns the weights, the bias last.
 *
 * @example
 * ```ts
 * import { svmScore, trainLinearSvm } from "./svm_baseline.ts";
 * const x = [{ indices: Int32Array.of(0), values: Float64Array.of(1) },
 *            { indices: Int32Array.of(1), values: Float64Array.of(1) }];
 * const w = trainLinearSvm(x, [1, -1], 2, { c: 1, passes: 20, seed: 1 });
 * console.log(svmScore(w, x[0]) > 0, svmScore(w, x[1]) < 0); // true true
 * ```
 */
export function trainLinearSvm(
  x: readonly SparseVector[],
  y: readonly number[],
  features: number,
  { c, passes, seed }: { c: number; passes: number; seed: number },
): Float64Array {
  const w = new Float64Array(features + 1);
  const alpha = new Float64Array(x.length);
  const diagonal = 1 / (2 * c);
  const order = Array.from(x.keys());
  const next = mulberry32(seed);
  for (let pass = 0; pass < passes; pass++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const i of order) {
      const { indices, values } = x[i];
      const gradient = y[i] * svmScore(w, x[i]) - 1 + diagonal * alpha[i];
      // Q_ii = ‖x‖² + 1 (the bias feature) + 1/(2C); ‖x‖ is 1 or 0.
      const qii = values.reduce((s, v) => s + v * v, 0) + 1 + diagonal;
      const updated = Math.max(0, alpha[i] - gradient / qii);
      const delta = (updated - alpha[i]) * y[i];
      alpha[i] = updated;
      if (delta === 0) continue;
      for (let k = 0; k < indices.length; k++) w[indices[k]] += delta * values[k];
      w[features] += delta;
    }
  }
  return w;
}

/**
 * wᵀx + bias for weights from {@linkcode trainLinearSvm}.
 *
 * @example
 * ```ts
 * import { svmScore } from "./svm_baseline.ts";
 * const x = { indices: Int32Array.of(1), values: Float64Array.of(2) };
 * console.log(svmScore(Float64Array.of(0, 3, 1), x)); // 7
 * ```
 */
export function svmScore(w: Float64Array, { indices, values }: SparseVector): number {
  let score = w[w.length - 1];
  for (let k = 0; k < indices.length; k++) score += w[indices[k]] * values[k];
  return score;
}

/** What the baseline scores on the validation set. */
export interface BaselineResult {
  labels: number;
  features: number;
  /** micro-F1 at each SVM's own threshold, 0. */
  microF1AtZero: number;
  /** micro-F1, macro-F1, P@k and AUC at the threshold tuned on the validation set. */
  tuned: ReturnType<typeof labelMetrics>;
}

/**
 * Trains one SVM per label seen in `train` and scores `valid`.
 *
 * @example
 * ```ts
 * import { svmBaseline } from "./svm_baseline.ts";
 * const docs = [["red", "apple"], ["green", "apple"], ["red", "car"], ["green", "car"]];
 * const result = svmBaseline(
 *   { docs, labels: [["red"], ["green"], ["red"], ["green"]] },
 *   { docs: [["red", "bus"]], labels: [["red"]] },
 *   { c: 1, passes: 20, seed: 1, minDf: 1 },
 * );
 * console.log(result.microF1AtZero); // 1
 * ```
 */
export function svmBaseline(
  train: { docs: string[][]; labels: string[][] },
  valid: { docs: string[][]; labels: string[][] },
  { c, passes, seed, minDf }: { c: number; passes: number; seed: number; minDf: number },
): BaselineResult {
  const labels = [...new Set(train.labels.flat())].sort();
  const tfidf = fitTfidf(train.docs, minDf);
  const features = tfidf.vocabulary.size;
  const trainX = train.docs.map((d) => tfidfVector(tfidf, d));
  const validX = valid.docs.map((d) => tfidfVector(tfidf, d));
  const scores = validX.map(() => new Array<number>(labels.length));
  labels.forEach((label, t) => {
    const y = train.labels.map((ls) => ls.includes(label) ? 1 : -1);
    const w = trainLinearSvm(trainX, y, features, { c, passes, seed: seed + t });
    validX.forEach((x, d) => scores[d][t] = svmScore(w, x));
  });
  const truth = valid.labels.map((ls) => labels.map((l) => ls.includes(l) ? 1 : 0));
  return {
    labels: labels.length,
    features,
    microF1AtZero: labelMetrics(scores, truth, 0).microF1,
    tuned: labelMetrics(scores, truth, tuneThreshold(scores, truth)),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      train: { type: "string" },
      valid: { type: "string" },
      "labels-column": { type: "string", default: "tags" },
      "text-column": { type: "string", default: "text" },
      separator: { type: "string", default: "|" },
      c: { type: "string", default: "1" },
    },
  });
  if (!values.train || !values.valid) {
    console.error("usage: deno run -A data/svm_baseline.ts --train A.csv --valid B.csv");
    Deno.exit(2);
  }
  const read = (path: string) => {
    const table = readTable(path);
    return {
      docs: textColumn(table, values["text-column"]).map((t) => tokenize(t).map((w) => w.text)),
      labels: multiLabels(table, values["labels-column"], values.separator),
    };
  };
  const c = Number(values.c);
  const result = svmBaseline(read(values.train), read(values.valid), {
    c,
    passes: 30,
    seed: 1,
    minDf: 2,
  });
  const { tuned } = result;
  console.log(
    `linear SVM per label on TF-IDF (C ${c}): ${result.labels} labels, ${result.features} words\n` +
      `validation micro-F1 ${result.microF1AtZero.toFixed(3)} at threshold 0, ` +
      `${tuned.microF1.toFixed(3)} at the tuned threshold ${tuned.threshold.toFixed(3)}; ` +
      `macro-F1 ${tuned.macroF1.toFixed(3)}, P@1 ${tuned.precisionAt["1"].toFixed(3)}`,
  );
}
