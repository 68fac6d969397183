import assert from "node:assert/strict";
import { DataError } from "../base/errors.ts";
import { Vocab } from "../data/vocab.ts";
import { loadWordVectors } from "../data/word_vectors.ts";

async function vectorFile(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".txt" });
  await Deno.writeTextFile(path, text);
  return path;
}

const vocab = new Vocab(["cat", "dog", "emu"]);

Deno.test("word vectors fill the rows of vocabulary words and skip a word2vec header", async () => {
  const path = await vectorFile("4 2\ncat 1 2\nbird 9 9\ndog -1 0.5\n");
  const wv = await loadWordVectors(path, vocab, () => 7);
  assert.equal(wv.dim, 2);
  assert.equal(wv.found, 2);
  assert.equal(wv.wanted, 3);
  assert.deepEqual([...wv.vectors], [0, 0, 7, 7, 1, 2, -1, 0.5, 7, 7]);
});

Deno.test("a vector of the wrong width names the file and line", async () => {
  const path = await vectorFile("cat 1 2\ndog 1 2 3\n");
  await assert.rejects(
    () => loadWordVectors(path, vocab, () => 0),
    (e) =>
      e instanceof DataError &&
      e.message === `${path}:2: 3 values, expected 2 like the first vector`,
  );
});

Deno.test("a non-numeric value names the file, line and position", async () => {
  const path = await vectorFile("cat 1 2\ndog 1 x\n");
  await assert.rejects(
    () => loadWordVectors(path, vocab, () => 0),
    (e) => e instanceof DataError && e.message === `${path}:2: value 2 "x" is not a number`,
  );
});
