/**
 * Every hyper-parameter of a training run: defaults, the command-line flags that set them, and
 * their checks. The whole config is stored in the model's `config.json`.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";
import { MAX_KEPT_TARGETS } from "../../kernels/token_softmax/reference.ts";

/** The hyper-parameters of the model and of its training. */
export interface TrainConfig {
  textColumn: string;
  /** Aspects mode: one class column per target. */
  labelColumns?: string[];
  /** Labels mode: the column listing each document's labels. */
  labelsColumn?: string;
  separator: string;
  minLabelCount: number;
  epochs: number;
  batchSize: number;
  lr: number;
  /** How the learning rate moves over the planned steps; unset (older models): constant. */
  lrSchedule?: "constant" | "linear";
  seed: number;
  maxLen: number;
  minCount: number;
  embeddings?: string;
  embeddingDim: number;
  trainEmbeddings: boolean;
  dropout: number;
  /** Dropout of the pooled features, before the per-target classifiers. */
  featureDropout: number;
  masker: "conv" | "lstm";
  maskerHidden: number;
  mask: "soft" | "gumbel" | "hard" | "sparse";
  /** Sparse masks: the targets each word keeps besides "none". */
  maskTargets: number;
  tau: number;
  /** s in the encoder's input m = s·p; unset means T + 1 (see `encoderMaskScale`). */
  maskScale?: number;
  widths: number[];
  filters: number;
  classifier: "mlp" | "linear";
  classifierHidden: number;
  lambdaSel: number;
  lambdaCont: number;
  lambdaP: number;
  patience: number;
  clip: number;
  l2: number;
  /** Steps between checkpoints (one is also written at every epoch's end). */
  checkpointEvery: number;
}

/**
 * Defaults, chosen by measurement on several real data sets (README, "Why the defaults are what
 * they are"); the MTM paper's settings where nothing measured better.
 */
export const DEFAULTS: TrainConfig = {
  textColumn: "text",
  separator: "|",
  minLabelCount: 1,
  epochs: 6,
  batchSize: 32,
  lr: 3e-3,
  lrSchedule: "constant",
  seed: 1,
  maxLen: 1024,
  minCount: 2,
  embeddingDim: 100,
  embeddings: "auto",
  trainEmbeddings: true,
  dropout: 0.1,
  featureDropout: 0,
  masker: "conv",
  maskerHidden: 100,
  mask: "soft",
  maskTargets: 8,
  tau: 0.8,
  widths: [3, 5, 7],
  filters: 50,
  classifier: "mlp",
  classifierHidden: 100,
  lambdaSel: 0.03,
  lambdaCont: 0.03,
  lambdaP: 0.15,
  patience: 3,
  clip: 1.0,
  l2: 1e-6,
  checkpointEvery: 200,
};

