/**
 * The launchers of one batch shape (B documents padded to L) as a list of stages: embedding →
 * masker → token softmax → regularisers → shared masked convolution → per-target classifiers →
 * losses. The forward records them in order, the backward in reverse; each stage is made by a
 * small builder from the model's typed parameters and the tensors the stages share.
 *
 * @module
 */

import { EmbeddingLaunch } from "../../kernels/embedding/embedding.ts";
import { FeatureDropoutLaunch } from "../../kernels/feature_dropout/feature_dropout.ts";
import { type Gpu, tensorBuffer } from "../../kernels/gpu.ts";
import type { Stage } from "../../kernels/launch.ts";
import { MaskRegularisersLaunch } from "../../kernels/mask_regularisers/mask_regularisers.ts";
import {
  MaskedConv,
  type MaskedConvActivations,
  type MaskedConvLayer,
} from "../../kernels/masked_conv/masked_conv.ts";
import { ConvMasker } from "../../kernels/masker_conv/masker_conv.ts";
import { MaskerLstmLaunch } from "../../kernels/masker_lstm/masker_lstm.ts";
import { NaiveMaskedConv } from "../../kernels/naive_conv/naive_conv.ts";
import { TargetClassifierLaunch } from "../../kernels/target_classifier/target_classifier.ts";
import { TargetLossLaunch } from "../../kernels/target_loss/target_loss.ts";
import { TokenSoftmaxLaunch } from "../../kernels/token_softmax/token_softmax.ts";
import type { MtmParameters } from "./model_parameters.ts";
import { encoderMaskScale, type ModelSpec, outputClasses } from "../task/spec.ts";

/** What a plan needs of its model. */
export interface PlanModel {
  spec: ModelSpec;
  parts: MtmParameters;
  seeds: { dropout: number; noise: number; featureDropout: number };
  encoder: "fast" | "naive";
}

/** A batch as the host holds it: token ids per document and targets per document. */
export interface Batch {
  ids: Int32Array[];
  /** Per document, per target: class index (−1 missing) or 0/1; absent when predicting. */
  targets?: Int32Array[];
}

