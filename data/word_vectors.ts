/**
 * Pretrained word vectors from word2vec/GloVe text files (`word v1 … vD` per line; word2vec's
 * optional first line `count dim` is skipped), kept only for the words of a vocabulary.
 *
 * @module
 */

import { DataError } from "../base/errors.ts";
import type { Vocab } from "./vocab.ts";

/** Vectors for a vocabulary: row v of `vectors` [V,D] belongs to word v. */
export interface WordVectors {
  dim: number;
  vectors: Float32Array;
  /** Vocabulary words (besides <pad> and <unk>) found in the file. */
  found: number;
  /** Vocabulary words looked for. */
  wanted: number;
}

async function* lines(path: string): AsyncGenerator<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch {
    throw new DataError(`${path}: cannot open the word-vector file`);
  }
  if ((await file.stat()).isDirectory) {
    file.close();
    throw new DataError(`${path}: a folder, expected a word-vector file`);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let rest = "";
  let line = 0;
  // Leaving the loop early cancels the stream, which closes the file.
  for await (const chunk of file.readable) {
    let text: string;
    try {
      text = rest + decoder.decode(chunk, { stream: true });
    } catch {
      throw new DataError(`${path}:${line + 1}: not valid UTF-8`);
    }
    const parts = text.split("\n");
    rest = parts.pop()!;
    for (const part of parts) {
      line++;
      yield part;
    }
  }
  if (rest) yield rest;
}

/**
 * Reads the vectors of `vocab`'s words; words not in the file keep small random values drawn
 * by `initial`, and <pad> stays zero. A line of the wrong width or with a non-number is a
 * one-line {@link DataError} naming the file and line.
 *
 * @example
 * ```ts
 * import { Vocab } from "./vocab.ts";
 * import { loadWordVectors } from "./word_vectors.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello 0.5 1\nworld 2 3\n");
 * const wv = await loadWordVectors(path, new Vocab(["hello", "there"]), () => 0);
 * console.log(wv.dim, wv.found, wv.vectors); // 2 1 [0,0, 0,0, 0.5,1, 0,0]
 * ```
 */
export async function loadWordVectors(
  path: string,
  vocab: Vocab,
  initial: () => number,
): Promise<WordVectors> {
  const index = new Map(vocab.words.map((w, i) => [w, i]));
  let dim = 0;
  let vectors = new Float32Array(0);
  let found = 0;
  let lineNumber = 0;
  for await (const raw of lines(path)) {
    lineNumber++;
    const fields = raw.trimEnd().split(" ");
    if (fields.length === 1 && fields[0] === "") continue;
    if (lineNumber === 1 && fields.length === 2 && fields.every((f) => /^\d+$/.test(f))) continue;
    if (dim === 0) {
      dim = fields.length - 1;
      if (dim < 1) throw new DataError(`${path}:${lineNumber}: expected "word v1 … vD"`);
      vectors = new Float32Array(vocab.size * dim).map(initial);
      vectors.fill(0, 0, dim);
    }
    if (fields.length !== dim + 1) {
      throw new DataError(
        `${path}:${lineNumber}: ${fields.length - 1} values, expected ${dim} like the first vector`,
      );
    }
    const row = index.get(fields[0]);
    if (row === undefined || row < 2) continue;
    for (let d = 0; d < dim; d++) {
      const value = Number(fields[d + 1]);
      if (!Number.isFinite(value)) {
        throw new DataError(
          `${path}:${lineNumber}: value ${d + 1} "${fields[d + 1]}" is not a number`,
        );
      }
      vectors[row * dim + d] = value;
    }
    found++;
  }
  if (dim === 0) throw new DataError(`${path}: no vectors in the file`);
  return { dim, vectors, found, wanted: vocab.size - 2 };
}
