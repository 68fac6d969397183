import assert from "node:assert/strict";
import { stringify } from "csv-stringify/sync";
import { mulberry32 } from "../base/rng.ts";
import {
  type SparseVector,
  svmAspectBaseline,
  svmBaseline,
  svmScore,
  trainLinearSvm,
} from "../quality/svm_baseline.ts";

/** ½‖w‖² + C·Σ max(0, 1 − y·score)², the problem trainLinearSvm solves (bias included in w). */
function primal(w: Float64Array, x: SparseVector[], y: number[], c: number): number {
  const hinge = x.reduce((s, xi, i) => s + Math.max(0, 1 - y[i] * svmScore(w, xi)) ** 2, 0);
  return 0.5 * w.reduce((s, v) => s + v * v, 0) + c * hinge;
}

Deno.test("the linear SVM's weights minimise its primal objective", () => {
  const next = mulberry32(3);
  const features = 12;
  const x = Array.from({ length: 40 }, (): SparseVector => {
    const indices = Int32Array.from(
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].filter(() => next() < 0.4),
    );
    const values = Float64Array.from(indices, () => next());
    const norm = Math.hypot(...values) || 1;
    return { indices, values: values.map((v) => v / norm) };
  });
  // Labels that no hyperplane separates, so some hinge terms stay active.
  const y = x.map(({ indices }, i) => (indices.includes(0) !== (i % 7 === 0) ? 1 : -1));
  const c = 2;
  const w = trainLinearSvm(x, y, features, { c, passes: 2000, seed: 1 });
  const best = primal(w, x, y, c);
  for (let trial = 0; trial < 50; trial++) {
    const direction = Float64Array.from(w, () => next() - 0.5);
    for (const step of [1e-3, -1e-3]) {
      const moved = w.map((v, k) => v + step * direction[k]);
      assert.ok(
        primal(moved, x, y, c) >= best - 1e-9,
        `a step along a random direction lowered the objective below ${best}`,
      );
    }
  }
});

Deno.test("the SVM baseline finds labels that single words decide, unseen combinations included", () => {
  const words = ["audio", "image", "network"];
  const filler = ["tool", "program", "fast", "small", "library", "free"];
  const next = mulberry32(11);
  const make = (n: number) => {
    const docs: string[][] = [];
    const labels: string[][] = [];
    for (let i = 0; i < n; i++) {
      const chosen = words.filter(() => next() < 0.5);
      const text = [...chosen, ...filler.filter(() => next() < 0.5)];
      docs.push(text.sort(() => next() - 0.5));
      labels.push(chosen);
    }
    return { docs, labels };
  };
  const result = svmBaseline(make(60), make(30), { cs: [1], passes: 30, seed: 1, minDf: 2 });
  assert.deepEqual(result.targets, ["audio", "image", "network"]);
  assert.equal(result.microF1AtZero, 1);
  assert.equal(result.tuned.microF1, 1);
});

/** Documents whose colour and size follow from one word each; `blank` cells are left empty. */
function aspectDocs(n: number, seed: number, blank: (d: number) => boolean) {
  const colours = ["red", "green", "blue"];
  const sizes = ["big", "small"];
  const filler = ["a", "bright", "thing", "object", "shiny", "old", "new"];
  const next = mulberry32(seed);
  const docs: string[][] = [];
  const values: (string | undefined)[][] = [];
  for (let d = 0; d < n; d++) {
    const colour = colours[d % 3];
    const size = sizes[Math.floor(next() * 2)];
    const words = [colour, size, ...filler.filter(() => next() < 0.4)];
    docs.push(words.sort(() => next() - 0.5));
    values.push([colour, blank(d) ? undefined : size]);
  }
  return { docs, values };
}

Deno.test("the aspects baseline predicts each target's class and scores only its known cells", () => {
  const train = aspectDocs(60, 5, (d) => d % 4 === 0);
  const valid = aspectDocs(20, 6, () => false);
  const test = aspectDocs(30, 7, (d) => d % 3 === 1);
  test.values[0][0] = "purple"; // unseen in training: missing, as for the model
  const result = svmAspectBaseline(
    train,
    valid,
    { cs: [0.3, 1], passes: 30, seed: 1, minDf: 2 },
    test,
  );
  assert.deepEqual(result.classes, [["blue", "green", "red"], ["big", "small"]]);
  assert.deepEqual(result.metrics.support, [29, 20]);
  assert.equal(result.unseenValues, 1);
  assert.deepEqual(result.metrics.accuracy, [1, 1]);
  assert.equal(result.metrics.macroF1, 1);
  assert.deepEqual([...result.validScores.keys()], [0.3, 1]);
});

Deno.test("svm_baseline --json reports aspects on the test file under maskconv eval's keys", async () => {
  const dir = await Deno.makeTempDir();
  const write = async (name: string, data: ReturnType<typeof aspectDocs>) => {
    const rows = data.docs.map((words, d) => ({
      text: words.join(" "),
      colour: data.values[d][0] ?? "",
      size: data.values[d][1] ?? "",
    }));
    await Deno.writeTextFile(`${dir}/${name}.csv`, stringify(rows, { header: true }));
  };
  await write("train", aspectDocs(60, 5, (d) => d % 4 === 0));
  await write("valid", aspectDocs(20, 6, () => false));
  await write("test", aspectDocs(30, 7, (d) => d % 3 === 1));
  const script = new URL("../quality/svm_baseline.ts", import.meta.url).pathname;
  const args = ["--train", `${dir}/train.csv`, "--valid", `${dir}/valid.csv`];
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      script,
      ...args,
      "--test",
      `${dir}/test.csv`,
      "--label-columns",
      "colour,size",
      "--json",
    ],
  }).output();
  assert.equal(code, 0);
  const report = JSON.parse(new TextDecoder().decode(stdout));
  assert.equal(report.mode, "aspects");
  assert.equal(report.documents, 30);
  assert.deepEqual(report.targets, ["colour", "size"]);
  assert.deepEqual(report.support, [30, 20]);
  assert.equal(report.meanAccuracy, 1);
  assert.equal(report.macroF1, 1);
  assert.deepEqual(report.c_tried.map((t: { c: number }) => t.c), [0.1, 0.3, 1, 3]);
  await Deno.remove(dir, { recursive: true });
});
