/**
 * What the command-line tests share: running the CLI, and small CSV data whose tags follow from
 * words in the text.
 *
 * @module
 */

import { stringify } from "csv-stringify/sync";
import { mulberry32 } from "../base/rng.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** Runs the CLI as a user would, through `deno run`. */
export async function maskconv(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** Documents whose tags follow from words in them, as CSV with an id column. */
export function documents(n: number, seed: number): string {
  const next = mulberry32(seed);
  const words = ["the", "tool", "for", "your", "files", "fast", "small", "with", "and", "many"];
  const rows = Array.from({ length: n }, (_, i) => {
    const text = Array.from(
      { length: 6 + Math.floor(next() * 10) },
      () => words[Math.floor(next() * 10)],
    );
    const tags: string[] = [];
    if (i % 2 === 0) {
      text.splice(Math.floor(next() * text.length), 0, "audio");
      tags.push("sound");
    }
    if (i % 3 === 0) {
      text.splice(Math.floor(next() * text.length), 0, "network");
      tags.push("net");
    }
    if (!tags.length) tags.push("other");
    return { id: `doc${i}`, text: text.join(" "), tags: tags.join("|") };
  });
  return stringify(rows, { header: true });
}

/** Model sizes small enough for a test to train in seconds, on random vectors (no download). */
export const SMALL = [
  "--embeddings",
  "none",
  "--widths",
  "3",
  "--filters",
  "4",
  "--masker-hidden",
  "4",
  "--classifier-hidden",
  "4",
];
