/**
 * The baseline a model should be compared with: linear SVMs on TF-IDF word features, scored on a
 * held-out test file by the same functions `maskconv eval` uses, and printed (`--json`) under the
 * same keys as `maskconv eval --json`.
 *
 *     deno run -A quality/svm_baseline.ts --train A.csv --valid B.csv [--test C.csv]
 *       [--labels-column tags | --label-columns a,b,c] [--text-column text] [--separator "|"]
 *       [--c 1] [--json]
 *
 * - Labels mode: one SVM per label seen in training; the one decision threshold is tuned on the
 *   validation file, then micro/macro-F1 and P@k are taken on the test file.
 * - Aspects mode: per target, one-vs-rest SVMs over the classes seen in training, predicting the
 *   class of highest score; empty cells (and classes unseen in training) are not scored, and
 *   accuracy and macro-F1 come from the model's `aspectMetrics`.
 * - C: `--c`, or with `--test` the best of 0.1, 0.3, 1 and 3 on the validation file (by micro-F1
 *   at the tuned threshold, or macro-F1 in aspects mode: what training maximises). Without
 *   `--test` the validation file is the one scored, as `maskconv train` scores it, and C is 1.
 *
 * Features: the words of the model's tokenizer seen in at least 2 training documents, weighted
 * (1 + log tf)·(1 + log(N/df)) and L2-normalised per document. Each label's SVM minimises
 * ½‖w‖² + C·Σ max(0, 1 − y·wᵀx)² (bias as a constant feature) by dual coordinate descent, the
 * liblinear solver, for a fixed number of seeded passes: the same data gives the same figures.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DataError } from "../base/errors.ts";
import { aspectLabels, multiLabels, readTable, type Table, textColumn } from "../data/csv.ts";
import { tokenize } from "../data/tokenize.ts";
import {
  type AspectMetrics,
  aspectMetrics,
  type LabelMetrics,
  labelMetrics,
  tuneThreshold,
} from "../model/evaluation/metrics.ts";
import { targetSpace, type TaskSpec } from "../model/task/dataset.ts";
import { mulberry32 } from "../base/rng.ts";

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
  // Q_ii = ‖x‖² + 1 (the bias feature) + 1/(2C).
  const qii = Float64Array.from(
    x,
    ({ values }) => values.reduce((s, v) => s + v * v, 0) + 1 + diagonal,
  );
  const next = mulberry32(seed);
  for (let pass = 0; pass < passes; pass++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const i of order) {
      const { indices, values } = x[i];
      const gradient = y[i] * svmScore(w, x[i]) - 1 + diagonal * alpha[i];
      const updated = Math.max(0, alpha[i] - gradient / qii[i]);
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

/** Documents with their label sets (labels mode). */
export interface LabelledDocs {
  docs: string[][];
  labels: string[][];
}

/** Documents with one class value per target, `undefined` for an empty cell (aspects mode). */
export interface AspectDocs {
  docs: string[][];
  values: (string | undefined)[][];
}

/** How the SVMs are trained: each C of `cs` is tried, and the best on validation is kept. */
export interface SvmOptions {
  cs: readonly number[];
  passes: number;
  seed: number;
  minDf: number;
}

/** What both modes report besides their metrics. */
interface Fitted {
  features: number;
  /** The C kept, and the validation score of each C tried. */
  c: number;
  validScores: Map<number, number>;
  /** Label or class values of the scored file that are no target (unseen in training). */
  unseenValues: number;
}

/** The baseline's labels-mode result on the scored file. */
export interface BaselineResult extends Fitted {
  /** The labels, sorted: one SVM each. */
  targets: string[];
  /** micro-F1 at each SVM's own threshold, 0. */
  microF1AtZero: number;
  /** micro-F1, macro-F1, P@k and AUC at the threshold tuned on the validation set. */
  tuned: LabelMetrics;
}

/** The baseline's aspects-mode result on the scored file. */
export interface AspectBaselineResult extends Fitted {
  /** Per target, its classes (sorted) as seen in training. */
  classes: string[][];
  metrics: AspectMetrics;
}

