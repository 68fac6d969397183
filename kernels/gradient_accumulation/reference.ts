/**
 * The float64 reference of gradient accumulation: a batch's gradient is the sum of its passes'
 * gradients (each pass weighting its losses by 1/B of the whole batch), added in pass order.
 *
 * @module
 */

/** Which update runs after a pass: the first copies, the middle ones add, the last finishes. */
export type AccumulationPhase = "first" | "add" | "finish";

/**
 * The phase that follows pass `index` of `passes` (none for a batch of one pass).
 *
 * @example
 * ```ts
 * import { accumulationPhase } from "./reference.ts";
 * console.log([0, 1, 2].map((i) => accumulationPhase(i, 3))); // ["first", "add", "finish"]
 * ```
 */
export function accumulationPhase(index: number, passes: number): AccumulationPhase | undefined {
  if (passes < 2) return undefined;
  return index === 0 ? "first" : index === passes - 1 ? "finish" : "add";
}

/**
 * Σ over passes of each pass's gradients, in float64.
 *
 * @example
 * ```ts
 * import { accumulateReference } from "./reference.ts";
 * console.log(accumulateReference([[Float64Array.of(1, 2)], [Float64Array.of(3, 4)]])); // [[4, 6]]
 * ```
 */
export function accumulateReference(passes: Float64Array[][]): Float64Array[] {
  return passes[0].map((_, p) => {
    const sum = new Float64Array(passes[0][p].length);
    for (const grads of passes) grads[p].forEach((g, i) => sum[i] += g);
    return sum;
  });
}
