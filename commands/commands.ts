/**
 * The model's commands: `train`, `eval`, `predict`, `explain` and the `demo` that runs them on
 * the shipped Debtags sample.
 *
 * @module
 */

import { stringify } from "csv-stringify/sync";
import { DataError } from "../base/errors.ts";
import { parseTable, readTable, type Table } from "../data/csv.ts";
import { tokenize } from "../data/tokenize.ts";
import { getGpu } from "../kernels/gpu.ts";
import { readCheckpointState } from "../model/training/checkpoint.ts";
import { configFromFlags } from "../model/task/config.ts";
import { type Documents, encodeDocuments, type TargetSpace } from "../model/task/dataset.ts";
import {
  decisions,
  deletionTest,
  distinctWordsReadBy,
  evaluate,
  type Evaluation,
  type Outputs,
  predictAll,
  rationaleTest,
  topLabel,
  type WordDistribution,
} from "../model/evaluation/inference.ts";
import { loadModel } from "../model/files/model_dir.ts";
import { taskSpec, train } from "../model/training/train.ts";
import { writeFileAtomic } from "../model/files/safetensors.ts";

const log = (line: string) => console.error(line);

/** `maskconv train`, or `maskconv train --resume DIR`: flags as parsed by `parseArgs`. */
export async function trainCommand(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  let run;
  if (typeof values.resume === "string") {
    const state = await readCheckpointState(values.resume);
    run = { ...state, outDir: values.resume, resume: true, log };
  } else {
    for (const flag of ["train", "valid", "out"]) {
      if (typeof values[flag] !== "string") {
        throw new DataError(`train needs --${flag} (or --resume DIR)`);
      }
    }
    run = {
      trainPath: values.train as string,
      validPath: values.valid as string,
      outDir: values.out as string,
      config: configFromFlags(values),
      log,
      batchSizeGiven: values["batch-size"] !== undefined,
    };
  }
  const { best, epochs, interrupted } = await train(getGpu, run);
  if (interrupted) return 130;
  log(
    `done after ${epochs} epochs; best validation score ${best.toFixed(4)}; model in ${run.outDir}`,
  );
  return 0;
}

async function modelAndData(modelDir: string, table: Table, withTargets: boolean) {
  const loaded = await loadModel(await getGpu(), modelDir);
  const { config, space } = loaded.saved;
  const spec = taskSpec(config);
  const docs = withTargets
    ? encodeDocuments(table, spec, loaded.vocab, space, config.maxLen)
    : encodeDocuments(table, { ...spec, mode: "aspects", labelColumns: [] }, loaded.vocab, {
      ...space,
      mode: "aspects",
      classes: [],
    }, config.maxLen);
  // eval's deletion test reads each document's top label over its words; predict needs no words.
  const kept = withTargets && space.mode === "labels" ? { top: 1, targets: topLabel } : undefined;
  const outputs = await predictAll(loaded.model, docs.ids, config.batchSize, config.maxLen, kept);
  return { loaded, docs, outputs };
}

