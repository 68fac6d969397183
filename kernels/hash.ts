/**
 * Counter-based random numbers shared by WGSL and TypeScript: the value at (seed, stream, index)
 * is a pure function, so GPU kernels (dropout, Gumbel noise) and their float64 references draw
 * bit-identical numbers in any order, and training is reproducible for a seed.
 *
 * @module
 */

/** WGSL source of `hash_uniform(seed, stream, index) -> f32`, prepended to kernels that draw. */
export const HASH_WGSL = `
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Uniform in [0, 1) with 24 random bits, exactly representable in f32.
fn hash_uniform(seed: u32, stream: u32, index: u32) -> f32 {
  let h = pcg_hash(pcg_hash(pcg_hash(seed) ^ stream) ^ index);
  return f32(h >> 8u) / 16777216.0;
}
`;

function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * The TypeScript twin of the WGSL `hash_uniform`: the same value for the same arguments.
 *
 * @example
 * ```ts
 * import { hashUniform } from "./hash.ts";
 * console.log(hashUniform(1, 0, 0), hashUniform(1, 0, 1));
 * ```
 */
export function hashUniform(seed: number, stream: number, index: number): number {
  const h = pcgHash((pcgHash((pcgHash(seed) ^ stream) >>> 0) ^ index) >>> 0);
  return (h >>> 8) / 16777216;
}
