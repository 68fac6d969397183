import assert from "node:assert/strict";
import { getGpu, readBuffers } from "../kernels/gpu.ts";
import { DEFAULTS, type TrainConfig } from "../model/task/config.ts";
import type { TargetSpace } from "../model/task/dataset.ts";
import { MtmModel, planDeviceMemory } from "../model/network/mtm.ts";
import { type Batch, passBytesPerDocument } from "../model/network/batch_plan.ts";
import { predictAll, topLabel } from "../model/evaluation/inference.ts";

const LABELS: TargetSpace = {
  mode: "labels",
  targets: ["a", "b", "c"],
  classes: [["1"], ["1"], ["1"]],
};
const ASPECTS: TargetSpace = {
  mode: "aspects",
  targets: ["a", "b"],
  classes: [["x", "y", "z"], ["p", "q"]],
};

function tinyConfig(overrides: Partial<TrainConfig>): TrainConfig {
  return {
    ...DEFAULTS,
    labelsColumn: "tags",
    widths: [3, 5],
    filters: 3,
    maskerHidden: 3,
    classifierHidden: 4,
    trainEmbeddings: true,
    ...overrides,
  };
}

const BATCH_IDS = [Int32Array.of(2, 3, 4, 5, 6), Int32Array.of(4, 4, 1)];

/**
 * Central differences of the whole model's loss (float32 on the GPU, so a step of 2e-3 and a
 * tolerance of 2e-3 + 2e-2·|fd|) against the gradients the kernels produce, for six elements of
 * every parameter tensor.
 */
async function checkModelGradients(
  config: TrainConfig,
  space: TargetSpace,
  batch: Batch,
  prepare: (model: MtmModel) => void = () => {},
) {
  const gpu = await getGpu();
  const model = new MtmModel(gpu, { config, vocabSize: 7, dim: 4, space });
  prepare(model);
  await model.lossAndGradients(batch, 6);
  const step = 2e-3;
  for (const p of model.params.list) {
    const [values, grads] = (await readBuffers(gpu, [p.value, p.grad])).map((b) =>
      new Float32Array(b)
    );
    for (let k = 0; k < Math.min(6, p.size); k++) {
      const i = (k * 7919) % p.size;
      const at = async (v: number) => {
        const changed = values.slice();
        changed[i] = v;
        gpu.device.queue.writeBuffer(p.value, 0, changed);
        return await model.lossAndGradients(batch, 6);
      };
      const fd = (await at(values[i] + step) - await at(values[i] - step)) / (2 * step);
      gpu.device.queue.writeBuffer(p.value, 0, values);
      assert.ok(
        Math.abs(fd - grads[i]) <= 2e-3 + 2e-2 * Math.abs(fd),
        `${p.name}[${i}]: analytic ${grads[i]}, finite differences ${fd}`,
      );
    }
  }
}

Deno.test("the conv-masker model's gradients in labels mode match finite differences of its loss", async () => {
  await checkModelGradients(tinyConfig({ masker: "conv" }), LABELS, {
    ids: BATCH_IDS,
    targets: [Int32Array.of(1, 0, 1), Int32Array.of(0, 1, 0)],
  });
});

Deno.test("the LSTM-masker model's gradients in aspects mode match finite differences of its loss", async () => {
  await checkModelGradients(
    tinyConfig({ masker: "lstm", labelsColumn: undefined, labelColumns: ["a", "b"] }),
    ASPECTS,
    { ids: BATCH_IDS, targets: [Int32Array.of(2, 1), Int32Array.of(0, -1)] },
  );
});

Deno.test("the sparse-mask model's gradients match finite differences of its loss", async () => {
  // Two of three targets per word: the kept sets stay put at the differences' step here. A
  // target's windows that no word selects pool to relu(bias), which sits on relu's kink while
  // the bias is still 0; off it, the differences see one side only.
  const gpu = await getGpu();
  const offTheKink = (model: MtmModel) => {
    const bias = model.params.list.find((p) => p.name === "encoder.bias")!;
    const values = Float32Array.from({ length: bias.size }, (_, i) => (i % 2 ? 0.05 : -0.05));
    gpu.device.queue.writeBuffer(bias.value, 0, values);
  };
  await checkModelGradients(tinyConfig({ mask: "sparse", maskTargets: 2 }), LABELS, {
    ids: BATCH_IDS,
    targets: [Int32Array.of(1, 0, 1), Int32Array.of(0, 1, 0)],
  }, offTheKink);
});

