import assert from "node:assert/strict";
import { documents, maskconv, SMALL } from "./tiny_run.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

async function exists(path: string) {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Tiny data in a new folder, and the flags of a run of `epochs` (no early stop) on it into `out`. */
async function tinyRun(epochs = 1) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/train.csv`, documents(32, 1));
  await Deno.writeTextFile(`${dir}/valid.csv`, documents(8, 2));
  const out = `${dir}/run`;
  const flags = [
    "train",
    "--train",
    `${dir}/train.csv`,
    "--valid",
    `${dir}/valid.csv`,
    "--out",
    out,
    "--labels-column",
    "tags",
    "--epochs",
    String(epochs),
    "--patience",
    String(epochs),
    "--batch-size",
    "8",
    "--min-count",
    "1",
    "--checkpoint-every",
    "1",
    ...SMALL,
  ];
  return { out, flags };
}

/** Starts the CLI as a child process, its stderr kept. */
function spawnCli(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

const refusal = (out: string, pid: number) =>
  `maskconv: ${out}: another maskconv train (pid ${pid}) is training in this folder; ` +
  `wait for it to end, or use another folder`;

Deno.test("of two runs started together on one --out, one trains and the other is refused naming it", async () => {
  const { out, flags } = await tinyRun();
  const children = [spawnCli(flags), spawnCli(flags)];
  const results = await Promise.all(children.map((child) => child.output()));
  const codes = results.map((r) => r.code).sort();
  const logs = results.map((r) => new TextDecoder().decode(r.stderr));
  assert.deepEqual(codes, [0, 2], logs.join("\n---\n"));
  const winner = results.findIndex((r) => r.code === 0);
  assert.equal(logs[1 - winner].trim(), refusal(out, children[winner].pid));
  assert.ok(await exists(`${out}/model.safetensors`));
  assert.equal(await exists(`${out}/train.lock`), false, "the lock is released at the end");
});

Deno.test("resuming a folder that a live run is training in is refused naming it", async () => {
  const { out, flags } = await tinyRun(50);
  const child = spawnCli(flags);
  while (!await exists(`${out}/checkpoint.json`)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const resumed = await maskconv("train", "--resume", out);
  child.kill("SIGINT");
  const cut = await child.output();
  assert.equal(resumed.code, 2, resumed.stderr);
  assert.equal(resumed.stderr.trim(), refusal(out, child.pid));
  assert.equal(cut.code, 130, new TextDecoder().decode(cut.stderr));
  assert.equal(await exists(`${out}/train.lock`), false, "an interrupted run releases its lock");
});

Deno.test("a lock left by a process that is gone does not block a new run", async () => {
  const { out, flags } = await tinyRun();
  const gone = new Deno.Command(Deno.execPath(), { args: ["--version"], stdout: "null" }).spawn();
  await gone.status;
  await Deno.mkdir(out);
  await Deno.writeTextFile(`${out}/train.lock`, JSON.stringify({ pid: gone.pid, started: "1" }));
  const trained = await maskconv(...flags);
  assert.equal(trained.code, 0, trained.stderr);
  assert.equal(await exists(`${out}/train.lock`), false);
});

Deno.test("a lock whose pid now belongs to another process does not block resuming", async () => {
  const { out, flags } = await tinyRun();
  const trained = await maskconv(...flags);
  assert.equal(trained.code, 0, trained.stderr);
  // This test's own pid is alive, but it started at another time than the lock says.
  await Deno.writeTextFile(`${out}/train.lock`, JSON.stringify({ pid: Deno.pid, started: "1" }));
  const resumed = await maskconv("train", "--resume", out);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(await exists(`${out}/train.lock`), false);
});