/** The tensors of one batch shape that grow with it, with their sizes in 4-byte values. */
export function batchTensors(spec: ModelSpec, B: number, words: number): [string, number][] {
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
 * Documents padded to `L` words that one pass holds, every tensor of {@link batchTensors} within
 * a binding of `maxBindingBytes` and, with `maxPassBytes`, all of them and their gradients
 * within that many bytes; 0 when not even one document fits. A batch of more runs as several
 * passes whose gradients add up.
 *
 * @example
 * ```ts ignore
 * documentsPerPass(spec, 256, 2 ** 27); // 21 at 6,190 labels: p [B,L,T+1] is the largest
 * ```
 */
export function documentsPerPass(
  spec: ModelSpec,
  L: number,
  maxBindingBytes: number,
  maxPassBytes = Infinity,
): number {
  return Math.min(
    Math.floor(maxBindingBytes / 4 / largestTensor(spec, L)[1]),
    Math.floor(maxPassBytes / passBytesPerDocument(spec, L)),
  );
}

/** Device bytes of one document's tensors of {@link batchTensors} and their gradients. */
export function passBytesPerDocument(spec: ModelSpec, L: number): number {
  return 8 * batchTensors(spec, 1, L).reduce((a, [, n]) => a + n, 0);
}

/**
 * The name and per-document size of the tensor that limits how many documents a pass holds.
 */
export function largestTensor(spec: ModelSpec, L: number): [string, number] {
  return batchTensors(spec, 1, L).reduce((a, b) => b[1] > a[1] ? b : a);
}

/** What every stage builder is given: the shape, the model, and the shared tensors so far. */
interface Build {
  gpu: Gpu;
  model: PlanModel;
  B: number;
  L: number;
  T: number;
  /** Documents of the whole batch, whose mean the losses are: B, or more when the batch runs
   * as several passes whose gradients add up. */
  batchDocs: number;
  /** Buffers the plan makes itself (the launchers free their own). */
  owned: GPUBuffer[];
}

function planBuffer(build: Build, elements: number, label: string): GPUBuffer {
  const buffer = tensorBuffer(build.gpu, elements, label);
  build.owned.push(buffer);
  return buffer;
}

/** The masker's logits a [B,L,T+1] and their gradient, with its stage. */
interface MaskerStage extends Stage {
  a: GPUBuffer;
  da: GPUBuffer;
}

/** The classifiers of every range of targets, writing one logits tensor [B,T,C]. */
interface ClassifierStage extends Stage {
  logits: GPUBuffer;
  dlogits: GPUBuffer;
}

/** The plan of one batch shape, built on first use. */
export class BatchPlan {
  readonly B: number;
  readonly L: number;
  /** Documents of the batch whose mean loss a step takes (B unless it runs in passes). */
  readonly batchDocs: number;
  /** Device bytes of the batch's tensors and their gradients, as the memory check counts them. */
  readonly bytes: number;
  readonly ids: GPUBuffer;
  readonly lengths: GPUBuffer;
  readonly p: GPUBuffer;
  readonly regulariserLoss: GPUBuffer;
  readonly embedding: EmbeddingLaunch;
  readonly softmax: TokenSoftmaxLaunch;
  readonly layer: MaskedConvLayer;
  /** Dropout of the pooled features h, when the config asks for it. */
  readonly featureDropout?: FeatureDropoutLaunch;
  readonly classifier: ClassifierStage;
  readonly loss: TargetLossLaunch;
  /** The stages in the order of the forward; the backward runs them in reverse. */
  readonly stages: Stage[];
  /** The same stages with their names, for breakdowns of a step. */
  readonly namedStages: [string, Stage][];
  readonly staging: GPUBuffer;
  /** Readback buffers of predictions (probabilities, p), made on first use. */
  predictionStaging?: GPUBuffer[];
  /** The batch's tensors in the order a step computes them, to find where values break. */
  readonly tensors: [string, GPUBuffer][];
  #owned: GPUBuffer[];

  /** A plan of B documents padded to L, in passes of a batch of `batchDocs` documents. */
  constructor(gpu: Gpu, model: PlanModel, B: number, L: number, batchDocs = B) {
    this.B = B;
    this.L = L;
    this.batchDocs = batchDocs;
    this.bytes = 8 * batchTensors(model.spec, B, B * L).reduce((a, [, n]) => a + n, 0);
    const T = model.spec.space.targets.length;
    const build: Build = { gpu, model, B, L, T, batchDocs, owned: [] };
    this.layer = layerStage(build);
    const act = this.layer.activations;
    this.lengths = act.lengths;
    this.ids = planBuffer(build, B * L, "ids");
    this.embedding = embeddingLaunch(build, this.ids, act);
    const masker = maskerStage(build, act);
    this.p = planBuffer(build, B * L * (build.T + 1), "p");
    const dp = planBuffer(build, B * L * (build.T + 1), "dp");
    this.softmax = softmaxStage(build, masker, act, this.p, dp);
    this.regulariserLoss = planBuffer(build, B, "regulariser loss");
    const regularisers = regularisersStage(build, act, this.p, dp, this.regulariserLoss);
    this.featureDropout = featureDropoutStage(build, act);
    this.classifier = classifierStage(build, act);
    this.loss = lossLaunch(build, this.classifier);
    this.namedStages = [
      ["embedding", this.embedding],
      ["masker", masker],
      ["token softmax", this.softmax],
      ["regularisers", regularisers],
      ["masked conv", this.layer],
      ...this.featureDropout ? [["feature dropout", this.featureDropout] as [string, Stage]] : [],
      ["classifier", this.classifier],
      ["loss", this.loss],
    ];
    this.stages = this.namedStages.map(([, stage]) => stage);
    this.tensors = [
      ["embeddings x", act.x],
      ["masker logits", masker.a],
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
      ["gradient of the masker logits", masker.da],
      ["gradient of x", act.dx],
    ];
    this.staging = gpu.device.createBuffer({
      label: "step readback",
      size: (2 * B + 4) * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#owned = [...build.owned, this.staging];
  }

  /** Frees every buffer of the plan; the model's parameters stay. */
  destroy(): void {
    for (const stage of this.stages) stage.destroy();
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

  /** Zeroes what the step's stages accumulate into, before its compute pass. */
  encodeClears(encoder: GPUCommandEncoder): void {
    for (const stage of this.stages) stage.encodeClears?.(encoder);
  }

  /** Records every stage's forward, in order. */
  encodeForward(pass: GPUComputePassEncoder): void {
    for (const stage of this.stages) stage.encodeForward(pass);
  }

  /** Records every stage's backward, last stage first. */
  encodeBackward(pass: GPUComputePassEncoder): void {
    for (const stage of this.stages.toReversed()) stage.encodeBackward(pass);
  }
}

/** The shared masked convolution, fast or naive; it owns x, m, h and their gradients. */
function layerStage({ gpu, model, B, L, T }: Build): MaskedConvLayer {
  const { config, dim: D } = model.spec;
  const { projection, bias } = model.parts.encoder;
  const options = {
    parameters: { Wt: projection.value, bias: bias.value, dWt: projection.grad, dbias: bias.grad },
  };
  const shape = { B, L, D, T, widths: config.widths.map((K) => ({ K, F: config.filters })) };
  return model.encoder === "naive"
    ? new NaiveMaskedConv(gpu, shape, options)
    : new MaskedConv(gpu, shape, options);
}

function embeddingLaunch(
  { gpu, model, B, L }: Build,
  ids: GPUBuffer,
  act: MaskedConvActivations,
): EmbeddingLaunch {
  const { config, vocabSize: V, dim: D } = model.spec;
  const E = model.parts.embedding;
  return new EmbeddingLaunch(gpu, { B, L, D, V }, {
    E: E.value,
    ids,
    lengths: act.lengths,
    x: act.x,
    grad: E.trainable ? { dx: act.dx, dE: E.grad } : undefined,
  }, { p: config.dropout, seed: model.seeds.dropout, training: true });
}

function maskerStage(build: Build, act: MaskedConvActivations): MaskerStage {
  const masker = build.model.parts.masker;
  const { gpu, B, L, T } = build;
  const D = build.model.spec.dim;
  const H = build.model.spec.config.maskerHidden;
  const output = {
    Wo: masker.outWeight.value,
    bo: masker.outBias.value,
    dWo: masker.outWeight.grad,
    dbo: masker.outBias.grad,
  };
  if (masker.kind === "conv") {
    const da = planBuffer(build, B * L * (T + 1), "masker da");
    const conv = new ConvMasker(
      gpu,
      { B, L, D, H, T },
      {
        Wt: masker.weight.value,
        c: masker.bias.value,
        dWt: masker.weight.grad,
        dc: masker.bias.grad,
        ...output,
      },
      { x: act.x, lengths: act.lengths, da, dx: act.dx },
      { accumulateDx: true },
    );
    return { ...stageOf(conv), a: conv.a, da };
  }
  const direction = ({ Wx, Wh, bias }: typeof masker.forward) => ({
    Wx: Wx.value,
    Wh: Wh.value,
    bias: bias.value,
    dWx: Wx.grad,
    dWh: Wh.grad,
    dbias: bias.grad,
  });
  const lstm = new MaskerLstmLaunch(
    gpu,
    { B, L, D, H, classes: T + 1 },
    { fwd: direction(masker.forward), bwd: direction(masker.backward), ...output },
    { x: act.x, lengths: act.lengths, dx: act.dx },
    { accumulate: true },
  );
  return { ...stageOf(lstm), a: lstm.activations.a, da: lstm.activations.da };
}

/** A launcher's stage methods, bound to it. */
function stageOf(launcher: Stage): Stage {
  return {
    encodeForward: (pass) => launcher.encodeForward(pass),
    encodeBackward: (pass) => launcher.encodeBackward(pass),
    destroy: () => launcher.destroy(),
  };
}

function softmaxStage(
  { gpu, model, B, L, T }: Build,
  masker: MaskerStage,
  act: MaskedConvActivations,
  p: GPUBuffer,
  dp: GPUBuffer,
): TokenSoftmaxLaunch {
  const { config } = model.spec;
  return new TokenSoftmaxLaunch(
    gpu,
    { B, L, T },
    { a: masker.a, lengths: act.lengths, p, m: act.m, dp, dm: act.dm, da: masker.da },
    {
      mode: config.mask,
      seed: model.seeds.noise,
      step: 0,
      tau: config.tau,
      keepTargets: config.maskTargets,
    },
    { maskScale: encoderMaskScale(config, T) },
  );
}

function regularisersStage(
  { gpu, model, B, L, T, batchDocs }: Build,
  act: MaskedConvActivations,
  p: GPUBuffer,
  dp: GPUBuffer,
  r: GPUBuffer,
): MaskRegularisersLaunch {
  const { config } = model.spec;
  return new MaskRegularisersLaunch(gpu, { B, L, T }, { p, lengths: act.lengths, r, dp }, {
    lambdaP: config.lambdaP,
    wSel: config.lambdaSel / batchDocs,
    wCont: config.lambdaCont / batchDocs,
  });
}

/** In place on h and its gradient g, so the stages around it bind the same buffers. */
function featureDropoutStage(
  { gpu, model, B, T }: Build,
  act: MaskedConvActivations,
): FeatureDropoutLaunch | undefined {
  const { config } = model.spec;
  if (!(config.featureDropout > 0)) return undefined;
  const n = B * T * config.widths.length * config.filters;
  return new FeatureDropoutLaunch(gpu, n, { h: act.h, g: act.g }, {
    p: config.featureDropout,
    seed: model.seeds.featureDropout,
  });
}

/** One launcher per range of targets the parameters are split into, sharing h and the logits. */
function classifierStage(build: Build, act: MaskedConvActivations): ClassifierStage {
  const { gpu, model, B, T } = build;
  const { config, space } = model.spec;
  const C = outputClasses(space);
  const outputs = {
    logits: planBuffer(build, B * T * C, "logits"),
    dlogits: planBuffer(build, B * T * C, "dlogits"),
  };
  const launchers = model.parts.classifier.map(({ first, count, params }) =>
    new TargetClassifierLaunch(gpu, {
      B,
      T: count,
      F: config.widths.length * config.filters,
      C,
      kind: config.classifier,
      hidden: config.classifierHidden,
    }, {
      h: act.h,
      dh: act.g,
      params: params.map((p) => p.value),
      grads: params.map((p) => p.grad),
      outputs,
    }, { range: { first, total: T } })
  );
  return {
    ...outputs,
    encodeForward: (pass) => launchers.forEach((l) => l.encodeForward(pass)),
    encodeBackward: (pass) => launchers.forEach((l) => l.encodeBackward(pass)),
    destroy: () => launchers.forEach((l) => l.destroy()),
  };
}

function lossLaunch(
  { gpu, model, B, T, batchDocs }: Build,
  classifier: ClassifierStage,
): TargetLossLaunch {
  const { space } = model.spec;
  return new TargetLossLaunch(gpu, { B, T, C: outputClasses(space), mode: space.mode }, {
    logits: classifier.logits,
    dlogits: classifier.dlogits,
  }, { weight: 1 / batchDocs, classes: space.classes.map((c) => c.length) });
}
