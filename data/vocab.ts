/**
 * Word vocabulary: built from training tokens, used to turn documents into id arrays, and stored
 * as `vocab.txt` next to a trained model.
 *
 * @module
 */
import { DataError } from "../base/errors.ts";

/** Id of the padding token `<pad>`, which fills batches up to a common length. */
export const PAD_ID = 0;
/** Id of `<unk>`, which stands for every word that is not in the vocabulary. */
export const UNK_ID = 1;
const RESERVED = ["<pad>", "<unk>"];

/**
 * Words and their ids; id 0 is `<pad>`, id 1 is `<unk>`, then the known words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UNK_ID, Vocab } from "./vocab.ts";
 * const vocab = new Vocab(["the", "cat"]);
 * assert.equal(vocab.id("cat"), 3);
 * assert.equal(vocab.id("dog"), UNK_ID);
 * ```
 */
export class Vocab {
  /** All words, reserved ones included; the index of a word is its id. */
  readonly words: readonly string[];
  readonly #ids: Map<string, number>;

  /** `words` are the known words in id order, without the reserved ones. */
  constructor(words: readonly string[]) {
    this.words = [...RESERVED, ...words];
    this.#ids = new Map(this.words.map((word, id) => [word, id]));
  }

  /** Number of ids, reserved ones included. */
  get size(): number {
    return this.words.length;
  }

  /** The id of `word`, or {@linkcode UNK_ID} when it is not in the vocabulary. */
  id(word: string): number {
    return this.#ids.get(word) ?? UNK_ID;
  }
}

/**
 * Builds a vocabulary of the words seen at least `minCount` times, most frequent first and
 * alphabetical among equal counts, so that the same data always gives the same ids.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildVocab } from "./vocab.ts";
 * const vocab = buildVocab([["b", "a", "b"], ["a", "c"]], 2);
 * assert.deepEqual(vocab.words, ["<pad>", "<unk>", "a", "b"]);
 * ```
 */
export function buildVocab(docs: Iterable<readonly string[]>, minCount: number): Vocab {
  const counts = new Map<string, number>();
  for (const doc of docs) {
    for (const word of doc) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const words = [...counts]
    .filter(([word, count]) => count >= minCount && !RESERVED.includes(word))
    .sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : a > b ? 1 : 0))
    .map(([word]) => word);
  return new Vocab(words);
}

/** Documents as ids, and how much was cut or unknown, for the caller to report. */
export interface Encoded {
  /** One array per document, at most `maxLen` ids long. */
  ids: Int32Array[];
  /** Documents that had more than `maxLen` tokens. */
  truncatedDocs: number;
  /** Tokens dropped from the ends of those documents. */
  truncatedTokens: number;
  /** Kept tokens that became {@linkcode UNK_ID}. */
  unknownTokens: number;
  /** Kept tokens in all documents. */
  keptTokens: number;
}

/**
 * Encodes tokenized documents, keeping the first `maxLen` tokens of each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode, Vocab } from "./vocab.ts";
 * const encoded = encode(new Vocab(["a"]), [["a", "b", "a"]], 2);
 * assert.deepEqual(encoded.ids[0], Int32Array.of(2, 1));
 * assert.equal(encoded.truncatedTokens, 1);
 * ```
 */
export function encode(
  vocab: Vocab,
  docs: readonly (readonly string[])[],
  maxLen: number,
): Encoded {
  const encoded: Encoded = {
    ids: [],
    truncatedDocs: 0,
    truncatedTokens: 0,
    unknownTokens: 0,
    keptTokens: 0,
  };
  for (const doc of docs) {
    const kept = doc.slice(0, maxLen);
    const ids = Int32Array.from(kept, (word) => vocab.id(word));
    if (doc.length > maxLen) {
      encoded.truncatedDocs++;
      encoded.truncatedTokens += doc.length - maxLen;
    }
    encoded.unknownTokens += ids.filter((id) => id === UNK_ID).length;
    encoded.keptTokens += ids.length;
    encoded.ids.push(ids);
  }
  return encoded;
}

/**
 * Writes the vocabulary as text, one word per line; the line index (from 0) is the id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { saveVocab, Vocab } from "./vocab.ts";
 * const path = Deno.makeTempFileSync({ suffix: ".txt" });
 * saveVocab(new Vocab(["hello"]), path);
 * assert.equal(Deno.readTextFileSync(path), "<pad>\n<unk>\nhello\n");
 * ```
 */
export function saveVocab(vocab: Vocab, path: string): void {
  Deno.writeTextFileSync(path, vocab.words.map((word) => `${word}\n`).join(""));
}

/**
 * Reads a vocabulary written by {@linkcode saveVocab}, checking that it is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadVocab, saveVocab, Vocab } from "./vocab.ts";
 * const path = Deno.makeTempFileSync({ suffix: ".txt" });
 * saveVocab(new Vocab(["hello"]), path);
 * assert.equal(loadVocab(path).id("hello"), 2);
 * ```
 */
export function loadVocab(path: string): Vocab {
  const lines = Deno.readTextFileSync(path).replace(/\n$/, "").split("\n");
  RESERVED.forEach((word, id) => {
    if (lines[id] !== word) {
      throw new DataError(`${path}:${id + 1}: expected "${word}" (id ${id}), not a vocab.txt?`);
    }
  });
  const seen = new Set<string>();
  lines.forEach((word, i) => {
    if (word === "" || seen.has(word)) {
      const problem = word === "" ? "empty word" : `"${word}" appears twice`;
      throw new DataError(`${path}:${i + 1}: ${problem}`);
    }
    seen.add(word);
  });
  return new Vocab(lines.slice(RESERVED.length));
}
