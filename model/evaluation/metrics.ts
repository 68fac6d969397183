/**
 * Evaluation metrics of both task modes, computed on the host from predicted probabilities.
 *
 * @module
 */

/** F1 from counts; 0 when nothing was predicted or expected. */
function f1(tp: number, fp: number, fn: number): number {
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/** Per-target accuracy and macro-F1 over its classes, and their mean over targets. */
export interface AspectMetrics {
  accuracy: number[];
  f1: number[];
  macroF1: number;
  meanAccuracy: number;
  /** Documents with a known value, per target. */
  support: number[];
}

/**
 * Aspects mode: `predicted[d][t]` and `truth[d][t]` are class indices (truth −1 = missing,
 * left out). A target's F1 is the macro average over the classes that occur in its truth or
 * predictions.
 *
 * @example
 * ```ts
 * import { aspectMetrics } from "./metrics.ts";
 * const m = aspectMetrics([[0, 1], [1, 1]], [[0, 1], [0, -1]], 2);
 * console.log(m.accuracy); // [0.5, 1]
 * ```
 */
export function aspectMetrics(
  predicted: number[][],
  truth: number[][],
  targets: number,
): AspectMetrics {
  const accuracy: number[] = [];
  const scores: number[] = [];
  const support: number[] = [];
  for (let t = 0; t < targets; t++) {
    const counts = new Map<number, { tp: number; fp: number; fn: number }>();
    const at = (c: number) => {
      let entry = counts.get(c);
      if (!entry) counts.set(c, entry = { tp: 0, fp: 0, fn: 0 });
      return entry;
    };
    let correct = 0;
    let known = 0;
    truth.forEach((row, d) => {
      const y = row[t];
      if (y < 0) return;
      known++;
      const p = predicted[d][t];
      if (p === y) {
        correct++;
        at(y).tp++;
      } else {
        at(p).fp++;
        at(y).fn++;
      }
    });
    accuracy.push(known ? correct / known : 0);
    const perClass = [...counts.values()].map(({ tp, fp, fn }) => f1(tp, fp, fn));
    scores.push(perClass.length ? perClass.reduce((a, b) => a + b, 0) / perClass.length : 0);
    support.push(known);
  }
  const mean = (v: number[]) => v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
  return { accuracy, f1: scores, macroF1: mean(scores), meanAccuracy: mean(accuracy), support };
}

/** Multi-label metrics at a decision threshold, plus ranking metrics that need none. */
export interface LabelMetrics {
  threshold: number;
  microF1: number;
  macroF1: number;
  /** Precision at k for k = 1, 5, 8. */
  precisionAt: Record<"1" | "5" | "8", number>;
  microAuc: number;
  /** F1 per label at the threshold. */
  f1: number[];
}

/**
 * Labels mode: `scores[d][t]` are probabilities, `truth[d][t]` 0/1.
 *
 * @example
 * ```ts
 * import { labelMetrics } from "./metrics.ts";
 * const m = labelMetrics([[0.9, 0.2], [0.4, 0.7]], [[1, 0], [0, 1]], 0.5);
 * console.log(m.microF1, m.microAuc); // 1 1
 * ```
 */
export function labelMetrics(
  scores: number[][],
  truth: number[][],
  threshold: number,
): LabelMetrics {
  const labels = truth[0]?.length ?? 0;
  const perLabel = Array.from({ length: labels }, () => ({ tp: 0, fp: 0, fn: 0 }));
  scores.forEach((row, d) =>
    row.forEach((s, t) => {
      const predicted = s >= threshold;
      const actual = truth[d][t] === 1;
      if (predicted && actual) perLabel[t].tp++;
      else if (predicted) perLabel[t].fp++;
      else if (actual) perLabel[t].fn++;
    })
  );
  const total = perLabel.reduce(
    (a, c) => ({ tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn }),
    { tp: 0, fp: 0, fn: 0 },
  );
  const f1s = perLabel.map(({ tp, fp, fn }) => f1(tp, fp, fn));
  return {
    threshold,
    microF1: f1(total.tp, total.fp, total.fn),
    macroF1: f1s.length ? f1s.reduce((a, b) => a + b, 0) / f1s.length : 0,
    precisionAt: {
      "1": precisionAtK(scores, truth, 1),
      "5": precisionAtK(scores, truth, 5),
      "8": precisionAtK(scores, truth, 8),
    },
    microAuc: rocAuc(scores.flat(), truth.flat()),
    f1: f1s,
  };
}

/**
 * Mean over documents of the share of true labels among the k highest scores (ties broken by
 * label order).
 *
 * @example
 * ```ts
 * import { precisionAtK } from "./metrics.ts";
 * console.log(precisionAtK([[0.9, 0.1, 0.5]], [[1, 0, 0]], 2)); // 0.5
 * ```
 */
export function precisionAtK(scores: number[][], truth: number[][], k: number): number {
  if (!scores.length) return 0;
  let sum = 0;
  scores.forEach((row, d) => {
    const top = row.map((s, t) => [s, t]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
    sum += top.filter(([, t]) => truth[d][t] === 1).length / k;
  });
  return sum / scores.length;
}

/**
 * Area under the ROC curve of `scores` against 0/1 `truth` (the Mann–Whitney statistic, tied
 * scores counted as half); 0.5 when one class is absent.
 *
 * @example
 * ```ts
 * import { rocAuc } from "./metrics.ts";
 * console.log(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])); // 0.75
 * ```
 */
export function rocAuc(scores: number[], truth: number[]): number {
  const order = scores.map((s, i) => [s, truth[i]]).sort((a, b) => a[0] - b[0]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j < order.length && order[j][0] === order[i][0]) j++;
    const averageRank = (i + 1 + j) / 2; // ranks i+1..j share their mean
    for (let r = i; r < j; r++) {
      if (order[r][1] === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return 0.5;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * The single decision threshold, among the distinct scores, that maximises micro-F1 on
 * validation data; stored with the model and used by eval and predict.
 *
 * @example
 * ```ts
 * import { tuneThreshold } from "./metrics.ts";
 * console.log(tuneThreshold([[0.9, 0.3], [0.35, 0.2]], [[1, 1], [1, 0]])); // 0.3
 * ```
 */
export function tuneThreshold(scores: number[][], truth: number[][]): number {
  const labels = truth.flat();
  const pairs = scores.flat().map((s, i) => [s, labels[i]]).sort((a, b) => b[0] - a[0]);
  const positives = pairs.filter(([, y]) => y === 1).length;
  let best = { f1: -1, threshold: 0.5 };
  let tp = 0;
  for (let i = 0; i < pairs.length; i++) {
    if (pairs[i][1] === 1) tp++;
    if (i + 1 < pairs.length && pairs[i + 1][0] === pairs[i][0]) continue;
    const score = f1(tp, i + 1 - tp, positives - tp);
    if (score > best.f1) best = { f1: score, threshold: pairs[i][0] };
  }
  return best.threshold;
}
