import assert from "node:assert/strict";
import {
  bindBuffers,
  computePipeline,
  dispatchFlat,
  getGpu,
  readBuffers,
  tensorBuffer,
  uniformBuffer,
} from "../kernels/gpu.ts";
import { HASH_WGSL, hashUniform } from "../kernels/hash.ts";

const DRAW_WGSL = HASH_WGSL + `
@group(0) @binding(0) var<uniform> key: vec4u; // seed, stream, count
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn draw(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < key.z) { out[id.x] = hash_uniform(key.x, key.y, id.x); }
}`;

Deno.test("hash_uniform in WGSL draws bit for bit what hashUniform draws in TypeScript", async () => {
  const gpu = await getGpu();
  const count = 100_000;
  const out = tensorBuffer(gpu, count, "draws");
  const pipeline = computePipeline(gpu, DRAW_WGSL, "draw");
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(
    0,
    bindBuffers(gpu, pipeline, { 0: uniformBuffer(gpu, [987654321, 3, count], "key"), 1: out }),
  );
  dispatchFlat(gpu, pass, count);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const draws = new Float32Array((await readBuffers(gpu, [out]))[0]);
  out.destroy();
  for (let i = 0; i < count; i++) assert.equal(draws[i], hashUniform(987654321, 3, i), `draw ${i}`);
});

Deno.test("hashUniform is uniform on [0, 1) and differs between streams", () => {
  const n = 200_000;
  const bins = new Array(10).fill(0);
  let same = 0;
  for (let i = 0; i < n; i++) {
    const u = hashUniform(1, 0, i);
    assert.ok(u >= 0 && u < 1);
    bins[Math.floor(u * 10)]++;
    if (u === hashUniform(1, 1, i)) same++;
  }
  // Each bin holds n/10 = 20,000 draws; 5 standard deviations (±447) bound a fair generator.
  for (const count of bins) {
    assert.ok(Math.abs(count - n / 10) < 5 * Math.sqrt(n * 0.09), `${bins}`);
  }
  assert.ok(same < 10, `${same} equal draws across streams`);
});
