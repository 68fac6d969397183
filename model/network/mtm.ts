/**
 * The Multi-Target Masker assembled from the verified kernels: embedding → masker → token
 * softmax (target masks) → shared masked convolution → per-target classifiers → losses, with
 * the MTM regularisers and Adam, all on the GPU. A training step is one submission; only the
 * loss terms and the gradient norm are read back.
 *
 * @module
 */

import { Adam, decodeStats } from "../../kernels/adam/adam.ts";
import { buildTokenIndex } from "../../kernels/embedding/embedding.ts";
import { type Gpu, readBuffers } from "../../kernels/gpu.ts";
import { mulberry32 } from "../../base/rng.ts";
import { DataError } from "../../base/errors.ts";
import {
  type Batch,
  BatchPlan,
  batchTensors,
  documentsPerPass,
  largestTensor,
  passBytesPerDocument,
} from "./batch_plan.ts";
import { GradientAccumulation } from "../../kernels/gradient_accumulation/gradient_accumulation.ts";
import { accumulationPhase } from "../../kernels/gradient_accumulation/reference.ts";
import { batchWordBudget, paddedLength } from "../task/dataset.ts";
import { declareParameters, type MtmParameters } from "./model_parameters.ts";
import { type Parameter, ParameterSet } from "./parameters.ts";
import type { SoftmaxMode } from "../../kernels/token_softmax/reference.ts";
import type { TrainConfig } from "../task/config.ts";
import type { ModelSpec } from "../task/spec.ts";

/** What a training step reads back. */
export interface StepStats {
  /** Prediction loss, mean over the batch. */
  prediction: number;
  /** λ_sel·l_sel + λ_cont·l_cont, mean over the batch. */
  regularisers: number;
  /** Global gradient norm before clipping (not finite: the step was skipped). */
  gradNorm: number;
}

/** What prediction reads back. */
export interface Prediction {
  /** probabilities: [B,T,C] (softmax over each target's classes, or sigmoids with C = 1). */
  probabilities: Float32Array;
  /** p: [B,L,T+1], each word's distribution over "none" and the targets. */
  tokenProbabilities: Float32Array;
  L: number;
}

/**
 * Device bytes the plans of recent batch shapes may hold together. Length-bucketed batches come
 * in a few dozen shapes (30 on full Debtags); keeping every plan held 5.3 GB there, while one
 * plan's rebuild costs about a tenth of a step, so the least recently used plans are freed
 * beyond this.
 */
const PLAN_CACHE_BYTES = 2 ** 30;

/** How a model is built, beyond its spec. */
export interface ModelOptions {
  /** Initial embeddings [V,D] in place of random ones. */
  embeddings?: Float32Array;
  /** The shared masked convolution: the fast one, or the materialised one for comparison. */
  encoder?: "fast" | "naive";
  /** Device bytes the plans of recent batch shapes may hold together (at least one is kept). */
  planCacheBytes?: number;
  /** The binding size passes are planned for: the adapter's, unless a test asks for less. */
  maxBindingBytes?: number;
  /** Device bytes one pass's tensors and their gradients may take together: no bound unless
   * the memory plan sets one (see {@link planDeviceMemory}). */
  maxPassBytes?: number;
  /** Bytes past which a parameter is split into slices (PARAMETER_SLICE_BYTES unless a test
   * asks for less). */
  parameterSliceBytes?: number;
}

/**
 * The model: parameters on the GPU, an optimizer, and one launcher plan per batch shape.
 *
 * @example
 * ```ts
 * import { getGpu } from "../../kernels/gpu.ts";
 * import { DEFAULTS } from "../task/config.ts";
 * import { MtmModel } from "./mtm.ts";
 * const config = { ...DEFAULTS, labelsColumn: "tags", widths: [3], filters: 4, maskerHidden: 4 };
 * const space = { mode: "labels" as const, targets: ["a", "b"], classes: [["1"], ["1"]] };
 * const model = new MtmModel(await getGpu(), { config, vocabSize: 5, dim: 3, space });
 * const stats = await model.trainStep({ ids: [Int32Array.of(2, 3, 4)], targets: [Int32Array.of(1, 0)] }, 1);
 * console.log(stats.prediction > 0);
 * ```
 */
