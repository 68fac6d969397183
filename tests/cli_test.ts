import assert from "node:assert/strict";
import { KERNEL_CHECKS } from "../kernels/checks.ts";
import { maskconv } from "./tiny_run.ts";

Deno.test("maskconv info prints the adapter and the limits the device was created with", async () => {
  const { code, stdout } = await maskconv("info");
  assert.equal(code, 0);
  assert.match(stdout, /^adapter: \S/m);
  assert.match(stdout, /maxStorageBufferBindingSize: \d+/);
  assert.match(stdout, /maxBufferSize: \d+/);
});

Deno.test("maskconv gradcheck --json reports forward, backward and fixture checks of every kernel passing", async () => {
  const { code, stdout } = await maskconv("gradcheck", "--json");
  const report = JSON.parse(stdout);
  assert.equal(code, 0);
  assert.equal(report.failed, 0);
  for (const kernel of KERNEL_CHECKS) {
    const checks = new Set(
      report.results.filter((r: { kernel: string }) => r.kernel === kernel.name)
        .map((r: { check: string }) => r.check),
    );
    const fixture = kernel.fixture ? ["fd fixture", "fixture reproducible"] : [];
    const backward = kernel.fixture || kernel.fixtureOf ? ["backward parity"] : [];
    const expected = [...backward, ...fixture, "forward parity"].sort();
    assert.deepEqual([...checks].sort(), expected, kernel.name);
  }
});

Deno.test("maskconv names a wrong command in one line and exits with 2", async () => {
  const { code, stderr, stdout } = await maskconv("trian");
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.equal(stderr.trim(), 'maskconv: unknown command "trian"; see maskconv --help');
});

Deno.test("maskconv bench rejects a repeat count that is not a positive integer", async () => {
  const { code, stderr } = await maskconv("bench", "--shape", "aspects", "--repeat", "0");
  assert.equal(code, 2);
  assert.match(stderr, /--repeat must be a positive integer, got "0"/);
});

Deno.test("maskconv bench --model-step on synthetic documents reports the step, its memory and every stage", async () => {
  const { code, stdout } = await maskconv(
    "bench",
    "--model-step",
    "--targets",
    "7",
    "--max-len",
    "16",
    "--batch-size",
    "3",
    "--repeat",
    "1",
    "--stages",
  );
  assert.equal(code, 0);
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.deepEqual([result.B, result.L, result.T], [3, 16, 7]);
  for (const field of ["ms_per_step_median", "docs_per_s", "peak_rss_mb", "device_mb_planned"]) {
    assert.ok(result[field] > 0, `${field}: ${result[field]}`);
  }
  const stages = ["embedding", "masker", "token softmax", "regularisers", "masked conv"];
  const expected = [...stages, "classifier", "loss"].flatMap((
    s,
  ) => [`${s} forward`, `${s} backward`]);
  assert.deepEqual(Object.keys(result.stage_ms).sort(), [...expected, "optimizer"].sort());
});

Deno.test("maskconv bench --model-step names a count that is not a positive integer", async () => {
  const { code, stderr } = await maskconv("bench", "--model-step", "--targets", "0");
  assert.equal(code, 2);
  assert.match(stderr, /--targets must be a positive integer, got "0"/);
});
