/**
 * The Multi-Target Masker assembled from the verified kernels: embedding → masker → token
 * softmax (target masks) → shared masked convolution → per-target classifiers → losses, with
 * the MTM regularisers and Adam, all on the GPU. A training step is one submission; only the
 * loss terms and the gradient norm are read back.
 *
 * @module
 */

import { Adam, decodeStats } from "../kernels/adam/adam.ts";
import { buildTokenIndex, EmbeddingLaunch } from "../kernels/embedding/embedding.ts";
import { type Gpu, readBuffers, tensorBuffer } from "../kernels/gpu.ts";
import { MaskRegularisersLaunch } from "../kernels/mask_regularisers/mask_regularisers.ts";
import { MaskedConv } from "../kernels/masked_conv/masked_conv.ts";
import { NaiveMaskedConv } from "../kernels/naive_conv/naive_conv.ts";
import {
  ConvMasker,
  fromMaskerLayout,
  toMaskerLayout,
} from "../kernels/masker_conv/masker_conv.ts";
import { MaskerLstmLaunch } from "../kernels/masker_lstm/masker_lstm.ts";
import { mulberry32 } from "../kernels/rng.ts";
import { TargetClassifierLaunch } from "../kernels/target_classifier/target_classifier.ts";
import { classifierParameterShapes } from "../kernels/target_classifier/reference.ts";
import { TargetLossLaunch } from "../kernels/target_loss/target_loss.ts";
import { TokenSoftmaxLaunch } from "../kernels/token_softmax/token_softmax.ts";
import { DataError } from "../data/csv.ts";
import type { TrainConfig } from "./config.ts";
import { batchWordBudget, type TargetSpace } from "./dataset.ts";
import { type Parameter, ParameterSet } from "./parameters.ts";

/** Everything that fixes the model's shapes, saved in `config.json`. */
export interface ModelSpec {
  config: TrainConfig;
  vocabSize: number;
  /** Embedding size D. */
  dim: number;
  space: TargetSpace;
}

