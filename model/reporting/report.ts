/**
 * `maskconv report` and `maskconv explain --html`: runs a model over documents and writes the
 * HTML page of its explanations (the page itself is rendered by `report_html.ts`).
 *
 * @module
 */

import { stringify } from "csv-stringify/sync";
import { DataError } from "../../base/errors.ts";
import { aspectLabels, multiLabels, parseTable, readTable, type Table } from "../../data/csv.ts";
import { tokenize } from "../../data/tokenize.ts";
import { getGpu } from "../../kernels/gpu.ts";
import { encodeDocuments } from "../task/dataset.ts";
import { predictAll } from "../evaluation/inference.ts";
import { type LoadedModel, loadModel } from "../files/model_dir.ts";
import {
  renderReport,
  type ReportData,
  type ReportDocument,
  type TargetSummary,
  TOOLTIP_CLASSES,
  type TrainingCurves,
} from "./report_html.ts";
import { writeFileAtomic } from "../files/safetensors.ts";

type Flags = Record<string, string | boolean | undefined>;

/** Documents shown when no --limit is given: enough to browse, few enough to open quickly. */
const DEFAULT_LIMIT = 50;

/**
 * Per target: the share of all words whose most probable class is the target, and the `top`
 * words it selects most often (ties in first-seen order).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { targetSummaries } from "./report.ts";
 * const summaries = targetSummaries([["an", "audio", "tool"]], [Int32Array.of(0, 1, 1)], 1);
 * assert.deepEqual(summaries[0].topWords, [["audio", 1], ["tool", 1]]);
 * assert.equal(summaries[0].share, 2 / 3);
 * ```
 */
export function targetSummaries(
  tokens: string[][],
  wordClasses: ArrayLike<number>[],
  targets: number,
  top = 10,
): TargetSummary[] {
  const counts = Array.from({ length: targets }, () => new Map<string, number>());
  const selected = new Array(targets).fill(0);
  let words = 0;
  wordClasses.forEach((classes, doc) => {
    for (let i = 0; i < classes.length; i++) {
      const c = classes[i];
      if (c > 0) {
        selected[c - 1]++;
        counts[c - 1].set(tokens[doc][i], (counts[c - 1].get(tokens[doc][i]) ?? 0) + 1);
      }
    }
    words += classes.length;
  });
  return counts.map((count, t) => ({
    share: words ? selected[t] / words : 0,
    topWords: [...count].sort((a, b) => b[1] - a[1]).slice(0, top),
  }));
}

/** The curves of a model folder's metrics.csv, or undefined when it has none. */
async function readTrainingCurves(
  path: string,
  bestEpoch: number,
): Promise<TrainingCurves | undefined> {
  try {
    await Deno.stat(path);
  } catch {
    return undefined;
  }
  const { rows } = readTable(path);
  const epochs = rows.map((row) => ({
    epoch: Number(row.epoch),
    trainLoss: Number(row.train_loss),
    validValue: Number(row.valid_value),
  }));
  const broken = epochs.findIndex((e) => !Object.values(e).every(Number.isFinite));
  if (broken >= 0) {
    throw new DataError(`${path}: row ${broken + 1} holds a value that is no number`);
  }
  return { metric: rows[0]?.valid_metric ?? "validation", epochs, bestEpoch };
}

/** The true values of the shown rows, when the table has the columns the model was trained on. */
function truthOf(table: Table, loaded: LoadedModel) {
  const { config } = loaded.saved;
  if (config.labelsColumn !== undefined && table.columns.includes(config.labelsColumn)) {
    return { trueLabels: multiLabels(table, config.labelsColumn, config.separator) };
  }
  if (config.labelColumns?.every((column) => table.columns.includes(column))) {
    return {
      trueValues: aspectLabels(table, config.labelColumns).map((row) =>
        row.map((value) => value ?? null)
      ),
    };
  }
  return {};
}

