/**
 * Launcher of the per-target classifiers (forward and backward) on the pooled features: one
 * per-target batched matmul kernel for every layer, so T targets cost one dispatch per slice,
 * not T.
 *
 * Layouts (row-major, float32): h and dh [B,T,F]; the hidden activations [B,T,Hc]; logits and
 * dlogits [B,T,C]; the parameters as {@link classifierParameterShapes} lists them — mlp: W1
 * [T,F,Hc], b1 [T,Hc], W2 [T,Hc,C], b2 [T,C]; linear: W [T,F,C], b [T,C] — and their gradients
 * in the same shapes. The model owns the parameters and their gradients (one set, whatever the
 * batch's size); the launcher owns the activations of its batch shape.
 *
 * Past a few thousand targets the weights outgrow one binding: the caller then splits the
 * targets into ranges, one launcher each ({@link ClassifierOptions.range}), whose parameters
 * are contiguous slices of every tensor (T is their leading axis) while h, dh, the logits and
 * their gradient stay whole, read and written in place at the range's targets.
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, tensorBuffer, uniformBuffer } from "../gpu.ts";
import { type Dispatch, encodeAll, type Stage } from "../launch.ts";
import { MATMUL_K_CHUNK } from "../projection/projection.ts";
import { classifierLayers, classifierParameterShapes, type ClassifierShape } from "./reference.ts";
import CLASSIFIER_WGSL from "./target_classifier.wgsl" with { type: "text" };

/** Rows of C each invocation computes (the WGSL's ROWS). */
const BLOCK_ROWS = 8;

/** Columns of C each invocation computes: 8, or 4 for outputs at most this wide (the WGSL's
 * WIDE and COLS). */
const NARROW_COLS = 4;

/** The caller's buffers, in the layouts of the module documentation. */
export interface ClassifierBuffers {
  /** h: [B,T,F], read by the forward and by the weight gradient of the first layer. */
  h: GPUBuffer;
  /** dh: [B,T,F], overwritten by the backward. */
  dh: GPUBuffer;
  /** The parameters, in the order of {@link classifierParameterShapes}. */
  params: GPUBuffer[];
  /** Their gradients, same order and shapes: overwritten, or added to with `accumulate`. */
  grads: GPUBuffer[];
  /** logits [B,T,C] and dlogits for the launcher to write and read, instead of its own: the
   * whole tensors, shared by the launchers of every range. */
  outputs?: { logits: GPUBuffer; dlogits: GPUBuffer };
}

/** Which of the caller's targets one launcher computes. */
export interface TargetRange {
  /** The first of them: shape.T targets from here. */
  first: number;
  /** The caller's targets, in h, dh, the logits and their gradient. */
  total: number;
}

/** Options of {@link TargetClassifierLaunch}. */
export interface ClassifierOptions {
  /** Add the parameter gradients into `grads` (e.g. over tiles of documents) instead of
   * overwriting them. */
  accumulate?: boolean;
  /** The range of targets this launcher computes (all of them when absent). */
  range?: TargetRange;
}

/**
 * The most targets one launcher takes for the batch shape when no binding may exceed
 * `maxBindingBytes` (0 when not even one fits): beyond it, the caller splits the targets into
 * ranges, one launcher each, the parameters of a range being a contiguous slice of each tensor.
 *
 * @example
 * ```ts
 * import { maxClassifierTargets } from "./target_classifier.ts";
 * const shape = { B: 64, T: 8922, F: 150, C: 1, hidden: 100 };
 * console.log(maxClassifierTargets({ ...shape, kind: "linear" }, 2 ** 27)); // 3495
 * console.log(maxClassifierTargets({ ...shape, kind: "mlp" }, 2 ** 27)); // 2236
 * ```
 */
export function maxClassifierTargets(shape: ClassifierShape, maxBindingBytes: number): number {
  const perTarget = Math.max(
    ...classifierLayers(shape).flatMap(({ inputs, outputs }) => [
      shape.B * inputs, // the layer's input activations and their gradient
      inputs * outputs, // its weights and their gradient
      shape.B * outputs, // its outputs and their gradient
    ]),
  );
  return Math.floor(maxBindingBytes / 4 / perTarget);
}