Deno.test("with sparse masks every word keeps none and at most maskTargets targets, trained or not", async () => {
  const gpu = await getGpu();
  const space: TargetSpace = {
    mode: "labels",
    targets: ["a", "b", "c", "d", "e", "f"],
    classes: Array.from({ length: 6 }, () => ["1"]),
  };
  const config = tinyConfig({ mask: "sparse", maskTargets: 2 });
  const model = new MtmModel(gpu, { config, vocabSize: 7, dim: 4, space });
  const batch = { ids: BATCH_IDS, targets: BATCH_IDS.map(() => Int32Array.of(1, 0, 0, 1, 0, 1)) };
  const kept = async () => {
    const { tokenProbabilities } = await model.predict({ ids: BATCH_IDS }, 8);
    return BATCH_IDS.flatMap((doc, b) =>
      Array.from(doc, (_, l) => {
        const p = tokenProbabilities.subarray((b * 8 + l) * 7, (b * 8 + l + 1) * 7);
        assert.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-5);
        assert.ok(p[0] > 0, "none is always kept");
        return p.filter((v) => v > 0).length;
      })
    );
  };
  assert.deepEqual(await kept(), BATCH_IDS.flatMap((doc) => Array.from(doc, () => 3)));
  for (let step = 1; step <= 3; step++) await model.trainStep(batch, step, 8);
  assert.deepEqual(await kept(), BATCH_IDS.flatMap((doc) => Array.from(doc, () => 3)));
});

Deno.test("training is bit for bit the same for the same seed, and differs for another", async () => {
  const gpu = await getGpu();
  const batch = { ids: BATCH_IDS, targets: [Int32Array.of(1, 0, 1), Int32Array.of(0, 1, 0)] };
  const run = async (seed: number) => {
    const model = new MtmModel(gpu, {
      config: tinyConfig({ seed, mask: "gumbel" }),
      vocabSize: 7,
      dim: 4,
      space: LABELS,
    });
    const losses = [];
    for (let step = 1; step <= 3; step++) {
      losses.push((await model.trainStep(batch, step, 16)).prediction);
    }
    const saved = await model.params.save();
    return { losses, weights: Object.values(saved).flatMap((t) => [...t.data]) };
  };
  const [a, b, c] = [await run(5), await run(5), await run(6)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.weights, c.weights);
});

Deno.test("a model that frees its batch plans between steps trains to the same weights as one that keeps them", async () => {
  const gpu = await getGpu();
  const short = { ids: [Int32Array.of(2, 3, 4)], targets: [Int32Array.of(1, 0, 1)] };
  const long = { ids: BATCH_IDS, targets: [Int32Array.of(1, 0, 1), Int32Array.of(0, 1, 0)] };
  const run = async (planCacheBytes?: number) => {
    const spec = { config: tinyConfig({}), vocabSize: 7, dim: 4, space: LABELS };
    const model = new MtmModel(gpu, spec, { planCacheBytes });
    let step = 1;
    for (const [batch, L] of [[short, 16], [long, 32], [short, 16], [long, 32]] as const) {
      await model.trainStep(batch, step++, L);
    }
    return { weights: await model.params.save(), predicted: await model.predict(short, 16) };
  };
  assert.deepEqual(await run(0), await run());
});

Deno.test("classifier weights split into ranges of targets train, save and load as one tensor each", async () => {
  const gpu = await getGpu();
  const space: TargetSpace = {
    mode: "labels",
    targets: ["a", "b", "c", "d", "e", "f", "g"],
    classes: Array.from({ length: 7 }, () => ["1"]),
  };
  const batch = {
    ids: BATCH_IDS,
    targets: [Int32Array.of(1, 0, 1, 0, 0, 1, 1), Int32Array.of(0, 1, 0, 1, 1, 0, 0)],
  };
  const spec = { config: tinyConfig({ clip: 1e9 }), vocabSize: 7, dim: 4, space };
  const run = async (parameterSliceBytes?: number) => {
    const model = new MtmModel(gpu, spec, { parameterSliceBytes });
    for (let step = 1; step <= 3; step++) await model.trainStep(batch, step, 16);
    return { model, weights: await model.params.save(), predicted: await model.predict(batch, 16) };
  };
  const whole = await run();
  // W1 of one target is 6 features × 4 hidden units: 3 per slice gives ranges of 3, 2 and 2.
  const sliced = await run(3 * 6 * 4 * 4);
  assert.deepEqual(sliced.model.parts.classifier.map((part) => part.count), [3, 2, 2]);
  assert.equal(whole.model.parts.classifier.length, 1);
  assert.deepEqual(Object.keys(sliced.weights).sort(), Object.keys(whole.weights).sort());
  // The same arithmetic per target, and no clipping: the same weights and predictions.
  assert.deepEqual(sliced.weights, whole.weights);
  assert.deepEqual(sliced.predicted, whole.predicted);
  const reloaded = new MtmModel(gpu, spec, { parameterSliceBytes: 3 * 6 * 4 * 4 });
  reloaded.params.load(whole.weights, "whole model");
  assert.deepEqual(await reloaded.params.save(), whole.weights);
});