function formatEvaluation(evaluation: Evaluation, space: TargetSpace, docs: Documents): string {
  const pct = (v: number) => (100 * v).toFixed(1).padStart(6);
  const lines: string[] = [];
  const name = Math.max(6, ...space.targets.map((t) => t.length));
  if (evaluation.mode === "aspects") {
    const m = evaluation.metrics;
    lines.push(`${"target".padEnd(name)}  accuracy      F1  selected  documents`);
    space.targets.forEach((t, i) => {
      lines.push(
        `${t.padEnd(name)}  ${pct(m.accuracy[i])}%  ${pct(m.f1[i])}%  ${
          pct(evaluation.maskShares[i])
        }%  ${m.support[i]}`,
      );
    });
    lines.push(`macro-F1 ${pct(m.macroF1)}%, mean accuracy ${pct(m.meanAccuracy)}%`);
  } else {
    const m = evaluation.metrics;
    lines.push(`${"label".padEnd(name)}      F1  selected`);
    space.targets.forEach((t, i) => {
      lines.push(`${t.padEnd(name)}  ${pct(m.f1[i])}%  ${pct(evaluation.maskShares[i])}%`);
    });
    lines.push(
      `micro-F1 ${pct(m.microF1)}%, macro-F1 ${pct(m.macroF1)}% at threshold ${
        m.threshold.toFixed(3)
      }; ` +
        `P@1 ${pct(m.precisionAt["1"])}%, P@5 ${pct(m.precisionAt["5"])}%, P@8 ${
          pct(m.precisionAt["8"])
        }%; ` +
        `micro-AUC ${m.microAuc.toFixed(4)}`,
    );
    const a = evaluation.maskAgreement;
    lines.push(
      a.selected
        ? `words selected for a target: ${pct(a.selected).trim()}%; ${
          pct(a.onLabel).trim()
        }% of them for one of their document's labels (at random: ${pct(a.chance).trim()}%)`
        : "no word is selected for any target",
    );
  }
  lines.push(
    `${docs.ids.length} documents; ${docs.encoded.truncatedDocs} truncated to the model's max length` +
      (docs.unseenValues ? `; ${docs.unseenValues} label values unseen in training, left out` : ""),
  );
  return lines.join("\n");
}

/** `maskconv eval --model DIR --data C.csv [--json]`. */
export async function evalCommand(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const { model: modelDir, data } = requireFlags(values, ["model", "data"]);
  const { loaded, docs, outputs } = await modelAndData(modelDir, readTable(data), true);
  const { space, threshold } = loaded.saved;
  const evaluation = evaluate(outputs, docs, space, threshold);
  const { batchSize, maxLen } = loaded.saved.config;
  const labels = space.mode === "labels";
  const deletion = labels
    ? await deletionTest(loaded.model, docs.ids, outputs, batchSize, maxLen, DELETED_WORDS)
    : undefined;
  const rationale = labels
    ? await rationaleTest(loaded.model, docs.ids, outputs, batchSize, maxLen)
    : undefined;
  if (values.json) {
    console.log(JSON.stringify({
      mode: evaluation.mode,
      documents: docs.ids.length,
      targets: space.targets,
      ...evaluation.metrics,
      mask_shares: evaluation.maskShares,
      ...(evaluation.mode === "labels" ? { mask_agreement: evaluation.maskAgreement } : {}),
      ...(deletion ? { deletion_test: deletion } : {}),
      ...(rationale ? { rationale_test: rationale } : {}),
      unseen_label_values: docs.unseenValues,
    }));
  } else {
    console.log(formatEvaluation(evaluation, space, docs));
    if (deletion?.documents) {
      const { words, readWords, randomWords } = deletion;
      console.log(
        `deleting the ${words} words each document's top label reads most lowers its probability ` +
          `by ${readWords.toFixed(3)} on average; ${words} random words, by ${
            randomWords.toFixed(3)
          }`,
      );
    }
    if (rationale?.documents) {
      const { comprehensiveness, sufficiency } = rationale;
      console.log(
        `ERASER, over rationales of 1-50% of each document's words: comprehensiveness ` +
          `${comprehensiveness.toFixed(3)} (higher: faithful), sufficiency ${
            sufficiency.toFixed(3)
          } (lower: the rationale suffices)`,
      );
    }
  }
  return 0;
}

function requireFlags<K extends string>(
  values: Record<string, string | boolean | undefined>,
  flags: K[],
): Record<K, string> {
  for (const flag of flags) {
    if (typeof values[flag] !== "string") throw new DataError(`this command needs --${flag}`);
  }
  return values as Record<K, string>;
}

