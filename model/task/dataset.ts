/**
 * From CSV tables to encoded documents and their targets, and from documents to length-bucketed
 * mini-batches.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";
import { aspectLabels, multiLabels, type Table, textColumn } from "../../data/csv.ts";
import { tokenize } from "../../data/tokenize.ts";
import { encode, type Encoded, type Vocab } from "../../data/vocab.ts";
import { mulberry32 } from "../../base/rng.ts";

/** Which columns hold what; `aspects` has one class column per target, `labels` one list. */
export type TaskSpec =
  | { mode: "aspects"; textColumn: string; labelColumns: string[] }
  | { mode: "labels"; textColumn: string; labelsColumn: string; separator: string };

/** The targets learnt from training data: names, and per target its class values (aspects). */
export interface TargetSpace {
  mode: "aspects" | "labels";
  /** Target names: the label columns (aspects) or the labels (labels mode). */
  targets: string[];
  /** Aspects: the class values of each target, in index order; labels: one entry ["1"] each. */
  classes: string[][];
}

/** Encoded documents with their targets. */
export interface Documents {
  ids: Int32Array[];
  /** Per document and target: the class index (aspects, −1 = missing or unseen) or 0/1. */
  targets: Int32Array[];
  /** The token strings of each document (kept for explanations), before truncation. */
  tokens: string[][];
  encoded: Encoded;
  /**
   * Label values that are not targets of the model (unseen in training, or labels dropped by
   * `--min-label-count`), counted: aspects count them as missing, labels mode leaves them out.
   */
  unseenValues: number;
}

