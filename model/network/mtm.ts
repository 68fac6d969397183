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
import { type Batch, BatchPlan, batchTensors } from "./batch_plan.ts";
import { batchWordBudget } from "../task/dataset.ts";
import { declareParameters, type MtmParameters } from "./model_parameters.ts";
import { ParameterSet } from "./parameters.ts";
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
  #adam: Adam;

  /** A model with seeded initial parameters (see {@link ModelOptions}). */
  constructor(
    gpu: Gpu,
    spec: ModelSpec,
    { embeddings, encoder = "fast", planCacheBytes = PLAN_CACHE_BYTES, parameterSliceBytes }:
      ModelOptions = {},
  ) {
    this.#gpu = gpu;
    this.spec = spec;
    this.encoder = encoder;
    this.#planCacheBytes = planCacheBytes;
    const { config } = spec;
    const next = mulberry32(config.seed);
    this.seeds = {
      dropout: (config.seed * 2 + 1) >>> 0,
      noise: (config.seed * 2 + 2) >>> 0,
      featureDropout: (config.seed * 2 + 3) >>> 0,
    };
    const params = this.params = new ParameterSet(gpu, next);
    this.parts = declareParameters(params, spec, embeddings, parameterSliceBytes);
    this.#adam = new Adam(
      gpu,
      params.list.filter((p) => p.trainable).map((p) => ({
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

  #plan(B: number, L: number): BatchPlan {
    const key = `${B}x${L}`;
    let plan = this.#plans.get(key);
    this.#plans.delete(key);
    if (!plan) {
      plan = new BatchPlan(this.#gpu, this, B, L);
      let kept = plan.bytes;
      for (const other of [...this.#plans.values()].reverse()) {
        kept += other.bytes;
        if (kept <= this.#planCacheBytes) continue;
        this.#plans.delete(`${other.B}x${other.L}`);
        other.destroy();
      }
    }
    this.#plans.set(key, plan);
    return plan;
  }

  /**
   * Uploads `batch` and records its forward and backward in a new encoder, leaving the pass
   * open: with a training `step`, with dropout and the configured noise keyed by it; without
   * one, deterministically (no dropout, soft masks).
   */
  #encodeForwardBackward(batch: Batch, L: number, step?: number) {
    const plan = this.#prepare(batch, L, step);
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
  #prepare(batch: Batch, L: number, step?: number): BatchPlan {
    const plan = this.#plan(batch.ids.length, L);
    const { ids, lengths } = plan.upload(this.#gpu, batch, this.spec.space.targets.length);
    if (this.spec.config.trainEmbeddings) {
      plan.embedding.uploadIndex(buildTokenIndex(ids, lengths, L));
    }
    plan.embedding.setTraining(step !== undefined);
    plan.featureDropout?.setTraining(step !== undefined);
    if (step === undefined) {
      plan.softmax.configure({ mode: "soft" });
    } else {
      plan.embedding.setStep(step);
      plan.featureDropout?.setStep(step);
      plan.softmax.configure({ mode: this.spec.config.mask, step });
    }
    return plan;
  }

  /**
   * Milliseconds of each stage's forward and backward and of the optimizer on `batch`, each
   * submitted and waited for on its own (the median of `repeat` runs), for a breakdown of a
   * training step where the adapter has no timestamp queries. The optimizer runs: the weights
   * change as in `repeat` training steps.
   */
  async stageTimes(
    batch: Batch,
    step: number,
    L = longest(batch),
    repeat = 3,
  ): Promise<Record<string, number>> {
    const plan = this.#prepare(batch, L, step);
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
   * Gumbel noise.
   */
  async trainStep(
    batch: Batch,
    step: number,
    L = longest(batch),
    lrScale = 1,
  ): Promise<StepStats> {
    const gpu = this.#gpu;
    const { plan, encoder, pass } = this.#encodeForwardBackward(batch, L, step);
    this.#adam.encodeStep(pass, lrScale);
    pass.end();
    const B = plan.B;
    encoder.copyBufferToBuffer(plan.loss.documentLoss, 0, plan.staging, 0, B * 4);
    encoder.copyBufferToBuffer(plan.regulariserLoss, 0, plan.staging, B * 4, B * 4);
    encoder.copyBufferToBuffer(this.#adam.stats, 0, plan.staging, 2 * B * 4, 16);
    gpu.device.queue.submit([encoder.finish()]);
    await plan.staging.mapAsync(GPUMapMode.READ);
    const values = new Float32Array(plan.staging.getMappedRange().slice(0));
    plan.staging.unmap();
    const sum = (from: number) => values.subarray(from, from + B).reduce((a, b) => a + b, 0);
    return {
      prediction: sum(0),
      regularisers: sum(B),
      gradNorm: decodeStats(values.buffer.slice(2 * B * 4)).norm,
    };
  }

  /**
   * Forward and backward without dropout, noise or an optimizer step: the loss of `batch`,
   * with every parameter's gradient left in its `grad` buffer. For gradient checks.
   */
  async lossAndGradients(batch: Batch, L = longest(batch)): Promise<number> {
    const gpu = this.#gpu;
    const { plan, encoder, pass } = this.#encodeForwardBackward(batch, L);
    pass.end();
    const B = plan.B;
    encoder.copyBufferToBuffer(plan.loss.documentLoss, 0, plan.staging, 0, B * 4);
    encoder.copyBufferToBuffer(plan.regulariserLoss, 0, plan.staging, B * 4, B * 4);
    gpu.device.queue.submit([encoder.finish()]);
    await plan.staging.mapAsync(GPUMapMode.READ);
    const values = new Float32Array(plan.staging.getMappedRange().slice(0, 2 * B * 4));
    plan.staging.unmap();
    return values.reduce((a, b) => a + b, 0);
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

  /** Forward only, without dropout or noise: target probabilities and word distributions. */
  async predict(batch: Batch, L = longest(batch)): Promise<Prediction> {
    const gpu = this.#gpu;
    const plan = this.#plan(batch.ids.length, L);
    plan.upload(gpu, batch, this.spec.space.targets.length);
    plan.embedding.setTraining(false);
    plan.featureDropout?.setTraining(false);
    plan.softmax.configure({ mode: "soft" });
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

/**
 * Checks, before anything is allocated, that every tensor of the largest batch fits the
 * adapter's binding limit, and returns the estimated device memory of the model and one batch
 * shape; a shape that cannot fit is a one-line {@link DataError} with the numbers and what to
 * lower.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "../task/config.ts";
 * import { checkDeviceMemory } from "./mtm.ts";
 * const space = { mode: "labels" as const, targets: ["a", "b"], classes: [["1"], ["1"]] };
 * const spec = { config: { ...DEFAULTS, labelsColumn: "tags" }, vocabSize: 1000, dim: 100, space };
 * console.log(checkDeviceMemory(spec, { maxStorageBufferBindingSize: 2 ** 27 }));
 * ```
 */
export function checkDeviceMemory(spec: ModelSpec, limits: Record<string, number>): number {
  const { batchSize: B, maxLen: L } = spec.config;
  const binding = limits.maxStorageBufferBindingSize;
  // The most padded words one batch holds (see batchWordBudget): B·L, or fewer documents of L.
  const words = Math.min(B * L, Math.max(batchWordBudget(B), L));
  const tensors = batchTensors(spec, B, words);
  const [name, size] = tensors.reduce((a, b) => b[1] > a[1] ? b : a);
  if (size * 4 > binding) {
    const perDocument = size / B;
    const batch = Math.floor(binding / 4 / perDocument);
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    throw new DataError(
      `the ${name} of a batch of ${B} × ${words / B} words needs ${
        mib(size * 4)
      }, over this adapter's ` +
        `${mib(binding)} per buffer: lower --batch-size to ${batch} or less` +
        (batch < 1 ? `, and --max-len` : `, or --max-len`),
    );
  }
  const T = spec.space.targets.length;
  const parameterValues = spec.vocabSize * spec.dim + 4 * spec.dim * spec.config.maskerHidden * 8 +
    T * (spec.config.widths.length * spec.config.filters + 1) * spec.config.classifierHidden;
  // Activations and their gradients, and each parameter's value, gradient and two moments.
  return 4 * (2 * tensors.reduce((a, [, n]) => a + n, 0) + 4 * parameterValues);
}

function longest(batch: Batch): number {
  return Math.max(1, ...batch.ids.map((d) => d.length));
}
