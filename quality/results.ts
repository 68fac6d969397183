/**
 * What the quality suite records per data set, and the markdown table it prints.
 *
 * @module
 */

/** The deletion test of `maskconv eval --json` (labels mode). */
export interface DeletionTest {
  words: number;
  documents: number;
  readWords: number;
  randomWords: number;
}

/** ERASER's comprehensiveness and sufficiency of `maskconv eval --json` (labels mode). */
export interface RationaleTest {
  documents: number;
  comprehensiveness: number;
  sufficiency: number;
}

/**
 * The part of `maskconv eval --json` that the suite reads; `quality/svm_baseline.ts --json` prints
 * the same keys, so one type reads both.
 */
export type Scores =
  & { documents: number; targets: string[]; macroF1: number }
  & (
    | {
      mode: "labels";
      microF1: number;
      precisionAt: Record<"1" | "5", number>;
      deletion_test?: DeletionTest;
      rationale_test?: RationaleTest;
    }
    | { mode: "aspects"; meanAccuracy: number }
  );

/** One data set's outcome: its sizes, the training time and both systems' test scores. */
export interface SetResult {
  name: string;
  documents: Record<"train" | "valid" | "test", number>;
  /** Wall-clock minutes of `maskconv train`; null when the run was not timed by the suite. */
  trainMinutes: number | null;
  maskconv: Scores;
  svm: Scores;
}

/**
 * The figure each set is judged by: micro-F1 (labels) or mean accuracy over targets (aspects).
 *
 * @example
 * ```ts
 * import { headline } from "./results.ts";
 * const scores = { documents: 4, targets: ["a"], macroF1: 0.5, meanAccuracy: 0.75 };
 * console.log(headline({ mode: "aspects", ...scores })); // 0.75
 * ```
 */
export function headline(scores: Scores): number {
  return scores.mode === "labels" ? scores.microF1 : scores.meanAccuracy;
}

/**
 * The name of {@linkcode headline}'s figure.
 *
 * @example
 * ```ts
 * import { headlineName } from "./results.ts";
 * console.log(headlineName("labels")); // micro-F1
 * ```
 */
export function headlineName(mode: Scores["mode"]): string {
  return mode === "labels" ? "micro-F1" : "accuracy";
}

const HEADER = [
  "data set",
  "mode",
  "train",
  "valid",
  "test",
  "targets",
  "maskconv micro-F1 / accuracy",
  "macro-F1",
  "P@1",
  "P@5",
  "SVM micro-F1 / accuracy",
  "SVM macro-F1",
  "SVM P@1",
  "SVM P@5",
  "training min",
  "deletion drop: read / random",
  "ERASER comp. / suff.",
];

const NONE = "—";

function figures(scores: Scores): string[] {
  const f = (v: number) => v.toFixed(3);
  const ranks = scores.mode === "labels"
    ? [f(scores.precisionAt["1"]), f(scores.precisionAt["5"])]
    : [NONE, NONE];
  return [f(headline(scores)), f(scores.macroF1), ...ranks];
}

function deletion(scores: Scores): string {
  const test = scores.mode === "labels" ? scores.deletion_test : undefined;
  if (!test?.documents) return NONE;
  return `${test.readWords.toFixed(3)} / ${test.randomWords.toFixed(3)} (${test.words} words)`;
}

function rationale(scores: Scores): string {
  const test = scores.mode === "labels" ? scores.rationale_test : undefined;
  if (!test?.documents) return NONE;
  return `${test.comprehensiveness.toFixed(3)} / ${test.sufficiency.toFixed(3)}`;
}

/**
 * One markdown table row per data set, columns padded so the text lines up.
 *
 * @example
 * ```ts
 * import { qualityTable, type Scores } from "./results.ts";
 * const scores: Scores = {
 *   mode: "aspects", documents: 10, targets: ["a"], macroF1: 0.5, meanAccuracy: 0.8,
 * };
 * console.log(qualityTable([{
 *   name: "toy", documents: { train: 80, valid: 10, test: 10 }, trainMinutes: 1.5,
 *   maskconv: scores, svm: scores,
 * }]));
 * ```
 */
export function qualityTable(results: readonly SetResult[]): string {
  const count = (n: number) => n.toLocaleString("en-US");
  const rows = results.map((r) => [
    r.name,
    r.maskconv.mode,
    count(r.documents.train),
    count(r.documents.valid),
    count(r.documents.test),
    count(r.maskconv.targets.length),
    ...figures(r.maskconv),
    ...figures(r.svm),
    r.trainMinutes === null ? NONE : r.trainMinutes.toFixed(1),
    deletion(r.maskconv),
    rationale(r.maskconv),
  ]);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(HEADER), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