/** An activation tensor [B,total,·] of which a launcher reads or writes targets from `first`. */
interface Activation extends TargetRange {
  buffer: GPUBuffer;
}

/** Strides of one operand of the WGSL's matmul: [per target, per row or k, per k or column]. */
type Strides = [number, number, number];

/** One per-target matmul C_t[M,N] (+)= A_t[M,K]·B_t[K,N] and how it starts and ends. */
interface MatmulPlan {
  entry: "affine" | "relu_backward" | "product";
  M: number;
  N: number;
  K: number;
  a: Strides; // [a_t, a_m, a_k]
  b: Strides; // [b_t, b_k, b_n]
  c: [number, number]; // [c_t, c_m]
  /** Where target 0 of A, B and C starts in its buffer. */
  bases: [number, number, number];
  buffers: Record<number, GPUBuffer>;
  accumulate: boolean;
  relu: boolean;
}

/**
 * Throws unless the sizes are positive integers, every target's tensors fit the adapter's
 * binding limit in one launcher, and every buffer the caller passes is large enough.
 */
function checkClassifier(
  gpu: Gpu,
  shape: ClassifierShape,
  buffers: ClassifierBuffers,
  { first, total }: TargetRange,
): void {
  const { B, T, F, C } = shape;
  const layers = classifierLayers(shape);
  if (![B, T, F, C, ...layers.map((l) => l.outputs)].every((n) => Number.isInteger(n) && n > 0)) {
    throw new RangeError(
      `target classifier: sizes must be positive integers, got ${JSON.stringify(shape)}`,
    );
  }
  if (!Number.isInteger(first) || first < 0 || first + T > total) {
    throw new RangeError(`target classifier: targets ${first}..${first + T} outside 0..${total}`);
  }
  const limit = gpu.limits.maxStorageBufferBindingSize;
  const fit = maxClassifierTargets(shape, limit);
  if (T > fit) {
    throw new RangeError(
      `target classifier: ${T} targets need bindings over maxStorageBufferBindingSize ` +
        `${limit} bytes; ` +
        (fit > 0
          ? `at most ${fit} fit one launcher: build one per range of targets (each range's ` +
            `parameters are a contiguous slice)`
          : `not even one target fits: lower the batch size or the hidden units`),
    );
  }
  const expected = [
    { name: "h", buffer: buffers.h, elements: B * total * F },
    { name: "dh", buffer: buffers.dh, elements: B * total * F },
    ...buffers.outputs
      ? [
        { name: "logits", buffer: buffers.outputs.logits, elements: B * total * C },
        { name: "dlogits", buffer: buffers.outputs.dlogits, elements: B * total * C },
      ]
      : [],
    ...classifierParameterShapes(shape).flatMap(({ name, shape: dims }, i) => {
      const elements = dims.reduce((p, n) => p * n, 1);
      return [
        { name, buffer: buffers.params[i], elements },
        { name: `d${name}`, buffer: buffers.grads[i], elements },
      ];
    }),
  ];
  for (const { name, buffer, elements } of expected) {
    if (!buffer || buffer.size < elements * 4) {
      throw new RangeError(
        `target classifier: ${name} needs ${elements * 4} bytes, got ${buffer?.size ?? "none"}`,
      );
    }
  }
}

/**
 * The classifiers of one batch shape, built once: per layer a forward `affine` dispatch, and
 * in the backward the weight gradient, the bias gradient and the input gradient, each sliced so
 * no invocation loops more than {@link MATMUL_K_CHUNK} times. Nothing needs clearing by the
 * caller: every output is overwritten unless `accumulate` says otherwise.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { TargetClassifierLaunch } from "./target_classifier.ts";
 * const gpu = await getGpu();
 * const shape = { B: 1, T: 1, F: 2, C: 1, kind: "linear" as const, hidden: 0 };
 * const [h, dh, W, b, dW, db] = [2, 2, 2, 1, 2, 1].map((n) => tensorBuffer(gpu, n, "t"));
 * gpu.device.queue.writeBuffer(h, 0, new Float32Array([3, 4]));
 * gpu.device.queue.writeBuffer(W, 0, new Float32Array([1, 2]));
 * const classifier = new TargetClassifierLaunch(gpu, shape, {
 *   h, dh, params: [W, b], grads: [dW, db],
 * });
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * classifier.encodeForward(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [classifier.logits]))[0])); // [11]
 * classifier.destroy();
 * ```
 */
