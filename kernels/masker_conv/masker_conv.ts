/**
 * The convolutional masker on the GPU: per-token logits a [B,L,T+1] from the embeddings through
 * one width-3 'same' convolution with tanh (H hidden units) and a per-token linear layer.
 *
 * The convolution is a projection Q = x·Wt of every tap at once, then a small gather kernel that
 * sums each position's three taps and applies tanh; every matmul, forward and backward, is the
 * shared {@link MatmulLaunch}.
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, tensorBuffer, uniformBuffer } from "../gpu.ts";
import { type Dispatch, encodeAll, type Launch, LOOP_TRIPS, type Stage } from "../launch.ts";
import {
  fromProjectionLayout,
  MatmulLaunch,
  toProjectionLayout,
} from "../projection/projection.ts";
import MASKER_WGSL from "./masker_conv.wgsl" with { type: "text" };
import { MASKER_TAPS, type MaskerShape } from "./reference.ts";

/**
 * The masker's parameters and their gradients on the GPU, owned by the model (several batch
 * shapes share them). O = T+1. Each backward overwrites the four gradients.
 */
export interface MaskerParameters {
  Wt: GPUBuffer; // Wt: [D, 3·H], column k·H + j = Wm[j,:,k] (see toMaskerLayout)
  c: GPUBuffer; // c: [H]
  Wo: GPUBuffer; // Wo: [H, O]
  bo: GPUBuffer; // bo: [O]
  dWt: GPUBuffer; // dWt: [D, 3·H], same layout as Wt
  dc: GPUBuffer; // dc: [H]
  dWo: GPUBuffer; // dWo: [H, O]
  dbo: GPUBuffer; // dbo: [O]
}

/** The buffers the masker reads or writes but other layers own. */
export interface MaskerIo {
  x: GPUBuffer; // x: [B, L, D], 0 at padding
  lengths: GPUBuffer; // lengths: [B] u32, each ≤ L
  da: GPUBuffer; // da: [B, L, O], upstream gradient of a, input to the backward
  dx: GPUBuffer; // dx: [B, L, D], written (or added to, see accumulateDx) by the backward
}

/** Construction options of {@link ConvMasker}. */
export interface ConvMaskerOptions {
  /** Add the masker's dx into `io.dx` (which the masked conv also feeds) instead of overwriting. */
  accumulateDx?: boolean;
}

/** One or more dispatches of a kernel of masker_conv.wgsl, bound once. */
class KernelLaunch implements Launch {
  #gpu: Gpu;
  #dispatches: Dispatch[];

  constructor(gpu: Gpu, dispatches: Dispatch[]) {
    this.#gpu = gpu;
    this.#dispatches = dispatches;
  }

  encode(pass: GPUComputePassEncoder): void {
    encodeAll(this.#gpu, pass, this.#dispatches);
  }
}

/** The Params words of masker_conv.wgsl. */
function maskerParams(
  gpu: Gpu,
  { B = 0, L = 0, H = 0, cols = 0, begin = 0, end = 0, first = false },
  label: string,
): GPUBuffer {
  return uniformBuffer(gpu, [B, L, H, cols, begin, end, first ? 1 : 0], label);
}

/**
 * output[col] = Σ_row input[row, col] over a [rows, cols] matrix, the rows split into dispatches
 * of at most {@link LOOP_TRIPS}, each adding to the last in order; built once, encoded
 * every step.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { ColumnSumLaunch } from "./masker_conv.ts";
 * const gpu = await getGpu();
 * const [input, output] = [tensorBuffer(gpu, 4, "input"), tensorBuffer(gpu, 2, "output")];
 * gpu.device.queue.writeBuffer(input, 0, new Float32Array([1, 2, 3, 4]));
 * const sum = new ColumnSumLaunch(gpu, { rows: 2, cols: 2 }, input, output);
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * sum.encode(pass);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [output]))[0])); // [4, 6]
 * ```
 */
export class ColumnSumLaunch implements Launch {
  #launch: KernelLaunch;

