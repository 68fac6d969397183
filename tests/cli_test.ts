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
