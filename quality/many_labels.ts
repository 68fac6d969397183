/**
 * `deno task quality:many-labels`: does maskconv learn at thousands of labels? Builds a synthetic
 * ICD-like set (`data/synthetic_codes.ts`), trains maskconv on it with default flags, and prints
 * its test micro-F1, P@1 and P@5 next to the TF-IDF linear SVM's and to the label-frequency
 * prior's (every document gets the training set's frequencies as scores, its threshold tuned on
 * validation like the others'). The model and `results.json` go to
 * `runs/quality/many-labels/codes-LABELS-DOCUMENTS-WORDS-SEED/`.
 *
 *     deno run -A quality/many_labels.ts [--labels 16000] [--documents 2000] [--words 30]
 *       [--seed 1] [--fresh] [--skip-svm]
 *
 * The default sizes give 5,364 distinct labels in 1,600 training documents of ~50 words (518
 * labels seen 5 times or more) and keep a run near an hour and a half on a 2-core machine's
 * lavapipe. `--fresh` trains again over an existing run; without it an existing model is
 * evaluated as it is.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { multiLabels, readTable } from "../data/csv.ts";
import { labelMetrics, tuneThreshold } from "../model/evaluation/metrics.ts";
import { exists, runDeno, StepFailed } from "./commands.ts";
import type { Scores } from "./results.ts";

const NAME = "many-labels";
const COLUMNS = ["--text-column", "text", "--labels-column", "codes"];

/** Bad flags: one line, exit code 2. */
class UsageError extends Error {}

/** Test scores of one system: what the table prints. */
interface Row {
  system: string;
  microF1: number;
  p1: number;
  p5: number;
}

/**
 * The label-frequency prior: each document's scores are the training frequencies of the
 * training file's labels; its threshold is tuned on validation.
 */
function priorRow(dir: string): Row {
  const labelsOf = (split: string) => multiLabels(readTable(`${dir}/${split}.csv`), "codes", "|");
  const train = labelsOf("train");
  const counts = new Map<string, number>();
  for (const labels of train) for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const names = [...counts.keys()];
  const scores = names.map((l) => counts.get(l)! / train.length);
  const truthOf = (docs: string[][]) =>
    docs.map((labels) => {
      const set = new Set(labels);
      return names.map((l) => set.has(l) ? 1 : 0);
    });
  const scoresOf = (docs: string[][]) => docs.map(() => scores);
  const valid = labelsOf("valid");
  const threshold = tuneThreshold(scoresOf(valid), truthOf(valid));
  const test = labelsOf("test");
  const m = labelMetrics(scoresOf(test), truthOf(test), threshold);
  return {
    system: "label-frequency prior",
    microF1: m.microF1,
    p1: m.precisionAt[1],
    p5: m.precisionAt[5],
  };
}

function rowOf(system: string, scores: Scores): Row {
  if (scores.mode !== "labels") throw new StepFailed(`${system}: expected labels-mode scores`);
  const { microF1, precisionAt } = scores;
  return { system, microF1, p1: precisionAt[1], p5: precisionAt[5] };
}

function table(rows: Row[]): string {
  const lines = ["| system | micro-F1 | P@1 | P@5 |", "| --- | --- | --- | --- |"];
  for (const r of rows) {
    lines.push(`| ${r.system} | ${[r.microF1, r.p1, r.p5].map((v) => v.toFixed(3)).join(" | ")} |`);
  }
  return lines.join("\n");
}

function sizes(values: Record<string, string | boolean | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of ["labels", "documents", "words", "seed"]) {
    const n = Number(values[key]);
    if (!Number.isInteger(n) || n <= 0) {
      throw new UsageError(`--${key} must be a positive integer`);
    }
    out[key] = n;
  }
  return out;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      labels: { type: "string", default: "16000" },
      documents: { type: "string", default: "2000" },
      words: { type: "string", default: "30" },
      seed: { type: "string", default: "1" },
      fresh: { type: "boolean", default: false },
      "skip-svm": { type: "boolean", default: false },
    },
  });
  const size = sizes(values);
  Deno.chdir(new URL("..", import.meta.url));
  const tag = `codes-${size.labels}-${size.documents}-${size.words}-${size.seed}`;
  const dir = `data/quality/${tag}`;
  const out = `runs/quality/${NAME}/${tag}`;
  const [train, valid, test] = ["train", "valid", "test"].map((split) => `${dir}/${split}.csv`);
  if (!await exists(test)) {
    const flags = Object.entries(size).flatMap(([key, n]) => [`--${key}`, String(n)]);
    await runDeno(NAME, ["run", "-A", "data/synthetic_codes.ts", "--out", dir, ...flags]);
  }
  if (values.fresh && await exists(out)) await Deno.remove(out, { recursive: true });
  let trainMinutes: number | null = null;
  if (!await exists(`${out}/model.safetensors`)) {
    const started = performance.now();
    // Default flags only, as the quality suite trains.
    const flags = ["--train", train, "--valid", valid, "--out", out, ...COLUMNS];
    await runDeno(NAME, ["run", "-A", "cli.ts", "train", ...flags]);
    trainMinutes = (performance.now() - started) / 60_000;
  }
  const evalArgs = ["run", "-A", "cli.ts", "eval", "--model", out, "--data", test, "--json"];
  const maskconv = await runDeno(NAME, evalArgs, true);
  const rows = [rowOf("maskconv, default flags", maskconv), priorRow(dir)];
  if (!values["skip-svm"]) {
    const files = ["--train", train, "--valid", valid, "--test", test];
    const svmArgs = ["run", "-A", "quality/svm_baseline.ts", ...files, ...COLUMNS, "--json"];
    rows.splice(1, 0, rowOf("TF-IDF + linear SVM", await runDeno(NAME, svmArgs, true)));
  }
  const summary = { data: dir, ...size, targets: maskconv.targets.length, trainMinutes, rows };
  await Deno.writeTextFile(`${out}/results.json`, JSON.stringify(summary, null, 2) + "\n");
  console.log(
    `${dir}: ${maskconv.targets.length} labels, ${maskconv.documents} test documents` +
      (trainMinutes === null ? "" : `, trained in ${trainMinutes.toFixed(1)} min`),
  );
  console.log(table(rows));
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    const usage = error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (!usage && !(error instanceof StepFailed)) throw error;
    console.error(`quality:many-labels: ${(error as Error).message}`);
    Deno.exit(usage ? 2 : 1);
  }
}
