import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { decodeSafetensors } from "../model/files/safetensors.ts";
import { documents, maskconv, SMALL } from "./tiny_run.ts";

Deno.test("train, eval, predict and explain work end to end on a small labels CSV", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/train.csv`, documents(48, 1));
  await Deno.writeTextFile(`${dir}/valid.csv`, documents(12, 2));
  const trained = await maskconv(
    "train",
    "--train",
    `${dir}/train.csv`,
    "--valid",
    `${dir}/valid.csv`,
    "--out",
    `${dir}/model`,
    "--labels-column",
    "tags",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--min-count",
    "1",
    ...SMALL,
  );
  assert.equal(trained.code, 0, trained.stderr);
  for (const file of ["model.safetensors", "config.json", "vocab.txt", "metrics.csv"]) {
    assert.ok((await Deno.stat(`${dir}/model/${file}`)).size > 0, file);
  }
  const metrics = (await Deno.readTextFile(`${dir}/model/metrics.csv`)).trim().split("\n");
  assert.equal(metrics.length, 3, "a header and one row per epoch");
  const config = JSON.parse(await Deno.readTextFile(`${dir}/model/config.json`));
  assert.deepEqual(config.space.targets, ["net", "other", "sound"]);
  const weights = await decodeSafetensors(
    await Deno.readFile(`${dir}/model/model.safetensors`),
    "m",
  );
  assert.deepEqual(
    Object.keys(config.layouts).sort(),
    Object.keys(weights.tensors).sort(),
    "config.json documents the layout of every saved tensor, and only those",
  );

  const evaluated = await maskconv(
    "eval",
    "--model",
    `${dir}/model`,
    "--data",
    `${dir}/valid.csv`,
    "--json",
  );
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const report = JSON.parse(evaluated.stdout);
  assert.equal(report.documents, 12);
  for (
    const key of [
      "microF1",
      "macroF1",
      "precisionAt",
      "microAuc",
      "mask_shares",
      "mask_agreement",
      "deletion_test",
      "rationale_test",
    ]
  ) {
    assert.ok(key in report, key);
  }

  const predicted = await maskconv(
    "predict",
    "--model",
    `${dir}/model`,
    "--data",
    `${dir}/valid.csv`,
    "--out",
    `${dir}/predictions.csv`,
  );
  assert.equal(predicted.code, 0, predicted.stderr);
  const rows = parse(await Deno.readTextFile(`${dir}/predictions.csv`), {
    columns: true,
  }) as Record<string, string>[];
  assert.equal(rows.length, 12);
  assert.equal(rows[0].id, "doc0");
  assert.ok(["labels", "p:net", "p:other", "p:sound"].every((c) => c in rows[0]));

  const explained = await maskconv(
    "explain",
    "--model",
    `${dir}/model`,
    "--text",
    "a small audio tool",
  );
  assert.equal(explained.code, 0, explained.stderr);
  assert.match(explained.stdout, /a small audio/);
  assert.match(explained.stdout, /→ labels: /);
  const listed = await maskconv(
    ..."explain --words --text".split(" "),
    "a small audio tool",
    ...["--model", `${dir}/model`],
  );
  assert.equal(listed.code, 0, listed.stderr);
  // One line per word, each with at least one class and its probability, most probable first.
  const lines = listed.stdout.split("\n").filter((line) => /^ {2}\S+: /.test(line));
  assert.deepEqual(lines.map((line) => line.trim().split(":")[0]), ["a", "small", "audio", "tool"]);
  for (const line of lines) {
    const values = [...line.matchAll(/ (\d\.\d\d)(?:,|$)/g)].map((m) => Number(m[1]));
    assert.ok(values.length >= 1 && values.every((v, i) => i === 0 || v <= values[i - 1]), line);
  }

  // The mask scale is saved resolved (T + 1 = 4); a config.json without it, from before it
  // existed, means the scale those models were trained with: 1.
  const configPath = `${dir}/model/config.json`;
  const saved = JSON.parse(await Deno.readTextFile(configPath));
  assert.equal(saved.config.maskScale, 4);
  const probabilities = async (maskScale: number | undefined) => {
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({ ...saved, config: { ...saved.config, maskScale } }),
    );
    const out = `${dir}/p${maskScale}.csv`;
    const run = await maskconv(
      "predict",
      "--model",
      `${dir}/model`,
      "--data",
      `${dir}/valid.csv`,
      "--out",
      out,
    );
    assert.equal(run.code, 0, run.stderr);
    return await Deno.readTextFile(out);
  };
  const [four, one, unset] = [
    await probabilities(4),
    await probabilities(1),
    await probabilities(undefined),
  ];
  assert.notEqual(four, one);
  assert.equal(unset, one);
});

Deno.test("train names a missing column in one line and exits with 2", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/train.csv`, documents(8, 1));
  const result = await maskconv(
    "train",
    "--train",
    `${dir}/train.csv`,
    "--valid",
    `${dir}/train.csv`,
    "--out",
    `${dir}/model`,
    "--labels-column",
    "tag",
  );
  assert.equal(result.code, 2);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /train\.csv.*"tag".*tags/);
});