Deno.test("a batch too large for one pass runs in passes whose gradients and losses add up to the whole batch's", async () => {
  const gpu = await getGpu();
  const ids = [...BATCH_IDS, Int32Array.of(1, 2), Int32Array.of(6, 5, 4, 3), Int32Array.of(3)];
  const targets = ids.map((_, b) => Int32Array.of(b % 2, 1, (b + 1) % 2));
  const batch = { ids, targets };
  const spec = {
    config: tinyConfig({ dropout: 0, clip: 1e9 }),
    vocabSize: 7,
    dim: 4,
    space: LABELS,
  };
  const whole = new MtmModel(gpu, spec);
  // Two documents of 8 words per pass: the tap projections P [B,L,ΣK·F] (3·3 + 5·3 = 24
  // columns) are the largest tensor.
  const split = new MtmModel(gpu, spec, { maxBindingBytes: 2 * 8 * 24 * 4 });
  assert.deepEqual(split.passes(batch, 8).map((p) => p.ids.length), [2, 2, 1]);
  assert.equal(whole.passes(batch, 8).length, 1);
  const loss = [await whole.lossAndGradients(batch, 8), await split.lossAndGradients(batch, 8)];
  assert.ok(Math.abs(loss[0] - loss[1]) <= 1e-6 * Math.abs(loss[0]), `losses ${loss}`);
  for (const [i, p] of whole.params.list.entries()) {
    const [expected, actual] = (await readBuffers(gpu, [p.grad, split.params.list[i].grad]))
      .map((b) => new Float32Array(b));
    const scale = Math.max(...expected.map(Math.abs));
    const worst = Math.max(...expected.map((e, j) => Math.abs(e - actual[j])));
    assert.ok(worst <= 1e-5 * scale, `${p.name}: off by ${worst} at scale ${scale}`);
  }
  const stats = [await whole.trainStep(batch, 1, 8), await split.trainStep(batch, 1, 8)];
  assert.ok(Math.abs(stats[0].gradNorm - stats[1].gradNorm) <= 1e-5 * stats[0].gradNorm);
  const predicted = [await whole.predict(batch, 8), await split.predict(batch, 8)];
  assert.equal(predicted[1].probabilities.length, predicted[0].probabilities.length);
  predicted[0].probabilities.forEach((p, j) =>
    assert.ok(Math.abs(p - predicted[1].probabilities[j]) <= 1e-5, `probability ${j}`)
  );
  // predictAll reads back pass by pass, documents sorted by length: each lands in its place.
  const all = await predictAll(split, ids, ids.length, 8, { top: 2, targets: topLabel });
  const T = LABELS.targets.length;
  ids.forEach((doc, b) => {
    assert.equal(all.words[b].length, doc.length);
    assert.equal(all.probabilities[b].length, T);
    all.words[b].forEach(({ classes, p }, l) =>
      classes.forEach((c, i) => {
        const expected = predicted[1].tokenProbabilities[(b * 8 + l) * (T + 1) + c];
        assert.ok(Math.abs(p[i] - expected) <= 1e-6, `document ${b}, word ${l}, class ${c}`);
      })
    );
  });
});

Deno.test("feature dropout changes a training step but not evaluation or the loss-and-gradients path", async () => {
  const gpu = await getGpu();
  const batch = { ids: BATCH_IDS, targets: [Int32Array.of(1, 0, 1), Int32Array.of(0, 1, 0)] };
  const model = (featureDropout: number) =>
    new MtmModel(gpu, {
      config: tinyConfig({ featureDropout, filters: 8, dropout: 0 }),
      vocabSize: 7,
      dim: 4,
      space: LABELS,
    });
  const [plain, dropped] = [model(0), model(0.5)];
  // Evaluation (and the loss-and-gradients path) runs without dropout.
  assert.equal(await dropped.lossAndGradients(batch, 16), await plain.lossAndGradients(batch, 16));
  assert.deepEqual(await dropped.predict(batch, 16), await plain.predict(batch, 16));
  const [a, b] = [await plain.trainStep(batch, 1, 16), await dropped.trainStep(batch, 1, 16)];
  assert.notEqual(a.prediction, b.prediction);
  assert.ok(Number.isFinite(b.gradNorm) && b.gradNorm !== a.gradNorm);
});

