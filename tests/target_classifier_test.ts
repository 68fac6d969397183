import assert from "node:assert/strict";
import { getGpu, tensorBuffer } from "../kernels/gpu.ts";
import { targetClassifierCheck } from "../kernels/target_classifier/check.ts";
import {
  maxClassifierTargets,
  TargetClassifierLaunch,
} from "../kernels/target_classifier/target_classifier.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(targetClassifierCheck);

Deno.test("target classifier refuses more targets than one binding holds, saying how many fit", async () => {
  const gpu = await getGpu();
  const shape = { B: 64, T: 1, F: 150, C: 1, kind: "mlp" as const, hidden: 100 };
  const fit = maxClassifierTargets(shape, gpu.limits.maxStorageBufferBindingSize);
  const small = tensorBuffer(gpu, 1, "placeholder");
  assert.throws(
    () =>
      new TargetClassifierLaunch(gpu, { ...shape, T: fit + 1 }, {
        h: small,
        dh: small,
        params: [],
        grads: [],
      }),
    new RegExp(`at most ${fit} fit one launcher`),
  );
  small.destroy();
});
