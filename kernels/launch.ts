/**
 * The launcher contract every kernel folder follows: what one dispatch is, how a list of them
 * is recorded, the loop budget of one invocation, and the stage interface a model is built of.
 *
 * @module
 */

import { dispatchFlat, type Gpu } from "./gpu.ts";

/**
 * Most loop trips one invocation may run in one dispatch. llvmpipe (Mesa's software adapter)
 * silently stops any invocation after ~65,535 loop iterations in total, returning whatever was
 * computed so far; every launcher slices its work so that no invocation loops more than this,
 * which leaves room for the few trips of setup around a sliced loop. Parity tests run shapes
 * past the cut-off to keep it so.
 */
export const LOOP_TRIPS = 12288;

/** One dispatch a launcher records: a pipeline, its bind group, and how many invocations. */
export interface Dispatch {
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  /** Invocations of the entry point, laid out by {@link dispatchFlat}. */
  invocations: number;
}

/**
 * Records `dispatches` into `pass` in order.
 *
 * @example
 * ```ts
 * import { bindBuffers, computePipeline, getGpu, tensorBuffer, uniformBuffer } from "./gpu.ts";
 * import { encodeAll } from "./launch.ts";
 * import matmulWgsl from "./projection/matmul.wgsl" with { type: "text" };
 * const gpu = await getGpu();
 * const pipeline = computePipeline(gpu, matmulWgsl, "matmul", { TRANS_A: 0, TRANS_B: 0 });
 * const [a, b, c] = [1, 1, 1].map((n) => tensorBuffer(gpu, n, "t"));
 * const params = uniformBuffer(gpu, [1, 1, 1, 0, 1, 0], "p");
 * const group = bindBuffers(gpu, pipeline, { 0: params, 1: a, 2: b, 3: c });
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * encodeAll(gpu, pass, [{ pipeline, group, invocations: 1 }]);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * ```
 */
export function encodeAll(
  gpu: Gpu,
  pass: GPUComputePassEncoder,
  dispatches: readonly Dispatch[],
): void {
  for (const { pipeline, group, invocations } of dispatches) {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    dispatchFlat(gpu, pass, invocations);
  }
}

/** A part of a launcher that records its dispatches into a pass (a matmul, a reduction). */
export interface Launch {
  encode(pass: GPUComputePassEncoder): void;
}

/**
 * One stage of a model's step, built for one batch shape: a forward recorded in order with
 * the other stages, a backward recorded in reverse order, and the buffers it owns.
 */
export interface Stage {
  /** Records the forward: reads the stage's inputs, writes its outputs. */
  encodeForward(pass: GPUComputePassEncoder): void;
  /** Records the backward: reads the gradients of its outputs, writes or adds to its inputs'. */
  encodeBackward(pass: GPUComputePassEncoder): void;
  /** Zeroes the accumulators a step adds into, before the step's compute pass. */
  encodeClears?(encoder: GPUCommandEncoder): void;
  /** Frees the buffers the stage made (never the parameters or inputs it was given). */
  destroy(): void;
}

/**
 * Records one direction of `stage` in a command encoder of its own (the backward after the
 * stage's clears) and submits it: how a kernel runs on its own, outside a model's step.
 *
 * @example
 * ```ts
 * import { getGpu } from "./gpu.ts";
 * import { submitStage } from "./launch.ts";
 * const stage = { encodeForward() {}, encodeBackward() {}, destroy() {} };
 * submitStage(await getGpu(), stage, "forward", "nothing");
 * ```
 */
export function submitStage(
  gpu: Gpu,
  stage: Stage,
  direction: "forward" | "backward",
  label: string,
): void {
  const encoder = gpu.device.createCommandEncoder({ label });
  if (direction === "backward") stage.encodeClears?.(encoder);
  const pass = encoder.beginComputePass();
  if (direction === "forward") stage.encodeForward(pass);
  else stage.encodeBackward(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
}
