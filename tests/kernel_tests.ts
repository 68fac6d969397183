/**
 * Registers the standard tests of a verified kernel: GPU-vs-reference parity on each of its
 * cases, and its finite-difference fixture (matching, and regenerating identically).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureChecks } from "../kernels/checks.ts";
import { getGpu } from "../kernels/gpu.ts";
import type { CheckResult, KernelCheck } from "../kernels/verify.ts";

function assertPasses(results: CheckResult[]) {
  assert.ok(results.length > 0, "no check ran");
  for (const r of results) {
    assert.ok(
      r.pass,
      `${r.kernel} ${r.check} ${r.what}: worst error ${r.worstError} exceeds ` +
        `atol ${r.tolerance.atol} + rtol ${r.tolerance.rtol}·|ref| (ratio ${r.worstRatio})`,
    );
  }
}

/** Registers the parity and fixture tests of `kernel`. */
export function registerKernelTests(kernel: KernelCheck): void {
  for (const parityCase of kernel.parityCases) {
    Deno.test(`${kernel.name} on the GPU matches the float64 reference at ${parityCase.label}`, async () => {
      assertPasses(await parityCase.run(await getGpu()));
    });
  }
  if (!kernel.fixture) return;
  Deno.test(`${kernel.name} reference gradients match finite differences, and the fixture regenerates identically`, async () => {
    const results = await fixtureChecks(kernel);
    assert.ok(results.some((r) => r.check === "fd fixture"));
    assertPasses(results);
  });
}
