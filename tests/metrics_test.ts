import assert from "node:assert/strict";
import {
  aspectMetrics,
  labelMetrics,
  precisionAtK,
  rocAuc,
  tuneThreshold,
} from "../model/evaluation/metrics.ts";
import {
  distinctWordsReadBy,
  keptClasses,
  maskAgreement,
  probabilityOf,
  wordsReadBy,
} from "../model/evaluation/inference.ts";

Deno.test("aspect metrics leave missing values out and macro-average F1 over classes", () => {
  // Target 0: truth 0,0,1 predicted 0,1,1 → accuracy 2/3; class 0: tp1 fn1 → 2/3, class 1: tp1 fp1 → 2/3.
  const m = aspectMetrics([[0, 2], [1, 2], [1, 0]], [[0, -1], [0, 2], [1, -1]], 2);
  assert.deepEqual(m.support, [3, 1]);
  assert.ok(Math.abs(m.accuracy[0] - 2 / 3) < 1e-12);
  assert.ok(Math.abs(m.f1[0] - 2 / 3) < 1e-12);
  assert.equal(m.accuracy[1], 1);
  assert.ok(Math.abs(m.macroF1 - (2 / 3 + 1) / 2) < 1e-12);
});

Deno.test("label metrics count micro and macro F1 at the threshold", () => {
  // Label 0: tp1 fp1; label 1: tp1 fn1 → micro tp2 fp1 fn1 = 4/6; macro (2/3 + 2/3)/2.
  const m = labelMetrics([[0.9, 0.8], [0.6, 0.1]], [[1, 1], [0, 1]], 0.5);
  assert.ok(Math.abs(m.microF1 - 2 / 3) < 1e-12);
  assert.ok(Math.abs(m.macroF1 - 2 / 3) < 1e-12);
});

Deno.test("precision at k counts true labels among the k best scores", () => {
  const scores = [[0.9, 0.8, 0.1], [0.2, 0.3, 0.4]];
  const truth = [[1, 0, 0], [0, 0, 1]];
  assert.equal(precisionAtK(scores, truth, 1), 1);
  assert.equal(precisionAtK(scores, truth, 2), 0.5);
});

Deno.test("ROC AUC equals the share of positive-negative pairs ranked correctly, ties half", () => {
  const scores = [0.1, 0.5, 0.5, 0.9, 0.3];
  const truth = [0, 1, 0, 1, 1];
  let correct = 0;
  let pairs = 0;
  scores.forEach((p, i) =>
    scores.forEach((n, j) => {
      if (truth[i] !== 1 || truth[j] !== 0) return;
      pairs++;
      correct += p > n ? 1 : p === n ? 0.5 : 0;
    })
  );
  assert.ok(Math.abs(rocAuc(scores, truth) - correct / pairs) < 1e-12);
  assert.equal(rocAuc([0.2, 0.4], [1, 1]), 0.5);
});

Deno.test("threshold tuning picks the cut that maximises micro-F1", () => {
  const scores = [[0.9, 0.2], [0.6, 0.55], [0.3, 0.1]];
  const truth = [[1, 0], [1, 1], [0, 0]];
  const best = tuneThreshold(scores, truth);
  const f1At = (t: number) => labelMetrics(scores, truth, t).microF1;
  for (const candidate of scores.flat()) assert.ok(f1At(best) >= f1At(candidate));
  assert.equal(f1At(best), 1);
});

Deno.test("mask agreement counts selected words on their document's labels against chance", () => {
  const outputs = {
    probabilities: [],
    // Document 0 (labels 0, 2 of 4): words none, t0 ✓, t1 ✗, t2 ✓. Document 1 (label 3): t3 ✓, none.
    wordClasses: [Int32Array.of(0, 1, 2, 3), Int32Array.of(4, 0)],
    words: [],
  };
  const agreement = maskAgreement(outputs, [Int32Array.of(1, 0, 1, 0), Int32Array.of(0, 0, 0, 1)]);
  assert.equal(agreement.selected, 4 / 6);
  assert.equal(agreement.onLabel, 3 / 4);
  // Three words drawn among 2 of 4 labels, one among 1 of 4.
  assert.equal(agreement.chance, (3 * 0.5 + 0.25) / 4);
  const none = maskAgreement({ ...outputs, wordClasses: [Int32Array.of(0, 0)] }, [
    Int32Array.of(1, 0, 0, 0),
  ]);
  assert.deepEqual(none, { selected: 0, onLabel: 0, chance: 0 });
});

Deno.test("the words a target reads most are ranked by its mask value, ties by position", () => {
  const rows = [0.2, 0.5, 0.5, 0.1].map((m) => Float32Array.of(1 - m, m, 0));
  const words = rows.map((p) => keptClasses(p, 1, [0, 1]));
  assert.deepEqual(wordsReadBy(words, 0, 3), [1, 2, 0]);
  assert.deepEqual(wordsReadBy(words, 1, 2), [0, 1]);
  assert.deepEqual(wordsReadBy(words, 0, 10), [1, 2, 0, 3]);
  // Shown as words: a repeated word counts once, in its best place.
  assert.deepEqual(distinctWordsReadBy(words, ["a", "b", "a", "c"], 0, 3), ["b", "a", "c"]);
  // Target 1 not kept: no ranking from probabilities that were never read back.
  const topOnly = rows.map((p) => keptClasses(p, 1, []));
  assert.throws(() => wordsReadBy(topOnly, 1, 2), /did not keep target 1/);
});

Deno.test("a word keeps its top classes, none and the asked targets, most probable first", () => {
  const p = Float32Array.of(0.05, 0.3, 0.1, 0.3, 0.05, 0.2);
  const word = keptClasses(p, 2, [3]);
  // Ties (classes 1 and 3 at 0.3) go to the lower class; none (0) and target 3 (class 4) join.
  assert.deepEqual([...word.classes], [1, 3, 0, 4]);
  assert.deepEqual([...word.p], [p[1], p[3], p[0], p[4]]);
  assert.equal(probabilityOf(word, 4), p[4]);
  assert.equal(probabilityOf(word, 5), undefined);
  // Keeping every class sorts the whole row; the first kept class is always the arg-max.
  const all = keptClasses(p, p.length, []);
  assert.deepEqual([...all.classes], [1, 3, 5, 2, 0, 4]);
  const row = Float32Array.from({ length: 9000 }, (_, c) => ((c * 7919) % 9001) / 9001);
  const top = keptClasses(row, 5, []);
  const sorted = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, 5);
  assert.deepEqual([...top.classes].slice(0, 5), sorted);
  assert.equal(top.classes[0], row.indexOf(Math.max(...row)));
});
