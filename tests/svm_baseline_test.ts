import assert from "node:assert/strict";
import { mulberry32 } from "../kernels/rng.ts";
import { type SparseVector, svmBaseline, svmScore, trainLinearSvm } from "../data/svm_baseline.ts";

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
  const result = svmBaseline(make(60), make(30), { c: 1, passes: 30, seed: 1, minDf: 2 });
  assert.equal(result.labels, 3);
  assert.equal(result.microF1AtZero, 1);
  assert.equal(result.tuned.microF1, 1);
});