function predictedRow(outputs: Outputs, doc: number, space: TargetSpace, threshold: number) {
  const decided = decisions(outputs, space, threshold)[doc];
  const row: Record<string, string> = {};
  if (space.mode === "labels") {
    row.labels = space.targets.filter((_, t) => decided[t] === 1).join("|");
    space.targets.forEach((label, t) =>
      row[`p:${label}`] = outputs.probabilities[doc][t][0].toFixed(4)
    );
  } else {
    space.targets.forEach((target, t) => row[target] = space.classes[t][decided[t]]);
    space.targets.forEach((target, t) =>
      space.classes[t].forEach((value, c) =>
        row[`p:${target}=${value}`] = outputs.probabilities[doc][t][c].toFixed(4)
      )
    );
  }
  return row;
}

/** `maskconv predict --model DIR --data C.csv --out P.csv`. */
export async function predictCommand(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const { model: modelDir, data, out } = requireFlags(values, ["model", "data", "out"]);
  const table = readTable(data);
  const { loaded, outputs } = await modelAndData(modelDir, table, false);
  const { space, threshold } = loaded.saved;
  const idColumns = table.columns.filter((c) => c === "id" || c.endsWith("_id"));
  const rows = table.rows.map((row, doc) => ({
    ...Object.fromEntries(idColumns.map((c) => [c, row[c]])),
    ...predictedRow(outputs, doc, space, threshold),
  }));
  await writeFileAtomic(out, new TextEncoder().encode(stringify(rows, { header: true })));
  log(`wrote ${rows.length} predictions to ${out}`);
  return 0;
}

/** Words `eval` deletes from each document to test what its explanation claims. */
const DELETED_WORDS = 3;

/** Distinct words shown for each target in `explain`. */
const READ_WORDS = 5;

const COLOURS = [196, 33, 40, 214, 129, 45, 226, 201, 34, 202, 63, 118, 166, 27, 160, 99];

/** One document with every word's target: ANSI colours on a terminal, `word[target]` otherwise. */
function explainText(
  text: string,
  classes: Int32Array,
  space: TargetSpace,
  colour: boolean,
): string {
  const tokens = tokenize(text);
  let out = "";
  let at = 0;
  tokens.forEach((token, i) => {
    out += text.slice(at, token.start);
    const word = text.slice(token.start, token.end);
    const c = i < classes.length ? classes[i] : 0;
    if (c === 0) out += word;
    else if (colour) out += `\x1b[1;38;5;${COLOURS[(c - 1) % COLOURS.length]}m${word}\x1b[0m`;
    else out += `${word}[${space.targets[c - 1]}]`;
    at = token.end;
  });
  return out + text.slice(at);
}