export class TargetClassifierLaunch implements Stage {
  readonly shape: ClassifierShape;
  /** logits: [B,T,C] (the range's total targets), written by the forward. */
  readonly logits: GPUBuffer;
  /** dlogits: [B,T,C], written by the caller (the loss) before the backward. */
  readonly dlogits: GPUBuffer;
  #gpu: Gpu;
  #owned: GPUBuffer[] = [];
  #forward: Dispatch[] = [];
  #backward: Dispatch[] = [];

  constructor(
    gpu: Gpu,
    shape: ClassifierShape,
    buffers: ClassifierBuffers,
    { accumulate = false, range = { first: 0, total: shape.T } }: ClassifierOptions = {},
  ) {
    checkClassifier(gpu, shape, buffers, range);
    this.#gpu = gpu;
    this.shape = shape;
    const { B, T, C } = shape;
    const layers = classifierLayers(shape);
    const owned = (elements: number, label: string) => {
      const buffer = tensorBuffer(gpu, elements, label);
      this.#owned.push(buffer);
      return buffer;
    };
    this.logits = buffers.outputs?.logits ?? owned(B * range.total * C, "logits");
    this.dlogits = buffers.outputs?.dlogits ?? owned(B * range.total * C, "dlogits");
    // activations[i] feeds layer i; grads of activations likewise, dh first. The caller's
    // tensors hold every target of the range's total; the hidden ones only the range's.
    const whole = (buffer: GPUBuffer): Activation => ({ buffer, ...range });
    const activations = [whole(buffers.h)];
    const activationGrads = [whole(buffers.dh)];
    layers.slice(0, -1).forEach(({ outputs }) => {
      const hidden = (label: string) => ({
        buffer: owned(B * T * outputs, label),
        first: 0,
        total: T,
      });
      activations.push(hidden("hidden"));
      activationGrads.push(hidden("dhidden"));
    });
    activations.push(whole(this.logits));
    activationGrads.push(whole(this.dlogits));
    layers.forEach((_, i) => this.#forward.push(...this.#layerForward(i, buffers, activations)));
    for (let i = layers.length - 1; i >= 0; i--) {
      this.#backward.push(
        ...this.#layerBackward(i, buffers, activations, activationGrads, accumulate),
      );
    }
  }

