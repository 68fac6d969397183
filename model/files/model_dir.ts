/**
 * A trained model's folder: `model.safetensors` (weights), `config.json` (every
 * hyper-parameter, the targets and their classes, the decision threshold), `vocab.txt` and
 * `metrics.csv` (one row per epoch). Files are replaced atomically, so an interrupted save leaves
 * the previous model whole.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";
import { configFromJson } from "../task/config.ts";
import { loadVocab, saveVocab, type Vocab } from "../../data/vocab.ts";
import type { Gpu } from "../../kernels/gpu.ts";
import { MtmModel } from "../network/mtm.ts";
import type { ModelSpec } from "../task/spec.ts";
import { decodeSafetensors, encodeSafetensors, writeFilesAtomic } from "./safetensors.ts";

/** What `config.json` holds. */
export interface SavedConfig extends ModelSpec {
  format: "maskconv-mtm";
  version: 1;
  /** Labels mode: probability from which a label is predicted (tuned on validation data). */
  threshold: number;
  /** The best validation score and its epoch. */
  best: { metric: string; value: number; epoch: number };
  /** How the saved tensors are laid out, for other tools. */
  layouts: Record<string, string>;
}

/**
 * Writes the weights, `config.json` and `vocab.txt` atomically and together: a save that fails
 * leaves the previous model whole.
 *
 * @example
 * ```ts ignore
 * await saveModel(dir, model, vocab, { threshold: 0.4, best: { metric: "micro_f1", value: 0.6, epoch: 3 } });
 * ```
 */
export async function saveModel(
  dir: string,
  model: MtmModel,
  vocab: Vocab,
  extra: Pick<SavedConfig, "threshold" | "best">,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const tensors = await model.params.save();
  const saved: SavedConfig = {
    format: "maskconv-mtm",
    version: 1,
    ...model.spec,
    ...extra,
    layouts: Object.fromEntries(model.params.list.map((p) => [p.slice?.of ?? p.name, p.doc])),
  };
  await writeFilesAtomic([
    {
      path: `${dir}/model.safetensors`,
      content: await encodeSafetensors(tensors, { format: "maskconv-mtm" }),
    },
    {
      path: `${dir}/config.json`,
      content: new TextEncoder().encode(JSON.stringify(saved, null, 2) + "\n"),
    },
    { path: `${dir}/vocab.txt`, content: (temporary) => saveVocab(vocab, temporary) },
  ]);
}

/** A model loaded from its folder. */
export interface LoadedModel {
  model: MtmModel;
  vocab: Vocab;
  saved: SavedConfig;
}

async function requireFolder(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    throw new DataError(`${dir}: no such model folder; train one with maskconv train --out ${dir}`);
  }
  if (!info.isDirectory) {
    throw new DataError(`${dir}: not a folder; --model takes the folder written by maskconv train`);
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch {
    throw new DataError(`${path}: missing; is this a folder written by maskconv train?`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === "string");

/** The parsed `config.json`, with every part the model is built from checked. */
function savedConfig(bytes: Uint8Array, path: string): SavedConfig {
  let saved: unknown;
  try {
    saved = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new DataError(`${path}: not valid JSON`);
  }
  if (!isObject(saved) || saved.format !== "maskconv-mtm" || saved.version !== 1) {
    const format = isObject(saved) ? ` (format ${JSON.stringify(saved.format)})` : "";
    throw new DataError(`${path}: not a maskconv model${format}`);
  }
  const fail = (key: string, expected: string): never => {
    throw new DataError(`${path}: "${key}" must be ${expected}, not ${JSON.stringify(saved[key])}`);
  };
  for (const key of ["vocabSize", "dim"]) {
    const value = saved[key];
    if (!Number.isInteger(value) || (value as number) < 1) fail(key, "a positive integer");
  }
  if (typeof saved.threshold !== "number" || !(saved.threshold >= 0 && saved.threshold <= 1)) {
    fail("threshold", "a probability");
  }
  const best = saved.best;
  const bestOk = isObject(best) && typeof best.metric === "string" &&
    Number.isFinite(best.value) && Number.isInteger(best.epoch);
  if (!bestOk) fail("best", "{metric, value, epoch} of the kept epoch");
  const space = saved.space;
  const spaceOk = isObject(space) && (space.mode === "aspects" || space.mode === "labels") &&
    isStrings(space.targets) && space.targets.length > 0 && Array.isArray(space.classes) &&
    space.classes.length === space.targets.length &&
    space.classes.every((c) => isStrings(c) && c.length > 0);
  if (!spaceOk) fail("space", "{mode, targets, classes} with the classes of every target");
  // Models saved before the mask scale existed were trained with m = p.
  const config = { maskScale: 1, ...configFromJson(saved.config, path) };
  if ((config.labelColumns ? "aspects" : "labels") !== (space as { mode: string }).mode) {
    throw new DataError(`${path}: "space" and "config" disagree on the mode`);
  }
  return { ...saved, config } as unknown as SavedConfig;
}

/**
 * Loads a model folder, checking that its files agree (vocabulary size, tensor names and
 * shapes); any problem is one {@link DataError} line naming the file.
 *
 * @example
 * ```ts ignore
 * const { model, vocab, saved } = await loadModel(gpu, "runs/debtags");
 * ```
 */
export async function loadModel(gpu: Gpu, dir: string): Promise<LoadedModel> {
  await requireFolder(dir);
  const configPath = `${dir}/config.json`;
  const saved = savedConfig(await readBytes(configPath), configPath);
  await readBytes(`${dir}/vocab.txt`);
  const vocab = loadVocab(`${dir}/vocab.txt`);
  if (vocab.size !== saved.vocabSize) {
    throw new DataError(
      `${dir}/vocab.txt: ${vocab.size} words, config.json says ${saved.vocabSize}`,
    );
  }
  const weightsPath = `${dir}/model.safetensors`;
  const { tensors } = await decodeSafetensors(await readBytes(weightsPath), weightsPath);
  const model = new MtmModel(gpu, saved);
  model.params.load(tensors, weightsPath);
  return { model, vocab, saved };
}
