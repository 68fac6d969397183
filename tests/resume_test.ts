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

/** metrics.csv without its wall-clock column, which no two runs share. */
async function metricsWithoutSeconds(dir: string) {
  const lines = (await Deno.readTextFile(`${dir}/metrics.csv`)).trim().split("\n");
  return lines.map((line) => line.split(",").slice(0, -1).join(","));
}

Deno.test("a run killed with SIGINT and resumed ends bit for bit where an uninterrupted run ends", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/train.csv`, documents(96, 1));
  await Deno.writeTextFile(`${dir}/valid.csv`, documents(24, 2));
  const flags = (out: string) => [
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
    "4",
    "--batch-size",
    "8",
    "--min-count",
    "1",
    "--checkpoint-every",
    "1",
    // The learning rate then depends on the step, which a resumed run must take up.
    "--lr-schedule",
    "linear",
    ...SMALL,
  ];
  const whole = await maskconv(...flags(`${dir}/whole`));
  assert.equal(whole.code, 0, whole.stderr);

  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...flags(`${dir}/cut`)],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  while (!await exists(`${dir}/cut/checkpoint.json`)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  child.kill("SIGINT");
  const cut = await child.output();
  const cutLog = new TextDecoder().decode(cut.stderr);
  assert.equal(cut.code, 130, cutLog);
  assert.match(cutLog, /interrupted: checkpoint saved; continue with maskconv train --resume/);
  const state = JSON.parse(await Deno.readTextFile(`${dir}/cut/checkpoint.json`));
  assert.ok(state.epoch < 4 || state.batchesDone < 12, "the run was cut before its end");

  const resumed = await maskconv("train", "--resume", `${dir}/cut`);
  assert.equal(resumed.code, 0, resumed.stderr);
  for (const file of ["model.safetensors", "checkpoint.safetensors", "config.json", "vocab.txt"]) {
    assert.deepEqual(
      await Deno.readFile(`${dir}/cut/${file}`),
      await Deno.readFile(`${dir}/whole/${file}`),
      file,
    );
  }
  assert.deepEqual(
    await metricsWithoutSeconds(`${dir}/cut`),
    await metricsWithoutSeconds(`${dir}/whole`),
  );
});

Deno.test("resuming a folder without a checkpoint says so in one line and exits with 2", async () => {
  const dir = await Deno.makeTempDir();
  const result = await maskconv("train", "--resume", dir);
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr.trim(),
    `maskconv: ${dir}/checkpoint.json: no checkpoint to resume from`,
  );
});
