/**
 * Verification of the feature dropout: GPU vs the float64 reference on both dispatches (the
 * backward must drop exactly what the forward dropped), and the reference's gradient vs finite
 * differences.
 *
 * @module
 */

import { fillUniform, mulberry32 } from "../../base/rng.ts";
import { type Gpu, readBuffers, tensorBuffer } from "../gpu.ts";
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
import { FeatureDropoutLaunch } from "./feature_dropout.ts";
import { featureDropout } from "./reference.ts";

const KERNEL = "feature dropout";
const SEED = 19091138;

interface DropoutCase {
  n: number;
  /** Drop probability, or undefined for evaluation (dropout off). */
  p?: number;
  /** Steps run one after the other on one launcher, each on freshly drawn h and g. */
  steps: number[];
}

function label({ n, p, steps }: DropoutCase): string {
  return `n=${n} ${p === undefined ? "eval" : `p=${p}`} steps=${steps.join(",")}`;
}

async function parity(gpu: Gpu, dropoutCase: DropoutCase): Promise<CheckResult[]> {
  const { n, p, steps } = dropoutCase;
  const next = mulberry32(5);
  const buffers = { h: tensorBuffer(gpu, n, "h"), g: tensorBuffer(gpu, n, "g") };
  // Built with a drop rate in every case and switched to evaluation, so setTraining is exercised.
  const dropout = new FeatureDropoutLaunch(gpu, n, buffers, { p: p ?? 0.5, seed: SEED });
  dropout.setTraining(p !== undefined);
  const results: CheckResult[] = [];
  try {
    for (const step of steps) {
      const h = fillUniform(next, new Float64Array(n), -1, 1);
      const g = fillUniform(next, new Float64Array(n), -1, 1);
      gpu.device.queue.writeBuffer(buffers.h, 0, Float32Array.from(h));
      gpu.device.queue.writeBuffer(buffers.g, 0, Float32Array.from(g));
      dropout.setStep(step);
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      dropout.encodeForward(pass);
      dropout.encodeBackward(pass);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const [y, dh] = (await readBuffers(gpu, [buffers.h, buffers.g])).map((b) =>
        new Float32Array(b)
      );
      const key = p === undefined ? undefined : { p, seed: SEED, step };
      const tolerance = f32SumTolerance(1, p === undefined ? 1 : 1 / (1 - p));
      const what = `${label(dropoutCase)} at step ${step}`;
      results.push(
        compare(KERNEL, "forward parity", `y ${what}`, y, featureDropout(h, key), tolerance),
        compare(KERNEL, "backward parity", `dh ${what}`, dh, featureDropout(g, key), tolerance),
      );
    }
  } finally {
    dropout.destroy();
    buffers.h.destroy();
    buffers.g.destroy();
  }
  return results;
}

const CASES: DropoutCase[] = [
  { n: 1, p: 0.5, steps: [0, 1, 2] },
  // Not a multiple of the workgroup; two steps redraw the masks on one launcher.
  { n: 1000, p: 0.3, steps: [4, 5] },
  { n: 1000, steps: [4] },
  { n: 70001, p: 0.5, steps: [1] },
];

const FIXTURE_CASE = { n: 12, dropout: { p: 0.4, seed: 7, step: 2 } };

function makeFixture(): FixtureTensor[] {
  const { n, dropout } = FIXTURE_CASE;
  const next = mulberry32(17);
  const h = fillUniform(next, new Float64Array(n), -1, 1);
  const G = fillUniform(next, new Float64Array(n), -1, 1);
  // y is linear in h, so central differences are exact up to rounding.
  const loss = () => featureDropout(h, dropout).reduce((s, y, i) => s + y * G[i], 0);
  return [
    { name: "h", shape: [n], values: h, fdGrad: centralDifferences(h, loss, FD_STEP) },
    { name: "G", shape: [n], values: G },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const dh = featureDropout(fixture.get("G")!.values, FIXTURE_CASE.dropout);
  return fdChecks(KERNEL, fixture, { h: dh });
}

/**
 * The feature dropout's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { featureDropoutCheck } from "./check.ts";
 * console.log(featureDropoutCheck.parityCases.map((c) => c.label));
 * ```
 */
export const featureDropoutCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "feature_dropout.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((dropoutCase) => ({
    label: label(dropoutCase),
    run: (gpu) => parity(gpu, dropoutCase),
  })),
};
