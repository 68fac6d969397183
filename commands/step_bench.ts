/**
 * `maskconv bench --model-step`: the time of one training step (forward, backward and Adam) of
 * the default model, with the fast shared masked convolution or the materialised (naive) one,
 * on the first length-bucketed batch of the shipped Debtags sample or, with `targets`, on
 * synthetic documents of `maxLen` random words with 5 random labels each. With `stages`, each
 * stage's forward and backward is also timed on its own.
 *
 * @module
 */

import { readTable } from "../data/csv.ts";
import { buildVocab } from "../data/vocab.ts";
import { getGpu } from "../kernels/gpu.ts";
import { configFromFlags, type TrainConfig } from "../model/task/config.ts";
import {
  documentTokens,
  encodeDocuments,
  lengthBuckets,
  paddedLength,
  type TargetSpace,
  targetSpace,
} from "../model/task/dataset.ts";
import { MtmModel, planDeviceMemory } from "../model/network/mtm.ts";
import type { Batch } from "../model/network/batch_plan.ts";
import { taskSpec } from "../model/training/train.ts";
import { mulberry32 } from "../base/rng.ts";

/** What to time: the sample's batch, or a synthetic one of `targets` labels. */
export interface ModelStepOptions {
  repeat: number;
  naive: boolean;
  /** Synthetic labels; absent: the Debtags sample. */
  targets?: number;
  /** Words of every synthetic document (default 256); the sample's padded longest otherwise. */
  maxLen?: number;
  /** Documents per step (default: the default batch size). */
  batchSize?: number;
  /** Also time each stage on its own. */
  stages?: boolean;
}

/** Words in the synthetic vocabulary (GloVe's coverage of a real corpus is not the point). */
const SYNTHETIC_VOCABULARY = 20000;

/**
 * Times `repeat` training steps (after one warm-up) and returns one JSON-able record: the
 * median and fastest step, documents per second, the peak resident memory and the device memory
 * the plan needs (as the training's memory check counts it).
 *
 * @example
 * ```ts ignore
 * console.log(await benchModelStep({ repeat: 3, naive: false, targets: 1000, maxLen: 64 }));
 * ```
 */
export async function benchModelStep(options: ModelStepOptions): Promise<Record<string, unknown>> {
  const { repeat, naive } = options;
  const { name, config, space, vocabSize, batch, L } = options.targets === undefined
    ? sampleBatch(options)
    : syntheticBatch(options.targets, options);
  const spec = { config, vocabSize, dim: config.embeddingDim, space };
  const gpu = await getGpu();
  const deviceBytes = planDeviceMemory(spec, gpu.limits).bytes;
  const model = new MtmModel(gpu, spec, { encoder: naive ? "naive" : "fast" });
  let peakRss = Deno.memoryUsage().rss;
  const times: number[] = [];
  for (let step = 1; step <= repeat + 1; step++) {
    const started = performance.now();
    await model.trainStep(batch, step, L);
    if (step > 1) times.push(performance.now() - started);
    peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
  }
  times.sort((a, b) => a - b);
  const middle = times.length >> 1;
  const median = times.length % 2 ? times[middle] : (times[middle - 1] + times[middle]) / 2;
  const B = batch.ids.length;
  const stages = options.stages ? await model.stageTimes(batch, repeat + 2, L) : undefined;
  return {
    model_step: name,
    mode: naive ? "naive" : "fast",
    B,
    L,
    passes: model.passes(batch, L).length,
    D: config.embeddingDim,
    T: space.targets.length,
    widths: config.widths,
    filters: config.filters,
    repeat,
    ms_per_step_median: median,
    ms_min: times[0],
    docs_per_s: B / (median / 1000),
    peak_rss_mb: Math.max(peakRss, Deno.memoryUsage().rss) / 2 ** 20,
    device_mb_planned: deviceBytes / 2 ** 20,
    ...stages ? { stage_ms: stages } : {},
    adapter: gpu.description,
  };
}

interface BenchBatch {
  name: string;
  config: TrainConfig;
  space: TargetSpace;
  vocabSize: number;
  batch: Batch;
  L: number;
}

/** The first length-bucketed batch of the Debtags sample, default flags. */
function sampleBatch({ batchSize }: ModelStepOptions): BenchBatch {
  const path = new URL("../fixtures/debtags/train.csv", import.meta.url).pathname;
  const flags = batchSize ? { "batch-size": String(batchSize) } : {};
  const config = configFromFlags({ "labels-column": "tags", ...flags });
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
  return { name: "debtags sample, default model", config, space, vocabSize: vocab.size, batch, L };
}

/** B documents of exactly maxLen random words, 5 random labels each, default model. */
function syntheticBatch(T: number, { maxLen = 256, batchSize }: ModelStepOptions): BenchBatch {
  const flags: Record<string, string> = { "labels-column": "labels", "max-len": String(maxLen) };
  if (batchSize) flags["batch-size"] = String(batchSize);
  const config = configFromFlags(flags);
  const next = mulberry32(config.seed);
  const B = config.batchSize;
  const space: TargetSpace = {
    mode: "labels",
    targets: Array.from({ length: T }, (_, t) => `label${t}`),
    classes: Array.from({ length: T }, () => ["1"]),
  };
  const ids = Array.from(
    { length: B },
    () =>
      Int32Array.from(
        { length: maxLen },
        () => 2 + Math.floor(next() * (SYNTHETIC_VOCABULARY - 2)),
      ),
  );
  const targets = Array.from({ length: B }, () => {
    const row = new Int32Array(T);
    for (let k = 0; k < 5; k++) row[Math.floor(next() * T)] = 1;
    return row;
  });
  return {
    name: `synthetic, ${T} labels, ${maxLen} words, default model`,
    config,
    space,
    vocabSize: SYNTHETIC_VOCABULARY,
    batch: { ids, targets },
    L: paddedLength(maxLen, maxLen),
  };
}