Deno.test("a step that overflows is not applied, and the first non-finite tensor is named", async () => {
  const gpu = await getGpu();
  const model = new MtmModel(gpu, { config: tinyConfig({}), vocabSize: 7, dim: 4, space: LABELS });
  const huge = model.parts.masker.outWeight;
  gpu.device.queue.writeBuffer(huge.value, 0, new Float32Array(huge.size).fill(3e38));
  const before = await model.params.save();
  const batch = { ids: BATCH_IDS, targets: [Int32Array.of(1, 0, 1), Int32Array.of(0, 1, 0)] };
  const stats = await model.trainStep(batch, 1, 16);
  assert.ok(!Number.isFinite(stats.prediction + stats.regularisers + stats.gradNorm));
  assert.deepEqual(await model.params.save(), before);
  assert.equal(await model.firstNonFinite(batch, 16), "masker logits");
});

Deno.test("the memory plan runs a batch too large for one binding in passes, or refuses it when the batch size was chosen", () => {
  const icd: TargetSpace = {
    mode: "labels",
    targets: Array.from({ length: 8922 }, (_, t) => `code${t}`),
    classes: Array.from({ length: 8922 }, () => ["1"]),
  };
  const spec = {
    config: tinyConfig({ batchSize: 64, maxLen: 256 }),
    vocabSize: 100,
    dim: 100,
    space: icd,
  };
  const limits = { maxStorageBufferBindingSize: 2 ** 27 };
  // p [64, 256, 8923] holds 146 M floats (558 MiB); one document's share fits 14 in 128 MiB.
  assert.throws(
    () => planDeviceMemory(spec, limits, { explicitBatch: true }),
    /word distributions p \[B,L,T\+1\] of a batch of 64 × 256 words needs 558 MiB, over this adapter's 128 MiB per buffer: lower --batch-size to 14 or less, or --max-len/,
  );
  const planned = planDeviceMemory(spec, limits);
  assert.equal(planned.passDocuments, 14);
  assert.match(
    planned.summary,
    /batches of 64 documents run in passes of up to 14 documents of 256 words/,
  );
  const fits = planDeviceMemory(
    { ...spec, config: tinyConfig({ batchSize: 14, maxLen: 256 }) },
    limits,
  );
  assert.equal(fits.passDocuments, undefined);
  assert.ok(fits.bytes > 0 && fits.bytes < planned.bytes);
  // One document of 4,096 words has a p of 146 M floats: no pass holds it.
  assert.throws(
    () =>
      planDeviceMemory({ ...spec, config: tinyConfig({ batchSize: 64, maxLen: 4096 }) }, limits),
    /lower --max-len$/,
  );
});

Deno.test("with a device memory budget the plan runs smaller passes, or refuses in one line", async () => {
  const spec = {
    config: tinyConfig({ batchSize: 64, maxLen: 256 }),
    vocabSize: 100,
    dim: 100,
    space: LABELS,
  };
  const limits = { maxStorageBufferBindingSize: 2 ** 27 };
  const whole = planDeviceMemory(spec, limits);
  assert.equal(whole.passDocuments, undefined);
  // Room for the parameters and a quarter of the batch's tensors.
  const perDocument = passBytesPerDocument(spec, 256);
  const parameters = whole.bytes - 64 * perDocument;
  const budget = { memoryBytes: parameters + 16.5 * perDocument };
  const planned = planDeviceMemory(spec, limits, budget);
  assert.equal(planned.passDocuments, 16);
  assert.ok(planned.bytes <= budget.memoryBytes, `${planned.bytes} over ${budget.memoryBytes}`);
  assert.match(planned.summary, /passes of up to 16 documents of 256 words .* device memory/);
  assert.throws(
    () => planDeviceMemory(spec, limits, { ...budget, explicitBatch: true }),
    /a batch of 64 × 256 words needs about .* GiB, over the .* of device memory training may use: lower --batch-size to 16 or less, or --max-len/,
  );
  assert.throws(
    () => planDeviceMemory(spec, limits, { memoryBytes: parameters + perDocument / 2 }),
    /the parameters and one document of 256 words need about .*: lower --max-len$/,
  );
  // The model cuts its passes by the same bound.
  const model = new MtmModel(await getGpu(), spec, { maxPassBytes: planned.maxPassBytes });
  const batch = { ids: Array.from({ length: 40 }, () => new Int32Array(256).fill(3)) };
  assert.deepEqual(model.passes(batch, 256).map((p) => p.ids.length), [14, 13, 13]);
});
