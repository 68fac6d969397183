/**
 * The buffers and dispatches of the naive layer, built once per shape: the activation blocks,
 * then per tile of documents × targets its forward (mask copy, convolution, max-pool) and its
 * backward (pool, input, mask, embedding and weight gradients), in the order naive_conv.wgsl's
 * kernels need them.
 *
 * @module
 */

import { bindBuffers, computePipeline, type Gpu, tensorBuffer, uniformBuffer } from "../gpu.ts";
import { type Dispatch, LOOP_TRIPS } from "../launch.ts";
import type { MaskedConvShape } from "../masked_conv/reference.ts";
import NAIVE_WGSL from "./naive_conv.wgsl" with { type: "text" };

/** Activation buffers holding documents b0..b0+nb: the whole batch, or one tile's documents. */
export interface DocBlock {
  b0: number;
  nb: number;
  x: GPUBuffer; // [nb,L,D]
  dx: GPUBuffer; // [nb,L,D]
  lengths: GPUBuffer; // [nb] u32
  targets: TargetBlock[];
}

/** Activation buffers holding targets t0..t0+nt of a {@link DocBlock}'s documents. */
export interface TargetBlock {
  t0: number;
  nt: number;
  m: GPUBuffer; // [nb,L,nt]
  dm: GPUBuffer; // [nb,L,nt]
  h: GPUBuffer; // [nb,nt,F_total]
  g: GPUBuffer; // [nb,nt,F_total]
}

/** Where a tile sits in its activation buffers, as the Params words b0, t0 and T take it. */
interface TilePlace {
  nb: number;
  nt: number;
  /** First document of the tile in its {@link DocBlock}. */
  b0: number;
  /** First target of the tile in its {@link TargetBlock}. */
  t0: number;
  /** Targets of the {@link TargetBlock}: the row length of m, dm, h and g. */
  T: number;
}

/** One tile's view of its activation blocks and its own materialised tensors. */
interface Tile {
  place: TilePlace;
  docs: DocBlock;
  targets: TargetBlock;
  /** The tile holds the batch's first document and first target: dW starts from zero here. */
  first: boolean;
  /** The tile holds the batch's first target: each document's dx starts from zero here. */
  firstTarget: boolean;
  xm: GPUBuffer; // [nb,L,nt,D]
  dxm: GPUBuffer; // [nb,L,nt,D]
  zmax: GPUBuffer; // [nb,nt,ΣF]
  argmax: GPUBuffer; // [nb,nt,ΣF]
  z: GPUBuffer[]; // per width [nb,nt,F,L]
  dz: GPUBuffer[]; // per width [nb,nt,F,L]
}

/** The weights and the gradient buffers every tile's dispatches read or add to. */
export interface NaiveWeights {
  /** W [F,D,K] of each width, unpacked from Wt by the forward. */
  weights: GPUBuffer[];
  Wt: GPUBuffer;
  bias: GPUBuffer;
  dWt: GPUBuffer;
  dbias: GPUBuffer;
}

/** The [start, end) slices of [0, total) of at most `step` each (one empty slice if total = 0). */
function slices(total: number, step: number): [number, number][] {
  const out: [number, number][] = [];
  for (let begin = 0; begin < Math.max(total, 1); begin += step) {
    out.push([begin, Math.min(total, begin + step)]);
  }
  return out;
}

/** The device, the buffers made so far and the shape's offsets, shared by every builder. */
export class NaiveBuilder {
  readonly gpu: Gpu;
  readonly shape: MaskedConvShape;
  readonly buffers: GPUBuffer[] = [];
  readonly forward: Dispatch[] = [];
  readonly backward: Dispatch[] = [];
  readonly F_total: number;
  /** Columns of Wt: Σ K·F. */
  readonly C: number;
  /** First filter of each width in h and bias. */
  readonly fOffsets: number[];
  /** First column of each width in Wt. */
  readonly cOffsets: number[];

  constructor(gpu: Gpu, shape: MaskedConvShape) {
    this.gpu = gpu;
    this.shape = shape;
    const { widths } = shape;
    this.F_total = widths.reduce((sum, w) => sum + w.F, 0);
    this.C = widths.reduce((sum, w) => sum + w.K * w.F, 0);
    this.fOffsets = widths.map((_, w) => widths.slice(0, w).reduce((sum, x) => sum + x.F, 0));
    this.cOffsets = widths.map((_, w) => widths.slice(0, w).reduce((sum, x) => sum + x.K * x.F, 0));
  }

  /** A storage buffer the layer owns. */
  buffer(elements: number, label: string): GPUBuffer {
    const b = tensorBuffer(this.gpu, elements, label);
    this.buffers.push(b);
    return b;
  }

