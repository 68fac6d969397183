import assert from "node:assert/strict";
import { stringify } from "csv-stringify/sync";
import { DataError } from "../base/errors.ts";
import { multiLabels, parseTable, textColumn } from "../data/csv.ts";
import { mulberry32 } from "../base/rng.ts";
import { decodeSafetensors, encodeSafetensors } from "../model/files/safetensors.ts";

// Fixed iteration counts (not a time budget) keep every run identical and a few seconds long.
const CSV_ITERATIONS = 3000;
const SAFETENSORS_ITERATIONS = 1500;
const SEED = 20240917;

type Random = () => number;

const below = (next: Random, n: number) => Math.floor(next() * n);
const pick = <T>(next: Random, items: readonly T[]): T => items[below(next, items.length)];

/**
 * Runs `attempt` on one input per iteration, each drawn from its own generator so any failing
 * iteration reproduces alone; a throw other than a DataError fails with the seed and iteration.
 */
async function fuzz(
  seed: number,
  iterations: number,
  draw: (next: Random) => Uint8Array,
  attempt: (bytes: Uint8Array) => unknown,
): Promise<{ accepted: number; rejected: number }> {
  let accepted = 0;
  let rejected = 0;
  for (let iteration = 0; iteration < iterations; iteration++) {
    const next = mulberry32((seed ^ Math.imul(iteration + 1, 0x9e3779b1)) >>> 0);
    const bytes = draw(next);
    try {
      await attempt(bytes);
      accepted++;
    } catch (error) {
      if (error instanceof DataError) {
        assert.doesNotMatch(
          error.message,
          /[\n\r]/,
          `seed ${seed}, iteration ${iteration}: ${JSON.stringify(error.message)}`,
        );
        rejected++;
        continue;
      }
      const input = btoa(String.fromCharCode(...bytes.subarray(0, 4096)));
      assert.fail(
        `seed ${seed}, iteration ${iteration}: ${
          (error as Error)?.stack ?? error
        }\ninput (base64): ${input}`,
      );
    }
  }
  return { accepted, rejected };
}

const BOM = [0xef, 0xbb, 0xbf];
/** Pieces that matter to a CSV parser and to UTF-8 decoding. */
const CSV_PIECES: number[][] = [
  [0x22], // "
  [0x22, 0x22],
  [0x2c], // ,
  [0x0a],
  [0x0d],
  [0x0d, 0x0a],
  [0x7c], // |
  [0x20],
  BOM,
  [0xff], // never valid UTF-8
  [0xc3], // a lead byte without its continuation
  [0x80], // a continuation byte without a lead
  [0xc3, 0xa9], // é
  [0xf0, 0x9f, 0x98, 0x80], // an emoji (4 bytes)
  [0x00],
  [0x61],
  [0x74, 0x65, 0x78, 0x74], // text
];

function validCsv(next: Random): Uint8Array {
  const words = ["alpha", "beta", "gamma", "délta", "x,y", 'say "hi"', "two\nlines", ""];
  const rows = Array.from({ length: 1 + below(next, 6) }, (_, i) => ({
    id: `d${i}`,
    text: Array.from({ length: 1 + below(next, 4) }, () => pick(next, words)).join(" "),
    tags: Array.from({ length: below(next, 3) }, () => pick(next, ["a", "b", "c d"])).join("|"),
  }));
  const csv = stringify(rows, {
    header: true,
    record_delimiter: next() < 0.5 ? "unix" : "windows",
  });
  return new TextEncoder().encode(csv);
}

function mutateCsv(next: Random, bytes: Uint8Array): Uint8Array {
  let out = [...bytes];
  for (let m = 1 + below(next, 6); m > 0; m--) {
    const at = below(next, out.length + 1);
    switch (below(next, 6)) {
      case 0:
        out.splice(at, 0, ...pick(next, CSV_PIECES));
        break;
      case 1:
        out.splice(at, 1 + below(next, 8));
        break;
      case 2:
        if (at < out.length) out[at] = below(next, 256);
        break;
      case 3:
        out.splice(at, 0, ...out.slice(below(next, out.length + 1), at));
        break;
      case 4:
        out = out.slice(0, at);
        break;
      default:
        out.splice(0, 0, ...BOM);
    }
  }
  return Uint8Array.from(out);
}

function randomBytes(next: Random): Uint8Array {
  const out: number[] = [];
  for (let n = below(next, 120); n > 0; n--) {
    if (next() < 0.6) out.push(...pick(next, CSV_PIECES));
    else out.push(below(next, 256));
  }
  return Uint8Array.from(out);
}

function readCsv(bytes: Uint8Array): void {
  const table = parseTable(bytes, "fuzz.csv");
  assert.equal(table.lines.length, table.rows.length);
  table.lines.forEach((line, i) => assert.ok(line > (table.lines[i - 1] ?? 1), "row lines rise"));
  for (const row of table.rows) assert.deepEqual(Object.keys(row), table.columns);
  // What the commands do next with a table must fail as cleanly.
  textColumn(table, "text");
  multiLabels(table, "tags");
}

