/**
 * Verification of the prediction loss: GPU vs the float64 reference in both modes on edge-case
 * shapes (missing labels, padded classes, large logits, long sums), and the reference's gradient
 * vs finite differences.
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
} from "../verify.ts";
import { type LossShape, targetLoss } from "./reference.ts";
import { TargetLossLaunch } from "./target_loss.ts";

const KERNEL = "target loss";

interface LossCase {
  shape: LossShape;
  /** Logits are drawn from [−scale, scale). */
  scale: number;
}

interface LossInputs {
  logits: Float64Array; // logits: [B,T,C]
  y: Int32Array<ArrayBuffer>; // y: [B,T]
  classes: Uint32Array; // n: [T]
  w: number;
}

/** Aspects: n[t] uniform in [1, C] and a quarter of the labels missing; labels: fair coins. */
function drawInputs(next: () => number, { shape, scale }: LossCase): LossInputs {
  const { B, T, C, mode } = shape;
  const logits = fillUniform(next, new Float64Array(B * T * C), -scale, scale);
  const classes = Uint32Array.from({ length: T }, () => 1 + Math.floor(next() * C));
  const y = Int32Array.from({ length: B * T }, (_, i) => {
    if (mode === "labels") return next() < 0.5 ? 0 : 1;
    return next() < 0.25 ? -1 : Math.floor(next() * classes[i % T]);
  });
  return { logits, y, classes, w: 1 / B };
}

function label({ shape: { B, T, C, mode }, scale }: LossCase): string {
  return `${mode} B=${B} T=${T} C=${C} logits in ±${scale}`;
}

async function parity(gpu: Gpu, lossCase: LossCase): Promise<CheckResult[]> {
  const { shape, scale } = lossCase;
  const { B, T, C, mode } = shape;
  const { logits, y, classes, w } = drawInputs(mulberry32(9), lossCase);
  const logits32 = Float32Array.from(logits);
  const logitsBuffer = tensorBuffer(gpu, B * T * C, "logits");
  const dlogitsBuffer = tensorBuffer(gpu, B * T * C, "dlogits");
  gpu.device.queue.writeBuffer(logitsBuffer, 0, logits32);
  // dlogits starts as NaN, so that an element the loss fails to overwrite shows.
  gpu.device.queue.writeBuffer(dlogitsBuffer, 0, new Float32Array(B * T * C).fill(NaN));
  const loss = new TargetLossLaunch(gpu, shape, {
    logits: logitsBuffer,
    dlogits: dlogitsBuffer,
  }, { weight: w, classes });
  loss.setLabels(y);
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  loss.encodeForward(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const [r, dlogits, probabilities] = (await readBuffers(gpu, [
    loss.documentLoss,
    dlogitsBuffer,
    loss.probabilities,
  ])).map((b) => new Float32Array(b));
  loss.destroy();
  logitsBuffer.destroy();
  dlogitsBuffer.destroy();

  const ref = targetLoss(Float64Array.from(logits32), y, classes, Math.fround(w), shape);
  const what = label(lossCase);
  // Each term: a log-sum-exp of up to C exponentials, bounded by 2·scale + ln C + 1.
  const termBound = 2 * scale + Math.log(C) + 1;
  return [
    compare(
      KERNEL,
      "forward parity",
      `r ${what}`,
      r,
      ref.r,
      f32SumTolerance(T * (C + 2), w * termBound),
    ),
    compare(
      KERNEL,
      "forward parity",
      `probabilities ${what}`,
      probabilities,
      ref.probabilities,
      f32SumTolerance(C + 2, 1),
    ),
    compare(
      KERNEL,
      "backward parity",
      `dlogits ${what} (${mode === "aspects" ? "softmax" : "sigmoid"})`,
      dlogits,
      ref.dlogits,
      f32SumTolerance(C + 2, w),
    ),
  ];
}

const CASES: LossCase[] = [
  { shape: { B: 1, T: 1, C: 1, mode: "aspects" }, scale: 3 },
  { shape: { B: 1, T: 1, C: 1, mode: "labels" }, scale: 3 },
  { shape: { B: 3, T: 5, C: 4, mode: "aspects" }, scale: 3 },
  // exp(±80) overflows float32: only the max-shifted forms stay finite.
  { shape: { B: 7, T: 67, C: 3, mode: "aspects" }, scale: 40 },
  { shape: { B: 5, T: 130, C: 1, mode: "labels" }, scale: 40 },
  // Each document sums 70,000 targets: past llvmpipe's ~65,535-iteration cut-off unsliced.
  { shape: { B: 2, T: 70000, C: 1, mode: "labels" }, scale: 3 },
];

const FIXTURE_CASES: LossCase[] = [
  { shape: { B: 2, T: 3, C: 3, mode: "aspects" }, scale: 2 },
  { shape: { B: 2, T: 3, C: 1, mode: "labels" }, scale: 2 },
];

/** Tensor names of one mode in the fixture: "aspects.logits", "labels.y", ... */
const fixtureName = ({ shape }: LossCase, name: string) => `${shape.mode}.${name}`;

function makeFixture(): FixtureTensor[] {
  const next = mulberry32(21);
  return FIXTURE_CASES.flatMap((lossCase) => {
    const { B, T, C } = lossCase.shape;
    const { logits, y, classes, w } = drawInputs(next, lossCase);
    const loss = () => targetLoss(logits, y, classes, w, lossCase.shape).r.reduce((s, v) => s + v);
    return [
      {
        name: fixtureName(lossCase, "logits"),
        shape: [B, T, C],
        values: logits,
        fdGrad: centralDifferences(logits, loss, FD_STEP),
      },
      { name: fixtureName(lossCase, "y"), shape: [B, T], values: Float64Array.from(y) },
      { name: fixtureName(lossCase, "classes"), shape: [T], values: Float64Array.from(classes) },
      { name: fixtureName(lossCase, "w"), shape: [1], values: Float64Array.of(w) },
    ];
  });
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  return FIXTURE_CASES.flatMap((lossCase) => {
    const values = (name: string) => fixture.get(fixtureName(lossCase, name))!.values;
    const { dlogits } = targetLoss(
      values("logits"),
      Int32Array.from(values("y")),
      values("classes"),
      values("w")[0],
      lossCase.shape,
    );
    return fdChecks(KERNEL, fixture, { [fixtureName(lossCase, "logits")]: dlogits });
  });
}

/**
 * The prediction loss's checks for `maskconv gradcheck` and the tests; its fixture holds the
 * gradient of Σ_b r[b] with respect to the logits in both modes.
 *
 * @example
 * ```ts
 * import { targetLossCheck } from "./check.ts";
 * console.log(targetLossCheck.parityCases.map((c) => c.label));
 * ```
 */
export const targetLossCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "target_loss.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((lossCase) => ({
    label: label(lossCase),
    run: (gpu) => parity(gpu, lossCase),
  })),
};
