/**
 * Verification of the projection kernels: GPU matmuls vs the float64 reference on edge-case
 * shapes, and the reference's gradients vs finite differences.
 *
 * @module
 */

import { type Gpu, readBuffers, tensorBuffer } from "../gpu.ts";
import { fillUniform, mulberry32 } from "../../base/rng.ts";
import {
  centralDifferences,
  type CheckResult,
  compare,
  f32SumTolerance,
  FD_STEP,
  fdChecks,
  type FixtureTensor,
  type KernelCheck,
  type ParityCase,
} from "../verify.ts";
import { MatmulLaunch, toProjectionLayout } from "./projection.ts";
import { projectionBackward, projectionForward, type ProjectionShape } from "./reference.ts";

const KERNEL = "projection";

function label({ N, D, F, K }: ProjectionShape): string {
  return `N=${N} D=${D} F=${F} K=${K}`;
}

/** GPU P = x·Wt, dx = dP·Wtᵀ and dWt = xᵀ·dP against the reference, on inputs in [-1, 1). */
async function parity(gpu: Gpu, shape: ProjectionShape): Promise<CheckResult[]> {
  const { N, D, F, K } = shape;
  const next = mulberry32(7);
  const x = fillUniform(next, new Float64Array(N * D), -1, 1);
  const W = fillUniform(next, new Float64Array(F * D * K), -1, 1);
  const dP = fillUniform(next, new Float64Array(N * K * F), -1, 1);
  const C = K * F;
  const buffers = {
    x: tensorBuffer(gpu, N * D, "x"),
    Wt: tensorBuffer(gpu, D * C, "Wt"),
    P: tensorBuffer(gpu, N * C, "P"),
    dP: tensorBuffer(gpu, N * C, "dP"),
    dx: tensorBuffer(gpu, N * D, "dx"),
    dWt: tensorBuffer(gpu, D * C, "dWt"),
  };
  const queue = gpu.device.queue;
  queue.writeBuffer(buffers.x, 0, Float32Array.from(x));
  queue.writeBuffer(buffers.Wt, 0, toProjectionLayout([W], [{ K, F }], D));
  queue.writeBuffer(buffers.dP, 0, Float32Array.from(dP));
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  new MatmulLaunch(gpu, { M: N, N: C, K: D }, buffers.x, buffers.Wt, buffers.P).encode(pass);
  new MatmulLaunch(gpu, { M: N, N: D, K: C, transB: true }, buffers.dP, buffers.Wt, buffers.dx)
    .encode(pass);
  new MatmulLaunch(gpu, { M: D, N: C, K: N, transA: true }, buffers.x, buffers.dP, buffers.dWt)
    .encode(pass);
  pass.end();
  queue.submit([encoder.finish()]);
  const [P, dx, dWt] = (await readBuffers(gpu, [buffers.P, buffers.dx, buffers.dWt]))
    .map((b) => new Float32Array(b));
  Object.values(buffers).forEach((b) => b.destroy());
  const ref = projectionBackward(x, W, dP, shape);
  const refDWt = toProjectionLayout([ref.dW], [{ K, F }], D);
  const what = label(shape);
  return [
    compare(
      KERNEL,
      "forward parity",
      `P ${what}`,
      P,
      projectionForward(x, W, shape),
      f32SumTolerance(D, 1),
    ),
    compare(KERNEL, "backward parity", `dx ${what}`, dx, ref.dx, f32SumTolerance(C, 1)),
    compare(KERNEL, "backward parity", `dW ${what}`, dWt, refDWt, f32SumTolerance(N, 1)),
  ];
}

const CASES: ProjectionShape[] = [
  { N: 1, D: 1, F: 1, K: 1 },
  { N: 37, D: 5, F: 3, K: 3 },
  { N: 70, D: 33, F: 7, K: 5 },
  // dW reduces over N = 70,000 rows: past llvmpipe's ~65,535-iteration cut-off in one dispatch.
  { N: 70000, D: 3, F: 2, K: 3 },
];

const FIXTURE_SHAPE: ProjectionShape = { N: 4, D: 3, F: 2, K: 3 };

function makeFixture(): FixtureTensor[] {
  const { N, D, F, K } = FIXTURE_SHAPE;
  const next = mulberry32(11);
  const x = fillUniform(next, new Float64Array(N * D), -1, 1);
  const W = fillUniform(next, new Float64Array(F * D * K), -1, 1);
  const G = fillUniform(next, new Float64Array(N * K * F), -1, 1);
  const loss = () => projectionForward(x, W, FIXTURE_SHAPE).reduce((s, p, i) => s + p * G[i], 0);
  return [
    { name: "x", shape: [N, D], values: x, fdGrad: centralDifferences(x, loss, FD_STEP) },
    { name: "W", shape: [F, D, K], values: W, fdGrad: centralDifferences(W, loss, FD_STEP) },
    { name: "G", shape: [N, K, F], values: G },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const [x, W, G] = ["x", "W", "G"].map((name) => fixture.get(name)!.values);
  const { dx, dW } = projectionBackward(x, W, G, FIXTURE_SHAPE);
  return fdChecks(KERNEL, fixture, { x: dx, W: dW });
}

/**
 * The projection's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { projectionCheck } from "./check.ts";
 * console.log(projectionCheck.parityCases.map((c) => c.label));
 * ```
 */
export const projectionCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "projection.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((shape): ParityCase => ({
    label: label(shape),
    run: (gpu) => parity(gpu, shape),
  })),
};
