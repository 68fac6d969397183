/**
 * Copying rectangular blocks between a row-major host matrix and the tiles the launchers keep
 * on the GPU.
 *
 * @module
 */

/**
 * The block [rows r0..r0+nr, cols c0..c0+nc] of a row-major matrix of `cols` columns (a view
 * when the block spans whole rows).
 *
 * @example
 * ```ts
 * import { takeBlock } from "./blocks.ts";
 * console.log(takeBlock(new Float32Array([1, 2, 3, 4, 5, 6]), 3, 0, 2, 1, 2)); // [2, 3, 5, 6]
 * ```
 */
export function takeBlock(
  source: Float32Array<ArrayBuffer>,
  cols: number,
  r0: number,
  nr: number,
  c0: number,
  nc: number,
): Float32Array<ArrayBuffer> {
  if (c0 === 0 && nc === cols) return source.subarray(r0 * cols, (r0 + nr) * cols);
  const block = new Float32Array(nr * nc);
  for (let r = 0; r < nr; r++) {
    block.set(source.subarray((r0 + r) * cols + c0, (r0 + r) * cols + c0 + nc), r * nc);
  }
  return block;
}

/**
 * Writes `block` into [rows r0..r0+nr, cols c0..c0+nc] of a row-major matrix.
 *
 * @example
 * ```ts
 * import { putBlock } from "./blocks.ts";
 * const target = new Float32Array(6);
 * putBlock(target, 3, 0, 2, 1, 2, new Float32Array([2, 3, 5, 6]));
 * console.log(target); // [0, 2, 3, 0, 5, 6]
 * ```
 */
export function putBlock<A extends Float32Array | Uint32Array>(
  target: A,
  cols: number,
  r0: number,
  nr: number,
  c0: number,
  nc: number,
  block: A,
): void {
  for (let r = 0; r < nr; r++) {
    target.set(block.subarray(r * nc, (r + 1) * nc), (r0 + r) * cols + c0);
  }
}
