import assert from "node:assert/strict";
import { learningRateFactor } from "../model/task/config.ts";

Deno.test("the linear schedule ramps up over its warm-up, then falls to near zero at the last planned step", () => {
  const planned = 500;
  const factors = Array.from(
    { length: planned },
    (_, i) => learningRateFactor("linear", i + 1, planned),
  );
  const peak = factors.indexOf(1);
  assert.equal(peak + 1, Math.round(0.06 * planned));
  for (let i = 1; i < planned; i++) {
    const rising = i <= peak;
    assert.ok(rising ? factors[i] > factors[i - 1] : factors[i] < factors[i - 1], `step ${i + 1}`);
  }
  assert.ok(factors[0] > 0 && factors[planned - 1] > 0 && factors[planned - 1] < 0.01);
  assert.equal(learningRateFactor("linear", planned + 7, planned), factors[planned - 1]);
});

Deno.test("a constant schedule, and a model saved before schedules existed, keep the learning rate", () => {
  for (const step of [1, 40, 1000]) {
    assert.equal(learningRateFactor("constant", step, 100), 1);
    assert.equal(learningRateFactor(undefined, step, 100), 1);
  }
});
