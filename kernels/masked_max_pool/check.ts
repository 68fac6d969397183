/**
 * Verification of the fused masked mix + max-pool and its backward: GPU vs the float64
 * reference on edge-case shapes, and the reference's gradients vs finite differences.
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
import { BiasReduceLaunch, MaskedMaxPoolLaunch } from "./masked_max_pool.ts";
import {
  maskedMaxPoolBackward,
  maskedMaxPoolForward,
  poolColumns,
  type PoolShape,
  preActivations,
} from "./reference.ts";

const KERNEL = "masked max-pool";

interface PoolCase {
  shape: PoolShape;
  lengths: number[];
}

interface PoolInputs {
  P: Float64Array; // P: [B,L,C]
  m: Float64Array; // m: [B,L,T], 0 past each document's length
  bias: Float64Array; // bias: [ΣF]
  g: Float64Array; // g: [B,T,ΣF]
}

function drawInputs(next: () => number, { shape, lengths }: PoolCase): PoolInputs {
  const { B, L, T, widths } = shape;
  const { C, F_total } = poolColumns(widths);
  const P = fillUniform(next, new Float64Array(B * L * C), -1, 1);
  const m = fillUniform(next, new Float64Array(B * L * T), 0, 1);
  for (let b = 0; b < B; b++) m.fill(0, (b * L + lengths[b]) * T, (b + 1) * L * T);
  const bias = fillUniform(next, new Float64Array(F_total), -1, 1);
  const g = fillUniform(next, new Float64Array(B * T * F_total), -1, 1);
  return { P, m, bias, g };
}

function label({ shape: { B, L, T, widths }, lengths }: PoolCase): string {
  const ws = widths.map((w) => `${w.K}x${w.F}`).join(",");
  return `B=${B} L=${L} T=${T} widths(KxF)=${ws} lengths=${lengths.join(",")}`;
}

async function parity(gpu: Gpu, poolCase: PoolCase): Promise<CheckResult[]> {
  const { shape, lengths } = poolCase;
  const { B, L, T, widths } = shape;
  const { C, F_total } = poolColumns(widths);
  const inputs = drawInputs(mulberry32(3), poolCase);
  const make = (elements: number, name: string, data?: ArrayLike<number>) => {
    const buffer = tensorBuffer(gpu, elements, name);
    if (data) gpu.device.queue.writeBuffer(buffer, 0, Float32Array.from(data));
    return buffer;
  };
  const buffers = {
    P: make(B * L * C, "P", inputs.P),
    m: make(B * L * T, "m", inputs.m),
    bias: make(F_total, "bias", inputs.bias),
    lengths: tensorBuffer(gpu, B, "lengths"),
    zmax: make(B * T * F_total, "zmax"),
    argmax: make(B * T * F_total, "argmax"),
    h: make(B * T * F_total, "h"),
    g: make(B * T * F_total, "g", inputs.g),
    dP: make(B * L * C, "dP"),
    dm: make(B * L * T, "dm"),
    dbPartial: make(B * F_total, "dbPartial"),
  };
  const db = make(F_total, "db");
  gpu.device.queue.writeBuffer(buffers.lengths, 0, Uint32Array.from(lengths));
  const pool = new MaskedMaxPoolLaunch(gpu, { nb: B, L, nt: T, widths }, buffers);
  const reduce = new BiasReduceLaunch(gpu, { nb: B, F_total, first: true }, buffers.dbPartial, db);
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pool.encodeForward(pass);
  pool.encodeBackward(pass);
  reduce.encode(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const [h, dP, dm, dbias] = (await readBuffers(gpu, [buffers.h, buffers.dP, buffers.dm, db]))
    .map((b) => new Float32Array(b));
  [...Object.values(buffers), db].forEach((b) => b.destroy());

  const fwd = maskedMaxPoolForward(inputs.P, inputs.m, inputs.bias, lengths, shape);
  const ref = maskedMaxPoolBackward(inputs.P, inputs.m, lengths, fwd, inputs.g, shape);
  const what = label(poolCase);
  const Kmax = Math.max(...widths.map((w) => w.K));
  return [
    compare(KERNEL, "forward parity", `h ${what}`, h, fwd.h, f32SumTolerance(Kmax + 1, 1)),
    compare(KERNEL, "backward parity", `dP ${what}`, dP, ref.dP, f32SumTolerance(T, 1)),
    compare(
      KERNEL,
      "backward parity",
      `dm ${what}`,
      dm,
      ref.dm,
      f32SumTolerance(F_total * Kmax, 1),
    ),
    compare(
      KERNEL,
      "backward parity",
      `dbias ${what}`,
      dbias,
      ref.dbias,
      f32SumTolerance(B * T, 1),
    ),
  ];
}

const CASES: PoolCase[] = [
  { shape: { B: 2, L: 1, T: 3, widths: [{ K: 3, F: 2 }] }, lengths: [1, 1] },
  { shape: { B: 2, L: 2, T: 2, widths: [{ K: 5, F: 3 }] }, lengths: [2, 1] },
  { shape: { B: 3, L: 7, T: 1, widths: [{ K: 3, F: 4 }] }, lengths: [7, 7, 7] },
  {
    shape: { B: 4, L: 13, T: 67, widths: [{ K: 3, F: 5 }, { K: 5, F: 4 }, { K: 7, F: 3 }] },
    lengths: [13, 6, 1, 0],
  },
  // Forward: 10,000 positions × 7 taps per invocation, past llvmpipe's ~65,535-iteration cut-off.
  { shape: { B: 1, L: 10000, T: 2, widths: [{ K: 7, F: 2 }] }, lengths: [10000] },
  // Forward with a width the unrolled kernel walks in a loop: 40,000 positions × 15 taps would
  // pass the cut-off in one dispatch even at a quarter of a trip per position.
  { shape: { B: 1, L: 40000, T: 4, widths: [{ K: 15, F: 4 }] }, lengths: [40000] },
  { shape: { B: 2, L: 23, T: 10, widths: [{ K: 11, F: 5 }, { K: 1, F: 2 }] }, lengths: [23, 4] },
  // Backward taps: 10,000 targets × 7 taps per invocation, likewise.
  { shape: { B: 1, L: 4, T: 10000, widths: [{ K: 7, F: 2 }] }, lengths: [4] },
];

const FIXTURE_CASE: PoolCase = {
  shape: { B: 2, L: 5, T: 3, widths: [{ K: 3, F: 2 }, { K: 5, F: 1 }] },
  lengths: [5, 3],
};

/** Whether every pooled maximum stands clear of 0 and of the runner-up by the kink margin. */
function kinkFree({ P, m, bias }: PoolInputs, { shape, lengths }: PoolCase): boolean {
  const { B, L, T, widths } = shape;
  const { C } = poolColumns(widths);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      let pCol = 0;
      let fOff = 0;
      for (const width of widths) {
        for (let f = 0; f < width.F; f++) {
          const z = preActivations(
            P,
            m,
            bias[fOff + f],
            lengths[b],
            { L, T, C },
            b,
            t,
            width,
            pCol,
            f,
          )
            .sort((u, v) => v - u);
          if (Math.abs(z[0]) < KINK_MARGIN || z[0] - z[1] < KINK_MARGIN) return false;
        }
        pCol += width.K * width.F;
        fOff += width.F;
      }
    }
  }
  return true;
}

