/**
 * The lock of a run folder: one `maskconv train` at a time trains in it. The lock file names
 * the process (pid and start time), so a lock left by a crash or kill -9 is taken over, and a
 * second run is refused in one line that names the first.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";
import { temporaryPath } from "../files/safetensors.ts";

/** The lock file of a run folder: it names the process training there. */
const LOCK = "train.lock";

/** What the lock file holds: the pid, and its start so that a reused pid is not taken for it. */
interface LockHolder {
  pid: number;
  started: string | undefined;
}

/**
 * Takes `dir`'s lock, or refuses in one {@link DataError} line naming the live process that holds
 * it; a lock whose process is gone (a crash, kill -9) is taken over. Resolves to the release.
 */
export async function lockRunFolder(dir: string, resume: boolean): Promise<() => Promise<void>> {
  const path = `${dir}/${LOCK}`;
  const mine = JSON.stringify({ pid: Deno.pid, started: await processStarted(Deno.pid) }) + "\n";
  // A few tries: a holder may release, or a stale lock be taken over, between the steps.
  for (let tries = 0; tries < 3; tries++) {
    try {
      if (await createWhole(path, mine)) return () => removeIfUnchanged(path, mine);
    } catch (error) {
      // A folder to resume that is not there is no one's to lock: reading its checkpoint says why.
      if (resume && error instanceof Deno.errors.NotFound) return () => Promise.resolve();
      throw new DataError(`${path}: cannot create the lock (${(error as Error).name})`);
    }
    const held = await Deno.readTextFile(path).catch(() => undefined);
    if (held === undefined) continue;
    const holder = parseHolder(held);
    if (holder && await holderRuns(holder)) {
      throw new DataError(
        `${dir}: another maskconv train (pid ${holder.pid}) is training in this folder; ` +
          `wait for it to end, or use another folder`,
      );
    }
    await removeIfUnchanged(path, held);
  }
  throw new DataError(`${path}: cannot take the lock; remove it if no maskconv train uses ${dir}`);
}

/**
 * Puts `text` at `path` unless something is there already. It is written beside the lock and
 * hard-linked into place, which fails when the name exists: so exactly one of two processes
 * makes the lock, and no one ever reads it half-written.
 */
async function createWhole(path: string, text: string): Promise<boolean> {
  const temporary = temporaryPath(path);
  await Deno.writeTextFile(temporary, text);
  try {
    await Deno.link(temporary, path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  } finally {
    await Deno.remove(temporary);
  }
}

/** Removes `path` if it still holds `text`: a lock taken over by another run is theirs. */
async function removeIfUnchanged(path: string, text: string): Promise<void> {
  const now = await Deno.readTextFile(path).catch(() => undefined);
  if (now === text) await Deno.remove(path).catch(() => {});
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(text);
    return Number.isInteger(holder?.pid) ? holder : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process that wrote `holder` still runs: its pid is alive with the same start.
 * Where there is no /proc (not Linux) that cannot be told, and the lock is kept.
 */
async function holderRuns(holder: LockHolder): Promise<boolean> {
  const started = await processStarted(holder.pid);
  if (started !== undefined) return started === holder.started;
  return await processStarted(Deno.pid) === undefined;
}

/** When process `pid` started (/proc/PID/stat field 22, clock ticks after boot), if it runs. */
async function processStarted(pid: number): Promise<string | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Counted after the command name, which may itself hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
