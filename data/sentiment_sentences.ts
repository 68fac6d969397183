/**
 * Builds a one-target aspects-mode set of short texts: the 3,000 "Sentiment Labelled Sentences"
 * (Kotzias et al., KDD 2015: 1,000 each from Amazon, IMDb and Yelp reviews, half negative, half
 * positive), as shipped in the npm package `sentiment@5.0.2` under `test/fixtures/`.
 *
 *     deno run -A data/sentiment_sentences.ts --out DIR [--seed maskconv]
 *
 * Choices, and why:
 * - The package is fetched once with `npm pack` into the cache that `--embeddings glove100`
 *   uses (`$MASKCONV_CACHE` or `~/.cache/maskconv`), as `data/glove.ts` does; an `npm:` import
 *   of the JSON files would make type-checking and the tests need the registry.
 * - Each fixture ends with an empty placeholder (`{"text": "", "class": null}`), which is skipped;
 *   any other entry without a text or a 0/1 class is an error, since the pinned files have none.
 * - The split (70/10/20) hashes the seed and the sentence lowercased with its blanks collapsed,
 *   not its id: 21 sentences repeat an earlier one ("Works great.", "I love this place.", one
 *   across sources), and a copy on each side would be scored as seen. All 3,000 are kept.
 *
 * Output: `train.csv`, `valid.csv`, `test.csv` with columns `id,source,text,sentiment`; the id is
 * the source and the 1-based position in its file (`imdb-0001`), the class `negative` or
 * `positive`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { cacheDir } from "./glove.ts";
import { npmPackage } from "./npm_package.ts";
import { countList, type Split, splitOf, SPLITS, writeSplits } from "./splits.ts";

const PACKAGE = "sentiment";
const VERSION = "5.0.2";
const SOURCES = ["amazon", "imdb", "yelp"] as const;
const COLUMNS = ["id", "source", "text", "sentiment"];
const CLASSES = ["negative", "positive"];

/** One entry of a fixture file as the package ships it. */
export interface FixtureEntry {
  text: string;
  class: number | null;
}

/** A labelled sentence. */
export interface Sentence {
  id: string;
  source: string;
  text: string;
  sentiment: "negative" | "positive";
}

function fail(message: string): never {
  console.error(`sentiment_sentences: ${message}`);
  Deno.exit(2);
}

/**
 * The sentences of one fixture file, in file order, without its empty placeholder; throws on an
 * entry that is neither a sentence with class 0 or 1 nor the placeholder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixtureSentences } from "./sentiment_sentences.ts";
 * const rows = fixtureSentences("yelp", [
 *   { text: "Wow... Loved this place.", class: 1 },
 *   { text: "Crust is not good.  ", class: 0 },
 *   { text: "", class: null },
 * ]);
 * assert.deepEqual(rows.map((r) => [r.id, r.text, r.sentiment]), [
 *   ["yelp-0001", "Wow... Loved this place.", "positive"],
 *   ["yelp-0002", "Crust is not good.", "negative"],
 * ]);
 * ```
 */
export function fixtureSentences(source: string, entries: readonly FixtureEntry[]): Sentence[] {
  const sentences: Sentence[] = [];
  entries.forEach((entry, i) => {
    const text = typeof entry.text === "string" ? entry.text.trim() : "";
    if (text === "" && entry.class === null) return;
    if (text === "" || (entry.class !== 0 && entry.class !== 1)) {
      throw new Error(`${source} entry ${i + 1}: expected a text and class 0 or 1`);
    }
    const id = `${source}-${String(i + 1).padStart(4, "0")}`;
    sentences.push({ id, source, text, sentiment: entry.class === 1 ? "positive" : "negative" });
  });
  return sentences;
}

/**
 * The key a sentence is split by: identical sentences, up to case and blanks, share it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sentenceKey } from "./sentiment_sentences.ts";
 * assert.equal(sentenceKey("Works  great."), sentenceKey("works great."));
 * ```
 */
export function sentenceKey(text: string): string {
  return text.toLowerCase().replace(/\s+/g, " ").trim();
}

/**
 * The sentences of each split (70/10/20), in input order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitSentences } from "./sentiment_sentences.ts";
 * const one = { id: "a-0001", source: "a", text: "Good.", sentiment: "positive" } as const;
 * const split = splitSentences([one, { ...one, id: "a-0002" }], "maskconv");
 * const sides = Object.values(split).filter((rows) => rows.length > 0);
 * assert.equal(sides.length, 1, "a repeated sentence stays on one side");
 * ```
 */
export function splitSentences(
  sentences: readonly Sentence[],
  seed: string,
): Record<Split, Sentence[]> {
  const split: Record<Split, Sentence[]> = { train: [], valid: [], test: [] };
  for (const sentence of sentences) {
    split[splitOf(sentenceKey(sentence.text), seed, "sentiment")].push(sentence);
  }
  return split;
}

/**
 * A sentence as a CSV row in the order of the columns `id,source,text,sentiment`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sentenceRow } from "./sentiment_sentences.ts";
 * const row = sentenceRow({ id: "imdb-0001", source: "imdb", text: "Slow.", sentiment: "negative" });
 * assert.deepEqual(row, ["imdb-0001", "imdb", "Slow.", "negative"]);
 * ```
 */
export function sentenceRow(sentence: Sentence): string[] {
  return [sentence.id, sentence.source, sentence.text, sentence.sentiment];
}

/** The package's `test/fixtures` folder, fetched from the npm registry on first use. */
async function fixturesDir(): Promise<string> {
  try {
    return `${await npmPackage(PACKAGE, VERSION, cacheDir(), "npm")}/test/fixtures`;
  } catch (err) {
    fail((err as Error).message);
  }
}

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseArgs({
      args: Deno.args,
      options: { out: { type: "string" }, seed: { type: "string" } },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (!flags.out) fail("usage: deno run -A data/sentiment_sentences.ts --out DIR [--seed S]");
  const dir = await fixturesDir();
  const sentences: Sentence[] = [];
  for (const source of SOURCES) {
    const path = `${dir}/${source}.json`;
    const entries = JSON.parse(await Deno.readTextFile(path)) as FixtureEntry[];
    try {
      sentences.push(...fixtureSentences(source, entries));
    } catch (err) {
      fail(`${path}: ${(err as Error).message}`);
    }
  }
  const split = splitSentences(sentences, flags.seed ?? "maskconv");
  const rows = Object.fromEntries(
    SPLITS.map((name) => [name, split[name].map(sentenceRow)]),
  ) as Record<Split, string[][]>;
  console.log(`${sentences.length} sentences, classes ${CLASSES.join(", ")}`);
  for (const name of SPLITS) {
    console.log(`${name}: ${countList(split[name].map((s) => s.sentiment))}`);
  }
  writeSplits(flags.out, COLUMNS, rows, "text");
}

if (import.meta.main) await main();
