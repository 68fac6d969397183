/**
 * mulberry32, the 32-bit generator the benchmark and fixtures draw their inputs from, so that
 * any other implementation can reproduce them.
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./rng.ts";
 * const next = mulberry32(1);
 * console.log(next(), next());
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fills `out` with values drawn uniformly from [lo, hi) as `lo + (hi − lo)·u`, in index order.
 *
 * @example
 * ```ts
 * import { fillUniform, mulberry32 } from "./rng.ts";
 * const x = fillUniform(mulberry32(1), new Float64Array(6), -1, 1);
 * console.log(x);
 * ```
 */
export function fillUniform<A extends Float32Array | Float64Array>(
  next: () => number,
  out: A,
  lo: number,
  hi: number,
): A {
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * next();
  return out;
}
