/**
 * The `maskconv` command line: `info`, `gradcheck`, `fixtures`, `bench` and `demo`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runGradcheck, writeFixtures } from "./kernels/checks.ts";
import { getGpu, NoAdapterError } from "./kernels/gpu.ts";
import { trainFlagHelp, trainFlagOptions } from "./model/task/config.ts";
import {
  demoCommand,
  evalCommand,
  explainCommand,
  predictCommand,
  trainCommand,
} from "./commands/commands.ts";
import { DataError } from "./base/errors.ts";
import { explainHtmlCommand, reportCommand } from "./model/reporting/report.ts";
import type { CheckResult } from "./kernels/verify.ts";

const USAGE = `maskconv — multi-target text classifiers with per-target masked embeddings and one
shared convolution, on WebGPU.

Usage: maskconv <command> [options]

Commands:
  demo                      train on the shipped Debtags sample, evaluate, explain two documents
  train --train A.csv --valid B.csv --out DIR [training flags]
                            train a model; DIR gets model.safetensors, config.json, vocab.txt,
                            metrics.csv (the best epoch by the validation metric is kept) and a
                            checkpoint; Ctrl-C saves one and stops
  train --resume DIR        continue an interrupted run to the result it would have had
  eval --model DIR --data C.csv [--json]
                            accuracy/F1 per target (aspects) or micro/macro-F1, P@k, micro-AUC
                            (labels), and the share of words selected per target; in labels
                            mode also the deletion test and ERASER's comprehensiveness and sufficiency
  predict --model DIR --data C.csv --out P.csv
                            one row per document: predictions and probabilities (id columns kept)
  explain --model DIR (--text "..." | --data C.csv [--limit N]) [--words] [--html page.html]
                            every word's target (colour on a terminal, word[target] otherwise)
                            and the words each target reads most; --words lists each word's
                            few targets with their probabilities; --html writes the report's
                            page instead
  report --model DIR --data C.csv --out report.html [--limit N]
                            one self-contained HTML page: the first N documents (50) with every
                            word coloured by its target (hover for probabilities), predicted and
                            true values, the words each predicted label reads most, training
                            curves, per-target summaries
  info                      print the WebGPU adapter and its limits
  gradcheck [--json]        verify every kernel: GPU vs float64 reference, reference
                            gradients vs finite-difference fixtures; non-zero exit on failure
  fixtures                  regenerate the finite-difference fixtures in fixtures/fd/
  bench --shape NAME        time forward + backward of the layer: --repeat N (default 5),
                            --naive (the materialised approach), --verify (float64 checksums);
                            shapes: aspects, labels100, labels1k, icd
  bench --model-step        time one training step of the default model on the Debtags sample
                            (--naive: with the materialised convolution instead; --targets N
                            [--max-len L] [--batch-size B]: on synthetic documents of L random
                            words with N labels; --stages: each stage's forward and backward)

Options:
  --debug                   show stack traces of errors
  -h, --help                this help

Training flags:
${trainFlagHelp()}
`;

/** Bad command-line input: printed as one line, exit code 2. */
class UsageError extends Error {}

async function info() {
  const gpu = await getGpu();
  console.log(`adapter: ${gpu.description}${gpu.isFallbackAdapter ? " (software fallback)" : ""}`);
  console.log(`deno: ${Deno.version.deno}`);
  for (const [name, value] of Object.entries(gpu.limits)) console.log(`  ${name}: ${value}`);
}

function formatResults(results: CheckResult[]): string {
  const rows = results.map((r) => [
    r.pass ? "pass" : "FAIL",
    r.kernel,
    r.check,
    r.worstError.toExponential(2),
    `${r.tolerance.atol.toExponential(1)} + ${r.tolerance.rtol.toExponential(0)}·|ref|`,
    r.what,
  ]);
  const header = ["", "kernel", "check", "worst err", "tolerance", "what"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows]
    .map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join("  "))
    .join("\n");
}

async function gradcheck(json: boolean): Promise<number> {
  const results = await runGradcheck(await getGpu());
  const failed = results.filter((r) => !r.pass).length;
  if (json) {
    console.log(JSON.stringify({ passed: results.length - failed, failed, results }));
  } else {
    console.log(formatResults(results));
    console.log(`\n${results.length - failed} checks passed, ${failed} failed`);
  }
  return failed ? 1 : 0;
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      json: { type: "boolean" },
      debug: { type: "boolean" },
      shape: { type: "string" },
      repeat: { type: "string", default: "5" },
      naive: { type: "boolean" },
      verify: { type: "boolean" },
      "model-step": { type: "boolean" },
      targets: { type: "string" },
      stages: { type: "boolean" },
      train: { type: "string" },
      resume: { type: "string" },
      valid: { type: "string" },
      out: { type: "string" },
      model: { type: "string" },
      data: { type: "string" },
      text: { type: "string" },
      limit: { type: "string" },
      html: { type: "string" },
      words: { type: "boolean" },
      ...trainFlagOptions(),
    },
  });
  const [command, ...extra] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  switch (command) {
    case "info":
      await info();
      return 0;
    case "gradcheck":
      return await gradcheck(values.json ?? false);
    case "fixtures":
      for (const path of await writeFixtures()) console.log(`wrote ${path}`);
      return 0;
    case "demo":
      return await demoCommand();
    case "train":
      return await trainCommand(values);
    case "eval":
      return await evalCommand(values);
    case "predict":
      return await predictCommand(values);
    case "explain":
      return typeof values.html === "string"
        ? await explainHtmlCommand(values)
        : await explainCommand(values);
    case "report":
      return await reportCommand(values);
    case "bench": {
      const repeat = Number(values.repeat);
      if (!Number.isInteger(repeat) || repeat < 1) {
        throw new UsageError(`--repeat must be a positive integer, got "${values.repeat}"`);
      }
      if (values["model-step"]) {
        const { benchModelStep } = await import("./commands/step_bench.ts");
        const count = (flag: string) => {
          const text = values[flag as keyof typeof values];
          if (text === undefined) return undefined;
          const n = Number(text);
          if (!Number.isInteger(n) || n < 1) {
            throw new UsageError(`--${flag} must be a positive integer, got "${text}"`);
          }
          return n;
        };
        const result = await benchModelStep({
          repeat,
          naive: values.naive ?? false,
          targets: count("targets"),
          maxLen: count("max-len"),
          batchSize: count("batch-size"),
          stages: values.stages ?? false,
        });
        console.log(JSON.stringify(result));
        return 0;
      }
      if (!values.shape) {
        throw new UsageError(
          "bench needs --shape (aspects, labels100, labels1k, icd) or --model-step",
        );
      }
      const { runBench } = await import("./kernels/bench.ts");
      const result = await runBench({
        shape: values.shape,
        repeat,
        naive: values.naive ?? false,
        verify: values.verify ?? false,
      });
      console.log(JSON.stringify(result));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"; see maskconv --help`);
  }
}

if (import.meta.main) {
  const debug = Deno.args.includes("--debug");
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (debug) console.error(error);
    // parseArgs spreads its messages over several lines; the tool promises one.
    const message = (error instanceof Error ? error.message : String(error))
      .replace(/\s*\n\s*/g, " ");
    console.error(`maskconv: ${message}`);
    const badInput = error instanceof UsageError || error instanceof DataError ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    Deno.exit(badInput ? 2 : error instanceof NoAdapterError ? 3 : 1);
  }
}
