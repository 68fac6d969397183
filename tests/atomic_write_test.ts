import assert from "node:assert/strict";
import { DataError } from "../base/errors.ts";
import { Vocab } from "../data/vocab.ts";
import { saveModel } from "../model/files/model_dir.ts";
import type { MtmModel } from "../model/network/mtm.ts";
import { temporaryPath, writeFileAtomic, writeFilesAtomic } from "../model/files/safetensors.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** Every entry of `dir`: a file's bytes, else what it is (a link is never followed: /dev/full). */
async function snapshot(dir: string): Promise<Record<string, Uint8Array | string>> {
  const entries: Record<string, Uint8Array | string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    entries[entry.name] = entry.isSymlink
      ? `link to ${await Deno.readLink(path)}`
      : entry.isDirectory
      ? "a folder"
      : await Deno.readFile(path);
  }
  return entries;
}

/** A model whose only parts saveModel reads are its weights, their docs and its spec. */
function stubModel(value: number): MtmModel {
  const weights = { w: { shape: [2], data: new Float32Array([value, -value]) } };
  const params = { save: () => Promise.resolve(weights), list: [{ name: "w", doc: "[2]" }] };
  return { params, spec: { vocabSize: 3 } } as never;
}

Deno.test("a write that fails part-way leaves the old files and no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.txt`, "old a");
  await Deno.writeTextFile(`${dir}/b.txt`, "old b");
  const before = await snapshot(dir);
  const failing = async (temporary: string) => {
    await Deno.writeTextFile(temporary, "half of new b");
    throw new Error("simulated: no space left on device");
  };
  await assert.rejects(
    writeFilesAtomic([
      { path: `${dir}/a.txt`, content: encode("new a") },
      { path: `${dir}/b.txt`, content: failing },
    ]),
    /simulated: no space left/,
  );
  assert.deepEqual(await snapshot(dir), before);
});

Deno.test("a model save on a full disk leaves the previous model whole and no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  const extra = { threshold: 0.5, best: { metric: "micro_f1", value: 0.5, epoch: 1 } };
  await saveModel(dir, stubModel(1), new Vocab(["old"]), extra);
  const before = await snapshot(dir);
  // vocab.txt is written last, after the weights and config.json: its temporary file leads to
  // /dev/full, where every write fails with ENOSPC as on a full disk (for root too).
  await Deno.symlink("/dev/full", temporaryPath(`${dir}/vocab.txt`));
  await assert.rejects(
    saveModel(dir, stubModel(2), new Vocab(["new"]), extra),
    /No space left on device/,
  );
  assert.deepEqual(await snapshot(dir), before);
});

Deno.test("a write onto a folder is one line naming it, and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/model.safetensors`);
  await Deno.writeTextFile(`${dir}/config.json`, "{}\n");
  const before = await snapshot(dir);
  await assert.rejects(
    writeFilesAtomic([
      { path: `${dir}/config.json`, content: encode('{"new": true}\n') },
      { path: `${dir}/model.safetensors`, content: encode("weights") },
    ]),
    new DataError(`${dir}/model.safetensors: a folder, expected a file name`),
  );
  assert.deepEqual(await snapshot(dir), before);
});

Deno.test("an atomic write into a missing folder says so in one line", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    writeFileAtomic(`${dir}/missing/a.txt`, encode("a")),
    new DataError(`${dir}/missing/a.txt: cannot write the file; its folder does not exist`),
  );
});