export class MtmModel {
  readonly spec: ModelSpec;
  readonly params: ParameterSet;
  /** The same parameters as typed handles, by the stage that uses them. */
  readonly parts: MtmParameters;
  readonly seeds: { dropout: number; noise: number; featureDropout: number };
  /** The shared masked convolution: the fast one, or the materialised one for comparison. */
  readonly encoder: "fast" | "naive";
  #gpu: Gpu;
  /** Plans by shape, least recently used first. */
  #plans = new Map<string, BatchPlan>();
  #planCacheBytes: number;
  #maxBindingBytes: number;
  #maxPassBytes: number;
  #adam: Adam;
  /** The parameters the optimizer trains (frozen embeddings left out). */
  #trained: Parameter[];
  /** Made on the first batch that needs several passes. */
  #accumulation?: GradientAccumulation;

  /** A model with seeded initial parameters (see {@link ModelOptions}). */
  constructor(
    gpu: Gpu,
    spec: ModelSpec,
    {
      embeddings,
      encoder = "fast",
      planCacheBytes = PLAN_CACHE_BYTES,
      parameterSliceBytes,
      maxBindingBytes = gpu.limits.maxStorageBufferBindingSize,
      maxPassBytes = Infinity,
    }: ModelOptions = {},
  ) {
    this.#gpu = gpu;
    this.spec = spec;
    this.encoder = encoder;
    this.#planCacheBytes = planCacheBytes;
    this.#maxBindingBytes = maxBindingBytes;
    this.#maxPassBytes = maxPassBytes;
    const { config } = spec;
    const next = mulberry32(config.seed);
    this.seeds = {
      dropout: (config.seed * 2 + 1) >>> 0,
      noise: (config.seed * 2 + 2) >>> 0,
      featureDropout: (config.seed * 2 + 3) >>> 0,
    };
    const params = this.params = new ParameterSet(gpu, next);
    this.parts = declareParameters(params, spec, embeddings, parameterSliceBytes);
    this.#trained = params.list.filter((p) => p.trainable);
    this.#adam = new Adam(
      gpu,
      this.#trained.map((p) => ({
        name: p.name,
        value: p.value,
        grad: p.grad,
        size: p.size,
      })),
      { lr: config.lr, weightDecay: config.l2, maxNorm: config.clip },
    );
  }

  /** The optimizer (its moments and step are part of a checkpoint). */
  get optimizer(): Adam {
    return this.#adam;
  }

  #plan(B: number, L: number, batchDocs = B): BatchPlan {
    const key = `${B}x${L}/${batchDocs}`;
    let plan = this.#plans.get(key);
    this.#plans.delete(key);
    if (!plan) {
      plan = new BatchPlan(this.#gpu, this, B, L, batchDocs);
      let kept = plan.bytes;
      for (const other of [...this.#plans.values()].reverse()) {
        kept += other.bytes;
        if (kept <= this.#planCacheBytes) continue;
        this.#plans.delete(`${other.B}x${other.L}/${other.batchDocs}`);
        other.destroy();
      }
    }
    this.#plans.set(key, plan);
    return plan;
  }

  /**
   * `batch` cut into passes that each fit the adapter's bindings (and the pass bytes the memory
   * plan allows) at padded length L (one pass when it fits whole), as even as possible, in
   * document order.
   */
  passes(batch: Batch, L: number): Batch[] {
    const B = batch.ids.length;
    const fit = documentsPerPass(this.spec, L, this.#maxBindingBytes, this.#maxPassBytes);
    if (fit < 1) {
      const [name, size] = largestTensor(this.spec, L);
      const overBinding = size * 4 > this.#maxBindingBytes;
      throw new DataError(
        `one document of ${L} words needs ` +
          (overBinding
            ? `${mib(size * 4)} for its ${name}, over this adapter's ` +
              `${mib(this.#maxBindingBytes)} per buffer`
            : `${mib(passBytesPerDocument(this.spec, L))} for its tensors, over the ` +
              `${mib(this.#maxPassBytes)} a pass may take`) +
          ": lower --max-len",
      );
    }
    const count = Math.ceil(B / fit);
    const passes: Batch[] = [];
    for (let i = 0, first = 0; i < count; i++) {
      const size = Math.floor(B / count) + (i < B % count ? 1 : 0);
      passes.push({
        ids: batch.ids.slice(first, first + size),
        targets: batch.targets?.slice(first, first + size),
      });
      first += size;
    }
    return passes;
  }

  /**
   * Uploads `batch` and records its forward and backward in a new encoder, leaving the pass
   * open: with a training `step`, with dropout and the configured noise keyed by it; without
   * one, deterministically (no dropout, soft masks).
   */
  #encodeForwardBackward(batch: Batch, L: number, step?: number, batchDocs?: number) {
    const plan = this.#prepare(batch, L, step, batchDocs);
    const encoder = this.#gpu.device.createCommandEncoder({
      label: step === undefined ? "loss and gradients" : "train step",
    });
    plan.encodeClears(encoder);
    const pass = encoder.beginComputePass();
    plan.encodeForward(pass);
    plan.encodeBackward(pass);
    return { plan, encoder, pass };
  }

  /** The plan of `batch`'s shape with the batch uploaded and its step's keys set. */
  #prepare(batch: Batch, L: number, step?: number, batchDocs?: number): BatchPlan {
    const plan = this.#plan(batch.ids.length, L, batchDocs);
    const { ids, lengths } = plan.upload(this.#gpu, batch, this.spec.space.targets.length);
    if (this.spec.config.trainEmbeddings) {
      plan.embedding.uploadIndex(buildTokenIndex(ids, lengths, L));
    }
    plan.embedding.setTraining(step !== undefined);
    plan.featureDropout?.setTraining(step !== undefined);
    if (step === undefined) {
      plan.softmax.configure({ mode: evaluationMode(this.spec.config) });
    } else {
      plan.embedding.setStep(step);
      plan.featureDropout?.setStep(step);
      plan.softmax.configure({ mode: trainingMode(this.spec.config), step });
    }
    return plan;
  }

  /**
   * Milliseconds of each stage's forward and backward and of the optimizer on `batch`, each
   * submitted and waited for on its own (the median of `repeat` runs), for a breakdown of a
   * training step where the adapter has no timestamp queries. The optimizer runs: the weights
   * change as in `repeat` training steps. A batch that runs in passes is timed on its first
   * pass (gradient accumulation aside, a step costs each pass in turn).
   */
  async stageTimes(
    batch: Batch,
    step: number,
    L = longest(batch),
    repeat = 3,
  ): Promise<Record<string, number>> {
    const plan = this.#prepare(this.passes(batch, L)[0], L, step, batch.ids.length);
    const times: Record<string, number> = {};
    const time = async (name: string, record: (encoder: GPUCommandEncoder) => void) => {
      const runs: number[] = [];
      for (let r = 0; r < repeat; r++) {
        const encoder = this.#gpu.device.createCommandEncoder({ label: name });
        record(encoder);
        const started = performance.now();
        this.#gpu.device.queue.submit([encoder.finish()]);
        await this.#gpu.device.queue.onSubmittedWorkDone();
        runs.push(performance.now() - started);
      }
      times[name] = runs.sort((a, b) => a - b)[repeat >> 1];
    };
    const inPass = (encoder: GPUCommandEncoder, record: (pass: GPUComputePassEncoder) => void) => {
      const pass = encoder.beginComputePass();
      record(pass);
      pass.end();
    };
    for (const [name, stage] of plan.namedStages) {
      await time(`${name} forward`, (e) => inPass(e, (pass) => stage.encodeForward(pass)));
    }
    for (const [name, stage] of plan.namedStages.toReversed()) {
      await time(`${name} backward`, (e) => {
        stage.encodeClears?.(e);
        inPass(e, (pass) => stage.encodeBackward(pass));
      });
    }
    await time("optimizer", (e) => inPass(e, (pass) => this.#adam.encodeStep(pass, 1)));
    return times;
  }

  /**
   * One optimisation step on `batch` at lr · `lrScale`; `step` (from 1) keys its dropout and
   * Gumbel noise. A batch larger than one pass holds runs as several passes (see
   * {@link passes}) whose gradients add up before the one optimizer step.
   */
  trainStep(batch: Batch, step: number, L = longest(batch), lrScale = 1): Promise<StepStats> {
    return this.#runPasses(batch, L, { step, lrScale });
  }

  /**
   * Forward and backward of every pass of `batch`, their gradients added up when there are
   * several; with `training`, its step's dropout and noise and then the optimizer step.
   */
  async #runPasses(
    batch: Batch,
    L: number,
    training?: { step: number; lrScale: number },
  ): Promise<StepStats> {
    const passes = this.passes(batch, L);
    if (passes.length > 1) {
      this.#accumulation ??= new GradientAccumulation(this.#gpu, this.#trained);
    }
    const stats = { prediction: 0, regularisers: 0, gradNorm: NaN };
    for (const [i, part] of passes.entries()) {
      const { plan, encoder, pass } = this.#encodeForwardBackward(
        part,
        L,
        training?.step,
        batch.ids.length,
      );
      const phase = accumulationPhase(i, passes.length);
      if (phase) this.#accumulation!.encode(pass, phase);
      const optimize = training && i === passes.length - 1;
      if (optimize) this.#adam.encodeStep(pass, training.lrScale);
      pass.end();
      const values = await this.#readLosses(plan, encoder, optimize);
      const B = plan.B;
      const sum = (from: number) => values.subarray(from, from + B).reduce((a, b) => a + b, 0);
      stats.prediction += sum(0);
      stats.regularisers += sum(B);
      if (optimize) stats.gradNorm = decodeStats(values.buffer.slice(2 * B * 4)).norm;
    }
    return stats;
  }

  /** Submits `encoder` with the copies of the pass's losses (and the optimizer's stats). */
  async #readLosses(plan: BatchPlan, encoder: GPUCommandEncoder, stats = false) {
    const B = plan.B;
    encoder.copyBufferToBuffer(plan.loss.documentLoss, 0, plan.staging, 0, B * 4);
    encoder.copyBufferToBuffer(plan.regulariserLoss, 0, plan.staging, B * 4, B * 4);
    if (stats) encoder.copyBufferToBuffer(this.#adam.stats, 0, plan.staging, 2 * B * 4, 16);
    this.#gpu.device.queue.submit([encoder.finish()]);
    await plan.staging.mapAsync(GPUMapMode.READ);
    const values = new Float32Array(plan.staging.getMappedRange().slice(0));
    plan.staging.unmap();
    return values;
  }

  /**
   * Forward and backward without dropout, noise or an optimizer step: the loss of `batch`,
   * with every parameter's gradient (summed over its passes) left in its `grad` buffer. For
   * gradient checks.
   */
  async lossAndGradients(batch: Batch, L = longest(batch)): Promise<number> {
    const { prediction, regularisers } = await this.#runPasses(batch, L);
    return prediction + regularisers;
  }

  /**
   * The first tensor holding a NaN or an infinity, in the order the last step of `batch`'s shape
   * computed them (parameters first, then activations, then gradients); undefined if none.
   */
  async firstNonFinite(batch: Batch, L = longest(batch)): Promise<string | undefined> {
    const plan = this.#plan(batch.ids.length, L);
    const named: [string, GPUBuffer][] = [
      ...this.params.list.map((p): [string, GPUBuffer] => [`parameter ${p.name}`, p.value]),
      ...plan.tensors,
      ...this.params.list.map((p): [string, GPUBuffer] => [`gradient of ${p.name}`, p.grad]),
    ];
    for (const [name, buffer] of named) {
      const [data] = await readBuffers(this.#gpu, [buffer]);
      if (new Float32Array(data).some((v) => !Number.isFinite(v))) return name;
    }
    return undefined;
  }

  /**
   * Forward only, without dropout or noise: target probabilities and word distributions, pass
   * by pass when the batch needs several.
   */
  async predict(batch: Batch, L = longest(batch)): Promise<Prediction> {
    const parts = [];
    for (const part of this.passes(batch, L)) parts.push(await this.#predictPass(part, L));
    if (parts.length === 1) return parts[0];
    const join = (arrays: Float32Array[]) => {
      const joined = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
      arrays.reduce((offset, a) => (joined.set(a, offset), offset + a.length), 0);
      return joined;
    };
    return {
      probabilities: join(parts.map((p) => p.probabilities)),
      tokenProbabilities: join(parts.map((p) => p.tokenProbabilities)),
      L,
    };
  }

  async #predictPass(batch: Batch, L: number): Promise<Prediction> {
    const gpu = this.#gpu;
    const plan = this.#plan(batch.ids.length, L);
    plan.upload(gpu, batch, this.spec.space.targets.length);
    plan.embedding.setTraining(false);
    plan.featureDropout?.setTraining(false);
    plan.softmax.configure({ mode: evaluationMode(this.spec.config) });
    const encoder = gpu.device.createCommandEncoder({ label: "predict" });
    const pass = encoder.beginComputePass();
    plan.encodeForward(pass);
    pass.end();
    // Staging buffers of the plan, made on its first prediction and reused by every later one.
    plan.predictionStaging ??= [plan.loss.probabilities, plan.p].map((source) =>
      gpu.device.createBuffer({
        label: "prediction readback",
        size: source.size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      })
    );
    const read = plan.predictionStaging;
    encoder.copyBufferToBuffer(plan.loss.probabilities, 0, read[0], 0, read[0].size);
    encoder.copyBufferToBuffer(plan.p, 0, read[1], 0, read[1].size);
    gpu.device.queue.submit([encoder.finish()]);
    await Promise.all(read.map((b) => b.mapAsync(GPUMapMode.READ)));
    const [probabilities, tokenProbabilities] = read.map((b) => {
      const copy = new Float32Array(b.getMappedRange().slice(0));
      b.unmap();
      return copy;
    });
    return { probabilities, tokenProbabilities, L };
  }
}