  /** The Params of naive_conv.wgsl; F, K, f_off and c_off are those of width w (none: -1). */
  params(place: TilePlace, w: number, begin: number, end: number, first: boolean, chunk = 0) {
    const { L, D, widths } = this.shape;
    const { F, K } = widths[w] ?? { F: 0, K: 1 };
    const words = [
      place.nb,
      L,
      place.nt,
      D,
      F,
      K,
      this.F_total,
      this.fOffsets[w] ?? 0,
      begin,
      end,
      first ? 1 : 0,
      chunk,
      place.b0,
      place.t0,
      place.T,
      this.C,
      this.cOffsets[w] ?? 0,
    ];
    const b = uniformBuffer(this.gpu, words, "naive params");
    this.buffers.push(b);
    return b;
  }

  /** Appends a dispatch of `entry` with its bindings to `into`. */
  dispatch(into: Dispatch[], entry: string, buffers: Record<number, GPUBuffer>, n: number) {
    const pipeline = computePipeline(this.gpu, NAIVE_WGSL, entry);
    into.push({ pipeline, group: bindBuffers(this.gpu, pipeline, buffers), invocations: n });
  }
}

const NO_TILE: TilePlace = { nb: 0, nt: 0, b0: 0, t0: 0, T: 0 };

/** The forward's first dispatches: W [F,D,K] of every width out of Wt. */
export function unpackWeights(build: NaiveBuilder, weights: NaiveWeights): void {
  const { D, widths } = build.shape;
  widths.forEach(({ K, F }, w) => {
    build.dispatch(build.forward, "unpack_weights", {
      0: build.params(NO_TILE, w, 0, 0, true),
      5: weights.weights[w],
      19: weights.Wt,
    }, F * D * K);
  });
}

/** Activation blocks of `docsPerBlock` documents × `targetsPerBlock` targets. */
export function docBlocks(
  build: NaiveBuilder,
  docsPerBlock: number,
  targetsPerBlock: number,
): DocBlock[] {
  const { B, L, D, T } = build.shape;
  const blocks: DocBlock[] = [];
  for (let b0 = 0; b0 < B; b0 += docsPerBlock) {
    const nb = Math.min(docsPerBlock, B - b0);
    const block: DocBlock = {
      b0,
      nb,
      x: build.buffer(nb * L * D, "x"),
      dx: build.buffer(nb * L * D, "dx"),
      lengths: build.buffer(nb, "lengths"),
      targets: [],
    };
    for (let t0 = 0; t0 < T; t0 += targetsPerBlock) {
      const nt = Math.min(targetsPerBlock, T - t0);
      block.targets.push({
        t0,
        nt,
        m: build.buffer(nb * L * nt, "m"),
        dm: build.buffer(nb * L * nt, "dm"),
        h: build.buffer(nb * nt * build.F_total, "h"),
        g: build.buffer(nb * nt * build.F_total, "g"),
      });
    }
    blocks.push(block);
  }
  return blocks;
}

/**
 * The tile of documents b0..b0+nb × targets t0..t0+nt, inside the activation blocks `docs` and
 * `targets`, with its materialised tensors allocated.
 */
export function tile(
  build: NaiveBuilder,
  { b0, nb, t0, nt }: { b0: number; nb: number; t0: number; nt: number },
  docs: DocBlock,
  targets: TargetBlock,
): Tile {
  const { L, D, widths } = build.shape;
  const F_total = build.F_total;
  return {
    place: { nb, nt, b0: b0 - docs.b0, t0: t0 - targets.t0, T: targets.nt },
    docs,
    targets,
    first: b0 === 0 && t0 === 0,
    firstTarget: t0 === 0,
    xm: build.buffer(nb * L * nt * D, "xm"),
    dxm: build.buffer(nb * L * nt * D, "dxm"),
    zmax: build.buffer(nb * nt * F_total, "zmax"),
    argmax: build.buffer(nb * nt * F_total, "argmax"),
    z: widths.map(({ F }) => build.buffer(nb * nt * F * L, "z")),
    dz: widths.map(({ F }) => build.buffer(nb * nt * F * L, "dz")),
  };
}

/** A tile's forward: xm = m·x, then per width z = conv(xm) + bias and h = max-pool(z). */
export function tileForward(build: NaiveBuilder, t: Tile, weights: NaiveWeights): void {
  const { L, D, widths } = build.shape;
  const { place, docs, targets } = t;
  const { nb, nt } = place;
  build.dispatch(build.forward, "mask_copy", {
    0: build.params(place, -1, 0, 0, true),
    1: docs.x,
    2: targets.m,
    3: docs.lengths,
    4: t.xm,
  }, nb * L * nt * D);
  widths.forEach(({ K, F }, w) => {
    for (const [begin, end] of slices(D, Math.floor(LOOP_TRIPS / K))) {
      build.dispatch(build.forward, "conv_forward", {
        0: build.params(place, w, begin, end, begin === 0),
        4: t.xm,
        5: weights.weights[w],
        6: weights.bias,
        7: t.z[w],
      }, nb * nt * Math.ceil(F / 4) * Math.ceil(L / 4));
    }
    for (const [begin, end] of slices(L, LOOP_TRIPS)) {
      build.dispatch(build.forward, "max_pool", {
        0: build.params(place, w, begin, end, begin === 0),
        3: docs.lengths,
        7: t.z[w],
        8: t.zmax,
        9: t.argmax,
        10: targets.h,
      }, nb * nt * F);
    }
  });
}

