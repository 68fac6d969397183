/**
 * Launchers of the fused masked mix + max-pool (forward) and its backward on one tile of
 * documents × targets; the layer builds one per tile and encodes them every step.
 *
 * @module
 */

import {
  bindBuffers,
  computePipeline,
  dispatchFlat,
  type Gpu,
  tensorBuffer,
  uniformBuffer,
} from "../gpu.ts";
import { type Dispatch, encodeAll, type Launch, LOOP_TRIPS } from "../launch.ts";
import type { Width } from "../projection/projection.ts";
import POOL_WGSL from "./masked_max_pool.wgsl" with { type: "text" };
import { poolColumns } from "./reference.ts";

/** Positions a forward invocation finishes per pass over the taps: CHUNK in the WGSL file. */
const FORWARD_CHUNK = 4;

/**
 * Loop trips of one forward invocation, counted as if no loop were unrolled: 48 to load and
 * store its 8 × 4 block, and per chunk of positions one trip, one per tap past the seventh and
 * 4 × 8 to fold the chunk into the running maxima (bounded here by K + 33).
 */
function forwardChunks(K: number): number {
  return Math.max(1, Math.floor((LOOP_TRIPS - 48) / (K + 33)));
}

/** The GPU buffers of one tile, in the layouts the WGSL file states. */
export interface PoolTileBuffers {
  P: GPUBuffer; // [nb, L, C]
  m: GPUBuffer; // [nb, L, nt]
  bias: GPUBuffer; // [F_total]
  lengths: GPUBuffer; // [nb] u32
  zmax: GPUBuffer; // [nb, nt, F_total]
  argmax: GPUBuffer; // [nb, nt, F_total] i32
  h: GPUBuffer; // [nb, nt, F_total]
  g: GPUBuffer; // [nb, nt, F_total]
  dP: GPUBuffer; // [nb, L, C], cleared by the caller before the backward
  dm: GPUBuffer; // [nb, L, nt], cleared by the caller before the backward
  dbPartial: GPUBuffer; // [nb, F_total], cleared by the caller before the backward
}

/** Sizes of one tile: nb documents of L positions, nt targets, every width. */
export interface PoolTileShape {
  nb: number;
  L: number;
  nt: number;
  widths: Width[];
}

/** What every width's dispatches of one tile share. */
interface PoolTile {
  gpu: Gpu;
  shape: PoolTileShape;
  buffers: PoolTileBuffers;
  /** The vector width the forward reads m in (MASK_WIDTH). */
  maskWidth: number;
  /** m, or a stand-in where m cannot be viewed as vectors of this width. */
  mViews: (width: number) => GPUBuffer;
  /** The scratch copy of one pack of documents' taps. */
  taps4: GPUBuffer;
  docsPerPack: number;
}

/** The Params uniform of one dispatch of a width: a slice, and a range of documents. */
type WidthParams = (
  begin: number,
  end: number,
  first: boolean,
  doc0?: number,
  docs?: number,
) => GPUBuffer;

/** taps4 of one document of width `K`: rows × taps × filters padded to a multiple of 4. */
function tapsPerDoc(L: number, { K, F }: Width): number {
  return (L + K + FORWARD_CHUNK - 2) * K * 4 * Math.ceil(F / 4);
}

/** One width's forward: per pack of documents, its taps copied, then pooled chunk by chunk. */
function widthForward(tile: PoolTile, width: Width, params: WidthParams): Dispatch[] {
  const { gpu, buffers: b, taps4, docsPerPack } = tile;
  const { nb, L, nt } = tile.shape;
  const { K, F } = width;
  const pack = computePipeline(gpu, POOL_WGSL, "pack_taps");
  const forward = computePipeline(gpu, POOL_WGSL, "forward", {
    TAPS: K,
    MASK_WIDTH: tile.maskWidth,
  });
  const positions = FORWARD_CHUNK * forwardChunks(K);
  const dispatches: Dispatch[] = [];
  for (let doc0 = 0; doc0 < nb; doc0 += docsPerPack) {
    const docs = Math.min(docsPerPack, nb - doc0);
    dispatches.push({
      pipeline: pack,
      group: bindBuffers(gpu, pack, {
        0: params(0, 0, false, doc0, docs),
        1: b.P,
        4: b.lengths,
        13: taps4,
      }),
      invocations: docs * tapsPerDoc(L, width) / 4,
    });
    for (let begin = 0; begin < Math.max(L, 1); begin += positions) {
      const group = bindBuffers(gpu, forward, {
        0: params(begin, Math.min(L, begin + positions), begin === 0, doc0, docs),
        2: b.m,
        3: b.bias,
        4: b.lengths,
        5: b.zmax,
        6: b.argmax,
        7: b.h,
        13: taps4,
        14: tile.mViews(2),
        15: tile.mViews(4),
      });
      const blocks = Math.ceil(nt / 8) * Math.ceil(F / 4);
      dispatches.push({ pipeline: forward, group, invocations: docs * blocks });
    }
  }
  return dispatches;
}

/** One width's backward: dP and the bias partials over slices of targets, then dm. */
function widthBackward(tile: PoolTile, { K, F }: Width, params: WidthParams): Dispatch[] {
  const { gpu, buffers: b } = tile;
  const { nb, nt } = tile.shape;
  const taps = computePipeline(gpu, POOL_WGSL, "backward_taps");
  const masks = computePipeline(gpu, POOL_WGSL, "backward_masks");
  const dispatches: Dispatch[] = [];
  const slice = Math.max(1, Math.floor(LOOP_TRIPS / (K + 1)));
  for (let begin = 0; begin < nt; begin += slice) {
    const group = bindBuffers(gpu, taps, {
      0: params(begin, Math.min(nt, begin + slice), false),
      4: b.lengths,
      2: b.m,
      5: b.zmax,
      6: b.argmax,
      8: b.g,
      9: b.dP,
      11: b.dbPartial,
    });
    dispatches.push({ pipeline: taps, group, invocations: nb * F });
  }
  const group = bindBuffers(gpu, masks, {
    0: params(0, nt, false),
    1: b.P,
    4: b.lengths,
    5: b.zmax,
    6: b.argmax,
    8: b.g,
    10: b.dm,
  });
  dispatches.push({ pipeline: masks, group, invocations: nb * nt });
  return dispatches;
}

