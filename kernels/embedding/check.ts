/**
 * Verification of the embedding lookup with dropout and its backward: GPU vs the float64
 * reference on edge-case batches, and the reference's gradient vs finite differences.
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
import { buildTokenIndex, DEFAULT_DROPOUT, EmbeddingLaunch } from "./embedding.ts";
import {
  type Dropout,
  embeddingBackward,
  embeddingForward,
  type EmbeddingShape,
} from "./reference.ts";

const KERNEL = "embedding";

const SEED = 20190925;

interface EmbeddingCase {
  shape: EmbeddingShape;
  lengths: number[];
  /** Drop probability, or undefined for evaluation (dropout off). */
  p?: number;
  /** Steps run one after the other on the same launcher, each with freshly drawn ids and dx. */
  steps: number[];
  /** Probability that a position holds token 1, on top of the uniform draw over V. */
  frequent?: number;
}

function drawIds(next: () => number, { shape: { B, L, V }, frequent = 0 }: EmbeddingCase) {
  return Uint32Array.from(
    { length: B * L },
    () => next() < frequent ? 1 : Math.floor(next() * V),
  );
}

function label({ shape: { B, L, D, V }, lengths, p, steps, frequent }: EmbeddingCase): string {
  const mode = p === undefined ? "eval" : `p=${p}`;
  const skew = frequent ? ` token 1 at ${frequent * 100}% of positions` : "";
  return `B=${B} L=${L} D=${D} V=${V} lengths=${lengths.join(",")} ${mode} ` +
    `steps=${steps.join(",")}${skew}`;
}

/** The largest number of valid positions one token holds: the longest sum of the backward. */
function longestList(ids: ArrayLike<number>, lengths: number[], L: number): number {
  const { offsets } = buildTokenIndex(ids, lengths, L);
  return offsets.length > 1 ? offsets[1] - offsets[0] : 0;
}

async function parity(gpu: Gpu, embeddingCase: EmbeddingCase): Promise<CheckResult[]> {
  const { shape, lengths, p, steps } = embeddingCase;
  const { B, L, D, V } = shape;
  const next = mulberry32(5);
  const E = fillUniform(next, new Float64Array(V * D), -1, 1);
  const queue = gpu.device.queue;
  const buffers = {
    E: tensorBuffer(gpu, V * D, "E"),
    ids: tensorBuffer(gpu, B * L, "ids"),
    lengths: tensorBuffer(gpu, B, "lengths"),
    x: tensorBuffer(gpu, B * L * D, "x"),
    grad: { dx: tensorBuffer(gpu, B * L * D, "dx"), dE: tensorBuffer(gpu, V * D, "dE") },
  };
  queue.writeBuffer(buffers.E, 0, Float32Array.from(E));
  queue.writeBuffer(buffers.lengths, 0, Uint32Array.from(lengths));
  // Stale values the backward must overwrite or zero, not add to.
  queue.writeBuffer(buffers.grad.dE, 0, new Float32Array(V * D).fill(1000));
  // Built in training and switched as the case says, so setTraining is exercised too.
  const embed = new EmbeddingLaunch(gpu, shape, buffers, {
    p: p ?? DEFAULT_DROPOUT,
    seed: SEED,
    training: true,
  });
  embed.setTraining(p !== undefined);
  const results: CheckResult[] = [];
  for (const step of steps) {
    const ids = drawIds(next, embeddingCase);
    const dx = fillUniform(next, new Float64Array(B * L * D), -1, 1);
    queue.writeBuffer(buffers.ids, 0, ids);
    queue.writeBuffer(buffers.grad.dx, 0, Float32Array.from(dx));
    embed.uploadIndex(buildTokenIndex(ids, lengths, L));
    embed.setStep(step);
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    embed.encodeForward(pass);
    embed.encodeBackward(pass);
    pass.end();
    queue.submit([encoder.finish()]);
    const [x, dE] = (await readBuffers(gpu, [buffers.x, buffers.grad.dE]))
      .map((b) => new Float32Array(b));

    const dropout: Dropout | undefined = p === undefined ? undefined : { p, seed: SEED, step };
    const scale = p === undefined ? 1 : 1 / (1 - p);
    const what = `${label(embeddingCase)} at step ${step}`;
    results.push(
      compare(
        KERNEL,
        "forward parity",
        `x ${what}`,
        x,
        embeddingForward(E, ids, lengths, shape, dropout),
        f32SumTolerance(1, scale),
      ),
      compare(
        KERNEL,
        "backward parity",
        `dE ${what}`,
        dE,
        embeddingBackward(dx, ids, lengths, shape, dropout),
        f32SumTolerance(longestList(ids, lengths, L), scale),
      ),
    );
  }
  [buffers.E, buffers.ids, buffers.lengths, buffers.x, buffers.grad.dx, buffers.grad.dE]
    .forEach((b) => b.destroy());
  return results;
}