  constructor(
    gpu: Gpu,
    { rows, cols }: { rows: number; cols: number },
    input: GPUBuffer,
    output: GPUBuffer,
  ) {
    const pipeline = computePipeline(gpu, MASKER_WGSL, "column_sum");
    const dispatches: Dispatch[] = [];
    // One slice even without rows, so that the output is still overwritten with zeros.
    for (let begin = 0; begin < Math.max(rows, 1); begin += LOOP_TRIPS) {
      const end = Math.min(rows, begin + LOOP_TRIPS);
      const params = maskerParams(gpu, { cols, begin, end, first: begin === 0 }, "column sum");
      const group = bindBuffers(gpu, pipeline, { 0: params, 10: input, 11: output });
      dispatches.push({ pipeline, group, invocations: cols });
    }
    this.#launch = new KernelLaunch(gpu, dispatches);
  }

  /** Records the dispatches into `pass`. */
  encode(pass: GPUComputePassEncoder): void {
    this.#launch.encode(pass);
  }
}

/**
 * The masker for one batch shape, with its pipelines, bind groups and activation buffers built
 * once; `encodeForward` and `encodeBackward` record every step's dispatches.
 *
 * Buffers it owns (O = T+1): Q [B,L,3·H], u [B,L,H], a [B,L,O], du and dpre [B,L,H],
 * dQ [B,L,3·H]. At padding positions (l ≥ len[b]) u is exactly 0 and a exactly bo, and the
 * backward sends nothing from there into x, Wt or c; da there reaches only dbo (a = bo there),
 * so the caller's zeros in da at padding keep every gradient free of padding.
 *
 * Nothing needs clearing: every output is overwritten each step, except `io.dx` with
 * `accumulateDx`, which must hold the other layers' contribution beforehand.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "../gpu.ts";
 * import { ConvMasker, toMaskerLayout } from "./masker_conv.ts";
 * const gpu = await getGpu();
 * const shape = { B: 1, L: 2, D: 1, H: 1, T: 1 };
 * const sizes = { Wt: 3, c: 1, Wo: 2, bo: 2, dWt: 3, dc: 1, dWo: 2, dbo: 2 };
 * const parameters = Object.fromEntries(
 *   Object.entries(sizes).map(([name, n]) => [name, tensorBuffer(gpu, n, name)]),
 * ) as Record<keyof typeof sizes, GPUBuffer>;
 * const io = {
 *   x: tensorBuffer(gpu, 2, "x"), lengths: tensorBuffer(gpu, 1, "lengths"),
 *   da: tensorBuffer(gpu, 4, "da"), dx: tensorBuffer(gpu, 2, "dx"),
 * };
 * const queue = gpu.device.queue;
 * queue.writeBuffer(parameters.Wt, 0, toMaskerLayout(new Float64Array([0, 1, 0]), 1, 1));
 * queue.writeBuffer(parameters.Wo, 0, new Float32Array([1, -1]));
 * queue.writeBuffer(io.x, 0, new Float32Array([0.5, 0]));
 * queue.writeBuffer(io.lengths, 0, new Uint32Array([1]));
 * const masker = new ConvMasker(gpu, shape, parameters, io);
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * masker.encodeForward(pass);
 * pass.end();
 * queue.submit([encoder.finish()]);
 * console.log(new Float32Array((await readBuffers(gpu, [masker.a]))[0])); // [tanh ½, −tanh ½, 0, 0]
 * masker.destroy();
 * ```
 */
export class ConvMasker implements Stage {
  readonly shape: MaskerShape;
  /** Hidden units u: [B,L,H], 0 at padding. */
  readonly u: GPUBuffer;
  /** Logits a: [B,L,T+1], bo at padding. */
  readonly a: GPUBuffer;
  #forward: Launch[];
  #backward: Launch[];
  #buffers: GPUBuffer[];