function compareValues(a: string, b: string): number {
  const [x, y] = [Number(a), Number(b)];
  if (a.trim() !== "" && b.trim() !== "" && Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The target space of a training table: aspects keep every class value seen per column (numeric
 * values in numeric order); labels keep every label seen at least `minLabelCount` times.
 *
 * @example
 * ```ts
 * import { parseTable } from "../../data/csv.ts";
 * import { targetSpace } from "./dataset.ts";
 * const table = parseTable(new TextEncoder().encode("text,tags\na,x|y\nb,y\n"), "t.csv");
 * const spec = { mode: "labels", textColumn: "text", labelsColumn: "tags", separator: "|" } as const;
 * console.log(targetSpace(table, spec, 1).targets); // ["x", "y"]
 * ```
 */
export function targetSpace(table: Table, spec: TaskSpec, minLabelCount = 1): TargetSpace {
  if (spec.mode === "aspects") {
    const values = aspectLabels(table, spec.labelColumns);
    const classes = spec.labelColumns.map((column, t) => {
      const seen = [...new Set(values.map((row) => row[t]).filter((v) => v !== undefined))];
      if (seen.length < 2) {
        throw new DataError(
          `${table.path}: column "${column}" has ${seen.length} distinct value(s); a target needs at least 2`,
        );
      }
      return (seen as string[]).sort(compareValues);
    });
    return { mode: "aspects", targets: [...spec.labelColumns], classes };
  }
  const counts = new Map<string, number>();
  for (const labels of multiLabels(table, spec.labelsColumn, spec.separator)) {
    for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  const targets = [...counts].filter(([, n]) => n >= minLabelCount).map(([l]) => l).sort();
  if (targets.length === 0) {
    throw new DataError(`${table.path}: column "${spec.labelsColumn}" holds no labels`);
  }
  return { mode: "labels", targets, classes: targets.map(() => ["1"]) };
}

/**
 * The words of every document's text (an empty text is an error naming its line).
 *
 * @example
 * ```ts
 * import { parseTable } from "../../data/csv.ts";
 * import { documentTokens } from "./dataset.ts";
 * const table = parseTable(new TextEncoder().encode('text\n"Hi, there"\n'), "t.csv");
 * console.log(documentTokens(table, { mode: "aspects", textColumn: "text", labelColumns: [] }));
 * ```
 */
export function documentTokens(table: Table, spec: TaskSpec): string[][] {
  return textColumn(table, spec.textColumn).map((text) => tokenize(text).map((t) => t.text));
}

/**
 * Tokenizes, encodes and labels every row of `table` against a vocabulary and target space.
 *
 * @example
 * ```ts
 * import { parseTable } from "../../data/csv.ts";
 * import { Vocab } from "../../data/vocab.ts";
 * import { encodeDocuments, targetSpace } from "./dataset.ts";
 * const table = parseTable(new TextEncoder().encode("text,tags\nHi there,x\n"), "t.csv");
 * const spec = { mode: "labels", textColumn: "text", labelsColumn: "tags", separator: "|" } as const;
 * const docs = encodeDocuments(table, spec, new Vocab(["hi"]), targetSpace(table, spec), 256);
 * console.log(docs.ids[0], docs.targets[0]); // [2, 1] [1]
 * ```
 */
export function encodeDocuments(
  table: Table,
  spec: TaskSpec,
  vocab: Vocab,
  space: TargetSpace,
  maxLen: number,
  tokens: string[][] = documentTokens(table, spec),
): Documents {
  const encoded = encode(vocab, tokens, maxLen);
  let unseenValues = 0;
  let targets: Int32Array[];
  if (spec.mode === "aspects") {
    targets = aspectLabels(table, spec.labelColumns).map((row) =>
      Int32Array.from(row, (value, t) => {
        if (value === undefined) return -1;
        const index = space.classes[t].indexOf(value);
        if (index < 0) unseenValues++;
        return index;
      })
    );
  } else {
    const index = new Map(space.targets.map((label, t) => [label, t]));
    targets = multiLabels(table, spec.labelsColumn, spec.separator).map((labels) => {
      const row = new Int32Array(space.targets.length);
      for (const label of labels) {
        const t = index.get(label);
        if (t === undefined) unseenValues++;
        else row[t] = 1;
      }
      return row;
    });
  }
  return { ids: encoded.ids, targets, tokens, encoded, unseenValues };
}

/**
 * Padded length of a batch: its longest document rounded up to a multiple of 16 below 128 words
 * and of an eighth of its power of two above (at most 25% padding), so even at 1,024 words few
 * distinct batch shapes occur, each with its own launchers and buffers.
 *
 * @example
 * ```ts
 * import { paddedLength } from "./dataset.ts";
 * console.log(paddedLength(17, 256), paddedLength(300, 1024)); // 32 320
 * ```
 */
export function paddedLength(longest: number, maxLen: number): number {
  const step = Math.max(16, 2 ** Math.floor(Math.log2(Math.max(longest, 1))) / 4);
  return Math.min(maxLen, Math.ceil(longest / step) * step);
}

/**
 * Padded words a batch of `batchSize` documents may hold: as many as `batchSize` documents of
 * 256 words, the length the memory plan was first sized for. Longer documents come in smaller
 * batches, so reading a whole 1,000-word review costs time, not device memory.
 *
 * @example
 * ```ts
 * import { batchWordBudget } from "./dataset.ts";
 * console.log(batchWordBudget(64)); // 16384
 * ```
 */
export function batchWordBudget(batchSize: number): number {
  return batchSize * 256;
}

/**
 * Cuts indices sorted by length into consecutive batches of at most `batchSize` documents and
 * at most {@link batchWordBudget} padded words (a single document always fits).
 *
 * @example
 * ```ts
 * import { packSorted } from "./dataset.ts";
 * console.log(packSorted([0, 1, 2], [100, 300, 600], 4, 1024)); // [[0, 1], [2]]
 * ```
 */
export function packSorted(
  sorted: number[],
  lengths: number[],
  batchSize: number,
  maxLen: number,
): number[][] {
  const budget = batchWordBudget(batchSize);
  const batches: number[][] = [];
  let batch: number[] = [];
  for (const i of sorted) {
    const L = paddedLength(Math.max(1, lengths[i]), maxLen);
    if (batch.length === batchSize || (batch.length + 1) * L > budget && batch.length) {
      batches.push(batch);
      batch = [];
    }
    batch.push(i);
  }
  if (batch.length) batches.push(batch);
  return batches;
}

/**
 * Mini-batches of document indices bucketed by length: documents are shuffled with the seed,
 * sorted by length within windows of 50 batches, packed into batches (see {@link packSorted}),
 * and the batches shuffled, so each batch pads little while the order still changes every epoch.
 *
 * @example
 * ```ts
 * import { lengthBuckets } from "./dataset.ts";
 * console.log(lengthBuckets([3, 9, 4, 8, 1], 2, 7, 256)); // three batches of similar lengths
 * ```
 */
export function lengthBuckets(
  lengths: number[],
  batchSize: number,
  seed: number,
  maxLen: number,
): number[][] {
  const next = mulberry32(seed);
  const order = lengths.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const window = batchSize * 50;
  const batches: number[][] = [];
  for (let w = 0; w < order.length; w += window) {
    const sorted = order.slice(w, w + window).sort((a, b) => lengths[a] - lengths[b]);
    batches.push(...packSorted(sorted, lengths, batchSize, maxLen));
  }
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [batches[i], batches[j]] = [batches[j], batches[i]];
  }
  return batches;
}
