/**
 * The registry of verified kernels: what `maskconv gradcheck` runs, what `deno task fixtures`
 * writes and what the tests walk through.
 *
 * @module
 */

import type { Gpu } from "./gpu.ts";
import { adamCheck } from "./adam/check.ts";
import { embeddingCheck } from "./embedding/check.ts";
import { featureDropoutCheck } from "./feature_dropout/check.ts";
import { gradientAccumulationCheck } from "./gradient_accumulation/check.ts";
import { maskedConvCheck } from "./masked_conv/check.ts";
import { maskedMaxPoolCheck } from "./masked_max_pool/check.ts";
import { convMaskerCheck } from "./masker_conv/check.ts";
import { maskerLstmCheck } from "./masker_lstm/check.ts";
import { maskRegularisersCheck } from "./mask_regularisers/check.ts";
import { naiveConvCheck } from "./naive_conv/check.ts";
import { targetClassifierCheck } from "./target_classifier/check.ts";
import { targetLossCheck } from "./target_loss/check.ts";
import { tokenSoftmaxCheck } from "./token_softmax/check.ts";
import { projectionCheck } from "./projection/check.ts";
import { type CheckResult, fixtureCsv, type KernelCheck, parseFixtureCsv } from "./verify.ts";

/** Every kernel with its checks, in the order gradcheck reports them. */
export const KERNEL_CHECKS: KernelCheck[] = [
  embeddingCheck,
  projectionCheck,
  maskedMaxPoolCheck,
  maskedConvCheck,
  naiveConvCheck,
  convMaskerCheck,
  maskerLstmCheck,
  tokenSoftmaxCheck,
  maskRegularisersCheck,
  featureDropoutCheck,
  targetClassifierCheck,
  targetLossCheck,
  gradientAccumulationCheck,
  adamCheck,
];

/** Folder of the finite-difference fixtures. */
export const FIXTURE_DIR = new URL("../fixtures/fd/", import.meta.url);

/**
 * Regenerates every kernel's fixture CSV into `dir` and returns the paths written.
 *
 * @example
 * ```ts
 * import { writeFixtures } from "./checks.ts";
 * const dir = await Deno.makeTempDir();
 * console.log(await writeFixtures(new URL(`file://${dir}/`)));
 * ```
 */
export async function writeFixtures(dir: URL = FIXTURE_DIR): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const written = [];
  for (const { fixture } of KERNEL_CHECKS) {
    if (!fixture) continue;
    const path = new URL(fixture.file, dir);
    await Deno.writeTextFile(path, fixtureCsv(fixture.make()));
    written.push(path.pathname);
  }
  return written;
}

/**
 * The CPU-side checks of one kernel: its committed fixture against the reference's gradients,
 * and the fixture regenerating to the same bytes.
 *
 * @example
 * ```ts
 * import { fixtureChecks, KERNEL_CHECKS } from "./checks.ts";
 * console.log((await fixtureChecks(KERNEL_CHECKS[0])).every((r) => r.pass));
 * ```
 */
export async function fixtureChecks(kernel: KernelCheck): Promise<CheckResult[]> {
  const { fixture } = kernel;
  if (!fixture) return [];
  const committed = await Deno.readTextFile(new URL(fixture.file, FIXTURE_DIR));
  const same = committed === fixtureCsv(fixture.make());
  return [
    ...fixture.check(parseFixtureCsv(committed)),
    {
      kernel: kernel.name,
      check: "fixture reproducible",
      what: `fixtures/fd/${fixture.file}`,
      worstError: same ? 0 : 1,
      worstRatio: same ? 0 : Infinity,
      tolerance: { atol: 0, rtol: 0 },
      pass: same,
    },
  ];
}

/**
 * Runs every check of every kernel: fixtures first (CPU), then GPU parity on each case.
 *
 * @example
 * ```ts
 * import { getGpu } from "./gpu.ts";
 * import { runGradcheck } from "./checks.ts";
 * const results = await runGradcheck(await getGpu());
 * console.log(results.every((r) => r.pass));
 * ```
 */
export async function runGradcheck(gpu: Gpu): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const kernel of KERNEL_CHECKS) {
    results.push(...await fixtureChecks(kernel));
    for (const parityCase of kernel.parityCases) results.push(...await parityCase.run(gpu));
  }
  return results;
}
