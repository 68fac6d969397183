/**
 * maskconv as a library: the shared masked convolution of the Multi-Target Masker on WebGPU,
 * its float64 reference, and the verification harness.
 *
 * @example
 * ```ts
 * import { getGpu, MaskedConv } from "./mod.ts";
 * const gpu = await getGpu();
 * const layer = new MaskedConv(gpu, { B: 1, L: 4, D: 2, T: 3, widths: [{ K: 3, F: 2 }] });
 * layer.setWeights([new Float32Array(12).fill(0.1)], [0, 0]);
 * layer.setInputs(new Float32Array(8).fill(1), new Float32Array(12).fill(0.5), [4]);
 * layer.forward();
 * console.log(await layer.readOutput()); // h: [B,T,F]
 * layer.destroy();
 * ```
 *
 * @module
 */

export { getGpu, type Gpu, NoAdapterError } from "./kernels/gpu.ts";
export {
  MaskedConv,
  type MaskedConvGpuGradients,
  planTiles,
  type TilePlan,
} from "./kernels/masked_conv/masked_conv.ts";
export {
  maskedConvBackward,
  maskedConvForward,
  type MaskedConvInputs,
  type MaskedConvShape,
} from "./kernels/masked_conv/reference.ts";
export type { Width } from "./kernels/projection/projection.ts";
export { KERNEL_CHECKS, runGradcheck, writeFixtures } from "./kernels/checks.ts";
export type { CheckResult, Tolerance } from "./kernels/verify.ts";
export { NaiveMaskedConv } from "./kernels/naive_conv/naive_conv.ts";
export { MtmModel, type Prediction } from "./model/network/mtm.ts";
export type { Batch } from "./model/network/batch_plan.ts";
export { encoderMaskScale, type ModelSpec } from "./model/task/spec.ts";
export { configFromFlags, DEFAULTS, type TrainConfig } from "./model/task/config.ts";
export { train, type TrainRun } from "./model/training/train.ts";
export { loadModel, saveModel } from "./model/files/model_dir.ts";
export {
  deletionTest,
  evaluate,
  keptClasses,
  type KeptWords,
  maskAgreement,
  predictAll,
  probabilityOf,
  rationaleTest,
  topLabel,
  type WordDistribution,
  wordsReadBy,
} from "./model/evaluation/inference.ts";
export { svmBaseline } from "./quality/svm_baseline.ts";
