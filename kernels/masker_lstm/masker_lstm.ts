/**
 * The masker on the GPU: a bidirectional LSTM over the embeddings and a linear layer to the
 * logits of the T+1 classes, forward and backward. The input projection x·Wx, the output layer
 * and every reduction over positions are matmuls ({@link MatmulLaunch}); only the recurrence is
 * the LSTM's own kernel, one dispatch per time step and direction.
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, tensorBuffer, uniformBuffer } from "../gpu.ts";
import { type Dispatch, encodeAll, LOOP_TRIPS, type Stage } from "../launch.ts";
import { MatmulLaunch } from "../projection/projection.ts";
import LSTM_WGSL from "./masker_lstm.wgsl" with { type: "text" };
import type { MaskerLstmShape } from "./reference.ts";

/** One direction's parameters and their gradients, owned by the model. */
export interface LstmParameters {
  Wx: GPUBuffer; // Wx: [D,4H], gate blocks i, f, g, o (column q·H + j)
  Wh: GPUBuffer; // Wh: [H,4H]
  bias: GPUBuffer; // bias: [4H]
  dWx: GPUBuffer; // dWx: [D,4H], overwritten by each backward
  dWh: GPUBuffer; // dWh: [H,4H], overwritten by each backward
  dbias: GPUBuffer; // dbias: [4H], overwritten by each backward
}

/** The masker's parameters and their gradients, owned by the model. */
export interface MaskerLstmParameters {
  /** The LSTM that reads each document left to right (u columns 0..H−1). */
  fwd: LstmParameters;
  /** The LSTM that reads each document right to left (u columns H..2H−1). */
  bwd: LstmParameters;
  Wo: GPUBuffer; // Wo: [2H, T+1]
  bo: GPUBuffer; // bo: [T+1]
  dWo: GPUBuffer; // dWo: [2H, T+1], overwritten by each backward
  dbo: GPUBuffer; // dbo: [T+1], overwritten by each backward
}

/** The buffers the masker shares with the layers around it. */
export interface MaskerLstmInputs {
  x: GPUBuffer; // x: [B,L,D], the embeddings
  lengths: GPUBuffer; // lengths: [B] u32, each ≤ L
  dx: GPUBuffer; // dx: [B,L,D], written (or added to, with `accumulate`) by the backward
}

/** Construction options of {@link MaskerLstmLaunch}. */
export interface MaskerLstmOptions {
  /** Add the backward's gradient into dx instead of overwriting it (x feeds other layers too). */
  accumulate?: boolean;
}

/** The activations the launcher owns and other kernels read or fill. */
export interface MaskerLstmActivations {
  u: GPUBuffer; // u: [B,L,2H] = [h_fwd, h_bwd], 0 at padding
  a: GPUBuffer; // a: [B,L,T+1] = u·Wo + bo, output (bo at padding)
  da: GPUBuffer; // da: [B,L,T+1], the upstream gradient, input to the backward
}

/** One direction's matmuls and steps, in the order they are encoded. */
interface DirectionPlan {
  project: MatmulLaunch[];
  steps: Dispatch[];
  backSteps: Dispatch[];
  grads: MatmulLaunch[];
}

/**
 * The masker for one batch shape, with its activations, pipelines, bind groups and per-step
 * uniforms built once; `encodeForward`/`encodeBackward` record the same dispatches every step.
 *
 * @example
 * ```ts
 * import { getGpu, tensorBuffer } from "../gpu.ts";
 * import { MaskerLstmLaunch } from "./masker_lstm.ts";
 * const gpu = await getGpu();
 * const shape = { B: 1, L: 2, D: 3, H: 2, classes: 3 };
 * const t = (n: number) => tensorBuffer(gpu, n, "t");
 * const lstm = () => ({ Wx: t(24), Wh: t(16), bias: t(8), dWx: t(24), dWh: t(16), dbias: t(8) });
 * const parameters = { fwd: lstm(), bwd: lstm(), Wo: t(12), bo: t(3), dWo: t(12), dbo: t(3) };
 * const inputs = { x: t(6), lengths: t(1), dx: t(6) };
 * const masker = new MaskerLstmLaunch(gpu, shape, parameters, inputs);
 * console.log(masker.activations.a.size); // 24 bytes: a [1,2,3]
 * masker.destroy();
 * ```
 */
export class MaskerLstmLaunch implements Stage {
  readonly shape: MaskerLstmShape;
  readonly activations: MaskerLstmActivations;
  #gpu: Gpu;
  #directions: DirectionPlan[] = [];
  #output: MatmulLaunch[];
  #outputGrads: MatmulLaunch[];
  #buffers: GPUBuffer[] = [];