/** A tile's backward down to its inputs: dz from g, dxm from dz, then dm and dx from dxm. */
export function tileInputBackward(build: NaiveBuilder, t: Tile, weights: NaiveWeights): void {
  const { L, D, widths } = build.shape;
  const { place, docs, targets } = t;
  const { nb, nt } = place;
  widths.forEach(({ F }, w) => {
    build.dispatch(build.backward, "pool_backward", {
      0: build.params(place, w, 0, 0, true),
      8: t.zmax,
      9: t.argmax,
      11: targets.g,
      12: t.dz[w],
    }, nb * nt * F * L);
  });
  widths.forEach(({ K, F }, w) => {
    for (const [begin, end] of slices(F, Math.floor(LOOP_TRIPS / K))) {
      build.dispatch(build.backward, "input_grad", {
        0: build.params(place, w, begin, end, w === 0 && begin === 0),
        3: docs.lengths,
        5: weights.weights[w],
        12: t.dz[w],
        13: t.dxm,
      }, nb * nt * Math.ceil(L / 4) * Math.ceil(D / 4));
    }
  });
  for (const [begin, end] of slices(D, LOOP_TRIPS)) {
    build.dispatch(build.backward, "mask_grad", {
      0: build.params(place, -1, begin, end, begin === 0),
      1: docs.x,
      13: t.dxm,
      14: targets.dm,
    }, nb * L * nt);
  }
  for (const [begin, end] of slices(nt, LOOP_TRIPS)) {
    build.dispatch(build.backward, "embedding_grad", {
      0: build.params(place, -1, begin, end, t.firstTarget && begin === 0),
      2: targets.m,
      13: t.dxm,
      15: docs.dx,
    }, nb * L * D);
  }
}

/** The scratch of the dW reduction: partial sums of chunks of the (b,t,l) axis. */
export interface WeightGradScratch {
  partial: GPUBuffer;
  /** Chunks one partial-sum dispatch holds. */
  chunksPerGroup: number;
}

/**
 * Allocates the dW partial sums for tiles of at most `pairs` (document, target) pairs, within
 * bindings of `maxElements` values.
 */
export function weightGradScratch(
  build: NaiveBuilder,
  pairs: number,
  maxElements: number,
): WeightGradScratch {
  const { L, D, widths } = build.shape;
  const gradRow = Math.max(...widths.map(({ K, F }) => F * K * D + F));
  const chunksPerGroup = Math.min(LOOP_TRIPS, Math.floor(maxElements / gradRow));
  if (chunksPerGroup < 1) {
    throw new RangeError(`naive mode: one row of dW (${gradRow} values) exceeds a binding`);
  }
  const maxChunks = Math.ceil((pairs * L) / LOOP_TRIPS);
  const partial = build.buffer(Math.min(maxChunks, chunksPerGroup) * gradRow, "dW partial sums");
  return { partial, chunksPerGroup };
}

/** A tile's dW and dbias: partial sums over chunks of (b,t,l), each reduced into dWt in order. */
export function tileWeightBackward(
  build: NaiveBuilder,
  t: Tile,
  weights: NaiveWeights,
  { partial, chunksPerGroup }: WeightGradScratch,
): void {
  const { L, D, widths } = build.shape;
  const { place } = t;
  const tileChunks = Math.ceil((place.nb * place.nt * L) / LOOP_TRIPS);
  widths.forEach(({ K, F }, w) => {
    const perChunk = Math.ceil(F / 4) * K * Math.ceil(D / 4) + Math.ceil(F / 4);
    for (const [c0, c1] of slices(tileChunks, chunksPerGroup)) {
      build.dispatch(build.backward, "weight_grad_partial", {
        0: build.params(place, w, c0, c1, false, LOOP_TRIPS),
        4: t.xm,
        12: t.dz[w],
        16: partial,
      }, (c1 - c0) * perChunk);
      build.dispatch(build.backward, "weight_grad_reduce", {
        0: build.params(place, w, 0, c1 - c0, t.first && c0 === 0),
        16: partial,
        17: weights.dWt,
        18: weights.dbias,
      }, F * K * D + F);
    }
  });
}
