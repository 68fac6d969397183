/**
 * `deno task quality`: for each data set of the suite, builds it if needed, trains maskconv with
 * default flags, evaluates it and the SVM baseline on the held-out test file, and prints one
 * markdown table; results go to `runs/quality/results.json` and the chart to `docs/quality.svg`.
 *
 *     deno run -A quality/run.ts [--only NAME[,NAME]] [--skip-train | --fresh]
 *
 * `--skip-train` builds and trains nothing: it evaluates the models already in `runs/quality/`
 * and skips sets without one (training minutes are kept from the run that timed them).
 * `--fresh` deletes a set's old run first; without either flag, an existing run stops the suite
 * before anything starts, since `train` refuses a folder holding a model. Results of sets not run
 * this time are kept in the JSON file, the table and the chart.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DataError } from "../base/errors.ts";
import { readTable } from "../data/csv.ts";
import { qualityChart } from "./chart.ts";
import { exists, runDeno, StepFailed } from "./commands.ts";
import { qualityTable, type SetResult } from "./results.ts";
import { writeDebtagsSplit } from "./split.ts";
import { columnFlags, DATA, type QualitySet, SUITE } from "./suite.ts";

const RUNS = "runs/quality";
const RESULTS = `${RUNS}/results.json`;
const CHART = "docs/quality.svg";

/** Bad flags: one line, exit code 2. */
class UsageError extends Error {}

async function build(set: QualitySet): Promise<void> {
  for (const step of set.build) {
    const done = await Promise.all(step.writes.map(exists));
    if (done.every(Boolean)) continue;
    if ("command" in step) {
      await runDeno(set.name, ["run", "-A", ...step.command]);
    } else {
      const { from, to } = step.resplit;
      const counts = await writeDebtagsSplit(from, to);
      console.error(
        `[${set.name}] ${from}/train.csv split by source into ${to}: ${counts.train} train, ` +
          `${counts.valid} valid; test.csv is ${from}/valid.csv`,
      );
    }
  }
}

async function runSet(
  set: QualitySet,
  { skipTrain, fresh }: { skipTrain: boolean; fresh: boolean },
  previous: SetResult | undefined,
): Promise<SetResult> {
  const dir = `${DATA}/${set.name}`;
  const out = `${RUNS}/${set.name}`;
  const [train, valid, test] = ["train", "valid", "test"].map((split) => `${dir}/${split}.csv`);
  if (!skipTrain) await build(set);
  const columns = await columnFlags(set, dir);
  let trainMinutes = previous?.trainMinutes ?? null;
  if (!skipTrain) {
    if (fresh && await exists(out)) await Deno.remove(out, { recursive: true });
    const started = performance.now();
    // Default flags only: the suite measures what a user gets without tuning.
    const flags = ["--train", train, "--valid", valid, "--out", out, ...columns];
    await runDeno(set.name, ["run", "-A", "cli.ts", "train", ...flags]);
    trainMinutes = (performance.now() - started) / 60_000;
  }
  const maskconv = await runDeno(
    set.name,
    ["run", "-A", "cli.ts", "eval", "--model", out, "--data", test, "--json"],
    true,
  );
  const files = ["--train", train, "--valid", valid, "--test", test];
  const svm = await runDeno(
    set.name,
    ["run", "-A", "quality/svm_baseline.ts", ...files, ...columns, "--json"],
    true,
  );
  const rows = (path: string) => readTable(path).rows.length;
  const documents = { train: rows(train), valid: rows(valid), test: maskconv.documents };
  return { name: set.name, documents, trainMinutes, maskconv, svm };
}

async function readResults(): Promise<Map<string, SetResult>> {
  if (!await exists(RESULTS)) return new Map();
  const { sets } = JSON.parse(await Deno.readTextFile(RESULTS)) as { sets: SetResult[] };
  return new Map(sets.map((r) => [r.name, r]));
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      only: { type: "string" },
      "skip-train": { type: "boolean", default: false },
      fresh: { type: "boolean", default: false },
    },
  });
  const names = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names?.filter((name) => !SUITE.some((set) => set.name === name)) ?? [];
  if (unknown.length) {
    throw new UsageError(
      `--only: no data set "${unknown[0]}"; the suite has ${SUITE.map((s) => s.name).join(", ")}`,
    );
  }
  const skipTrain = values["skip-train"];
  if (skipTrain && values.fresh) {
    throw new UsageError("--skip-train and --fresh exclude each other");
  }
  const sets = SUITE.filter((set) => !names || names.includes(set.name));
  // The suite's paths are relative to the project, wherever it is started from.
  Deno.chdir(new URL("..", import.meta.url));
  if (!skipTrain && !values.fresh) {
    for (const { name } of sets) {
      if (!await exists(`${RUNS}/${name}`)) continue;
      throw new StepFailed(
        `${RUNS}/${name} exists: --fresh deletes it and trains again, --skip-train evaluates it`,
      );
    }
  }
  const results = await readResults();
  for (const set of sets) {
    if (skipTrain && !await exists(`${RUNS}/${set.name}`)) {
      console.error(`[${set.name}] no run in ${RUNS}/${set.name} to evaluate; skipped`);
      continue;
    }
    results.set(
      set.name,
      await runSet(set, { skipTrain, fresh: values.fresh }, results.get(set.name)),
    );
    // Written after every set, so a later failure keeps what was measured.
    const ordered = SUITE.flatMap(({ name }) => results.get(name) ?? []);
    await Deno.mkdir(RUNS, { recursive: true });
    await Deno.writeTextFile(RESULTS, JSON.stringify({ sets: ordered }, null, 2) + "\n");
    await Deno.writeTextFile(CHART, qualityChart(ordered));
  }
  console.log(qualityTable(SUITE.flatMap(({ name }) => results.get(name) ?? [])));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    const usage = error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    const failed = error instanceof StepFailed || error instanceof DataError ||
      error instanceof Deno.errors.NotFound;
    if (!usage && !failed) throw error;
    console.error(`quality: ${(error as Error).message.replace(/\s*\n\s*/g, " ")}`);
    Deno.exit(usage ? 2 : 1);
  }
}
