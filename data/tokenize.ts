/**
 * Splits text into lowercase word and punctuation tokens that remember where they came from, so
 * that per-token scores can be shown on the original text.
 *
 * @module
 */

/** A token and the span of the original text it was read from. */
export interface Token {
  /** Lowercased; typographic apostrophes are written as `'` so both spellings share an id. */
  text: string;
  /** Offset of the first UTF-16 code unit in the original text. */
  start: number;
  /** Offset just past the last code unit: `original.slice(start, end)` is the token as written. */
  end: number;
}

// A word is a run of letters, digits and combining marks, and may continue across an apostrophe
// that has word characters on both sides ("don't", "l'homme"); any other visible character,
// punctuation or symbol, is a token of its own.
const TOKEN = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*|[^\s\p{L}\p{N}\p{M}]/gu;

/**
 * Tokenizes `text` into words and single punctuation marks with their offsets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenize } from "./tokenize.ts";
 * const tokens = tokenize("Don't panic!");
 * assert.deepEqual(tokens.map((t) => t.text), ["don't", "panic", "!"]);
 * assert.deepEqual([tokens[2].start, tokens[2].end], [11, 12]);
 * ```
 */
export function tokenize(text: string): Token[] {
  return Array.from(text.matchAll(TOKEN), (match) => ({
    text: match[0].toLowerCase().replaceAll("’", "'"),
    start: match.index,
    end: match.index + match[0].length,
  }));
}