  /** Layer i's forward: activations[i + 1] = relu?(bias + activations[i]·W), per target. */
  #layerForward(i: number, buffers: ClassifierBuffers, activations: Activation[]): Dispatch[] {
    const { B } = this.shape;
    const { inputs: I, outputs: O, relu } = classifierLayers(this.shape)[i];
    const [W, bias] = [buffers.params[2 * i], buffers.params[2 * i + 1]];
    const [input, output] = [activations[i], activations[i + 1]];
    return this.#matmul({
      entry: "affine",
      M: B,
      N: O,
      K: I,
      a: [I, input.total * I, 1],
      b: [I * O, O, 1],
      c: [O, output.total * O],
      bases: [input.first * I, 0, output.first * O],
      buffers: { 1: input.buffer, 2: W, 3: output.buffer, 4: bias },
      accumulate: false,
      relu,
    });
  }

  /**
   * Layer i's backward from the gradient of its output: dW (+)= inᵀ·dout, dbias (+)= Σ_b dout,
   * and the gradient of its input dout·Wᵀ, gated by the ReLU that made the input, if any.
   */
  #layerBackward(
    i: number,
    buffers: ClassifierBuffers,
    activations: Activation[],
    activationGrads: Activation[],
    accumulate: boolean,
  ): Dispatch[] {
    const { B } = this.shape;
    const layers = classifierLayers(this.shape);
    const { inputs: I, outputs: O } = layers[i];
    const [W, dW, dbias] = [buffers.params[2 * i], buffers.grads[2 * i], buffers.grads[2 * i + 1]];
    const [input, dinput, dout] = [activations[i], activationGrads[i], activationGrads[i + 1]];
    const weightGrad = this.#matmul({
      entry: "product",
      M: I,
      N: O,
      K: B,
      a: [I, 1, input.total * I],
      b: [O, dout.total * O, 1],
      c: [I * O, O],
      bases: [input.first * I, dout.first * O, 0],
      buffers: { 1: input.buffer, 2: dout.buffer, 3: dW },
      accumulate,
      relu: false,
    });
    const gated = i > 0 && layers[i - 1].relu;
    const inputGradBuffers: Record<number, GPUBuffer> = {
      1: dout.buffer,
      2: W,
      3: dinput.buffer,
    };
    // The gate is read where the input gradient is written: both are the launcher's own.
    if (gated) inputGradBuffers[5] = input.buffer;
    const inputGrad = this.#matmul({
      entry: gated ? "relu_backward" : "product",
      M: B,
      N: I,
      K: O,
      a: [O, dout.total * O, 1],
      b: [I * O, 1, O],
      c: [I, dinput.total * I],
      bases: [dout.first * O, 0, dinput.first * I],
      buffers: inputGradBuffers,
      accumulate: false,
      relu: false,
    });
    return [...weightGrad, ...this.#sumDocuments(dout, dbias, O, accumulate), ...inputGrad];
  }

  /** Records the forward: the hidden activations and the logits. */
  encodeForward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#forward);
  }

  /** Records the backward of Σ logits·dlogits: dh and the parameter gradients. */
  encodeBackward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#backward);
  }

  /** Frees the buffers the launcher owns (not the caller's). */
  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.#owned = [];
  }

  #uniform(words: number[]): GPUBuffer {
    const buffer = uniformBuffer(this.#gpu, words, "classifier params");
    this.#owned.push(buffer);
    return buffer;
  }

  #matmul(plan: MatmulPlan): Dispatch[] {
    const { M, N, K, a, b, c } = plan;
    const wide = N > NARROW_COLS;
    const pipeline = computePipeline(this.#gpu, CLASSIFIER_WGSL, plan.entry, {
      WIDE: wide ? 1 : 0,
    });
    const cols = wide ? 2 * NARROW_COLS : NARROW_COLS;
    const invocations = this.shape.T * Math.ceil(M / BLOCK_ROWS) * Math.ceil(N / cols);
    const dispatches = [];
    for (let begin = 0; begin < K; begin += MATMUL_K_CHUNK) {
      const end = Math.min(K, begin + MATMUL_K_CHUNK);
      const params = this.#uniform([
        this.shape.T,
        M,
        N,
        ...a,
        ...b,
        ...c,
        begin,
        end,
        begin > 0 || plan.accumulate ? 1 : 0,
        end === K ? 1 : 0,
        plan.relu ? 1 : 0,
        ...plan.bases,
      ]);
      const group = bindBuffers(this.#gpu, pipeline, { 0: params, ...plan.buffers });
      dispatches.push({ pipeline, group, invocations });
    }
    return dispatches;
  }

  /** dbias[t,n] (+)= Σ_b dout[b,t,n], sliced over documents. */
  #sumDocuments(dout: Activation, dbias: GPUBuffer, N: number, accumulate: boolean): Dispatch[] {
    const { B, T } = this.shape;
    const pipeline = computePipeline(this.#gpu, CLASSIFIER_WGSL, "sum_documents");
    const dispatches = [];
    for (let begin = 0; begin < B; begin += MATMUL_K_CHUNK) {
      const end = Math.min(B, begin + MATMUL_K_CHUNK);
      const add = begin > 0 || accumulate ? 1 : 0;
      const params = this.#uniform([
        ...[T, B, N, 0, dout.total * N, 0, 0, 0, 0, 0, 0],
        ...[begin, end, add, 0, 0, dout.first * N, 0, 0],
      ]);
      const group = bindBuffers(this.#gpu, pipeline, { 0: params, 1: dout.buffer, 3: dbias });
      dispatches.push({ pipeline, group, invocations: T * N });
    }
    return dispatches;
  }

  #encode(pass: GPUComputePassEncoder, dispatches: Dispatch[]) {
    encodeAll(this.#gpu, pass, dispatches);
  }
}