/** A batch as the host holds it: token ids per document and targets per document. */
export interface Batch {
  ids: Int32Array[];
  /** Per document, per target: class index (−1 missing) or 0/1; absent when predicting. */
  targets?: Int32Array[];
}

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
 * The s in the encoder's input m = s·p: the config's `maskScale`, else T + 1.
 *
 * Each target's mask starts near 1/(T + 1), so with s = 1 the shared encoder would see inputs
 * T + 1 times weaker than a plain CNN's and, under Adam's fixed-size steps, need thousands of
 * steps to grow its weights to match (on the full Debtags set: micro-F1 0.35 instead of 0.55).
 * A constant s only reparametrises the encoder's projection, so the model is the same function
 * family and the explanation, p, is unchanged.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "./config.ts";
 * import { encoderMaskScale } from "./mtm.ts";
 * console.log(encoderMaskScale(DEFAULTS, 70)); // 71
 * ```
 */
export function encoderMaskScale(config: TrainConfig, T: number): number {
  return config.maskScale ?? T + 1;
}

/** Classes C of the classifier output: the most classes of any target (1 in labels mode). */
export function outputClasses(space: TargetSpace): number {
  return space.mode === "labels" ? 1 : Math.max(...space.classes.map((c) => c.length));
}

interface Masker {
  a: GPUBuffer;
  da: GPUBuffer;
  encodeForward(pass: GPUComputePassEncoder): void;
  encodeBackward(pass: GPUComputePassEncoder): void;
  destroy(): void;
}

/**
 * Device bytes the plans of recent batch shapes may hold together. Length-bucketed batches come
 * in a few dozen shapes (30 on full Debtags); keeping every plan held 5.3 GB there, while one
 * plan's rebuild costs about a tenth of a step, so the least recently used plans are freed
 * beyond this.
 */
const PLAN_CACHE_BYTES = 2 ** 30;

/** The launchers of one batch shape (B documents padded to L), built on first use. */
class BatchPlan {
  readonly B: number;
  readonly L: number;
  readonly ids: GPUBuffer;
  readonly lengths: GPUBuffer;
  readonly p: GPUBuffer;
  readonly regulariserLoss: GPUBuffer;
  embedding: EmbeddingLaunch;
  masker: Masker;
  softmax: TokenSoftmaxLaunch;
  regularisers: MaskRegularisersLaunch;
  layer: MaskedConv | NaiveMaskedConv;
  classifier: TargetClassifierLaunch;
  loss: TargetLossLaunch;
  staging: GPUBuffer;
  /** Readback buffers of predictions (probabilities, p), made on first use. */
  predictionStaging?: GPUBuffer[];
  /** The batch's tensors in the order a step computes them, to find where values break. */
  tensors: [string, GPUBuffer][];
  /** Device bytes of the batch's tensors and their gradients, as the memory check counts them. */
  readonly bytes: number;
  /** Buffers the plan made itself (the launchers free their own). */
  #owned: GPUBuffer[];

  constructor(gpu: Gpu, model: MtmModel, B: number, L: number) {
    this.B = B;
    this.L = L;
    this.bytes = 8 * batchTensors(model.spec, B, B * L).reduce((a, [, n]) => a + n, 0);
    const { config, vocabSize: V, dim: D, space } = model.spec;
    const T = space.targets.length;
    const C = outputClasses(space);
    const widths = config.widths.map((K) => ({ K, F: config.filters }));
    const params = model.params;
    const buffer = (n: number, label: string) => tensorBuffer(gpu, n, label);
    const layerOptions = {
      parameters: {
        Wt: params.get("encoder.projection").value,
        bias: params.get("encoder.bias").value,
        dWt: params.get("encoder.projection").grad,
        dbias: params.get("encoder.bias").grad,
      },
    };
    const layerShape = { B, L, D, T, widths };
    this.layer = model.encoder === "naive"
      ? new NaiveMaskedConv(gpu, layerShape, layerOptions)
      : new MaskedConv(gpu, layerShape, layerOptions);
    const act = this.layer.activations;
    this.lengths = act.lengths;
    this.ids = buffer(B * L, "ids");
    const E = params.get("embedding.weight");
    this.embedding = new EmbeddingLaunch(gpu, { B, L, D, V }, {
      E: E.value,
      ids: this.ids,
      lengths: act.lengths,
      x: act.x,
      grad: E.trainable ? { dx: act.dx, dE: E.grad } : undefined,
    }, { p: config.dropout, seed: model.seeds.dropout, training: true });
    const H = config.maskerHidden;
    if (config.masker === "conv") {
      const da = buffer(B * L * (T + 1), "masker da");
      const conv = new ConvMasker(
        gpu,
        { B, L, D, H, T },
        {
          Wt: params.get("masker.conv.weight").value,
          c: params.get("masker.conv.bias").value,
          Wo: params.get("masker.out.weight").value,
          bo: params.get("masker.out.bias").value,
          dWt: params.get("masker.conv.weight").grad,
          dc: params.get("masker.conv.bias").grad,
          dWo: params.get("masker.out.weight").grad,
          dbo: params.get("masker.out.bias").grad,
        },
        { x: act.x, lengths: act.lengths, da, dx: act.dx },
        { accumulateDx: true },
      );
      this.masker = {
        a: conv.a,
        da,
        encodeForward: (pass) => conv.encodeForward(pass),
        encodeBackward: (pass) => conv.encodeBackward(pass),
        destroy: () => {
          conv.destroy();
          da.destroy();
        },
      };
    } else {
      const lstm = (dir: string) => ({
        Wx: params.get(`masker.lstm.${dir}.Wx`).value,
        Wh: params.get(`masker.lstm.${dir}.Wh`).value,
        bias: params.get(`masker.lstm.${dir}.bias`).value,
        dWx: params.get(`masker.lstm.${dir}.Wx`).grad,
        dWh: params.get(`masker.lstm.${dir}.Wh`).grad,
        dbias: params.get(`masker.lstm.${dir}.bias`).grad,
      });
      const launch = new MaskerLstmLaunch(
        gpu,
        { B, L, D, H, classes: T + 1 },
        {
          fwd: lstm("forward"),
          bwd: lstm("backward"),
          Wo: params.get("masker.out.weight").value,
          bo: params.get("masker.out.bias").value,
          dWo: params.get("masker.out.weight").grad,
          dbo: params.get("masker.out.bias").grad,
        },
        { x: act.x, lengths: act.lengths, dx: act.dx },
        { accumulate: true },
      );
      this.masker = {
        a: launch.activations.a,
        da: launch.activations.da,
        encodeForward: (pass) => launch.encodeForward(pass),
        encodeBackward: (pass) => launch.encodeBackward(pass),
        destroy: () => launch.destroy(),
      };
    }
    this.p = buffer(B * L * (T + 1), "p");
    const dp = buffer(B * L * (T + 1), "dp");
    this.softmax = new TokenSoftmaxLaunch(
      gpu,
      { B, L, T },
      {
        a: this.masker.a,
        lengths: act.lengths,
        p: this.p,
        m: act.m,
        dp,
        dm: act.dm,
        da: this.masker.da,
      },
      { mode: config.mask, seed: model.seeds.noise, step: 0, tau: config.tau },
      {
        maskScale: encoderMaskScale(config, T),
      },
    );
    this.regulariserLoss = buffer(B, "regulariser loss");
    this.regularisers = new MaskRegularisersLaunch(gpu, { B, L, T }, {
      p: this.p,
      lengths: act.lengths,
      r: this.regulariserLoss,
      dp,
    }, { lambdaP: config.lambdaP, wSel: config.lambdaSel / B, wCont: config.lambdaCont / B });
    const classifierShape = {
      B,
      T,
      F: widths.length * config.filters,
      C,
      kind: config.classifier,
      hidden: config.classifierHidden,
    };
    const classifierParams = model.classifierParameters();
    this.classifier = new TargetClassifierLaunch(gpu, classifierShape, {
      h: act.h,
      dh: act.g,
      params: classifierParams.map((p) => p.value),
      grads: classifierParams.map((p) => p.grad),
    });
    this.loss = new TargetLossLaunch(gpu, { B, T, C, mode: space.mode }, {
      logits: this.classifier.logits,
      dlogits: this.classifier.dlogits,
    }, { weight: 1 / B, classes: space.classes.map((c) => c.length) });
    this.tensors = [
      ["embeddings x", act.x],
      ["masker logits", this.masker.a],
      ["word distributions p", this.p],
      ["target masks m", act.m],
      ["pooled features h", act.h],
      ["classifier logits", this.classifier.logits],
      ["prediction loss", this.loss.documentLoss],
      ["regulariser loss", this.regulariserLoss],
      ["gradient of the logits", this.classifier.dlogits],
      ["gradient of h", act.g],
      ["gradient of m", act.dm],
      ["gradient of p", dp],
      ["gradient of the masker logits", this.masker.da],
      ["gradient of x", act.dx],
    ];
    this.staging = gpu.device.createBuffer({
      label: "step readback",
      size: (2 * B + 4) * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#owned = [this.ids, this.p, dp, this.regulariserLoss, this.staging];
  }

  /** Frees every buffer of the plan; the model's parameters stay. */
  destroy(): void {
    const launchers = [this.embedding, this.masker, this.softmax, this.regularisers, this.layer];
    for (const launcher of [...launchers, this.classifier, this.loss]) launcher.destroy();
    for (const buffer of [...this.#owned, ...this.predictionStaging ?? []]) buffer.destroy();
  }

  /** Uploads a batch's ids, lengths and (when given) targets. */
  upload(gpu: Gpu, batch: Batch, T: number) {
    const { B, L } = this;
    const ids = new Uint32Array(B * L);
    const lengths = new Uint32Array(B);
    batch.ids.forEach((doc, b) => {
      lengths[b] = Math.min(doc.length, L);
      ids.set(doc.subarray(0, L), b * L);
    });
    gpu.device.queue.writeBuffer(this.ids, 0, ids);
    gpu.device.queue.writeBuffer(this.lengths, 0, lengths);
    // Without targets (prediction) the loss still runs: give it labels it accepts.
    const labels = new Int32Array(B * T).fill(this.loss.shape.mode === "labels" ? 0 : -1);
    batch.targets?.forEach((row, b) => labels.set(row, b * T));
    this.loss.setLabels(labels);
    return { ids, lengths };
  }

  encodeForward(pass: GPUComputePassEncoder) {
    this.embedding.encodeForward(pass);
    this.masker.encodeForward(pass);
    this.softmax.encodeForward(pass);
    this.regularisers.encodeForward(pass);
    this.layer.encodeForward(pass);
    this.classifier.encodeForward(pass);
    this.loss.encode(pass);
  }

  encodeBackward(pass: GPUComputePassEncoder, trainEmbeddings: boolean) {
    this.classifier.encodeBackward(pass);
    this.layer.encodeBackward(pass);
    this.regularisers.encodeBackward(pass);
    this.softmax.encodeBackward(pass);
    this.masker.encodeBackward(pass);
    if (trainEmbeddings) this.embedding.encodeBackward(pass);
  }
}

/** How a model is built, beyond its spec. */
export interface ModelOptions {
  /** Initial embeddings [V,D] in place of random ones. */
  embeddings?: Float32Array;
  /** The shared masked convolution: the fast one, or the materialised one for comparison. */
  encoder?: "fast" | "naive";
  /** Device bytes the plans of recent batch shapes may hold together (at least one is kept). */
  planCacheBytes?: number;
}

/**
 * The model: parameters on the GPU, an optimizer, and one launcher plan per batch shape.
 *
 * @example
 * ```ts
 * import { getGpu } from "../kernels/gpu.ts";
 * import { DEFAULTS } from "./config.ts";
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
  readonly seeds: { dropout: number; noise: number };
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
    { embeddings, encoder = "fast", planCacheBytes = PLAN_CACHE_BYTES }: ModelOptions = {},
  ) {
    this.#gpu = gpu;
    this.spec = spec;
    this.encoder = encoder;
    this.#planCacheBytes = planCacheBytes;
    const { config, vocabSize: V, dim: D, space } = spec;
    const T = space.targets.length;
    const next = mulberry32(config.seed);
    this.seeds = { dropout: (config.seed * 2 + 1) >>> 0, noise: (config.seed * 2 + 2) >>> 0 };
    const params = this.params = new ParameterSet(gpu, next);
    params.add(
      "embedding.weight",
      [V, D],
      embeddings ? { kind: "values", values: embeddings } : { kind: "glorot", fanIn: 1, fanOut: D },
      { trainable: config.trainEmbeddings },
    );
    const H = config.maskerHidden;
    if (config.masker === "conv") {
      params.add("masker.conv.weight", [D, 3 * H], { kind: "glorot", fanIn: 3 * D, fanOut: H }, {
        layout: {
          shape: [H, D, 3],
          toGpu: (saved) => toMaskerLayout(saved, D, H),
          fromGpu: (values) => Float32Array.from(fromMaskerLayout(values, D, H)),
        },
      });
      params.add("masker.conv.bias", [H], { kind: "zeros" });
      params.add("masker.out.weight", [H, T + 1], { kind: "glorot", fanIn: H, fanOut: T + 1 });
    } else {
      for (const dir of ["forward", "backward"]) {
        params.add(`masker.lstm.${dir}.Wx`, [D, 4 * H], {
          kind: "glorot",
          fanIn: D,
          fanOut: 4 * H,
        });
        params.add(`masker.lstm.${dir}.Wh`, [H, 4 * H], {
          kind: "glorot",
          fanIn: H,
          fanOut: 4 * H,
        });
        params.add(`masker.lstm.${dir}.bias`, [4 * H], { kind: "zeros" });
      }
      params.add("masker.out.weight", [2 * H, T + 1], {
        kind: "glorot",
        fanIn: 2 * H,
        fanOut: T + 1,
      });
    }
    params.add("masker.out.bias", [T + 1], { kind: "zeros" });
    const K = config.widths.reduce((s, k) => s + k, 0);
    const filters = config.widths.length * config.filters;
    params.add("encoder.projection", [D, K * config.filters], {
      kind: "glorot",
      fanIn: D * K / config.widths.length,
      fanOut: config.filters,
    });
    params.add("encoder.bias", [filters], { kind: "zeros" });
    const shape = {
      B: 1,
      T,
      F: filters,
      C: outputClasses(space),
      kind: config.classifier,
      hidden: config.classifierHidden,
    };
    for (const { name, shape: dims } of classifierParameterShapes(shape)) {
      const isBias = dims.length === 2;
      params.add(
        `classifier.${name}`,
        dims,
        isBias ? { kind: "zeros" } : { kind: "glorot", fanIn: dims[1], fanOut: dims[2] },
      );
    }
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

  /** The classifier's parameters in the order its launcher takes them. */
  classifierParameters(): Parameter[] {
    return this.params.list.filter((p) => p.name.startsWith("classifier."));
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
    const plan = this.#plan(batch.ids.length, L);
    const { ids, lengths } = plan.upload(this.#gpu, batch, this.spec.space.targets.length);
    const trainEmbeddings = this.spec.config.trainEmbeddings;
    if (trainEmbeddings) plan.embedding.uploadIndex(buildTokenIndex(ids, lengths, L));
    plan.embedding.setTraining(step !== undefined);
    if (step === undefined) {
      plan.softmax.configure({ mode: "soft" });
    } else {
      plan.embedding.setStep(step);
      plan.softmax.configure({ mode: this.spec.config.mask, step });
    }
    const encoder = this.#gpu.device.createCommandEncoder({
      label: step === undefined ? "loss and gradients" : "train step",
    });
    plan.layer.encodeClears(encoder);
    const pass = encoder.beginComputePass();
    plan.encodeForward(pass);
    plan.encodeBackward(pass, trainEmbeddings);
    return { plan, encoder, pass };
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

/** The tensors of one batch shape that grow with it, with their sizes in 4-byte values. */
function batchTensors(spec: ModelSpec, B: number, words: number): [string, number][] {
  const { config, dim: D, space } = spec;
  const T = space.targets.length;
  const H = config.maskerHidden;
  const C = config.widths.reduce((s, k) => s + k, 0) * config.filters;
  const F = config.widths.length * config.filters;
  const maskerTensor: [string, number] = config.masker === "conv"
    ? ["masker taps [B,L,3H]", words * 3 * H]
    : ["masker gates [B,L,4H]", words * 4 * H];
  return [
    ["embeddings x [B,L,D]", words * D],
    maskerTensor,
    ["word distributions p [B,L,T+1]", words * (T + 1)],
    ["target masks m [B,L,T]", words * T],
    ["tap projections P [B,L,ΣK·F]", words * C],
    ["pooled features h [B,T,ΣF]", B * T * F],
    [
      "classifier hidden [B,T,hidden]",
      B * T * (config.classifier === "mlp" ? config.classifierHidden : 1),
    ],
  ];
}

/**
 * Checks, before anything is allocated, that every tensor of the largest batch fits the
 * adapter's binding limit, and returns the estimated device memory of the model and one batch
 * shape; a shape that cannot fit is a one-line {@link DataError} with the numbers and what to
 * lower.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "./config.ts";
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