/** How the batches of a training run use the device: see {@link planDeviceMemory}. */
export interface MemoryPlan {
  /** Estimated device bytes: the parameters (value, gradient, two moments, and an accumulator
   * when batches run in passes) and the largest pass's tensors with their gradients. */
  bytes: number;
  /** Documents of the longest padded length one pass holds, when the largest batch needs
   * passes. */
  passDocuments?: number;
  /** Device bytes a pass may take, when memory rather than bindings bounds the passes: the
   * model's {@link ModelOptions.maxPassBytes}. */
  maxPassBytes?: number;
  /** One line saying whether batches run whole or in passes, and why. */
  summary: string;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * Plans, before anything is allocated, how the largest batch (`--batch-size` documents, or
 * fewer of `--max-len` words: see batchWordBudget) fits the adapter's binding limit: whole, or in
 * passes whose gradients add up (the model cuts them, see {@link MtmModel.passes}). With
 * `explicitBatch` (the user chose the batch size) a batch that does not fit whole is a one-line
 * {@link DataError} saying what to lower instead; so is a single document too long for a pass.
 * `longest`, the longest document's words when the data is known, bounds the padded length.
 * With `memoryBytes` (the device memory training may use, where it is known), a plan over it
 * runs in smaller passes, `maxPassBytes` each, or is refused the same way.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "../task/config.ts";
 * import { planDeviceMemory } from "./mtm.ts";
 * const space = { mode: "labels" as const, targets: ["a", "b"], classes: [["1"], ["1"]] };
 * const spec = { config: { ...DEFAULTS, labelsColumn: "tags" }, vocabSize: 1000, dim: 100, space };
 * console.log(planDeviceMemory(spec, { maxStorageBufferBindingSize: 2 ** 27 }).summary);
 * ```
 */
export function planDeviceMemory(
  spec: ModelSpec,
  limits: Record<string, number>,
  { explicitBatch = false, longest = Infinity, memoryBytes = Infinity } = {},
): MemoryPlan {
  const plan = bindingPlan(spec, limits, explicitBatch, longest);
  return plan.bytes <= memoryBytes
    ? plan
    : memoryPlan(spec, limits.maxStorageBufferBindingSize, explicitBatch, longest, memoryBytes);
}

/** The plan of {@link planDeviceMemory} by the binding limit alone. */
function bindingPlan(
  spec: ModelSpec,
  limits: Record<string, number>,
  explicitBatch: boolean,
  longest: number,
): MemoryPlan {
  const { batchSize: B } = spec.config;
  // Batches pad to the longest document they hold, never past --max-len.
  const L = paddedLength(Math.min(longest, spec.config.maxLen), spec.config.maxLen);
  const binding = limits.maxStorageBufferBindingSize;
  // The most padded words one batch holds (see batchWordBudget): B·L, or fewer documents of L.
  const words = Math.min(B * L, Math.max(batchWordBudget(B), L));
  const tensors = batchTensors(spec, B, words);
  const [name, size] = tensors.reduce((a, b) => b[1] > a[1] ? b : a);
  if (size * 4 <= binding) {
    return {
      bytes: deviceBytes(spec, tensors, false),
      summary: `batches of ${B} documents (at most ${words} padded words) run in one pass each`,
    };
  }
  const fit = documentsPerPass(spec, L, binding);
  if (explicitBatch || fit < 1) {
    const batch = Math.floor(binding / 4 / (size / B));
    throw new DataError(
      `the ${name} of a batch of ${B} × ${words / B} words needs ${mib(size * 4)}, over ` +
        `this adapter's ${mib(binding)} per buffer: lower ` +
        (fit < 1 ? `--max-len` : `--batch-size to ${batch} or less, or --max-len`),
    );
  }
  // The largest pass: fit documents of L words, or more shorter ones (16 words, the shortest
  // padded length, at the most).
  const mostDocuments = Math.min(B, documentsPerPass(spec, 16, binding));
  const passTensors = batchTensors(spec, mostDocuments, Math.min(words, fit * L));
  const [, perDocument] = largestTensor(spec, L);
  return {
    bytes: deviceBytes(spec, passTensors, true),
    passDocuments: fit,
    summary: `batches of ${B} documents run in passes of up to ${fit} documents of ${L} ` +
      `words (more when shorter): one document's ${name} takes ${mib(perDocument * 4)} and ` +
      `this adapter binds ${mib(binding)} per buffer; gradients add up over a batch's passes, ` +
      `so each step still learns from ${B} documents`,
  };
}