function makeFixture(): FixtureTensor[] {
  const { shape, lengths } = FIXTURE_CASE;
  const { B, L, T, widths } = shape;
  const { C, F_total } = poolColumns(widths);
  const next = mulberry32(13);
  const inputs = drawUntil(() => drawInputs(next, FIXTURE_CASE), (i) => kinkFree(i, FIXTURE_CASE));
  const { P, m, bias, g } = inputs;
  const loss = () =>
    maskedMaxPoolForward(P, m, bias, lengths, shape).h.reduce((s, h, i) => s + h * g[i], 0);
  return [
    { name: "P", shape: [B, L, C], values: P, fdGrad: centralDifferences(P, loss, FD_STEP) },
    { name: "m", shape: [B, L, T], values: m, fdGrad: centralDifferences(m, loss, FD_STEP) },
    {
      name: "bias",
      shape: [F_total],
      values: bias,
      fdGrad: centralDifferences(bias, loss, FD_STEP),
    },
    { name: "G", shape: [B, T, F_total], values: g },
    { name: "lengths", shape: [B], values: Float64Array.from(lengths) },
  ];
}

function checkFixture(fixture: Map<string, FixtureTensor>): CheckResult[] {
  const [P, m, bias, g, lengths] = ["P", "m", "bias", "G", "lengths"].map((n) =>
    fixture.get(n)!.values
  );
  const { shape } = FIXTURE_CASE;
  const fwd = maskedMaxPoolForward(P, m, bias, lengths, shape);
  const { dP, dm, dbias } = maskedMaxPoolBackward(P, m, lengths, fwd, g, shape);
  return fdChecks(KERNEL, fixture, { P: dP, m: dm, bias: dbias });
}

/**
 * The masked max-pool's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { maskedMaxPoolCheck } from "./check.ts";
 * console.log(maskedMaxPoolCheck.parityCases.length);
 * ```
 */
export const maskedMaxPoolCheck: KernelCheck = {
  name: KERNEL,
  fixture: { file: "masked_max_pool.csv", make: makeFixture, check: checkFixture },
  parityCases: CASES.map((poolCase) => ({
    label: label(poolCase),
    run: (gpu) => parity(gpu, poolCase),
  })),
};