/** How each flag maps to the config, and what it must satisfy. */
const FLAGS: {
  flag: string;
  key: keyof TrainConfig;
  kind: "string" | "int" | "number" | "list" | "ints" | "bool";
  help: string;
  check?: (v: never) => string | undefined;
  choices?: string[];
  /** A boolean flag that sets its key to false. */
  negate?: boolean;
}[] = [
  { flag: "text-column", key: "textColumn", kind: "string", help: "column holding the text" },
  {
    flag: "label-columns",
    key: "labelColumns",
    kind: "list",
    help: "aspects mode: class columns a,b,c",
  },
  {
    flag: "labels-column",
    key: "labelsColumn",
    kind: "string",
    help: "labels mode: column listing labels",
  },
  { flag: "separator", key: "separator", kind: "string", help: "separator of the labels column" },
  {
    flag: "min-label-count",
    key: "minLabelCount",
    kind: "int",
    help: "labels seen fewer times are dropped",
    check: positive,
  },
  {
    flag: "epochs",
    key: "epochs",
    kind: "int",
    help: "passes over the training data",
    check: positive,
  },
  {
    flag: "batch-size",
    key: "batchSize",
    kind: "int",
    help: "documents per step",
    check: positive,
  },
  { flag: "lr", key: "lr", kind: "number", help: "Adam learning rate", check: positive },
  {
    flag: "lr-schedule",
    key: "lrSchedule",
    kind: "string",
    help: "linear: 6% warm-up, then down to near 0 at the last planned step",
    choices: ["constant", "linear"],
  },
  {
    flag: "seed",
    key: "seed",
    kind: "int",
    help: "seed of initialisation, order and noise",
    check: nonNegative,
  },
  {
    flag: "max-len",
    key: "maxLen",
    kind: "int",
    help: "words kept per document (truncation is reported)",
    check: positive,
  },
  {
    flag: "min-count",
    key: "minCount",
    kind: "int",
    help: "training count for a word to enter the vocabulary",
    check: positive,
  },
  {
    flag: "embeddings",
    key: "embeddings",
    kind: "string",
    help: "pretrained vectors: auto (glove100 if it can be fetched), glove100, none, or a file",
  },
  {
    flag: "embedding-dim",
    key: "embeddingDim",
    kind: "int",
    help: "size of random embeddings",
    check: positive,
  },
  {
    flag: "train-embeddings",
    key: "trainEmbeddings",
    kind: "bool",
    help: "fine-tune the embeddings",
  },
  {
    flag: "freeze-embeddings",
    key: "trainEmbeddings",
    kind: "bool",
    negate: true,
    help: "keep the embeddings fixed",
  },
  {
    flag: "dropout",
    key: "dropout",
    kind: "number",
    help: "embedding dropout",
    check: probability,
  },
  {
    flag: "feature-dropout",
    key: "featureDropout",
    kind: "number",
    help: "dropout of the pooled features, before the target classifiers",
    check: probability,
  },
  {
    flag: "masker",
    key: "masker",
    kind: "string",
    help: "masker network",
    choices: ["conv", "lstm"],
  },
  {
    flag: "masker-hidden",
    key: "maskerHidden",
    kind: "int",
    help: "masker hidden units",
    check: positive,
  },
  {
    flag: "mask",
    key: "mask",
    kind: "string",
    help: "token distributions: soft, gumbel or hard while training, or sparse",
    choices: ["soft", "gumbel", "hard", "sparse"],
  },
  {
    flag: "mask-targets",
    key: "maskTargets",
    kind: "int",
    help: `sparse masks: targets each word keeps besides "none" (1 to ${MAX_KEPT_TARGETS})`,
    check: keptTargets,
  },
  { flag: "tau", key: "tau", kind: "number", help: "softmax temperature", check: positive },
  {
    flag: "mask-scale",
    key: "maskScale",
    kind: "number",
    help: "the encoder sees masks × this (default: targets + 1)",
    check: positive,
  },
  {
    flag: "widths",
    key: "widths",
    kind: "ints",
    help: "convolution widths (odd)",
    check: oddWidths,
  },
  { flag: "filters", key: "filters", kind: "int", help: "filters per width", check: positive },
  {
    flag: "classifier",
    key: "classifier",
    kind: "string",
    help: "per-target classifier",
    choices: ["mlp", "linear"],
  },
  {
    flag: "classifier-hidden",
    key: "classifierHidden",
    kind: "int",
    help: "hidden units of the mlp",
    check: positive,
  },
  {
    flag: "lambda-sel",
    key: "lambdaSel",
    kind: "number",
    help: "weight of the selection regulariser",
    check: nonNegative,
  },
  {
    flag: "lambda-cont",
    key: "lambdaCont",
    kind: "number",
    help: "weight of the continuity regulariser",
    check: nonNegative,
  },
  {
    flag: "lambda-p",
    key: "lambdaP",
    kind: "number",
    help: "target share of selected words",
    check: openProbability,
  },
  {
    flag: "patience",
    key: "patience",
    kind: "int",
    help: "epochs without improvement before stopping",
    check: positive,
  },
  {
    flag: "checkpoint-every",
    key: "checkpointEvery",
    kind: "int",
    help: "steps between checkpoints (one is also written at each epoch's end)",
    check: positive,
  },
];

function positive(v: number) {
  return v > 0 ? undefined : "must be positive";
}
function keptTargets(v: number) {
  return v >= 1 && v <= MAX_KEPT_TARGETS ? undefined : `must be 1 to ${MAX_KEPT_TARGETS}`;
}
function nonNegative(v: number) {
  return v >= 0 ? undefined : "must be 0 or more";
}
function probability(v: number) {
  return v >= 0 && v < 1 ? undefined : "must be in [0, 1)";
}
function openProbability(v: number) {
  return v > 0 && v < 1 ? undefined : "must be in (0, 1)";
}
function oddWidths(v: number[]) {
  return v.length && v.every((w) => w > 0 && w % 2 === 1)
    ? undefined
    : "must be odd positive integers";
}

/**
 * The `parseArgs` option table of the training flags.
 *
 * @example
 * ```ts
 * import { trainFlagOptions } from "./config.ts";
 * console.log(Object.keys(trainFlagOptions()).length);
 * ```
 */
export function trainFlagOptions(): Record<string, { type: "string" | "boolean" }> {
  return Object.fromEntries(
    FLAGS.map((f) => [f.flag, { type: f.kind === "bool" ? "boolean" : "string" }]),
  );
}

/**
 * The `--help` lines of the training flags with their defaults.
 *
 * @example
 * ```ts
 * import { trainFlagHelp } from "./config.ts";
 * console.log(trainFlagHelp().split("\n")[0]);
 * ```
 */
export function trainFlagHelp(): string {
  return FLAGS.map(({ flag, key, help, choices, negate }) => {
    const value = negate ? undefined : DEFAULTS[key];
    const shown = value === undefined
      ? ""
      : ` (default ${Array.isArray(value) ? value.join(",") : value})`;
    return `  --${flag.padEnd(20)} ${help}${choices ? ` [${choices.join("|")}]` : ""}${shown}`;
  }).join("\n");
}

/**
 * The config from parsed flags over the defaults; a bad value is a one-line {@link DataError}
 * naming the flag.
 *
 * @example
 * ```ts
 * import { configFromFlags } from "./config.ts";
 * console.log(configFromFlags({ "labels-column": "tags", widths: "3,5" }).widths); // [3, 5]
 * ```
 */
