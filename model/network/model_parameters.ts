/**
 * The model's parameters, declared once each: name, shape, initialisation and the layout doc
 * that `config.json` carries. They are created in one fixed order (one seed, one
 * initialisation) and handed out as typed handles, so a stage binds `masker.outWeight`, never a
 * string that could be misspelt.
 *
 * @module
 */

import { fromMaskerLayout, toMaskerLayout } from "../../kernels/masker_conv/masker_conv.ts";
import { classifierParameterShapes } from "../../kernels/target_classifier/reference.ts";
import { type Parameter, PARAMETER_SLICE_BYTES, type ParameterSet } from "./parameters.ts";
import { type ModelSpec, outputClasses } from "../task/spec.ts";

/** The conv masker's: a width-3 convolution D → H, then the output layer H → T + 1. */
export interface ConvMaskerParameters {
  kind: "conv";
  weight: Parameter;
  bias: Parameter;
  outWeight: Parameter;
  outBias: Parameter;
}

/** One direction of the LSTM masker. */
export interface LstmDirectionParameters {
  Wx: Parameter;
  Wh: Parameter;
  bias: Parameter;
}

/** The LSTM masker's: both directions, then the output layer 2H → T + 1. */
export interface LstmMaskerParameters {
  kind: "lstm";
  forward: LstmDirectionParameters;
  backward: LstmDirectionParameters;
  outWeight: Parameter;
  outBias: Parameter;
}

/** Every parameter of the model, by the stage that uses it. */
export interface MtmParameters {
  embedding: Parameter;
  masker: ConvMaskerParameters | LstmMaskerParameters;
  encoder: { projection: Parameter; bias: Parameter };
  /** The classifiers' parameters by range of targets (one range unless the weights outgrow a
   * binding). */
  classifier: ClassifierPart[];
}

/** The classifiers of targets [first, first + count): their slice of every parameter. */
export interface ClassifierPart {
  first: number;
  count: number;
  /** In the order the classifier's launcher takes them: W1, b1, W2, b2 (or W, b). */
  params: Parameter[];
}

const OUT_WEIGHT_DOC = "[H or 2H, T+1]: column 0 is 'none', column t+1 target t";
const LSTM_DOC = "[D or H, 4H], [4H]: gate blocks i, f, g, o";

/**
 * Creates every parameter of the model in `set`, in the order that fixes its initialisation;
 * `embeddings` [V,D] replaces the random vectors.
 *
 * @example
 * ```ts
 * import { getGpu } from "../../kernels/gpu.ts";
 * import { DEFAULTS } from "../task/config.ts";
 * import { declareParameters } from "./model_parameters.ts";
 * import { ParameterSet } from "./parameters.ts";
 * const config = { ...DEFAULTS, labelsColumn: "tags", widths: [3], filters: 4, maskerHidden: 4 };
 * const space = { mode: "labels" as const, targets: ["a", "b"], classes: [["1"], ["1"]] };
 * const set = new ParameterSet(await getGpu(), () => 0.5);
 * const params = declareParameters(set, { config, vocabSize: 5, dim: 3, space });
 * console.log(params.masker.outWeight.shape); // [4, 3]
 * ```
 */
export function declareParameters(
  set: ParameterSet,
  spec: ModelSpec,
  embeddings?: Float32Array,
  sliceBytes = PARAMETER_SLICE_BYTES,
): MtmParameters {
  const { config, vocabSize: V, dim: D } = spec;
  const embedding = set.add({
    name: "embedding.weight",
    shape: [V, D],
    init: embeddings
      ? { kind: "values", values: embeddings }
      : { kind: "glorot", fanIn: 1, fanOut: D },
    trainable: config.trainEmbeddings,
    doc: "[V,D]: row v is the vector of vocab.txt line v",
  });
  const masker = config.masker === "conv" ? convMasker(set, spec) : lstmMasker(set, spec);
  return {
    embedding,
    masker,
    encoder: encoder(set, spec),
    classifier: classifier(set, spec, sliceBytes),
  };
}

function convMasker(set: ParameterSet, { config, dim: D, space }: ModelSpec) {
  const H = config.maskerHidden;
  const T = space.targets.length;
  return {
    kind: "conv" as const,
    weight: set.add({
      name: "masker.conv.weight",
      shape: [D, 3 * H],
      init: { kind: "glorot", fanIn: 3 * D, fanOut: H },
      layout: {
        shape: [H, D, 3],
        toGpu: (saved) => toMaskerLayout(saved, D, H),
        fromGpu: (values) => Float32Array.from(fromMaskerLayout(values, D, H)),
      },
      doc: "[H,D,3]: tap k of hidden unit h",
    }),
    bias: set.add({ name: "masker.conv.bias", shape: [H], init: { kind: "zeros" }, doc: "[H]" }),
    outWeight: set.add({
      name: "masker.out.weight",
      shape: [H, T + 1],
      init: { kind: "glorot", fanIn: H, fanOut: T + 1 },
      doc: OUT_WEIGHT_DOC,
    }),
    outBias: maskerOutBias(set, T),
  };
}