  constructor(
    gpu: Gpu,
    shape: MaskerShape,
    parameters: MaskerParameters,
    io: MaskerIo,
    options: ConvMaskerOptions = {},
  ) {
    this.shape = shape;
    const { B, L, D, H, T } = shape;
    const O = T + 1;
    const rows = B * L;
    const taps = MASKER_TAPS * H;
    const { Wt, c, Wo, bo, dWt, dc, dWo, dbo } = parameters;
    const { x, lengths, da, dx } = io;
    const Q = tensorBuffer(gpu, rows * taps, "masker Q");
    const u = tensorBuffer(gpu, rows * H, "masker u");
    const a = tensorBuffer(gpu, rows * O, "masker a");
    const du = tensorBuffer(gpu, rows * H, "masker du");
    const dpre = tensorBuffer(gpu, rows * H, "masker dpre");
    const dQ = tensorBuffer(gpu, rows * taps, "masker dQ");
    this.u = u;
    this.a = a;
    this.#buffers = [Q, u, a, du, dpre, dQ];

    const kernel = (entryPoint: string, bindings: Record<number, GPUBuffer>, cols: number) => {
      const pipeline = computePipeline(gpu, MASKER_WGSL, entryPoint);
      const params = maskerParams(gpu, { B, L, H, cols }, entryPoint);
      const group = bindBuffers(gpu, pipeline, { 0: params, ...bindings });
      return new KernelLaunch(gpu, [{ pipeline, group, invocations: rows * cols }]);
    };
    this.#forward = [
      new MatmulLaunch(gpu, { M: rows, N: taps, K: D }, x, Wt, Q),
      kernel("tap_tanh", { 1: lengths, 2: Q, 3: c, 4: u }, H),
      new MatmulLaunch(gpu, { M: rows, N: O, K: H }, u, Wo, a),
      kernel("add_bias", { 5: a, 6: bo }, O),
    ];
    this.#backward = [
      new MatmulLaunch(gpu, { M: H, N: O, K: rows, transA: true }, u, da, dWo),
      new ColumnSumLaunch(gpu, { rows, cols: O }, da, dbo),
      new MatmulLaunch(gpu, { M: rows, N: H, K: O, transB: true }, da, Wo, du),
      kernel("tanh_backward", { 1: lengths, 4: u, 7: du, 8: dpre }, H),
      new ColumnSumLaunch(gpu, { rows, cols: H }, dpre, dc),
      kernel("tap_gradients", { 1: lengths, 8: dpre, 9: dQ }, taps),
      new MatmulLaunch(gpu, { M: D, N: taps, K: rows, transA: true }, x, dQ, dWt),
      new MatmulLaunch(
        gpu,
        { M: rows, N: D, K: taps, transB: true, accumulate: options.accumulateDx },
        dQ,
        Wt,
        dx,
      ),
    ];
  }

  /** Records the forward into `pass`: u and a from x. */
  encodeForward(pass: GPUComputePassEncoder): void {
    for (const step of this.#forward) step.encode(pass);
  }

  /** Records the backward of Σ a·da into `pass`: dWt, dc, dWo, dbo and dx (after the forward). */
  encodeBackward(pass: GPUComputePassEncoder): void {
    for (const step of this.#backward) step.encode(pass);
  }

  /** Frees the activation buffers the masker made (not the parameters nor `io`). */
  destroy(): void {
    for (const buffer of this.#buffers) buffer.destroy();
    this.#buffers = [];
  }
}

/**
 * Converts canonical weights Wm [H,D,3] into the GPU layout Wt [D, 3·H], column k·H + j being
 * Wm[j,:,k].
 *
 * @example
 * ```ts
 * import { toMaskerLayout } from "./masker_conv.ts";
 * console.log(toMaskerLayout(new Float64Array([1, 2, 3]), 1, 1)); // [1, 2, 3]
 * ```
 */
export function toMaskerLayout(
  Wm: ArrayLike<number>,
  D: number,
  H: number,
): Float32Array<ArrayBuffer> {
  return toProjectionLayout([Wm], [{ K: MASKER_TAPS, F: H }], D);
}

/**
 * Converts the GPU layout Wt [D, 3·H] (a weight or its gradient) back into Wm [H,D,3], e.g. to
 * save a model.
 *
 * @example
 * ```ts
 * import { fromMaskerLayout, toMaskerLayout } from "./masker_conv.ts";
 * const Wm = new Float64Array([1, 2, 3, 4, 5, 6]); // H=2, D=1
 * console.log(fromMaskerLayout(toMaskerLayout(Wm, 1, 2), 1, 2)); // [1, 2, 3, 4, 5, 6]
 * ```
 */
export function fromMaskerLayout(Wt: ArrayLike<number>, D: number, H: number): Float64Array {
  return fromProjectionLayout(Wt, [{ K: MASKER_TAPS, F: H }], D)[0];
}