/** Predicts every row of `table`, keeping word distributions for the first `limit` only. */
async function buildReport(
  modelDir: string,
  table: Table,
  source: string,
  limit: number,
  textColumn?: string,
): Promise<ReportData> {
  const loaded = await loadModel(await getGpu(), modelDir);
  const { config, space, threshold, best } = loaded.saved;
  const column = textColumn ?? config.textColumn;
  const docs = encodeDocuments(
    table,
    { mode: "aspects", textColumn: column, labelColumns: [] },
    loaded.vocab,
    { ...space, mode: "aspects", classes: [] },
    config.maxLen,
  );
  const { model } = loaded;
  // The summaries need only each word's class; the shown documents keep each word's most probable
  // classes (its tooltip) and the predicted labels (the words each reads most).
  const predicted = (probabilities: number[][]) =>
    space.mode === "labels"
      ? space.targets.flatMap((_, t) => probabilities[t][0] >= threshold ? [t] : [])
      : [];
  const kept = { top: TOOLTIP_CLASSES, targets: predicted };
  // When every document is shown, one prediction serves the summaries and the documents.
  const showsAll = limit >= docs.ids.length;
  const all = await predictAll(
    model,
    docs.ids,
    config.batchSize,
    config.maxLen,
    showsAll ? kept : undefined,
  );
  const detail = showsAll
    ? all
    : await predictAll(model, docs.ids.slice(0, limit), config.batchSize, config.maxLen, kept);
  const truth = truthOf(table, loaded);
  const idColumn = table.columns.find((c) => c === "id" || c.endsWith("_id"));
  const documents = detail.probabilities.map((probabilities, doc): ReportDocument => {
    const text = table.rows[doc][column];
    const tokens = tokenize(text);
    const read = docs.ids[doc].length;
    return {
      name: idColumn ? table.rows[doc][idColumn] : `${table.path}:${table.lines[doc]}`,
      text,
      words: tokens.slice(0, read).map((token, i) => ({
        start: token.start,
        end: token.end,
        distribution: detail.words[doc][i],
      })),
      unreadFrom: tokens.length > read ? tokens[read].start : undefined,
      probabilities,
      trueLabels: truth.trueLabels?.[doc],
      trueValues: truth.trueValues?.[doc],
    };
  });
  const facts = [
    `model ${modelDir}`,
    `data ${source}`,
    `${space.mode} mode, ${space.targets.length} targets`,
    ...(space.mode === "labels" ? [`threshold ${threshold.toFixed(3)}`] : []),
    `kept epoch ${best.epoch}: ${best.metric} ${best.value.toFixed(4)}`,
    `reads at most ${config.maxLen} words`,
  ];
  return {
    title: `maskconv report: ${modelDir.replace(/\/+$/, "").split("/").pop()}`,
    facts,
    mode: space.mode,
    targets: space.targets,
    classes: space.classes,
    threshold,
    documents,
    omitted: docs.ids.length - documents.length,
    summaries: targetSummaries(docs.tokens, all.wordClasses, space.targets.length),
    summaryDocuments: docs.ids.length,
    curves: await readTrainingCurves(`${modelDir}/metrics.csv`, best.epoch),
  };
}

function stringFlag(values: Flags, flag: string): string {
  if (typeof values[flag] !== "string") throw new DataError(`this command needs --${flag}`);
  return values[flag] as string;
}

function limitFlag(values: Flags): number {
  if (values.limit === undefined) return DEFAULT_LIMIT;
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new DataError(`--limit ${values.limit}: must be a positive whole number`);
  }
  return limit;
}

async function writeReport(path: string, data: ReportData): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(renderReport(data)));
  const shown = data.documents.length;
  console.error(
    `wrote ${path}: ${shown} of ${shown + data.omitted} documents, ${data.targets.length} targets`,
  );
}

/**
 * `maskconv report --model DIR --data C.csv --out report.html [--limit N]`: one self-contained
 * HTML page with the first N documents (50 by default) explained word by word, their predicted
 * (and, when the CSV has them, true) values, the training curves and per-target summaries
 * counted over every document.
 *
 * @example
 * ```ts ignore
 * await reportCommand({ model: "runs/debtags", data: "valid.csv", out: "report.html" });
 * ```
 */
export async function reportCommand(values: Flags): Promise<number> {
  const [modelDir, data, out] = ["model", "data", "out"].map((flag) => stringFlag(values, flag));
  const limit = limitFlag(values);
  await writeReport(out, await buildReport(modelDir, readTable(data), data, limit));
  return 0;
}

/**
 * `maskconv explain --model DIR (--text "…" | --data C.csv) --html page.html [--limit N]`: the
 * report's page for a text typed on the command line or the rows of a CSV.
 *
 * @example
 * ```ts ignore
 * await explainHtmlCommand({ model: "runs/debtags", text: "a small audio tool", html: "a.html" });
 * ```
 */
export async function explainHtmlCommand(values: Flags): Promise<number> {
  const modelDir = stringFlag(values, "model");
  const out = stringFlag(values, "html");
  const limit = limitFlag(values);
  if (typeof values.text === "string") {
    // The id column names the document on the page.
    const csv = stringify([{ id: "--text", text: values.text }], { header: true });
    const table = parseTable(new TextEncoder().encode(csv), "--text");
    await writeReport(out, await buildReport(modelDir, table, "--text", limit, "text"));
  } else if (typeof values.data === "string") {
    await writeReport(out, await buildReport(modelDir, readTable(values.data), values.data, limit));
  } else {
    throw new DataError('explain needs --text "…" or --data FILE.csv');
  }
  return 0;
}
