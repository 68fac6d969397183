/**
 * Verification of the per-target classifiers: GPU forward and backward vs the float64
 * reference on edge-case shapes of both kinds, and the reference's gradients vs finite
 * differences.
 *
 * @module
 */

import { type Gpu, readBuffers, tensorBuffer } from "../gpu.ts";
import { fillUniform, mulberry32 } from "../../base/rng.ts";
import {
  centralDifferences,
  type CheckResult,
  compare,
  drawUntil,
  f32SumTolerance,
  FD_STEP,
  fdChecks,
  type FixtureTensor,
  type KernelCheck,
  KINK_MARGIN,
} from "../verify.ts";
import {
  classifierBackward,
  classifierForward,
  classifierParameterShapes,
  type ClassifierShape,
} from "./reference.ts";
import { TargetClassifierLaunch } from "./target_classifier.ts";

const KERNEL = "target classifier";

interface ClassifierCase {
  shape: ClassifierShape;
  /** Add the parameter gradients into buffers that already hold values. */
  accumulate?: boolean;
  /** Targets of each launcher, when the targets are split into ranges (sums to T). */
  ranges?: number[];
}

interface ClassifierInputs {
  h: Float64Array; // h: [B,T,F]
  params: Float64Array[]; // in the order of classifierParameterShapes
  dlogits: Float64Array; // dlogits: [B,T,C]
}

const sizeOf = (dims: number[]) => dims.reduce((p, n) => p * n, 1);

/**
 * Draws h and every parameter in [-1, 1). `grid` rounds h and the first layer's parameters to
 * multiples of 1/16, so that the first layer's sums are exact in float32 (22 bits suffice up to
 * F = 16,384) and the GPU's ReLU agrees with the reference's even at a pre-activation of 0.
 */
function drawInputs(next: () => number, shape: ClassifierShape, grid: boolean): ClassifierInputs {
  const { B, T, F, C } = shape;
  const draw = (n: number, onGrid: boolean) => {
    const values = fillUniform(next, new Float64Array(n), -1, 1);
    return onGrid ? values.map((v) => Math.round(v * 16) / 16) : values;
  };
  const h = draw(B * T * F, grid);
  const params = classifierParameterShapes(shape).map(({ shape: dims }, i) =>
    draw(sizeOf(dims), grid && i < 2)
  );
  return { h, params, dlogits: draw(B * T * C, false) };
}

function label(
  { shape: { B, T, F, C, kind, hidden }, accumulate, ranges }: ClassifierCase,
): string {
  const sizes = kind === "mlp" ? `F=${F} Hc=${hidden}` : `F=${F}`;
  const split = ranges ? ` in ranges of ${ranges.join("+")}` : "";
  return `${kind} B=${B} T=${T} ${sizes} C=${C}${accumulate ? " accumulate" : ""}${split}`;
}

const toF32 = (values: Float64Array) => Float32Array.from(values);