/** TF-IDF vectors of every split, on features learnt from the first. */
function featurise(minDf: number, ...splits: { docs: string[][] }[]) {
  const tfidf = fitTfidf(splits[0].docs, minDf);
  return {
    features: tfidf.vocabulary.size,
    x: splits.map(({ docs }) => docs.map((d) => tfidfVector(tfidf, d))),
  };
}

/** Fits with each C and keeps the best on validation (the first of equal ones). */
function chooseC<R>(cs: readonly number[], fit: (c: number) => { validScore: number; result: R }) {
  const validScores = new Map<number, number>();
  let best: { c: number; validScore: number; result: R } | undefined;
  for (const c of cs) {
    const fitted = fit(c);
    validScores.set(c, fitted.validScore);
    if (!best || fitted.validScore > best.validScore) best = { c, ...fitted };
  }
  if (!best) throw new RangeError("no value of C to try");
  return { c: best.c, validScores, result: best.result };
}

/**
 * Labels mode: one SVM per label seen in `train`; the threshold is tuned on `valid` and `test` is
 * scored (by default `valid` itself, as `maskconv train` scores it).
 *
 * @example
 * ```ts
 * import { svmBaseline } from "./svm_baseline.ts";
 * const docs = [["red", "apple"], ["green", "apple"], ["red", "car"], ["green", "car"]];
 * const result = svmBaseline(
 *   { docs, labels: [["red"], ["green"], ["red"], ["green"]] },
 *   { docs: [["red", "bus"], ["green", "bus"]], labels: [["red"], ["green"]] },
 *   { cs: [1], passes: 20, seed: 1, minDf: 1 },
 * );
 * console.log(result.microF1AtZero, result.tuned.microF1); // 1 1
 * ```
 */
export function svmBaseline(
  train: LabelledDocs,
  valid: LabelledDocs,
  { cs, passes, seed, minDf }: SvmOptions,
  test: LabelledDocs = valid,
): BaselineResult {
  const targets = [...new Set(train.labels.flat())].sort();
  const { features, x: [trainX, validX, testX] } = featurise(minDf, train, valid, test);
  const truth = ({ labels }: LabelledDocs) =>
    labels.map((ls) => targets.map((l) => ls.includes(l) ? 1 : 0));
  const [validTruth, testTruth] = [truth(valid), truth(test)];
  const { c, validScores, result } = chooseC(cs, (c) => {
    const weights = targets.map((label, t) => {
      const y = train.labels.map((ls) => ls.includes(label) ? 1 : -1);
      return trainLinearSvm(trainX, y, features, { c, passes, seed: seed + t });
    });
    const score = (x: SparseVector[]) => x.map((v) => weights.map((w) => svmScore(w, v)));
    const validScore = score(validX);
    const threshold = tuneThreshold(validScore, validTruth);
    return {
      validScore: labelMetrics(validScore, validTruth, threshold).microF1,
      result: { threshold, scores: score(testX) },
    };
  });
  return {
    targets,
    features,
    c,
    validScores,
    unseenValues: test.labels.flat().filter((l) => !targets.includes(l)).length,
    microF1AtZero: labelMetrics(result.scores, testTruth, 0).microF1,
    tuned: labelMetrics(result.scores, testTruth, result.threshold),
  };
}

/**
 * Aspects mode: per target, one SVM per class seen in `train` against the target's other known
 * rows; each document gets the class of highest score (ties: the first class in sorted order).
 * `test` is scored, by default `valid` itself.
 *
 * @example
 * ```ts
 * import { svmAspectBaseline } from "./svm_baseline.ts";
 * const docs = [["red", "big"], ["green", "big"], ["blue", "small"], ["red", "small"]];
 * const result = svmAspectBaseline(
 *   { docs, values: [["red", "big"], ["green", undefined], ["blue", "small"], ["red", "small"]] },
 *   { docs: [["blue", "big"]], values: [["blue", "big"]] },
 *   { cs: [1], passes: 20, seed: 1, minDf: 1 },
 * );
 * console.log(result.metrics.meanAccuracy); // 1
 * ```
 */
