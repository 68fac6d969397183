/**
 * Running the commands of a quality run: `deno …` with its output streamed behind a set's name,
 * and the one JSON line of a command that reports scores.
 *
 * @module
 */

import type { Scores } from "./results.ts";

/** A step of the suite that failed: one line for the user, exit code 1. */
export class StepFailed extends Error {}

/** Prints a stream's lines as they come, each behind the set's name. */
async function printLines(name: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split(/\r?\n/);
    rest = lines.pop()!;
    for (const line of lines) console.error(`[${name}] ${line}`);
  }
  if (rest) console.error(`[${name}] ${rest}`);
}

/**
 * Runs `deno ARGS…`, streaming its output behind the set's name; with `json`, its standard
 * output is read instead, as one JSON object on its last line.
 */
export async function runDeno(name: string, args: string[], json: true): Promise<Scores>;
export async function runDeno(name: string, args: string[]): Promise<void>;
export async function runDeno(name: string, args: string[], json = false): Promise<Scores | void> {
  const command = `deno ${args.join(" ")}`;
  console.error(`[${name}] $ ${command}`);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const [stdout] = await Promise.all([
    json ? new Response(child.stdout).text() : printLines(name, child.stdout),
    printLines(name, child.stderr),
  ]);
  const { code } = await child.status;
  if (code !== 0) throw new StepFailed(`${name}: \`${command}\` exited with code ${code}`);
  if (!json) return;
  try {
    return JSON.parse((stdout as string).trim().split("\n").at(-1)!);
  } catch {
    throw new StepFailed(`${name}: \`${command}\` printed no JSON object`);
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