function lstmMasker(set: ParameterSet, { config, dim: D, space }: ModelSpec) {
  const H = config.maskerHidden;
  const T = space.targets.length;
  const direction = (dir: string): LstmDirectionParameters => ({
    Wx: set.add({
      name: `masker.lstm.${dir}.Wx`,
      shape: [D, 4 * H],
      init: { kind: "glorot", fanIn: D, fanOut: 4 * H },
      doc: LSTM_DOC,
    }),
    Wh: set.add({
      name: `masker.lstm.${dir}.Wh`,
      shape: [H, 4 * H],
      init: { kind: "glorot", fanIn: H, fanOut: 4 * H },
      doc: LSTM_DOC,
    }),
    bias: set.add({
      name: `masker.lstm.${dir}.bias`,
      shape: [4 * H],
      init: { kind: "zeros" },
      doc: LSTM_DOC,
    }),
  });
  const forward = direction("forward");
  const backward = direction("backward");
  const outWeight = set.add({
    name: "masker.out.weight",
    shape: [2 * H, T + 1],
    init: { kind: "glorot", fanIn: 2 * H, fanOut: T + 1 },
    doc: OUT_WEIGHT_DOC,
  });
  return { kind: "lstm" as const, forward, backward, outWeight, outBias: maskerOutBias(set, T) };
}

function maskerOutBias(set: ParameterSet, T: number): Parameter {
  return set.add({
    name: "masker.out.bias",
    shape: [T + 1],
    init: { kind: "zeros" },
    doc: "[T+1]: entry 0 is 'none', entry t+1 target t",
  });
}

function encoder(set: ParameterSet, { config, dim: D }: ModelSpec) {
  const K = config.widths.reduce((s, k) => s + k, 0);
  return {
    projection: set.add({
      name: "encoder.projection",
      shape: [D, K * config.filters],
      init: { kind: "glorot", fanIn: D * K / config.widths.length, fanOut: config.filters },
      doc: "[D, Σ_K K·F]: widths in config order; within width K, column k·F + f is tap k of " +
        "filter f; applied to target t's masked words config.maskScale·p[t+1]·x",
    }),
    bias: set.add({
      name: "encoder.bias",
      shape: [config.widths.length * config.filters],
      init: { kind: "zeros" },
      doc: "[Σ F]: filters of every width side by side",
    }),
  };
}

function classifier(
  set: ParameterSet,
  { config, space }: ModelSpec,
  sliceBytes: number,
): ClassifierPart[] {
  const T = space.targets.length;
  const shape = {
    B: 1,
    T,
    F: config.widths.length * config.filters,
    C: outputClasses(space),
    kind: config.classifier,
    hidden: config.classifierHidden,
  };
  const declared = classifierParameterShapes(shape).map(({ name, shape: dims }) => ({
    name: `classifier.${name}`,
    shape: dims,
    init: dims.length === 2
      ? { kind: "zeros" as const }
      : { kind: "glorot" as const, fanIn: dims[1], fanOut: dims[2] },
    doc: dims.length === 2 ? "[T, out]: target-major" : "[T, in, out]: target-major",
  }));
  const perTarget = Math.max(...declared.map((d) => d.shape[1] * (d.shape[2] ?? 1)));
  const ranges = targetRanges(T, perTarget, sliceBytes);
  if (ranges.length === 1) return [{ first: 0, count: T, params: declared.map((d) => set.add(d)) }];
  const slices = declared.map((d) => set.addSlices(d, ranges));
  let first = 0;
  return ranges.map((count, r) => {
    const part = { first, count, params: slices.map((s) => s[r]) };
    first += count;
    return part;
  });
}

/**
 * Targets per range, balanced, so that no range's slice of a per-target tensor of `perTarget`
 * values exceeds `sliceBytes` ({@link PARAMETER_SLICE_BYTES} unless a test asks for less).
 *
 * @example
 * ```ts
 * import { targetRanges } from "./model_parameters.ts";
 * console.log(targetRanges(8922, 150 * 100)); // [2231, 2231, 2230, 2230]
 * ```
 */
export function targetRanges(
  T: number,
  perTarget: number,
  sliceBytes = PARAMETER_SLICE_BYTES,
): number[] {
  const most = Math.max(1, Math.floor(sliceBytes / 4 / perTarget));
  const count = Math.ceil(T / most);
  return Array.from({ length: count }, (_, i) => Math.floor(T / count) + (i < T % count ? 1 : 0));
}