export function svmAspectBaseline(
  train: AspectDocs,
  valid: AspectDocs,
  { cs, passes, seed, minDf }: SvmOptions,
  test: AspectDocs = valid,
): AspectBaselineResult {
  const targets = train.values[0]?.length ?? 0;
  const classes = Array.from(
    { length: targets },
    (_, t) => [...new Set(train.values.map((row) => row[t]).filter((v) => v !== undefined))].sort(),
  );
  const { features, x: [trainX, validX, testX] } = featurise(minDf, train, valid, test);
  // The model's convention: −1 for an empty cell or a class unseen in training; neither is scored.
  const truth = ({ values }: AspectDocs) =>
    values.map((row) => row.map((v, t) => v === undefined ? -1 : classes[t].indexOf(v)));
  const [validTruth, testTruth] = [truth(valid), truth(test)];
  const { c, validScores, result } = chooseC(cs, (c) => {
    let stream = seed;
    const weights = classes.map((values, t) => {
      const known = train.values.flatMap((row, d) => row[t] === undefined ? [] : [d]);
      const x = known.map((d) => trainX[d]);
      return values.map((value) => {
        const y = known.map((d) => train.values[d][t] === value ? 1 : -1);
        return trainLinearSvm(x, y, features, { c, passes, seed: stream++ });
      });
    });
    const predict = (x: SparseVector[]) =>
      x.map((v) =>
        weights.map((perClass) => {
          const scores = perClass.map((w) => svmScore(w, v));
          return scores.indexOf(Math.max(...scores));
        })
      );
    return {
      validScore: aspectMetrics(predict(validX), validTruth, targets).macroF1,
      result: predict(testX),
    };
  });
  return {
    classes,
    features,
    c,
    validScores,
    unseenValues: test.values.reduce(
      (n, row, d) => n + row.filter((v, t) => v !== undefined && testTruth[d][t] < 0).length,
      0,
    ),
    metrics: aspectMetrics(result, testTruth, targets),
  };
}

/** The values of C tried on the validation file when `--c` is not given and `--test` is. */
const C_CHOICES = [0.1, 0.3, 1, 3];

/** Train, validation and scored file, read and tokenized. */
type Inputs = { table: Table; docs: string[][] }[];

type AspectsSpec = Extract<TaskSpec, { mode: "aspects" }>;

/** What the command prints: `maskconv eval --json`'s keys for the metrics, and a text summary. */
type Report = { fitted: Fitted; json: Record<string, unknown>; text: string };

function cPhrase({ c, validScores }: Fitted, metric: string): string {
  if (validScores.size === 1) return `C ${c}`;
  const tried = [...validScores].map(([c, s]) => `${s.toFixed(3)} (C ${c})`).join(", ");
  return `C ${c}, the best validation ${metric} of ${tried}`;
}

function labelsReport(
  inputs: Inputs,
  options: SvmOptions,
  column: string,
  separator: string,
): Report {
  const [train, valid, test] = inputs.map(({ table, docs }) => ({
    docs,
    labels: multiLabels(table, column, separator),
  }));
  const fitted = svmBaseline(train, valid, options, test);
  const { targets, tuned } = fitted;
  const text = `linear SVM per label on TF-IDF (${cPhrase(fitted, "micro-F1")}): ` +
    `${targets.length} labels, ${fitted.features} words\n` +
    `micro-F1 ${fitted.microF1AtZero.toFixed(3)} at threshold 0, ${tuned.microF1.toFixed(3)} ` +
    `at the threshold tuned on validation ${tuned.threshold.toFixed(3)}; macro-F1 ` +
    `${tuned.macroF1.toFixed(3)}, P@1 ${tuned.precisionAt["1"].toFixed(3)}, P@5 ` +
    tuned.precisionAt["5"].toFixed(3);
  const json = { mode: "labels", documents: test.docs.length, targets, ...tuned };
  return { fitted, json, text };
}