/**
 * The dispatches of one tile, built once: forward per width and group of documents (a copy of
 * their taps, then one dispatch per slice of positions), backward per width (and slice of
 * targets for the taps). The copy lives in a scratch buffer of the launcher.
 *
 * @example
 * ```ts
 * import { getGpu, tensorBuffer } from "../gpu.ts";
 * import { MaskedMaxPoolLaunch } from "./masked_max_pool.ts";
 * const gpu = await getGpu();
 * const shape = { nb: 1, L: 4, nt: 2, widths: [{ K: 3, F: 2 }] };
 * const names = ["P", "m", "bias", "lengths", "zmax", "argmax", "h", "g", "dP", "dm", "dbPartial"];
 * const buffers = Object.fromEntries(names.map((n) => [n, tensorBuffer(gpu, 24, n)]));
 * const pool = new MaskedMaxPoolLaunch(gpu, shape, buffers as never);
 * console.log(pool.shape.nt);
 * ```
 */
export class MaskedMaxPoolLaunch {
  readonly shape: PoolTileShape;
  #gpu: Gpu;
  #forward: Dispatch[] = [];
  #backward: Dispatch[] = [];

  constructor(gpu: Gpu, shape: PoolTileShape, buffers: PoolTileBuffers) {
    this.#gpu = gpu;
    this.shape = shape;
    const { nb, L, nt, widths } = shape;
    const { C, F_total } = poolColumns(widths);
    // The widest vector of masks that tiles a row of nt targets.
    const maskWidth = [4, 2, 1].find((w) => nt % w === 0)!;
    // The forward declares f32, vec2 and vec4 views of m and reads the one MASK_WIDTH picks; a
    // view whose width does not divide nt may be too small to bind, so it gets a stand-in.
    const standIn = tensorBuffer(gpu, 4, "unused view of m");
    const mViews = (width: number) => nt % width === 0 ? buffers.m : standIn;
    const mostTaps = Math.max(...widths.map((w) => tapsPerDoc(L, w)));
    // The widest width's copy may outgrow a binding that P fits: then it covers fewer documents.
    const maxElements = Math.floor(gpu.limits.maxStorageBufferBindingSize / 4);
    const docsPerPack = Math.max(1, Math.min(nb, Math.floor(maxElements / mostTaps)));
    const taps4 = tensorBuffer(gpu, docsPerPack * mostTaps, "taps4");
    const tile: PoolTile = { gpu, shape, buffers, maskWidth, mViews, taps4, docsPerPack };
    let pCol = 0;
    let fOff = 0;
    for (const width of widths) {
      const { K, F } = width;
      const words = [nb, L, nt, C, F_total, K, F, pCol, fOff];
      const params = (begin: number, end: number, first: boolean, doc0 = 0, docs = 0) =>
        uniformBuffer(gpu, [...words, begin, end, first ? 1 : 0, doc0, docs], "pool params");
      this.#forward.push(...widthForward(tile, width, params));
      this.#backward.push(...widthBackward(tile, width, params));
      pCol += K * F;
      fOff += F;
    }
  }

  /** Records the forward: zmax, argmax and h of the tile (and its scratch copy of the taps). */
  encodeForward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#forward);
  }

  /** Records the backward: adds into dP, dm and dbPartial (cleared beforehand by the caller). */
  encodeBackward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#backward);
  }

  #encode(pass: GPUComputePassEncoder, dispatches: Dispatch[]) {
    encodeAll(this.#gpu, pass, dispatches);
  }
}

/**
 * db (+)= Σ_b dbPartial[b,:] over one tile of documents: the last step of the bias gradient.
 *
 * @example
 * ```ts
 * import { getGpu, tensorBuffer } from "../gpu.ts";
 * import { BiasReduceLaunch } from "./masked_max_pool.ts";
 * const gpu = await getGpu();
 * const [partial, db] = [tensorBuffer(gpu, 6, "partial"), tensorBuffer(gpu, 3, "db")];
 * const reduce = new BiasReduceLaunch(gpu, { nb: 2, F_total: 3, first: true }, partial, db);
 * console.log(typeof reduce.encode);
 * ```
 */
export class BiasReduceLaunch implements Launch {
  #gpu: Gpu;
  #dispatch: Dispatch;

  constructor(
    gpu: Gpu,
    { nb, F_total, first }: { nb: number; F_total: number; first: boolean },
    dbPartial: GPUBuffer,
    db: GPUBuffer,
  ) {
    this.#gpu = gpu;
    const pipeline = computePipeline(gpu, POOL_WGSL, "reduce_bias");
    const params = uniformBuffer(
      gpu,
      [nb, 0, 0, 0, F_total, 0, 0, 0, 0, 0, 0, first ? 1 : 0, 0, 0],
      "bias reduce params",
    );
    const group = bindBuffers(gpu, pipeline, { 0: params, 11: dbPartial, 12: db });
    this.#dispatch = { pipeline, group, invocations: F_total };
  }

  /** Records the reduction. */
  encode(pass: GPUComputePassEncoder): void {
    const { pipeline, group, invocations } = this.#dispatch;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    dispatchFlat(this.#gpu, pass, invocations);
  }
}
