/**
 * Resumable training: `checkpoint.safetensors` holds the parameters and the optimizer's moments,
 * `checkpoint.json` where training stood (epoch, batch, step, best score). Both are replaced
 * atomically, so an interruption at any moment leaves the last good checkpoint whole.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";
import { type Gpu, readBuffers } from "../../kernels/gpu.ts";
import type { TrainConfig } from "../task/config.ts";
import type { MtmModel } from "../network/mtm.ts";
import { decodeSafetensors, encodeSafetensors, writeFilesAtomic } from "../files/safetensors.ts";

/** Where a run stood when its checkpoint was written. */
export interface TrainState {
  trainPath: string;
  validPath: string;
  config: TrainConfig;
  /** The epoch under way (from 1) and how many of its batches are done. */
  epoch: number;
  batchesDone: number;
  /** Optimisation steps taken so far (keys of dropout and noise). */
  step: number;
  /** Running sums of the epoch under way, for its progress line and metrics row. */
  epochSums: { prediction: number; regularisers: number; documents: number; seconds: number };
  best: number;
  stale: number;
}

const STATE = "checkpoint.json";
const TENSORS = "checkpoint.safetensors";

/**
 * Writes the checkpoint of `model` at `state` into `dir`, both files before either replaces its
 * old one, so a failed write keeps the last checkpoint whole; tensors are renamed first: a crash
 * between the two renames leaves a state that still names an older step, which resuming detects.
 *
 * @example
 * ```ts ignore
 * await saveCheckpoint(gpu, "runs/tags", model, state);
 * ```
 */
export async function saveCheckpoint(
  gpu: Gpu,
  dir: string,
  model: MtmModel,
  state: TrainState,
): Promise<void> {
  const tensors = await model.params.save();
  const moments = model.optimizer.moments();
  const data = await readBuffers(gpu, moments.flatMap((m) => [m.m, m.v]));
  moments.forEach((m, i) => {
    tensors[`adam.m.${m.name}`] = { shape: [m.size], data: new Float32Array(data[2 * i]) };
    tensors[`adam.v.${m.name}`] = { shape: [m.size], data: new Float32Array(data[2 * i + 1]) };
  });
  const metadata = { step: String(state.step), adam_step: String(model.optimizer.step) };
  await writeFilesAtomic([
    { path: `${dir}/${TENSORS}`, content: await encodeSafetensors(tensors, metadata) },
    {
      path: `${dir}/${STATE}`,
      content: new TextEncoder().encode(JSON.stringify(state, null, 2) + "\n"),
    },
  ]);
}

/**
 * The state saved in `dir`, or a one-line {@link DataError} when there is none.
 *
 * @example
 * ```ts ignore
 * const state = await readCheckpointState("runs/tags");
 * ```
 */
export async function readCheckpointState(dir: string): Promise<TrainState> {
  const path = `${dir}/${STATE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new DataError(`${path}: no checkpoint to resume from`);
  }
  try {
    return JSON.parse(text) as TrainState;
  } catch {
    throw new DataError(`${path}: not valid JSON`);
  }
}

/**
 * Restores the parameters, the optimizer's moments and its step from `dir` into `model`.
 *
 * @example
 * ```ts ignore
 * await restoreCheckpoint(gpu, "runs/tags", model, state);
 * ```
 */
export async function restoreCheckpoint(
  gpu: Gpu,
  dir: string,
  model: MtmModel,
  state: TrainState,
): Promise<void> {
  const path = `${dir}/${TENSORS}`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    throw new DataError(`${path}: missing; the checkpoint cannot be resumed`);
  }
  const { tensors, metadata } = await decodeSafetensors(bytes, path);
  if (Number(metadata.step) !== state.step) {
    throw new DataError(`${path}: holds step ${metadata.step}, ${STATE} says ${state.step}`);
  }
  model.params.load(tensors, path);
  for (const m of model.optimizer.moments()) {
    for (const [key, buffer] of [["m", m.m], ["v", m.v]] as const) {
      const saved = tensors[`adam.${key}.${m.name}`];
      if (!saved || saved.data.length !== m.size) {
        throw new DataError(
          `${path}: optimizer state adam.${key}.${m.name} is missing or mis-sized`,
        );
      }
      gpu.device.queue.writeBuffer(buffer, 0, Float32Array.from(saved.data));
    }
  }
  model.optimizer.setStep(Number(metadata.adam_step));
}
