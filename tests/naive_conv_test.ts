import assert from "node:assert/strict";
import { getGpu, type Gpu, readBuffers, tensorBuffer } from "../kernels/gpu.ts";
import { MaskedConv, type MaskedConvParameters } from "../kernels/masked_conv/masked_conv.ts";
import { type MaskedConvInputs, type MaskedConvShape } from "../kernels/masked_conv/reference.ts";
import {
  NaiveMaskedConv,
  naiveMemoryBudget,
  naiveMemoryBytes,
  NaiveMemoryError,
} from "../kernels/naive_conv/naive_conv.ts";
import { drawLayerInputs, kinkFree } from "../kernels/masked_conv/check.ts";
import { naiveConvCheck } from "../kernels/naive_conv/check.ts";
import { KERNEL_CHECKS } from "../kernels/checks.ts";
import { registerKernelTests } from "./kernel_tests.ts";
import { toProjectionLayout } from "../kernels/projection/projection.ts";
import { mulberry32 } from "../base/rng.ts";
import {
  type CheckResult,
  compare,
  drawUntil,
  f32SumTolerance,
  type Tolerance,
} from "../kernels/verify.ts";

registerKernelTests(naiveConvCheck);

const KERNEL = "naive masked conv";

interface NaiveCase {
  shape: MaskedConvShape;
  lengths: number[];
  /** A binding size small enough to force splitting over documents and targets. */
  maxBindingBytes?: number;
}

function assertPasses(results: CheckResult[]) {
  for (const r of results) {
    assert.ok(
      r.pass,
      `${r.kernel} ${r.check} ${r.what}: worst error ${r.worstError} exceeds ` +
        `atol ${r.tolerance.atol} + rtol ${r.tolerance.rtol}·|ref| (ratio ${r.worstRatio})`,
    );
  }
}

Deno.test("naive masked conv refuses the icd shape with its memory estimate before allocating", async () => {
  const gpu = await getGpu();
  const icd: MaskedConvShape = { B: 4, L: 2500, D: 100, T: 8922, widths: [{ K: 3, F: 50 }] };
  const need = naiveMemoryBytes(icd);
  // xm and dxm alone are 2·B·L·T·D float32 values.
  assert.ok(need >= 2 * 4 * 2500 * 8922 * 100 * 4, `estimate ${need} misses the masked copies`);
  assert.ok(need > naiveMemoryBudget(), "this machine could hold the naive icd layer");
  const started = performance.now();
  assert.throws(() => new NaiveMaskedConv(gpu, icd), (error: unknown) => {
    assert.ok(error instanceof NaiveMemoryError);
    const needText = `naive mode needs ${(need / 1e9).toFixed(1)} GB at B=4 L=2500 D=100 T=8922`;
    assert.ok(error.message.startsWith(needText), error.message);
    assert.match(error.message, /71\.4 GB for the \[B,L,T,D\] masked copies/);
    assert.match(error.message, /this machine allows \d+\.\d GB/);
    return true;
  });
  // Allocating (or even planning) 107 GB of buffers would take far longer than this.
  assert.ok(performance.now() - started < 1000, "the refusal must come before any allocation");
});

Deno.test("naive masked conv refuses a shape past an explicit memory budget and names it", async () => {
  const shape: MaskedConvShape = { B: 2, L: 8, D: 4, T: 3, widths: [{ K: 3, F: 2 }] };
  const need = naiveMemoryBytes(shape);
  const gpu = await getGpu();
  assert.throws(
    () => new NaiveMaskedConv(gpu, shape, { memoryBudgetBytes: need - 1 }),
    /this machine allows 0\.0 GB \(the budget it was given\)/,
  );
  new NaiveMaskedConv(gpu, shape, { memoryBudgetBytes: need }).destroy();
});

/** What one model step leaves in a layer's outputs, as float32. */
interface StepOutputs {
  h: Float32Array; // h: [B,T,ΣF]
  dx: Float32Array; // dx: [B,L,D]
  dm: Float32Array; // dm: [B,L,T]
  dWt: Float32Array; // dWt: [D, Σ K·F]
  dbias: Float32Array; // dbias: [ΣF]
}

/**
 * One step recorded the way the model records it: the layer's clears, then forward and backward
 * in one pass of one command encoder, through `activations`. Every output starts as 7 so that
 * a value the step does not overwrite shows.
 */
async function modelStep(
  gpu: Gpu,
  layer: MaskedConv | NaiveMaskedConv,
  params: MaskedConvParameters,
  inputs: MaskedConvInputs,
  g: Float64Array,
): Promise<StepOutputs> {
  const act = layer.activations;
  const queue = gpu.device.queue;
  queue.writeBuffer(act.x, 0, Float32Array.from(inputs.x));
  queue.writeBuffer(act.lengths, 0, Uint32Array.from(inputs.lengths));
  queue.writeBuffer(act.m, 0, Float32Array.from(inputs.m));
  queue.writeBuffer(act.g, 0, Float32Array.from(g));
  const outputs = [act.h, act.dx, act.dm, params.dWt, params.dbias];
  for (const out of outputs) queue.writeBuffer(out, 0, new Float32Array(out.size / 4).fill(7));
  const encoder = gpu.device.createCommandEncoder({ label: "model step" });
  layer.encodeClears(encoder);
  const pass = encoder.beginComputePass();
  layer.encodeForward(pass);
  layer.encodeBackward(pass);
  pass.end();
  queue.submit([encoder.finish()]);
  const [h, dx, dm, dWt, dbias] = (await readBuffers(gpu, outputs)).map((b) => new Float32Array(b));
  return { h, dx, dm, dWt, dbias };
}