Deno.test("the CSV reader rejects random and mutated bytes only with one-line DataErrors", async () => {
  const { accepted, rejected } = await fuzz(
    SEED,
    CSV_ITERATIONS,
    (next) => next() < 0.25 ? randomBytes(next) : mutateCsv(next, validCsv(next)),
    readCsv,
  );
  // Both outcomes must be common, or the mutations no longer reach the parser's paths.
  assert.ok(accepted > CSV_ITERATIONS / 20, `only ${accepted} inputs accepted`);
  assert.ok(rejected > CSV_ITERATIONS / 20, `only ${rejected} inputs rejected`);
});

const TENSORS = {
  "a.weight": { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
  "b.bias": { shape: [3], data: new Float32Array([-1, 0.5, 2]) },
  "c.scalar": { shape: [], data: new Float32Array([7]) },
};

/** The parts of a safetensors file: its header object and its data section. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; body: Uint8Array } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  return { header, body: bytes.subarray(8 + length) };
}

function join(headerText: string, body: Uint8Array): Uint8Array {
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(body, 8 + headerBytes.length);
  return out;
}

const ODD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  2 ** 40,
  "F32",
  "F16",
  "",
  [],
  [1],
  [-4, 8],
  [8, 4],
  [0, 2 ** 53],
  [1.5, 2],
  ["0", "4"],
  {},
  true,
];
/** A fresh copy of one of ODD_VALUES, so later mutations never make the header circular. */
const oddValue = (next: Random) => structuredClone(pick(next, ODD_VALUES));

function mutateHeader(next: Random, header: Record<string, unknown>): Record<string, unknown> {
  const names = Object.keys(header);
  for (let m = 1 + below(next, 3); m > 0; m--) {
    const name = pick(next, names);
    const entry = header[name];
    const choice = below(next, 6);
    if (choice === 0 || typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      header[name] = oddValue(next);
    } else if (choice === 1) {
      delete header[name];
    } else if (name === "__metadata__") {
      (entry as Record<string, unknown>)[pick(next, ["sha256", "format", "step"])] = next() < 0.2
        ? "0".repeat(64)
        : oddValue(next);
    } else {
      const field = pick(next, ["dtype", "shape", "data_offsets"]);
      const record = entry as Record<string, unknown>;
      record[field] = next() < 0.3
        ? oddValue(next)
        : field === "data_offsets"
        ? [below(next, 64) - 8, below(next, 64) - 8]
        : field === "shape"
        ? Array.from({ length: below(next, 4) }, () => below(next, 8) - 1)
        : pick(next, ["F32", "F64", "BF16", "I64"]);
    }
  }
  return header;
}

function mutateSafetensors(next: Random, valid: Uint8Array): Uint8Array {
  const { header, body } = split(valid);
  switch (below(next, 5)) {
    case 0: {
      const out = valid.slice();
      const lengths = [0n, 1n, 7n, BigInt(out.length), 2n ** 63n, 2n ** 64n - 1n];
      const length = next() < 0.5 ? pick(next, lengths) : BigInt(below(next, out.length + 16));
      new DataView(out.buffer).setBigUint64(0, length, true);
      return out;
    }
    case 1:
      return join(JSON.stringify(mutateHeader(next, header)), body);
    case 2: {
      const text = JSON.stringify(header);
      const at = below(next, text.length);
      const junk = pick(next, ["{", "}", '"', ",", "\u00ff", "[", "1e999", "\ud800"]);
      return join(text.slice(0, at) + junk + text.slice(at + below(next, 3)), body);
    }
    case 3:
      return valid.slice(0, below(next, valid.length));
    default: {
      const out = valid.slice();
      for (let m = 1 + below(next, 4); m > 0; m--) out[below(next, out.length)] = below(next, 256);
      return out;
    }
  }
}

Deno.test("the safetensors loader rejects mutated files only with one-line DataErrors", async () => {
  const valid = await encodeSafetensors(TENSORS, { format: "fuzz" });
  const { accepted, rejected } = await fuzz(
    SEED,
    SAFETENSORS_ITERATIONS,
    (next) => mutateSafetensors(next, valid),
    async (bytes) => {
      const { tensors } = await decodeSafetensors(bytes, "fuzz.safetensors");
      for (const [name, { shape, data }] of Object.entries(tensors)) {
        assert.equal(data.length, shape.reduce((a, b) => a * b, 1), name);
      }
    },
  );
  assert.ok(accepted > 0, "some mutations (metadata, padding) leave a readable file");
  assert.ok(rejected > SAFETENSORS_ITERATIONS / 2, `only ${rejected} files rejected`);
});