function aspectsReport(inputs: Inputs, options: SvmOptions, spec: AspectsSpec): Report {
  const columns = spec.labelColumns;
  // Refuses what training refuses (a target with fewer than 2 classes), in the same words.
  targetSpace(inputs[0].table, spec);
  const [train, valid, test] = inputs.map(({ table, docs }) => ({
    docs,
    values: aspectLabels(table, columns),
  }));
  const fitted = svmAspectBaseline(train, valid, options, test);
  const m = fitted.metrics;
  const name = Math.max(6, ...columns.map((t) => t.length));
  const text = [
    `linear SVMs one-vs-rest per target on TF-IDF (${cPhrase(fitted, "macro-F1")}): ` +
    `${columns.length} targets, ${fitted.features} words`,
    ...columns.map((t, i) =>
      `  ${t.padEnd(name)}  accuracy ${m.accuracy[i].toFixed(3)}, macro-F1 ` +
      `${m.f1[i].toFixed(3)}, ${m.support[i]} documents with a value`
    ),
    `mean accuracy ${m.meanAccuracy.toFixed(3)}, macro-F1 ${m.macroF1.toFixed(3)}`,
  ].join("\n");
  const json = { mode: "aspects", documents: test.docs.length, targets: columns, ...m };
  return { fitted, json, text };
}

/** The command line; returns the exit code. */
function main(args: string[]): number {
  const started = performance.now();
  const { values } = parseArgs({
    args,
    options: {
      train: { type: "string" },
      valid: { type: "string" },
      test: { type: "string" },
      "labels-column": { type: "string" },
      "label-columns": { type: "string" },
      "text-column": { type: "string", default: "text" },
      separator: { type: "string", default: "|" },
      c: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  if (!values.train || !values.valid || (values["labels-column"] && values["label-columns"])) {
    throw new DataError(
      "usage: deno run -A quality/svm_baseline.ts --train A.csv --valid B.csv [--test C.csv] " +
        "[--labels-column tags | --label-columns a,b,c] [--text-column text] [--c 1] [--json]",
    );
  }
  const c = Number(values.c);
  if (values.c !== undefined && !(c > 0 && Number.isFinite(c))) {
    throw new DataError(`--c ${values.c}: must be a positive number`);
  }
  const options = {
    cs: values.c !== undefined ? [c] : values.test ? C_CHOICES : [1],
    passes: 30,
    seed: 1,
    minDf: 2,
  };
  const read = (path: string) => {
    const table = readTable(path);
    const docs = textColumn(table, values["text-column"]).map((t) =>
      tokenize(t).map((w) => w.text)
    );
    return { table, docs };
  };
  const [train, valid] = [read(values.train), read(values.valid)];
  const inputs = [train, valid, values.test ? read(values.test) : valid];
  const { fitted, json, text } = values["label-columns"]
    ? aspectsReport(inputs, options, {
      mode: "aspects",
      textColumn: values["text-column"],
      labelColumns: values["label-columns"].split(",").map((s) => s.trim()).filter(Boolean),
    })
    : labelsReport(inputs, options, values["labels-column"] ?? "tags", values.separator);
  if (values.json) {
    console.log(JSON.stringify({
      ...json,
      unseen_label_values: fitted.unseenValues,
      features: fitted.features,
      c: fitted.c,
      c_tried: [...fitted.validScores].map(([c, score]) => ({ c, valid_score: score })),
      seconds: (performance.now() - started) / 1000,
    }));
  } else {
    console.log(`on the ${values.test ? "test" : "validation"} file: ${text}`);
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(main(Deno.args));
  } catch (error) {
    // Bad input is one line and exit code 2, as in the maskconv command line.
    const badInput = error instanceof DataError ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (!badInput) throw error;
    console.error(`svm_baseline: ${(error as Error).message.replace(/\s*\n\s*/g, " ")}`);
    Deno.exit(2);
  }
}
