/**
 * Builds a synthetic many-label set shaped like clinical coding: thousands of labels with a
 * long-tailed frequency, each planted in a document through a few words of its own among common
 * filler, 5–15 labels per document, long documents. It checks that a model learns at a label count
 * no real set on these machines reaches.
 *
 *     deno run -A data/synthetic_codes.ts --out DIR [--labels 5000] [--documents 4000]
 *       [--words 400] [--seed 1]
 *
 * Choices, and why:
 * - Label t is drawn with weight 1/(t + 10) (Zipf-like, as code frequencies are): the first
 *   labels appear in a large share of documents, most in a handful.
 * - Every label owns 3 indicative words; a document carrying it reads 2 of them, once each, at
 *   random positions. One document in ten also reads an indicative word of a label it does not
 *   carry (a mention that is not a code), so a single word never decides alone.
 * - Filler words (4,000) are drawn Zipf-like too, as a language's words are; words are made of
 *   syllables so that they tokenize as one word each.
 * - Lengths are uniform in [words/2, 3·words/2]; the split is 80/10/10 by document index.
 *
 * Output: `train.csv`, `valid.csv`, `test.csv` with columns `id,text,codes` (`|`-separated).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { mulberry32 } from "../base/rng.ts";
import { type Split, writeSplits } from "./splits.ts";

/** Sizes and seed of a generated set. */
export interface CodesOptions {
  labels: number;
  documents: number;
  /** Mean words per document. */
  words: number;
  seed: number;
}

const SYLLABLES = "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu " +
  "na ne ni no nu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze zi zo zu";
const FILLER_WORDS = 4000;
const WORDS_PER_LABEL = 3;

/** `count` distinct words of 3 or 4 syllables. */
function makeWords(next: () => number, count: number, taken: Set<string>): string[] {
  const syllables = SYLLABLES.split(" ");
  const words: string[] = [];
  while (words.length < count) {
    const n = 3 + Math.floor(next() * 2);
    const word = Array.from({ length: n }, () => syllables[Math.floor(next() * syllables.length)])
      .join("");
    if (taken.has(word)) continue;
    taken.add(word);
    words.push(word);
  }
  return words;
}

/** A sampler of indices 0..n−1 with weight 1/(i + offset). */
function zipf(next: () => number, n: number, offset: number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cumulative[i] = total += 1 / (i + offset);
  return () => {
    const u = next() * total;
    let [lo, hi] = [0, n - 1];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * The documents of a set: id, text and the `|`-joined label names (`code0` is the most frequent).
 *
 * @example
 * ```ts
 * import { syntheticCodes } from "./synthetic_codes.ts";
 * const rows = syntheticCodes({ labels: 50, documents: 3, words: 40, seed: 1 });
 * console.log(rows[0][2].split("|").length >= 5); // true
 * ```
 */
export function syntheticCodes({ labels, documents, words, seed }: CodesOptions): string[][] {
  const next = mulberry32(seed);
  const taken = new Set<string>();
  const filler = makeWords(next, FILLER_WORDS, taken);
  const indicative = Array.from({ length: labels }, () => makeWords(next, WORDS_PER_LABEL, taken));
  const drawFiller = zipf(next, FILLER_WORDS, 2);
  const drawLabel = zipf(next, labels, 10);
  return Array.from({ length: documents }, (_, d) => {
    const count = 5 + Math.floor(next() * 11);
    const codes = new Set<number>();
    while (codes.size < Math.min(count, labels)) codes.add(drawLabel());
    const length = Math.round(words * (0.5 + next()));
    const text = Array.from({ length }, () => filler[drawFiller()]);
    const plant = (word: string) => text.splice(Math.floor(next() * (text.length + 1)), 0, word);
    for (const code of codes) {
      const own = indicative[code];
      const skipped = Math.floor(next() * WORDS_PER_LABEL);
      own.filter((_, i) => i !== skipped).forEach(plant);
    }
    if (next() < 0.1) plant(indicative[drawLabel()][Math.floor(next() * WORDS_PER_LABEL)]);
    const names = [...codes].sort((a, b) => a - b).map((code) => `code${code}`);
    return [`doc${d}`, text.join(" "), names.join("|")];
  });
}

function splitByIndex(rows: string[][]): Record<Split, string[][]> {
  const n = rows.length;
  const [train, valid] = [Math.round(0.8 * n), Math.round(0.9 * n)];
  return { train: rows.slice(0, train), valid: rows.slice(train, valid), test: rows.slice(valid) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string" },
      labels: { type: "string", default: "5000" },
      documents: { type: "string", default: "4000" },
      words: { type: "string", default: "400" },
      seed: { type: "string", default: "1" },
    },
  });
  const options = {
    labels: Number(values.labels),
    documents: Number(values.documents),
    words: Number(values.words),
    seed: Number(values.seed),
  };
  const bad = Object.entries(options).find(([, v]) => !(Number.isInteger(v) && v > 0));
  if (!values.out || bad) {
    console.error(
      bad
        ? `synthetic_codes: --${bad[0]} must be a positive integer`
        : "usage: deno run -A data/synthetic_codes.ts --out DIR [--labels N] [--documents N]",
    );
    Deno.exit(2);
  }
  writeSplits(values.out, ["id", "text", "codes"], splitByIndex(syntheticCodes(options)), "text");
}
