/**
 * Verification of the naive layer, which a model can train with (`encoder: "naive"`): its GPU
 * path (materialised copies, split buffers, chunked dW reduction) against the same float64
 * definition as the fast layer. Its gradients against finite differences are the fast layer's
 * fixture (`masked_conv.csv`): both implement one reference, so there is no second fixture.
 *
 * @module
 */

import { mulberry32 } from "../../base/rng.ts";
import type { Gpu } from "../gpu.ts";
import { LOOP_TRIPS } from "../launch.ts";
import { drawLayerInputs, layerParity } from "../masked_conv/check.ts";
import type { MaskedConvShape } from "../masked_conv/reference.ts";
import type { CheckResult, KernelCheck } from "../verify.ts";
import { NaiveMaskedConv } from "./naive_conv.ts";

const KERNEL = "naive masked conv";

interface NaiveCase {
  /** What the case is for, in the test's name. */
  purpose: string;
  shape: MaskedConvShape;
  lengths: number[];
  /** A binding size small enough to force splitting over documents and targets. */
  maxBindingBytes?: number;
  /** The dW reduction over B·L·T must run past llvmpipe's loop cap and the shared trip budget. */
  pastLoopLimit?: boolean;
}

const CASES: NaiveCase[] = [
  {
    purpose: "L=1 and T=1",
    shape: { B: 1, L: 1, D: 4, T: 1, widths: [{ K: 3, F: 2 }] },
    lengths: [1],
  },
  {
    purpose: "K > L",
    shape: { B: 2, L: 2, D: 3, T: 1, widths: [{ K: 5, F: 3 }, { K: 3, F: 2 }] },
    lengths: [2, 1],
  },
  {
    purpose: "padded and empty documents, two widths",
    shape: { B: 3, L: 11, D: 5, T: 13, widths: [{ K: 3, F: 5 }, { K: 5, F: 3 }] },
    lengths: [11, 5, 0],
  },
  {
    purpose: "sizes that are not multiples of 64",
    shape: { B: 2, L: 67, D: 70, T: 3, widths: [{ K: 3, F: 6 }, { K: 5, F: 5 }] },
    lengths: [67, 40],
  },
  {
    purpose: "split over several buffers per tensor",
    shape: { B: 3, L: 9, D: 5, T: 30, widths: [{ K: 3, F: 3 }, { K: 5, F: 2 }] },
    lengths: [9, 4, 7],
    maxBindingBytes: 800,
  },
  {
    purpose: "dW and dbias reduced over more than llvmpipe's 65,535 loop iterations",
    shape: { B: 3, L: 200, D: 3, T: 120, widths: [{ K: 3, F: 2 }] },
    lengths: [200, 150, 1],
    pastLoopLimit: true,
  },
];

function label({ purpose, shape: { B, L, D, T, widths }, lengths }: NaiveCase): string {
  const ws = widths.map((w) => `${w.K}x${w.F}`).join(",");
  return `${purpose}: B=${B} L=${L} D=${D} T=${T} widths(KxF)=${ws} lengths=${lengths.join(",")}`;
}

/** The naive layer's h, dx, dm, dW and dbias against the float64 definition (as the fast one). */
async function parity(gpu: Gpu, naiveCase: NaiveCase): Promise<CheckResult[]> {
  const { shape, maxBindingBytes, pastLoopLimit } = naiveCase;
  const { B, L, T } = shape;
  if (pastLoopLimit && B * L * T <= Math.max(65535, LOOP_TRIPS)) {
    throw new Error(`${label(naiveCase)} does not reach past the loop limit`);
  }
  const { inputs, g } = drawLayerInputs(mulberry32(7), naiveCase);
  const layer = new NaiveMaskedConv(gpu, shape, { maxBindingBytes });
  const { docsPerTile, targetsPerTile } = layer.plan;
  try {
    if (maxBindingBytes && (docsPerTile === shape.B || targetsPerTile === shape.T)) {
      throw new Error(
        `${label(naiveCase)} was meant to split but got ${docsPerTile}×${targetsPerTile}`,
      );
    }
    return await layerParity(KERNEL, layer, inputs, g, shape, label(naiveCase));
  } finally {
    layer.destroy();
  }
}

/**
 * The naive layer's checks for `maskconv gradcheck` and the tests.
 *
 * @example
 * ```ts
 * import { naiveConvCheck } from "./check.ts";
 * console.log(naiveConvCheck.parityCases.map((c) => c.label));
 * ```
 */
export const naiveConvCheck: KernelCheck = {
  name: KERNEL,
  fixtureOf: "masked conv layer",
  parityCases: CASES.map((naiveCase) => ({
    label: label(naiveCase),
    run: (gpu) => parity(gpu, naiveCase),
  })),
};