/** `maskconv explain --model DIR (--text "…" | --data C.csv) [--limit N]`. */
export async function explainCommand(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const { model: modelDir } = requireFlags(values, ["model"]);
  let table: Table;
  if (typeof values.text === "string") {
    const csv = stringify([{ text: values.text }], { header: true });
    table = parseTable(new TextEncoder().encode(csv), "--text");
  } else if (typeof values.data === "string") {
    table = readTable(values.data);
  } else {
    throw new DataError('explain needs --text "…" or --data FILE.csv');
  }
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit > 0)) throw new DataError(`--limit ${values.limit}: must be a positive number`);
  const loaded = await loadModel(await getGpu(), modelDir);
  const { config, space, threshold } = loaded.saved;
  const textColumn = typeof values.text === "string" ? "text" : config.textColumn;
  const rows = table.rows.slice(0, limit);
  const subset: Table = { ...table, rows, lines: table.lines.slice(0, rows.length) };
  const docs = encodeDocuments(
    subset,
    { mode: "aspects", textColumn, labelColumns: [] },
    loaded.vocab,
    { ...space, mode: "aspects", classes: [] },
    config.maxLen,
  );
  // The words of the labels shown (labels mode) or of every target (aspects mode).
  const shown = (probabilities: number[][]) =>
    space.targets.flatMap((_, t) =>
      space.mode === "aspects" || probabilities[t][0] >= threshold ? [t] : []
    );
  // --words lists each word's few classes: all a sparse mask keeps, else the top WORD_CLASSES.
  const top = !values.words ? 1 : config.mask === "sparse" ? config.maskTargets + 1 : WORD_CLASSES;
  const kept = { top, targets: shown };
  const outputs = await predictAll(loaded.model, docs.ids, config.batchSize, config.maxLen, kept);
  const colour = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  const used = new Set(outputs.wordClasses.flatMap((c) => [...c]).filter((c) => c > 0));
  if (colour && used.size) {
    const legend = [...used].sort((a, b) => a - b).map((c) =>
      `\x1b[1;38;5;${COLOURS[(c - 1) % COLOURS.length]}m${space.targets[c - 1]}\x1b[0m`
    );
    console.log(`targets: ${legend.join("  ")}\n`);
  }
  rows.forEach((row, doc) => {
    const text = row[textColumn];
    console.log(explainText(text, outputs.wordClasses[doc], space, colour));
    if (values.words) console.log(wordTargets(docs.tokens[doc], outputs.words[doc], space, top));
    const decided = predictedRow(outputs, doc, space, threshold);
    const reads = (t: number) =>
      distinctWordsReadBy(outputs.words[doc], docs.tokens[doc], t, READ_WORDS)
        .join(", ");
    if (space.mode === "labels") {
      const ranked = space.targets.map((_, t) => [t, outputs.probabilities[doc][t][0]] as const)
        .filter(([, p]) => p >= threshold).sort((a, b) => b[1] - a[1]);
      console.log(
        `→ labels: ${
          ranked.map(([t, p]) => `${space.targets[t]} (${p.toFixed(2)})`).join(", ") || "none"
        }`,
      );
      for (const [t] of ranked) console.log(`  ${space.targets[t]} reads most: ${reads(t)}`);
    } else {
      console.log(`→ ${space.targets.map((t) => `${t}=${decided[t]}`).join(", ")}`);
      space.targets.forEach((target, t) => console.log(`  ${target} reads most: ${reads(t)}`));
    }
    console.log("");
  });
  return 0;
}

/** Classes `explain --words` lists per word for a dense mask, "none" included when among them. */
const WORD_CLASSES = 4;

/** One line per word: its `top` most probable classes down to 1%, e.g. "audio: sound 0.62". */
function wordTargets(
  tokens: string[],
  words: WordDistribution[],
  space: TargetSpace,
  top: number,
): string {
  return words.map(({ classes, p }, l) => {
    const shown = Array.from(classes.subarray(0, top), (c, i) => [c, p[i]])
      .filter(([, v]) => v >= 0.01)
      .map(([c, v]) => `${c === 0 ? "none" : space.targets[c - 1]} ${v.toFixed(2)}`);
    return `  ${tokens[l]}: ${shown.join(", ")}`;
  }).join("\n");
}

/** Runs what a newcomer tries first: train on the shipped sample, evaluate, explain two. */
export async function demoCommand(): Promise<number> {
  const root = new URL("../fixtures/debtags/", import.meta.url).pathname;
  const out = await Deno.makeTempDir({ prefix: "maskconv-demo-" });
  // Few epochs and short documents, so the demo finishes in minutes on a CPU adapter; every
  // other flag is the default a user gets.
  const flags = { "labels-column": "tags", epochs: "4", "max-len": "64" };
  log(`demo: training on the Debtags sample in ${root} (train.csv, valid.csv) into ${out}`);
  await trainCommand({ train: `${root}train.csv`, valid: `${root}valid.csv`, out, ...flags });
  log(`\n$ maskconv eval --model ${out} --data ${root}valid.csv`);
  await evalCommand({ model: out, data: `${root}valid.csv` });
  log(`\n$ maskconv explain --model ${out} --data ${root}valid.csv --limit 2`);
  await explainCommand({ model: out, data: `${root}valid.csv`, limit: "2" });
  return 0;
}
