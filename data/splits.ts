/**
 * What the data-set builders share: a seeded hash split into train/valid/test, word counts, and
 * writing the split files with a one-line summary each.
 *
 * @module
 */
import { stringify } from "csv-stringify/sync";
import { tokenize } from "./tokenize.ts";

/** The three files a quality-suite data set is made of. */
export type Split = "train" | "valid" | "test";

/** The order in which splits are written and reported. */
export const SPLITS: readonly Split[] = ["train", "valid", "test"];

/** Shares of the documents per split; they add up to 1. */
export type Shares = Record<Split, number>;

/** The quality suite's default: 70/10/20. */
export const DEFAULT_SHARES: Shares = { train: 0.7, valid: 0.1, test: 0.2 };

/**
 * FNV-1a followed by the murmur3 finaliser, so nearby names land far apart in [0, 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitHash } from "./splits.ts";
 * const u = unitHash("maskconv\0split\0bash");
 * assert.ok(u >= 0 && u < 1);
 * assert.equal(u, unitHash("maskconv\0split\0bash"));
 * ```
 */
export function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h = Math.imul(h ^ byte, 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

/**
 * The split of the document (or group of documents) named `key`. It depends only on the seed,
 * the stream and the key, so adding or removing other documents never moves one across splits.
 * Each builder hashes its own `stream`, so that two splits of the same keys (the Debtags
 * train/valid split and the facet set's train/valid split of its train part) are independent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitOf } from "./splits.ts";
 * const split = splitOf("imdb-0001", "maskconv", "sentiment");
 * assert.ok(["train", "valid", "test"].includes(split));
 * assert.equal(splitOf("x", "s", "t", { train: 1, valid: 0, test: 0 }), "train");
 * ```
 */
export function splitOf(
  key: string,
  seed: string,
  stream: string,
  shares: Shares = DEFAULT_SHARES,
): Split {
  const u = unitHash(`${seed}\0${stream}\0${key}`);
  if (u < shares.train) return "train";
  // With no test share, rounding must not leave a sliver of keys past train + valid.
  if (u < shares.train + shares.valid || shares.test === 0) return "valid";
  return "test";
}

/**
 * Words as the model's tokenizer reads them, punctuation left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wordCount } from "./splits.ts";
 * assert.equal(wordCount("Don't panic, it's 42!"), 4);
 * ```
 */
export function wordCount(text: string): number {
  return tokenize(text).filter((token) => /[\p{L}\p{N}]/u.test(token.text)).length;
}

/**
 * `N documents, A words on average (median M)` for a list of texts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wordSummary } from "./splits.ts";
 * assert.equal(wordSummary(["a b", "a b c d"]), "2 documents, 3.0 words on average (median 3)");
 * ```
 */
export function wordSummary(texts: readonly string[]): string {
  const counts = texts.map(wordCount).sort((a, b) => a - b);
  const n = counts.length;
  const mean = n === 0 ? 0 : counts.reduce((a, b) => a + b, 0) / n;
  const median = n === 0
    ? 0
    : n % 2
    ? counts[(n - 1) / 2]
    : (counts[n / 2 - 1] + counts[n / 2]) / 2;
  return `${n} documents, ${mean.toFixed(1)} words on average (median ${median})`;
}

/**
 * Writes `DIR/train.csv`, `DIR/valid.csv` and `DIR/test.csv` (header row first) and prints one
 * summary line per file. `text` picks the column whose words are counted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeSplits } from "./splits.ts";
 * const dir = Deno.makeTempDirSync();
 * const rows = { train: [["1", "hi there"]], valid: [["2", "yes"]], test: [["3", "no"]] };
 * writeSplits(dir, ["id", "text"], rows, "text", () => {});
 * assert.equal(Deno.readTextFileSync(`${dir}/train.csv`), "id,text\n1,hi there\n");
 * ```
 */
export function writeSplits(
  dir: string,
  columns: readonly string[],
  rows: Record<Split, string[][]>,
  text: string,
  log: (line: string) => void = console.log,
): void {
  const textIndex = columns.indexOf(text);
  if (textIndex < 0) throw new Error(`no column ${text} among ${columns.join(",")}`);
  Deno.mkdirSync(dir, { recursive: true });
  for (const split of SPLITS) {
    const path = `${dir}/${split}.csv`;
    Deno.writeTextFileSync(path, stringify([[...columns], ...rows[split]]));
    log(`${path}: ${wordSummary(rows[split].map((row) => row[textIndex]))}`);
  }
}

/**
 * `value count, value count, ...` by decreasing count, then by value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countList } from "./splits.ts";
 * assert.equal(countList(["b", "a", "b", undefined]), "b 2, a 1");
 * ```
 */
export function countList(values: readonly (string | undefined)[]): string {
  const counts = new Map<string, number>();
  for (const value of values) {
    if (value !== undefined && value !== "") counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return [...counts]
    .sort(([a, m], [b, n]) => n - m || (a < b ? -1 : a > b ? 1 : 0))
    .map(([value, n]) => `${value} ${n}`)
    .join(", ");
}
