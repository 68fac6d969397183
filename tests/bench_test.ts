import assert from "node:assert/strict";
import { BENCH_SHAPES, runBench, runBenchShape } from "../kernels/bench.ts";
import { NaiveMemoryError } from "../kernels/naive_conv/naive_conv.ts";

const TINY = { B: 3, L: 10, D: 6, T: 5, F: 4, K: 3 };
const CHECKSUMS = ["y", "dx", "dm", "dW", "db"];

/**
 * Checksums may differ by 1e-5 of the sum of the reference's absolute values: every value at
 * this shape sums at most T·F·K = 60 float32 products of inputs bounded by 1, whose rounding
 * f32SumTolerance bounds by 4·60·2⁻²⁴ ≈ 1.4e-5 of the magnitude, and errors of random sign
 * partly cancel in the checksum.
 */
const CHECKSUM_TOLERANCE = 1e-5;

Deno.test("bench reports its fields, and fast, naive and float64 checksums agree at a tiny shape", async () => {
  const fast = await runBenchShape("tiny", TINY, { repeat: 2, naive: false, verify: true });
  const naive = await runBenchShape("tiny", TINY, { repeat: 2, naive: true, verify: true });
  for (const [mode, result] of [["fast", fast], ["naive", naive]] as const) {
    assert.equal(result.shape, "tiny");
    assert.equal(result.mode, mode);
    assert.equal(result.repeat, 2);
    assert.equal(typeof result.adapter, "string");
    for (const [key, value] of Object.entries(TINY)) assert.equal(result[key], value);
    const numbers = ["ms_per_step_median", "ms_min", "peak_rss_mb", "flops_per_step"];
    for (const n of CHECKSUMS) {
      numbers.push(`checksum_${n}`, `verify_rel_err_${n}`, `verify_err_over_abs_sum_${n}`);
    }
    for (const key of numbers) {
      assert.ok(Number.isFinite(result[key]), `${mode} ${key} = ${result[key]}`);
    }
    assert.equal((result.ms_steps as number[]).length, 2);
    assert.ok((result.peak_rss_mb as number) > 0);
    for (const n of CHECKSUMS) {
      const error = result[`verify_err_over_abs_sum_${n}`] as number;
      assert.ok(error <= CHECKSUM_TOLERANCE, `${mode} checksum_${n} off the float64 one: ${error}`);
    }
  }
  // Only the fast layer reports its arg-max, so only it can say which gaps were near-ties.
  assert.equal(fast.verify_argmax_disagreements, 0);
  for (const n of CHECKSUMS) {
    assert.ok((fast[`verify_resolved_rel_err_${n}`] as number) <= 1e-5, `resolved ${n}`);
  }
  assert.ok((naive.flops_per_step as number) > (fast.flops_per_step as number));
  for (const n of CHECKSUMS) {
    const gap = Math.abs((fast[`checksum_${n}`] as number) - (naive[`checksum_${n}`] as number));
    const scale = fast[`verify_abs_sum_${n}`] as number;
    assert.ok(
      gap <= 2 * CHECKSUM_TOLERANCE * scale,
      `fast and naive checksum_${n} differ by ${gap}`,
    );
  }
});

Deno.test("bench's naive mode refuses the icd shape with its memory estimate", async () => {
  await assert.rejects(
    () => runBench({ shape: "icd", repeat: 1, naive: true, verify: false }),
    (error: unknown) => {
      assert.ok(error instanceof NaiveMemoryError);
      assert.match(error.message, /^naive mode needs \d+\.\d GB at B=4 L=2500 D=100 T=8922/);
      return true;
    },
  );
});

Deno.test("bench names its shapes and rejects unknown ones", () => {
  assert.deepEqual(BENCH_SHAPES.icd, { B: 4, L: 2500, D: 100, T: 8922, F: 50, K: 3 });
  assert.throws(
    () => runBench({ shape: "nope", repeat: 1, naive: false, verify: false }),
    /unknown shape "nope": one of aspects, labels100, labels1k, icd/,
  );
});