const CASES: EmbeddingCase[] = [
  { shape: { B: 1, L: 1, D: 1, V: 1 }, lengths: [1], steps: [0] },
  { shape: { B: 1, L: 1, D: 1, V: 1 }, lengths: [1], p: 0.5, steps: [0, 1, 2] },
  // B·L = 21 and B·L·D = 105, not multiples of 64; a padded and an empty document; V = 5 makes
  // every id repeat; two steps re-upload the index and redraw the masks on one launcher.
  { shape: { B: 3, L: 7, D: 5, V: 5 }, lengths: [7, 3, 0], p: 0.1, steps: [3, 4] },
  { shape: { B: 3, L: 7, D: 5, V: 5 }, lengths: [7, 3, 0], steps: [3] },
  { shape: { B: 4, L: 13, D: 67, V: 40 }, lengths: [13, 6, 1, 0], p: 0.5, steps: [9, 10] },
  // Token 1 holds ~70,700 positions: one unsliced sum would run past llvmpipe's ~65,535 cut-off.
  {
    shape: { B: 2, L: 36000, D: 2, V: 3 },
    lengths: [36000, 35500],
    p: 0.1,
    steps: [1],
    frequent: 0.99,
  },
];

const FIXTURE_CASE = {
  shape: { B: 2, L: 5, D: 3, V: 6 },
  lengths: [5, 3],
  dropout: { p: 0.3, seed: 7, step: 2 },
};

function makeFixture(): FixtureTensor[] {
  const { shape, lengths, dropout } = FIXTURE_CASE;
  const { B, L, D, V } = shape;
  const next = mulberry32(17);
  const E = fillUniform(next, new Float64Array(V * D), -1, 1);
  // Ids drawn over V − 1 rows, so the last row is untouched and its gradient is 0.
  const ids = Float64Array.from({ length: B * L }, () => Math.floor(next() * (V - 1)));
  const G = fillUniform(next, new Float64Array(B * L * D), -1, 1);
  // x is linear in E, so central differences are exact up to rounding.
  const loss = () =>
    embeddingForward(E, ids, lengths, shape, dropout).reduce((s, x, i) => s + x * G[i], 0);
  return [
    { name: "E", shape: [V, D], values: E, fdGrad: centralDifferences(E, loss, FD_STEP) },
    { name: "ids", shape: [B, L], values: ids },
    { name: "G", shape: [B, L, D], values: G },
    { name: "lengths", shape: [B], values: Float64Array.from(lengths) },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const [ids, G, lengths] = ["ids", "G", "lengths"].map((n) => fixture.get(n)!.values);
  const { shape, dropout } = FIXTURE_CASE;
  const dE = embeddingBackward(G, ids, lengths, shape, dropout);
  return fdChecks(KERNEL, fixture, { E: dE });
}

/**
 * The embedding's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { embeddingCheck } from "./check.ts";
 * console.log(embeddingCheck.parityCases.map((c) => c.label));
 * ```
 */
export const embeddingCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "embedding.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((embeddingCase) => ({
    label: label(embeddingCase),
    run: (gpu) => parity(gpu, embeddingCase),
  })),
};