  constructor(
    gpu: Gpu,
    shape: MaskerLstmShape,
    parameters: MaskerLstmParameters,
    inputs: MaskerLstmInputs,
    options: MaskerLstmOptions = {},
  ) {
    const { B, L, H, classes } = shape;
    if (4 * H > LOOP_TRIPS) {
      throw new RangeError(`H=${H}: a step would loop ${4 * H} times, over ${LOOP_TRIPS}`);
    }
    this.#gpu = gpu;
    this.shape = shape;
    const buffer = (elements: number, label: string) => {
      const b = tensorBuffer(gpu, elements, label);
      this.#buffers.push(b);
      return b;
    };
    const rows = B * L;
    // A column of ones [B·L, 1] (or row [1, B·L]): adds a bias to every row, and sums rows.
    const ones = buffer(rows, "ones");
    gpu.device.queue.writeBuffer(ones, 0, new Float32Array(rows).fill(1));
    const u = buffer(rows * 2 * H, "u");
    const du = buffer(rows * 2 * H, "du");
    this.activations = { u, a: buffer(rows * classes, "a"), da: buffer(rows * classes, "da") };
    const { a, da } = this.activations;

    const shared = { ones, u, du, ...inputs };
    [parameters.fwd, parameters.bwd].forEach((lstm, rightToLeft) => {
      // The right-to-left LSTM adds onto the dx the left-to-right one wrote.
      const accumulate = rightToLeft === 1 || (options.accumulate ?? false);
      this.#directions.push(this.#directionPlan(lstm, rightToLeft, shared, accumulate));
    });
    const { Wo, bo, dWo, dbo } = parameters;
    this.#output = [
      new MatmulLaunch(gpu, { M: rows, N: classes, K: 2 * H }, u, Wo, a),
      new MatmulLaunch(gpu, { M: rows, N: classes, K: 1, accumulate: true }, ones, bo, a),
    ];
    this.#outputGrads = [
      new MatmulLaunch(gpu, { M: rows, N: 2 * H, K: classes, transB: true }, da, Wo, du),
      new MatmulLaunch(gpu, { M: 2 * H, N: classes, K: rows, transA: true }, u, da, dWo),
      new MatmulLaunch(gpu, { M: 1, N: classes, K: rows }, ones, da, dbo),
    ];
  }

  /**
   * One direction's launches: the input projection, one dispatch per time step forward and
   * backward (sequential: step l needs step l − 1), and the weight and input gradients, dx
   * added to what `dx` holds when `accumulateDx`.
   */
  #directionPlan(
    lstm: LstmParameters,
    rightToLeft: number,
    io: MaskerLstmInputs & { ones: GPUBuffer; u: GPUBuffer; du: GPUBuffer },
    accumulateDx: boolean,
  ): DirectionPlan {
    const gpu = this.#gpu;
    const { B, L, D, H } = this.shape;
    const rows = B * L;
    const { ones, u, du, x, lengths, dx } = io;
    const buffer = (elements: number, label: string) => {
      const b = tensorBuffer(gpu, elements, label);
      this.#buffers.push(b);
      return b;
    };
    const gates = buffer(rows * 4 * H, "gates");
    const c = buffer(rows * H, "c");
    const hPrev = buffer(rows * H, "h prev");
    const dgates = buffer(rows * 4 * H, "dgates");
    const dcCarry = buffer(B * H, "dc carry");
    const forwardStep = computePipeline(gpu, LSTM_WGSL, "forward_step");
    const backwardStep = computePipeline(gpu, LSTM_WGSL, "backward_step");
    const plan: DirectionPlan = {
      project: [
        new MatmulLaunch(gpu, { M: rows, N: 4 * H, K: D }, x, lstm.Wx, gates),
        new MatmulLaunch(
          gpu,
          { M: rows, N: 4 * H, K: 1, accumulate: true },
          ones,
          lstm.bias,
          gates,
        ),
      ],
      steps: [],
      backSteps: [],
      grads: [
        new MatmulLaunch(gpu, { M: D, N: 4 * H, K: rows, transA: true }, x, dgates, lstm.dWx),
        new MatmulLaunch(gpu, { M: H, N: 4 * H, K: rows, transA: true }, hPrev, dgates, lstm.dWh),
        new MatmulLaunch(gpu, { M: 1, N: 4 * H, K: rows }, ones, dgates, lstm.dbias),
        new MatmulLaunch(
          gpu,
          { M: rows, N: D, K: 4 * H, transB: true, accumulate: accumulateDx },
          dgates,
          lstm.Wx,
          dx,
        ),
      ],
    };
    for (let step = 0; step < L; step++) {
      const params = uniformBuffer(gpu, [B, L, H, rightToLeft, step], "lstm step params");
      this.#buffers.push(params);
      const common = { 0: params, 1: lengths, 2: lstm.Wh, 3: gates, 4: c };
      plan.steps.push({
        pipeline: forwardStep,
        invocations: B * H,
        group: bindBuffers(gpu, forwardStep, { ...common, 5: hPrev, 6: u }),
      });
      plan.backSteps.push({
        pipeline: backwardStep,
        invocations: B * H,
        group: bindBuffers(gpu, backwardStep, { ...common, 7: du, 8: dgates, 9: dcCarry }),
      });
    }
    plan.backSteps.reverse();
    return plan;
  }

  /** Records the forward into `pass`: u and a, and what the backward needs. */
  encodeForward(pass: GPUComputePassEncoder): void {
    for (const { project, steps } of this.#directions) {
      for (const matmul of project) matmul.encode(pass);
      encodeAll(this.#gpu, pass, steps);
    }
    for (const matmul of this.#output) matmul.encode(pass);
  }

  /**
   * Records the backward of Σ a·da into `pass`, after the forward: overwrites the parameters'
   * gradients, and writes (or adds into) dx. Nothing needs clearing beforehand.
   */
  encodeBackward(pass: GPUComputePassEncoder): void {
    for (const matmul of this.#outputGrads) matmul.encode(pass);
    for (const { backSteps, grads } of this.#directions) {
      encodeAll(this.#gpu, pass, backSteps);
      for (const matmul of grads) matmul.encode(pass);
    }
  }

  /** Frees the buffers the launcher owns (not the parameters nor the inputs). */
  destroy(): void {
    for (const buffer of this.#buffers) buffer.destroy();
    this.#buffers = [];
  }
}
