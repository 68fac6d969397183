/**
 * `maskconv bench --model`: the time of one training step of the default model on the shipped
 * Debtags sample, with the fast shared masked convolution or the materialised (naive) one.
 *
 * @module
 */

import { readTable } from "../data/csv.ts";
import { buildVocab } from "../data/vocab.ts";
import { getGpu } from "../kernels/gpu.ts";
import { configFromFlags } from "../model/task/config.ts";
import {
  documentTokens,
  encodeDocuments,
  lengthBuckets,
  paddedLength,
  targetSpace,
} from "../model/task/dataset.ts";
import { MtmModel } from "../model/network/mtm.ts";
import { taskSpec } from "../model/training/train.ts";

/**
 * Times `repeat` training steps (after one warm-up) on the first length-bucketed batch of the
 * Debtags sample, and returns one JSON-able record.
 *
 * @example
 * ```ts ignore
 * console.log(await benchModelStep({ repeat: 3, naive: false }));
 * ```
 */
export async function benchModelStep(
  { repeat, naive }: { repeat: number; naive: boolean },
): Promise<Record<string, unknown>> {
  const path = new URL("../fixtures/debtags/train.csv", import.meta.url).pathname;
  const config = configFromFlags({ "labels-column": "tags" });
  const table = readTable(path);
  const spec = taskSpec(config);
  const space = targetSpace(table, spec, config.minLabelCount);
  const tokens = documentTokens(table, spec);
  const vocab = buildVocab(tokens, config.minCount);
  const docs = encodeDocuments(table, spec, vocab, space, config.maxLen, tokens);
  const [members] = lengthBuckets(
    docs.ids.map((d) => d.length),
    config.batchSize,
    config.seed,
    config.maxLen,
  );
  const batch = {
    ids: members.map((i) => docs.ids[i]),
    targets: members.map((i) => docs.targets[i]),
  };
  const L = paddedLength(Math.max(...batch.ids.map((d) => d.length)), config.maxLen);
  const gpu = await getGpu();
  const spec64 = { config, vocabSize: vocab.size, dim: config.embeddingDim, space };
  const model = new MtmModel(gpu, spec64, { encoder: naive ? "naive" : "fast" });
  const times: number[] = [];
  for (let step = 1; step <= repeat + 1; step++) {
    const started = performance.now();
    await model.trainStep(batch, step, L);
    if (step > 1) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const middle = times.length >> 1;
  const median = times.length % 2 ? times[middle] : (times[middle - 1] + times[middle]) / 2;
  return {
    model_step: "debtags sample, default model",
    mode: naive ? "naive" : "fast",
    B: batch.ids.length,
    L,
    D: config.embeddingDim,
    T: space.targets.length,
    widths: config.widths,
    filters: config.filters,
    repeat,
    ms_per_step_median: median,
    ms_min: times[0],
    adapter: gpu.description,
  };
}