/**
 * The bound on |naive − fast| when each lies within `t` of the float64 value r: 2·atol +
 * 2·rtol·|r| with |r| ≤ (|fast| + atol)/(1 − rtol), rounded up to 2.0001·atol + 2.0001·rtol·|fast|.
 */
function eitherSide(t: Tolerance): Tolerance {
  return { atol: 2.0001 * t.atol, rtol: 2.0001 * t.rtol };
}

/**
 * The naive and fast layers on the same projection-layout parameter values (Wt and bias shared,
 * dWt and dbias each layer's own), driven as the model drives them. Each layer is within
 * `f32SumTolerance(n, 1)` of float64 with n as in `layerParity` (n = B·L·T for every value of
 * dWt), so they may differ by {@link eitherSide} of it. Inputs are drawn until no pooled
 * maximum is within KINK_MARGIN of 0 or of its runner-up: the two layers round differently and
 * must pick the same positions.
 */
async function naiveMatchesFast(naiveCase: NaiveCase): Promise<CheckResult[]> {
  const gpu = await getGpu();
  const { shape, maxBindingBytes } = naiveCase;
  const { B, L, D, T, widths } = shape;
  const next = mulberry32(11);
  const { inputs, g } = drawUntil(
    () => drawLayerInputs(next, naiveCase),
    ({ inputs }) => kinkFree(inputs, shape),
  );
  const C = widths.reduce((s, w) => s + w.K * w.F, 0);
  const F = widths.reduce((s, w) => s + w.F, 0);
  const K = Math.max(...widths.map((w) => w.K));
  const made: GPUBuffer[] = [];
  const buffer = (elements: number, label: string) => {
    const b = tensorBuffer(gpu, elements, label);
    made.push(b);
    return b;
  };
  const Wt = buffer(D * C, "Wt");
  const bias = buffer(F, "bias");
  gpu.device.queue.writeBuffer(Wt, 0, toProjectionLayout(inputs.W, widths, D));
  gpu.device.queue.writeBuffer(bias, 0, Float32Array.from(inputs.bias.flatMap((b) => [...b])));
  const naiveParams = { Wt, bias, dWt: buffer(D * C, "naive dWt"), dbias: buffer(F, "naive db") };
  const fastParams = { Wt, bias, dWt: buffer(D * C, "fast dWt"), dbias: buffer(F, "fast db") };
  const naive = new NaiveMaskedConv(gpu, shape, { maxBindingBytes, parameters: naiveParams });
  const fast = new MaskedConv(gpu, shape, { parameters: fastParams });
  try {
    const ours = await modelStep(gpu, naive, naiveParams, inputs, g);
    const theirs = await modelStep(gpu, fast, fastParams, inputs, g);
    const what = `naive vs fast B=${B} L=${L} D=${D} T=${T} widths=${
      widths.map((w) => `${w.K}x${w.F}`).join(",")
    } lengths=${naiveCase.lengths.join(",")}` +
      (maxBindingBytes
        ? ` naive tiles ${naive.plan.docsPerTile}x${naive.plan.targetsPerTile}`
        : "");
    const check = (name: keyof StepOutputs, terms: number) =>
      compare(
        KERNEL,
        name === "h" ? "forward parity" : "backward parity",
        `${name} ${what}`,
        ours[name],
        theirs[name],
        eitherSide(f32SumTolerance(terms, 1)),
      );
    return [
      check("h", K * D + 1),
      check("dx", T * F * K),
      check("dm", F * K * D),
      check("dWt", B * L * T),
      check("dbias", B * T),
    ];
  } finally {
    naive.destroy();
    fast.destroy();
    for (const b of made) b.destroy();
  }
}

Deno.test("naive and fast layers agree on h, dx, dm, dWt and dbias with a model's projection-layout parameters, in one command encoder", async () => {
  assertPasses(
    await naiveMatchesFast({
      shape: { B: 3, L: 11, D: 5, T: 13, widths: [{ K: 3, F: 4 }, { K: 5, F: 3 }] },
      lengths: [11, 6, 0],
    }),
  );
});

Deno.test("naive layer split into tiles keeps whole activations and still agrees with the fast layer", async () => {
  const naiveCase: NaiveCase = {
    shape: { B: 3, L: 9, D: 5, T: 30, widths: [{ K: 3, F: 3 }, { K: 5, F: 2 }] },
    lengths: [9, 4, 7],
    // Room for x, m and h whole ([3,9,30] m is 810 values), not for one tile's xm of all.
    maxBindingBytes: 4000,
  };
  const results = await naiveMatchesFast(naiveCase);
  const layer = new NaiveMaskedConv(await getGpu(), naiveCase.shape, {
    maxBindingBytes: naiveCase.maxBindingBytes,
  });
  const { docsPerTile, targetsPerTile } = layer.plan;
  layer.destroy();
  assert.ok(
    docsPerTile < 3 && targetsPerTile < 30,
    `expected splitting, got ${docsPerTile}×${targetsPerTile}`,
  );
  assertPasses(results);
});

Deno.test("naive layer refuses its activations when x, m or h must be split", async () => {
  const shape = { B: 3, L: 9, D: 5, T: 30, widths: [{ K: 3, F: 3 }, { K: 5, F: 2 }] };
  const layer = new NaiveMaskedConv(await getGpu(), shape, { maxBindingBytes: 800 });
  try {
    assert.throws(() => layer.activations, RangeError, "does not fit one 800-byte binding");
  } finally {
    layer.destroy();
  }
});

Deno.test("the naive layer's gradients are checked by the fixture of the kernel it names", () => {
  const owner = KERNEL_CHECKS.find((kernel) => kernel.name === naiveConvCheck.fixtureOf);
  assert.ok(owner?.fixture, `${naiveConvCheck.fixtureOf} holds no fixture`);
});