/** Passes small enough that the parameters and the largest pass fit `memoryBytes`. */
function memoryPlan(
  spec: ModelSpec,
  binding: number,
  explicitBatch: boolean,
  longest: number,
  memoryBytes: number,
): MemoryPlan {
  const { batchSize: B, maxLen } = spec.config;
  const L = paddedLength(Math.min(longest, maxLen), maxLen);
  const parameters = deviceBytes(spec, [], true);
  const maxPassBytes = memoryBytes - parameters;
  const fit = documentsPerPass(spec, L, binding, maxPassBytes);
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const over = `over the ${gib(memoryBytes)} of device memory training may use`;
  if (fit < 1) {
    throw new DataError(
      `the parameters and one document of ${L} words need about ` +
        `${gib(parameters + passBytesPerDocument(spec, L))}, ${over}: lower --max-len`,
    );
  }
  if (explicitBatch && fit < B) {
    throw new DataError(
      `a batch of ${B} × ${L} words needs about ` +
        `${gib(parameters + B * passBytesPerDocument(spec, L))}, ${over}: lower --batch-size ` +
        `to ${fit} or less, or --max-len`,
    );
  }
  return {
    bytes: parameters + Math.min(B, fit) * passBytesPerDocument(spec, L),
    passDocuments: fit,
    maxPassBytes,
    summary: `batches of ${B} documents run in passes of up to ${fit} documents of ${L} ` +
      `words (more when shorter), so that the model stays within the ${gib(memoryBytes)} of ` +
      `device memory training may use; gradients add up over a batch's passes, so each step ` +
      `still learns from ${B} documents`,
  };
}

/** Activations and their gradients, and each parameter's value, gradient, two moments and,
 * for batches in passes, accumulator. */
function deviceBytes(spec: ModelSpec, tensors: [string, number][], passes: boolean): number {
  const T = spec.space.targets.length;
  const { config } = spec;
  const parameterValues = spec.vocabSize * spec.dim + 4 * spec.dim * config.maskerHidden * 8 +
    T * (config.widths.length * config.filters + 1) * Math.max(1, config.classifierHidden);
  return 4 * (2 * tensors.reduce((a, [, n]) => a + n, 0) + (passes ? 5 : 4) * parameterValues);
}

function longest(batch: Batch): number {
  return Math.max(1, ...batch.ids.map((d) => d.length));
}

/** How the token distributions are drawn in training: sparse masks draw their kept targets. */
function trainingMode(config: TrainConfig): SoftmaxMode {
  return config.mask === "sparse" ? "sparse-sampled" : config.mask;
}

/** How the token distributions are drawn outside training: sparse masks stay sparse. */
function evaluationMode(config: TrainConfig): "soft" | "sparse" {
  return config.mask === "sparse" ? "sparse" : "soft";
}