async function parity(gpu: Gpu, classifierCase: ClassifierCase): Promise<CheckResult[]> {
  const { shape, accumulate = false } = classifierCase;
  const { B, T, F, C, kind, hidden } = shape;
  const next = mulberry32(5);
  const inputs = drawInputs(next, shape, true);
  const paramShapes = classifierParameterShapes(shape);
  const prior = paramShapes.map(({ shape: dims }) =>
    accumulate ? fillUniform(next, new Float64Array(sizeOf(dims)), -1, 1) : undefined
  );
  const make = (data: Float64Array, name: string) => {
    const buffer = tensorBuffer(gpu, data.length, name);
    gpu.device.queue.writeBuffer(buffer, 0, toF32(data));
    return buffer;
  };
  const h = make(inputs.h, "h");
  // Outputs start as NaN, so that an element the backward fails to overwrite shows.
  const dh = make(new Float64Array(B * T * F).fill(NaN), "dh");
  const [logitsBuffer, dlogits] = [B * T * C, B * T * C].map((n) => tensorBuffer(gpu, n, "logits"));
  gpu.device.queue.writeBuffer(dlogits, 0, toF32(inputs.dlogits));
  // One launcher per range, each with its slice of every parameter (T is their leading axis).
  const launchers = rangesOf(classifierCase).map(({ first, count }) => {
    const slice = (values: Float64Array | undefined, dims: number[], fill: number) => {
      const perTarget = sizeOf(dims) / T;
      const part = values?.subarray(first * perTarget, (first + count) * perTarget);
      return part ?? new Float64Array(count * perTarget).fill(fill);
    };
    const params = inputs.params.map((v, i) => make(slice(v, paramShapes[i].shape, 0), "W"));
    const grads = paramShapes.map(({ shape: dims }, i) => make(slice(prior[i], dims, NaN), "dW"));
    const launcher = new TargetClassifierLaunch(
      gpu,
      { ...shape, T: count },
      { h, dh, params, grads, outputs: { logits: logitsBuffer, dlogits } },
      { accumulate, range: { first, total: T } },
    );
    return { launcher, params, grads };
  });
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (const { launcher } of launchers) launcher.encodeForward(pass);
  for (const { launcher } of launchers) launcher.encodeBackward(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const gradBuffers = launchers.flatMap((l) => l.grads);
  const [logits, dhOut, ...parts] = (await readBuffers(gpu, [logitsBuffer, dh, ...gradBuffers]))
    .map((b) => new Float32Array(b));
  // Each gradient tensor is its ranges' slices one after another.
  const gradsOut = paramShapes.map((_, i) =>
    Float32Array.from(launchers.flatMap((_, r) => [...parts[r * paramShapes.length + i]]))
  );
  for (const { launcher, params, grads } of launchers) {
    launcher.destroy();
    [...params, ...grads].forEach((b) => b.destroy());
  }
  [h, dh, logitsBuffer, dlogits].forEach((b) => b.destroy());

  // The GPU read the inputs rounded to float32: so does the reference.
  const h32 = Float64Array.from(toF32(inputs.h));
  const params32 = inputs.params.map((p) => Float64Array.from(toF32(p)));
  const activations = classifierForward(h32, params32, shape);
  const ref = classifierBackward(
    params32,
    activations,
    Float64Array.from(toF32(inputs.dlogits)),
    shape,
  );
  const expectedGrads = ref.grads.map((g, i) => {
    const before = prior[i];
    return before ? g.map((v, j) => v + Math.fround(before[j])) : g;
  });
  const what = label(classifierCase);
  // Terms of each sum once expanded into products of inputs in [-1, 1].
  const terms = kind === "mlp"
    ? {
      logits: hidden * (F + 1) + 1,
      dh: hidden * C,
      grads: [B * C, B * C, B * (F + 1), B],
    }
    : { logits: F + 1, dh: C, grads: [B, B] };
  return [
    compare(
      KERNEL,
      "forward parity",
      `logits ${what}`,
      logits,
      activations.at(-1)!,
      f32SumTolerance(terms.logits, 1),
    ),
    compare(KERNEL, "backward parity", `dh ${what}`, dhOut, ref.dh, f32SumTolerance(terms.dh, 1)),
    ...gradsOut.map((g, i) =>
      compare(
        KERNEL,
        "backward parity",
        `d${paramShapes[i].name} ${what}`,
        g,
        expectedGrads[i],
        f32SumTolerance(terms.grads[i] + (accumulate ? 1 : 0), 1),
      )
    ),
  ];
}

/** The launchers' ranges of targets: the case's, or one launcher for all of them. */
function rangesOf({ shape, ranges = [shape.T] }: ClassifierCase) {
  return ranges.map((count, i) => ({
    first: ranges.slice(0, i).reduce((a, n) => a + n, 0),
    count,
  }));
}

const CASES: ClassifierCase[] = [
  { shape: { B: 1, T: 1, F: 1, C: 1, kind: "mlp", hidden: 1 } },
  { shape: { B: 1, T: 1, F: 1, C: 1, kind: "linear", hidden: 0 } },
  { shape: { B: 5, T: 3, F: 7, C: 3, kind: "mlp", hidden: 6 } },
  { shape: { B: 6, T: 67, F: 9, C: 5, kind: "linear", hidden: 0 } },
  // Several blocks of rows and columns in every matmul, none of them full.
  { shape: { B: 13, T: 7, F: 29, C: 4, kind: "mlp", hidden: 19 } },
  { shape: { B: 3, T: 130, F: 5, C: 1, kind: "mlp", hidden: 5 }, accumulate: true },
  { shape: { B: 2, T: 131, F: 6, C: 2, kind: "linear", hidden: 0 }, accumulate: true },
  // Targets split into ranges, one launcher each, sharing h, dh, the logits and their gradient.
  { shape: { B: 13, T: 7, F: 29, C: 4, kind: "mlp", hidden: 19 }, ranges: [3, 3, 1] },
  {
    shape: { B: 3, T: 130, F: 5, C: 1, kind: "mlp", hidden: 5 },
    accumulate: true,
    ranges: [64, 66],
  },
  { shape: { B: 6, T: 67, F: 9, C: 5, kind: "linear", hidden: 0 }, ranges: [1, 33, 33] },
  // The forward sums F = 9,000 features: two slices, the bias on the first, the ReLU on the last.
  { shape: { B: 2, T: 2, F: 9000, C: 1, kind: "mlp", hidden: 2 } },
  // The weight and bias gradients reduce over B = 70,000 documents: past llvmpipe's cut-off.
  { shape: { B: 70000, T: 2, F: 3, C: 2, kind: "mlp", hidden: 3 } },
];

const FIXTURE_SHAPES: ClassifierShape[] = [
  { B: 2, T: 2, F: 3, C: 3, kind: "mlp", hidden: 4 },
  { B: 2, T: 2, F: 3, C: 2, kind: "linear", hidden: 0 },
];

/** Whether every pre-activation of the hidden layer stands clear of the ReLU's kink at 0. */
function kinkFree({ h, params }: ClassifierInputs, shape: ClassifierShape): boolean {
  if (shape.kind !== "mlp") return true;
  const [W1, b1] = params;
  // The first layer alone, without its ReLU: an affine map of F features to Hc outputs.
  const linear = { ...shape, kind: "linear" as const, C: shape.hidden };
  const preActivations = classifierForward(h, [W1, b1], linear)[1];
  return preActivations.every((u) => Math.abs(u) >= KINK_MARGIN);
}

/** Tensor names of one kind in the fixture: "mlp.W1", "linear.h", ... */
const fixtureName = (shape: ClassifierShape, name: string) => `${shape.kind}.${name}`;

function makeFixture(): FixtureTensor[] {
  const next = mulberry32(17);
  return FIXTURE_SHAPES.flatMap((shape) => {
    const { B, T, F, C } = shape;
    const inputs = drawUntil(() => drawInputs(next, shape, false), (i) => kinkFree(i, shape));
    const { h, params, dlogits: G } = inputs;
    const loss = () =>
      classifierForward(h, params, shape).at(-1)!.reduce((s, z, i) => s + z * G[i], 0);
    return [
      {
        name: fixtureName(shape, "h"),
        shape: [B, T, F],
        values: h,
        fdGrad: centralDifferences(h, loss, FD_STEP),
      },
      ...classifierParameterShapes(shape).map(({ name, shape: dims }, i) => ({
        name: fixtureName(shape, name),
        shape: dims,
        values: params[i],
        fdGrad: centralDifferences(params[i], loss, FD_STEP),
      })),
      { name: fixtureName(shape, "G"), shape: [B, T, C], values: G },
    ];
  });
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  return FIXTURE_SHAPES.flatMap((shape) => {
    const values = (name: string) => fixture.get(fixtureName(shape, name))!.values;
    const paramShapes = classifierParameterShapes(shape);
    const params = paramShapes.map(({ name }) => values(name));
    const activations = classifierForward(values("h"), params, shape);
    const { dh, grads } = classifierBackward(params, activations, values("G"), shape);
    return fdChecks(KERNEL, fixture, {
      [fixtureName(shape, "h")]: dh,
      ...Object.fromEntries(paramShapes.map(({ name }, i) => [fixtureName(shape, name), grads[i]])),
    });
  });
}

/**
 * The target classifiers' checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { targetClassifierCheck } from "./check.ts";
 * console.log(targetClassifierCheck.parityCases.map((c) => c.label));
 * ```
 */
export const targetClassifierCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "target_classifier.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((classifierCase) => ({
    label: label(classifierCase),
    run: (gpu) => parity(gpu, classifierCase),
  })),
};
