/**
 * What `deno task demo` runs until the model exists: the shared masked convolution on generated
 * data, checked against the float64 definition, with a plain account of what it did.
 *
 * @module
 */

import { getGpu } from "../gpu.ts";
import { fillUniform, mulberry32 } from "../rng.ts";
import { compare, f32SumTolerance } from "../verify.ts";
import { MaskedConv } from "./masked_conv.ts";
import { maskedConvBackward, maskedConvForward, type MaskedConvShape } from "./reference.ts";

/**
 * Runs the layer on 8 generated documents against 6 targets with widths 3, 5 and 7 and prints
 * what it computed and how it compares with the reference; returns the exit code.
 *
 * @example
 * ```ts
 * import { runLayerDemo } from "./demo.ts";
 * console.log(await runLayerDemo());
 * ```
 */
export async function runLayerDemo(): Promise<number> {
  const gpu = await getGpu();
  const shape: MaskedConvShape = {
    B: 8,
    L: 64,
    D: 50,
    T: 6,
    widths: [{ K: 3, F: 50 }, { K: 5, F: 50 }, { K: 7, F: 50 }],
  };
  const { B, L, D, T, widths } = shape;
  const next = mulberry32(1);
  const lengths = Array.from({ length: B }, (_, b) => L - 6 * b);
  const x = fillUniform(next, new Float64Array(B * L * D), -1, 1);
  const m = fillUniform(next, new Float64Array(B * L * T), 0, 1);
  for (let b = 0; b < B; b++) m.fill(0, (b * L + lengths[b]) * T, (b + 1) * L * T);
  const W = widths.map(({ K, F }) => fillUniform(next, new Float64Array(F * D * K), -0.2, 0.2));
  const bias = widths.map(({ F }) => fillUniform(next, new Float64Array(F), -0.1, 0.1));
  const F_total = widths.reduce((s, w) => s + w.F, 0);
  const g = fillUniform(next, new Float64Array(B * T * F_total), -1, 1);

  console.log(`adapter: ${gpu.description}`);
  console.log(
    `layer: ${B} documents (lengths ${lengths.join(", ")}) of up to ${L} words, ${D}-d ` +
      `embeddings, ${T} targets, widths ${widths.map((w) => w.K).join("/")} × ${widths[0].F} ` +
      `filters, shared by all targets`,
  );
  const layer = new MaskedConv(gpu, shape);
  layer.setWeights(W, bias.flatMap((b) => [...b]));
  layer.setInputs(Float32Array.from(x), Float32Array.from(m), lengths);
  layer.setUpstream(Float32Array.from(g));
  const started = performance.now();
  layer.forward();
  layer.backward();
  await gpu.device.queue.onSubmittedWorkDone();
  const elapsed = performance.now() - started;
  const h = await layer.readOutput();
  const grads = await layer.readGradients();
  layer.destroy();
  const selected = h.filter((v) => v > 0).length;
  console.log(
    `forward + backward on the GPU: ${elapsed.toFixed(1)} ms; h [${B},${T},${F_total}] has ` +
      `${selected} of ${h.length} features active`,
  );

  const inputs = { x, m, lengths, W, bias };
  const fwd = maskedConvForward(inputs, shape);
  const ref = maskedConvBackward(inputs, fwd, g, shape);
  const checks = [
    compare("layer", "forward parity", "h", h, fwd.h, f32SumTolerance(7 * D + 1, 1)),
    compare(
      "layer",
      "backward parity",
      "dx",
      grads.dx,
      ref.dx,
      f32SumTolerance(T * F_total * 7, 1),
    ),
    compare(
      "layer",
      "backward parity",
      "dm",
      grads.dm,
      ref.dm,
      f32SumTolerance(F_total * 7 * D, 1),
    ),
  ];
  for (const c of checks) {
    console.log(
      `${c.what} vs float64 reference: worst |error| ${c.worstError.toExponential(2)} ` +
        `(${c.pass ? "within" : "OUTSIDE"} ${c.tolerance.atol.toExponential(1)} + ` +
        `${c.tolerance.rtol}·|ref|)`,
    );
  }
  const masked = B * L * T * D;
  console.log(
    `never materialised: the ${masked.toLocaleString("en")}-value [B,L,T,D] masked copies ` +
      `(projected once, mixed per target, max-pooled in one kernel)`,
  );
  return checks.every((c) => c.pass) ? 0 : 1;
}