export function configFromFlags(values: Record<string, string | boolean | undefined>): TrainConfig {
  const config: Record<string, unknown> = { ...DEFAULTS };
  if (values["train-embeddings"] && values["freeze-embeddings"]) {
    throw new DataError("give --train-embeddings or --freeze-embeddings, not both");
  }
  for (const { flag, key, kind, check, choices, negate } of FLAGS) {
    const raw = values[flag];
    if (raw === undefined) continue;
    const fail = (why: string): never => {
      throw new DataError(`--${flag} ${raw}: ${why}`);
    };
    let value: unknown = negate ? !raw : raw;
    if (kind === "int" || kind === "number") {
      value = Number(raw);
      if (String(raw).trim() === "" || !Number.isFinite(value)) fail("not a number");
      if (kind === "int" && !Number.isInteger(value)) fail("not an integer");
    } else if (kind === "list") {
      value = String(raw).split(",").map((s) => s.trim()).filter((s) => s);
      if (!(value as string[]).length) fail("no names in the list");
    } else if (kind === "ints") {
      value = String(raw).split(",").map(Number);
      if ((value as number[]).some((n) => !Number.isInteger(n))) fail("not a list of integers");
    }
    if (choices && !choices.includes(String(value))) fail(`expected one of ${choices.join(", ")}`);
    const problem = check?.(value as never);
    if (problem) fail(problem);
    config[key] = value;
  }
  const result = config as unknown as TrainConfig;
  if (!result.labelColumns === !result.labelsColumn) {
    throw new DataError(
      "give either --label-columns a,b,c (aspects) or --labels-column NAME (labels)",
    );
  }
  return result;
}

const KIND_NAMES = {
  string: "a string",
  int: "an integer",
  number: "a number",
  list: "a list of strings",
  ints: "a list of integers",
  bool: "true or false",
};

function hasKind(value: unknown, kind: keyof typeof KIND_NAMES): boolean {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "int":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "list":
      return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string");
    case "ints":
      return Array.isArray(value) && value.every((v) => Number.isInteger(v));
    case "bool":
      return typeof value === "boolean";
  }
}

/**
 * The training config stored in a model's `config.json`, checked like the flags that set it
 * (keys it lacks, from runs before they existed, take their defaults); a bad value is a one-line
 * {@link DataError} naming `path` and the key.
 *
 * @example
 * ```ts
 * import { configFromJson } from "./config.ts";
 * const config = configFromJson({ labelsColumn: "tags", filters: 8 }, "run/config.json");
 * console.log(config.filters, config.widths); // 8 [3, 5, 7]
 * ```
 */
export function configFromJson(value: unknown, path: string): TrainConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DataError(`${path}: "config" is not an object`);
  }
  const config: Record<string, unknown> = { ...DEFAULTS, ...value };
  const fail = (key: string, why: string): never => {
    throw new DataError(`${path}: config.${key} ${JSON.stringify(config[key])}: ${why}`);
  };
  for (const { key, kind, check, choices } of FLAGS) {
    const saved = config[key];
    if (saved === undefined) continue;
    if (!hasKind(saved, kind)) fail(key, `expected ${KIND_NAMES[kind]}`);
    if (choices && !choices.includes(String(saved))) {
      fail(key, `expected one of ${choices.join(", ")}`);
    }
    const problem = check?.(saved as never);
    if (problem) fail(key, problem);
  }
  for (const key of ["clip", "l2"]) {
    if (!hasKind(config[key], "number") || nonNegative(config[key] as number)) {
      fail(key, "expected a number, 0 or more");
    }
  }
  const result = config as unknown as TrainConfig;
  if (!result.labelColumns === !result.labelsColumn) {
    throw new DataError(`${path}: the config needs either labelColumns or labelsColumn`);
  }
  return result;
}

/** Share of the planned steps over which the linear schedule warms up (as BERT's recipe). */
const WARMUP_SHARE = 0.06;

/**
 * The factor of the learning rate at `step` (from 1) of `plannedSteps`: 1 for a constant
 * schedule; for the linear one, a ramp from 1/w to 1 over the first w = 6% of the planned steps,
 * then a straight line down to 1/(plannedSteps − w + 1) at the last planned step, and there
 * after it (a later epoch may pack a few more batches than the first).
 *
 * @example
 * ```ts
 * import { learningRateFactor } from "./config.ts";
 * console.log([1, 6, 50, 100].map((t) => learningRateFactor("linear", t, 100))); // [≈0.17, 1, ≈0.54, ≈0.01]
 * ```
 */
export function learningRateFactor(
  schedule: TrainConfig["lrSchedule"],
  step: number,
  plannedSteps: number,
): number {
  if (schedule !== "linear") return 1;
  const warmup = Math.max(1, Math.round(WARMUP_SHARE * plannedSteps));
  if (step <= warmup) return step / warmup;
  return Math.max(1, plannedSteps - step + 1) / (plannedSteps - warmup + 1);
}
