/**
 * Verification of gradient accumulation: the GPU's sum over passes vs the float64 reference,
 * for one to five passes and a parameter too large for one row of workgroups. No fixture: it
 * has no backward of its own.
 *
 * @module
 */

import { type Gpu, readBuffers, tensorBuffer } from "../gpu.ts";
import { fillUniform, mulberry32 } from "../../base/rng.ts";
import { type CheckResult, compare, f32SumTolerance, type KernelCheck } from "../verify.ts";
import { GradientAccumulation } from "./gradient_accumulation.ts";
import { accumulateReference, accumulationPhase } from "./reference.ts";

const KERNEL = "gradient accumulation";

interface AccumulationCase {
  sizes: number[];
  passes: number;
}

async function parity(gpu: Gpu, { sizes, passes }: AccumulationCase): Promise<CheckResult[]> {
  const next = mulberry32(11);
  // Each pass's gradients as float32 values, which is what the GPU adds.
  const drawn = Array.from(
    { length: passes },
    () =>
      sizes.map((n) =>
        Float64Array.from(Float32Array.from(fillUniform(next, new Float64Array(n), -1, 1)))
      ),
  );
  const grads = sizes.map((n, p) => tensorBuffer(gpu, n, `grad ${p}`));
  const accumulation = new GradientAccumulation(
    gpu,
    grads.map((grad, p) => ({ name: `p${p}`, grad, size: sizes[p] })),
  );
  for (let pass = 0; pass < passes; pass++) {
    drawn[pass].forEach((g, p) => gpu.device.queue.writeBuffer(grads[p], 0, Float32Array.from(g)));
    const phase = accumulationPhase(pass, passes);
    if (!phase) continue;
    const encoder = gpu.device.createCommandEncoder();
    const computePass = encoder.beginComputePass();
    accumulation.encode(computePass, phase);
    computePass.end();
    gpu.device.queue.submit([encoder.finish()]);
  }
  const summed = (await readBuffers(gpu, grads)).map((b) => new Float32Array(b));
  accumulation.destroy();
  grads.forEach((b) => b.destroy());
  const expected = accumulateReference(drawn);
  return summed.map((actual, p) =>
    compare(
      KERNEL,
      "forward parity",
      `${sizes[p]} elements over ${passes} passes`,
      actual,
      expected[p],
      f32SumTolerance(passes, 1),
    )
  );
}

const CASES: AccumulationCase[] = [
  { sizes: [1, 33], passes: 1 },
  { sizes: [1, 1000], passes: 2 },
  { sizes: [7, 4097], passes: 3 },
  // More workgroups than one dimension of a dispatch holds (65,535 × 64 invocations).
  { sizes: [5_000_001, 3], passes: 5 },
];

/**
 * Gradient accumulation's checks for `maskconv gradcheck` and the tests: parity cases only.
 *
 * @example
 * ```ts
 * import { gradientAccumulationCheck } from "./check.ts";
 * console.log(gradientAccumulationCheck.parityCases.length); // 4
 * ```
 */
export const gradientAccumulationCheck: KernelCheck = {
  name: KERNEL,
  parityCases: CASES.map((accumulationCase) => ({
    label: `${accumulationCase.passes} pass${accumulationCase.passes > 1 ? "es" : ""} of ${
      accumulationCase.sizes.join(", ")
    } elements`,
    run: (gpu) => parity(gpu, accumulationCase),
  })),
};
