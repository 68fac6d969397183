/**
 * The shared masked convolution on the GPU: project once (P = x·Wt), then mix the taps per
 * target and max-pool in one fused kernel, never materialising [B,L,T,D] nor z [B,T,F,L].
 *
 * Tensors that grow with T (m, dm, h, g) are tiled over documents and targets so that no
 * binding exceeds `maxStorageBufferBindingSize`; targets are independent in the forward and their
 * contributions to dP add up, so a tile is simply the layer on fewer documents and targets.
 *
 * @module
 */

import { putBlock, takeBlock } from "../blocks.ts";
import { type Gpu, readBuffers, tensorBuffer } from "../gpu.ts";
import { BiasReduceLaunch, MaskedMaxPoolLaunch } from "../masked_max_pool/masked_max_pool.ts";
import { poolColumns } from "../masked_max_pool/reference.ts";
import {
  fromProjectionLayout,
  MatmulLaunch,
  toProjectionLayout,
} from "../projection/projection.ts";
import { type Stage, submitStage } from "../launch.ts";
import type { MaskedConvShape } from "./reference.ts";

/** How the layer splits its batch: document ranges × target ranges. */
export interface TilePlan {
  /** Documents per tile (the last tile may hold fewer). */
  docsPerTile: number;
  /** Targets per tile (the last tile may hold fewer). */
  targetsPerTile: number;
}

/**
 * The largest tiles whose every binding stays within `maxElements` 4-byte values, balanced so
 * tiles along an axis differ by at most one.
 *
 * @example
 * ```ts
 * import { planTiles } from "./masked_conv.ts";
 * const shape = { B: 4, L: 2500, D: 100, T: 8922, widths: [{ K: 3, F: 50 }] };
 * console.log(planTiles(shape, 2 ** 25)); // { docsPerTile: 1, targetsPerTile: 8922 }
 * ```
 */
export function planTiles(shape: MaskedConvShape, maxElements: number): TilePlan {
  const { B, L, D, T, widths } = shape;
  const { C, F_total } = poolColumns(widths);
  const maxTargets = Math.min(T, Math.floor(maxElements / Math.max(L, F_total)));
  if (maxTargets < 1 || L * Math.max(D, C) > maxElements) {
    throw new RangeError(
      `one document of ${L} positions does not fit a ${maxElements * 4}-byte binding: ` +
        `lower --max-len`,
    );
  }
  const targetsPerTile = Math.ceil(T / Math.ceil(T / maxTargets));
  const maxDocs = Math.min(
    B,
    Math.floor(maxElements / (L * targetsPerTile)),
    Math.floor(maxElements / (L * Math.max(D, C))),
    Math.floor(maxElements / (targetsPerTile * F_total)),
  );
  const docsPerTile = Math.ceil(B / Math.ceil(B / Math.max(maxDocs, 1)));
  return { docsPerTile, targetsPerTile };
}

interface DocTile {
  b0: number;
  nb: number;
  x: GPUBuffer;
  lengths: GPUBuffer;
  P: GPUBuffer;
  dP: GPUBuffer;
  dx: GPUBuffer;
  dbPartial: GPUBuffer;
  project: MatmulLaunch;
  weightGrad: MatmulLaunch;
  inputGrad: MatmulLaunch;
  biasReduce: BiasReduceLaunch;
  targets: TargetTile[];
}

interface TargetTile {
  t0: number;
  nt: number;
  m: GPUBuffer;
  dm: GPUBuffer;
  h: GPUBuffer;
  g: GPUBuffer;
  argmax: GPUBuffer;
  pool: MaskedMaxPoolLaunch;
}

/** The layer's parameters and their gradients on the GPU, in the projection layout. */
export interface MaskedConvParameters {
  Wt: GPUBuffer; // Wt: [D, Σ K·F] (see toProjectionLayout)
  bias: GPUBuffer; // bias: [ΣF]
  dWt: GPUBuffer; // dWt: [D, Σ K·F], overwritten by each backward
  dbias: GPUBuffer; // dbias: [ΣF], overwritten by each backward
}

/** Construction options of {@link MaskedConv}. */
export interface MaskedConvOptions {
  /** The binding size to tile for; the adapter's limit unless a test asks for smaller tiles. */
  maxBindingBytes?: number;
  /** Parameter buffers owned by a model (shared by several batch shapes); else the layer's own. */
  parameters?: MaskedConvParameters;
}

/** The activation buffers of a layer that runs as one tile, for other kernels to read or fill. */
export interface MaskedConvActivations {
  x: GPUBuffer; // x: [B,L,D], input
  lengths: GPUBuffer; // lengths: [B] u32, input
  m: GPUBuffer; // m: [B,L,T], input
  h: GPUBuffer; // h: [B,T,ΣF], output
  g: GPUBuffer; // g: [B,T,ΣF], upstream gradient of h, input to the backward
  dx: GPUBuffer; // dx: [B,L,D], overwritten by the backward
  dm: GPUBuffer; // dm: [B,L,T], overwritten by the backward
}

/** Host-side gradients in the canonical layouts of {@link MaskedConvShape}. */
export interface MaskedConvGpuGradients {
  dx: Float32Array; // dx: [B,L,D]
  dm: Float32Array; // dm: [B,L,T]
  dW: Float64Array[]; // dW_i: [F_i,D,K_i]
  dbias: Float32Array; // dbias: [ΣF]
}

/**
 * What the fast layer and the materialised one (`kernels/naive_conv`) both offer, so that a
 * model, a benchmark or a test can run either: the same shape, buffers and host methods.
 */
export interface MaskedConvLayer extends Stage {
  readonly shape: MaskedConvShape;
  readonly activations: MaskedConvActivations;
  /** Uploads the per-width weights [F_i,D,K_i] and the bias [ΣF]. */
  setWeights(weights: ArrayLike<number>[], bias: ArrayLike<number>): void;
  /** Uploads g [B,T,ΣF], the gradient of the output. */
  setUpstream(g: Float32Array<ArrayBuffer>): void;
  /** Submits the forward on its own. */
  forward(): void;
  /** Submits the backward on its own. */
  backward(): void;
  readOutput(): Promise<Float32Array>;
  readGradients(): Promise<MaskedConvGpuGradients>;
}

/**
 * The layer on the GPU with every buffer, pipeline and bind group built once.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu.ts";
 * import { MaskedConv } from "./masked_conv.ts";
 * const gpu = await getGpu();
 * const shape = { B: 1, L: 3, D: 2, T: 2, widths: [{ K: 3, F: 1 }] };
 * const layer = new MaskedConv(gpu, shape);
 * layer.setWeights([new Float32Array(6).fill(0.5)], new Float32Array([0.1]));
 * layer.setInputs(new Float32Array(6).fill(1), new Float32Array(6).fill(1), [3]);
 * layer.forward();
 * console.log(await layer.readOutput()); // h: [B,T,F]
 * layer.destroy();
 * ```
 */
export class MaskedConv implements MaskedConvLayer {
  readonly shape: MaskedConvShape;
  readonly plan: TilePlan;
  #gpu: Gpu;
  #C: number;
  #F_total: number;
  #params: MaskedConvParameters;
  #tiles: DocTile[] = [];
  #buffers: GPUBuffer[] = [];

  constructor(gpu: Gpu, shape: MaskedConvShape, options: MaskedConvOptions = {}) {
    const maxBindingBytes = options.maxBindingBytes ?? gpu.limits.maxStorageBufferBindingSize;
    for (const { K, F } of shape.widths) {
      if (K < 1 || K % 2 === 0 || F < 1) {
        throw new RangeError(`width K=${K} F=${F}: K must be odd and positive, F positive`);
      }
    }
    this.#gpu = gpu;
    this.shape = shape;
    this.plan = planTiles(shape, Math.floor(maxBindingBytes / 4));
    const { B, L, D, T, widths } = shape;
    const { C, F_total } = poolColumns(widths);
    this.#C = C;
    this.#F_total = F_total;
    const buffer = (elements: number, label: string) => {
      const b = tensorBuffer(gpu, elements, label);
      this.#buffers.push(b);
      return b;
    };
    this.#params = options.parameters ?? {
      Wt: buffer(D * C, "Wt"),
      bias: buffer(F_total, "bias"),
      dWt: buffer(D * C, "dWt"),
      dbias: buffer(F_total, "dbias"),
    };
    const { Wt, bias, dWt, dbias } = this.#params;
    const { docsPerTile, targetsPerTile } = this.plan;
    for (let b0 = 0; b0 < B; b0 += docsPerTile) {
      const nb = Math.min(docsPerTile, B - b0);
      const x = buffer(nb * L * D, "x");
      const P = buffer(nb * L * C, "P");
      const dP = buffer(nb * L * C, "dP");
      const dx = buffer(nb * L * D, "dx");
      const lengths = buffer(nb, "lengths");
      const dbPartial = buffer(nb * F_total, "db partial");
      const first = b0 === 0;
      const tile: DocTile = {
        b0,
        nb,
        x,
        lengths,
        P,
        dP,
        dx,
        dbPartial,
        project: new MatmulLaunch(gpu, { M: nb * L, N: C, K: D }, x, Wt, P),
        weightGrad: new MatmulLaunch(
          gpu,
          { M: D, N: C, K: nb * L, transA: true, accumulate: !first },
          x,
          dP,
          dWt,
        ),
        inputGrad: new MatmulLaunch(gpu, { M: nb * L, N: D, K: C, transB: true }, dP, Wt, dx),
        biasReduce: new BiasReduceLaunch(gpu, { nb, F_total, first }, dbPartial, dbias),
        targets: [],
      };
      for (let t0 = 0; t0 < T; t0 += targetsPerTile) {
        const nt = Math.min(targetsPerTile, T - t0);
        const m = buffer(nb * L * nt, "m");
        const dm = buffer(nb * L * nt, "dm");
        const zmax = buffer(nb * nt * F_total, "zmax");
        const argmax = buffer(nb * nt * F_total, "argmax");
        const h = buffer(nb * nt * F_total, "h");
        const g = buffer(nb * nt * F_total, "g");
        const pool = new MaskedMaxPoolLaunch(gpu, { nb, L, nt, widths }, {
          P,
          m,
          bias,
          lengths,
          zmax,
          argmax,
          h,
          g,
          dP,
          dm,
          dbPartial,
        });
        tile.targets.push({ t0, nt, m, dm, h, g, argmax, pool });
      }
      this.#tiles.push(tile);
    }
  }

  /** Uploads per-width weights W_i [F_i,D,K_i] and the biases of all widths [ΣF]. */
  setWeights(weights: ArrayLike<number>[], bias: ArrayLike<number>): void {
    const queue = this.#gpu.device.queue;
    const { Wt, bias: biasBuffer } = this.#params;
    queue.writeBuffer(Wt, 0, toProjectionLayout(weights, this.shape.widths, this.shape.D));
    queue.writeBuffer(biasBuffer, 0, Float32Array.from(bias));
  }

  /** Uploads x [B,L,D], m [B,L,T] and the documents' lengths, tile by tile. */
  setInputs(
    x: Float32Array<ArrayBuffer>,
    m: Float32Array<ArrayBuffer>,
    lengths: ArrayLike<number>,
  ): void {
    const { L, D, T } = this.shape;
    const queue = this.#gpu.device.queue;
    for (const tile of this.#tiles) {
      queue.writeBuffer(tile.x, 0, x.subarray(tile.b0 * L * D, (tile.b0 + tile.nb) * L * D));
      const docLengths = Uint32Array.from({ length: tile.nb }, (_, i) => lengths[tile.b0 + i]);
      if (docLengths.some((len) => len > L)) throw new RangeError(`a length exceeds L=${L}`);
      queue.writeBuffer(tile.lengths, 0, docLengths);
      for (const target of tile.targets) {
        queue.writeBuffer(
          target.m,
          0,
          takeBlock(m, T, tile.b0 * L, tile.nb * L, target.t0, target.nt),
        );
      }
    }
  }

  /** Uploads the upstream gradient g [B,T,ΣF] of the pooled features. */
  setUpstream(g: Float32Array<ArrayBuffer>): void {
    const rowWidth = this.shape.T * this.#F_total;
    for (const tile of this.#tiles) {
      for (const target of tile.targets) {
        const block = takeBlock(
          g,
          rowWidth,
          tile.b0,
          tile.nb,
          target.t0 * this.#F_total,
          target.nt * this.#F_total,
        );
        this.#gpu.device.queue.writeBuffer(target.g, 0, block);
      }
    }
  }

  /** The activation buffers, when the layer runs as one tile (what a model composes with). */
  get activations(): MaskedConvActivations {
    const [tile] = this.#tiles;
    if (this.#tiles.length !== 1 || tile.targets.length !== 1) {
      throw new RangeError(
        `the layer needs ${this.#tiles.length}×${tile.targets.length} tiles at this shape; ` +
          `lower --batch-size or --max-len`,
      );
    }
    const [target] = tile.targets;
    const { x, lengths, dx } = tile;
    return { x, lengths, dx, m: target.m, h: target.h, g: target.g, dm: target.dm };
  }

  /** Records the forward (projection, fused mix + max-pool) into `pass`. */
  encodeForward(pass: GPUComputePassEncoder): void {
    for (const tile of this.#tiles) {
      tile.project.encode(pass);
      for (const target of tile.targets) target.pool.encodeForward(pass);
    }
  }

  /** Records the clears the backward's accumulating kernels need; before its pass. */
  encodeClears(encoder: GPUCommandEncoder): void {
    for (const tile of this.#tiles) {
      encoder.clearBuffer(tile.dP);
      encoder.clearBuffer(tile.dbPartial);
      for (const target of tile.targets) encoder.clearBuffer(target.dm);
    }
  }

  /** Records the backward of Σ h·g into `pass` (after {@link encodeClears}). */
  encodeBackward(pass: GPUComputePassEncoder): void {
    for (const tile of this.#tiles) {
      for (const target of tile.targets) target.pool.encodeBackward(pass);
      tile.weightGrad.encode(pass);
      tile.inputGrad.encode(pass);
      tile.biasReduce.encode(pass);
    }
  }

  /** Runs the forward: h [B,T,ΣF] on the GPU. */
  forward(): void {
    submitStage(this.#gpu, this, "forward", "masked conv forward");
  }

  /** Runs the backward of Σ h·g: dx, dm, dW and dbias on the GPU. */
  backward(): void {
    submitStage(this.#gpu, this, "backward", "masked conv backward");
  }

  /** Reads h [B,T,ΣF] back. */
  async readOutput(): Promise<Float32Array> {
    return new Float32Array(await this.#readPooled((target) => target.h));
  }

  /**
   * Reads back the position each pooled value was taken from, [B,T,ΣF] (−1 for an empty
   * document): what a float64 check needs to tell arg-max near-ties from errors.
   */
  async readArgmax(): Promise<Int32Array> {
    return new Int32Array(await this.#readPooled((target) => target.argmax));
  }

  /** One [B,T,ΣF] tensor assembled from its per-tile buffers, copied as raw 4-byte words. */
  async #readPooled(pick: (target: TargetTile) => GPUBuffer): Promise<ArrayBuffer> {
    const targets = this.#tiles.flatMap((tile) => tile.targets.map((target) => ({ tile, target })));
    const data = await readBuffers(this.#gpu, targets.map(({ target }) => pick(target)));
    const { B, T } = this.shape;
    const pooled = new Uint32Array(B * T * this.#F_total);
    targets.forEach(({ tile, target }, i) => {
      putBlock(
        pooled,
        T * this.#F_total,
        tile.b0,
        tile.nb,
        target.t0 * this.#F_total,
        target.nt * this.#F_total,
        new Uint32Array(data[i]),
      );
    });
    return pooled.buffer;
  }

  /** Reads every gradient back in one submission. */
  readGradients(): Promise<MaskedConvGpuGradients> {
    return readLayerGradients(this.#gpu, this.shape, this.#params, this.#tiles);
  }

  /** Frees every GPU buffer the layer made (not parameters passed in by a model). */
  destroy(): void {
    for (const buffer of this.#buffers) buffer.destroy();
    this.#buffers = [];
  }
}

/** Where one tile of documents keeps its input gradients: dx, and dm per tile of targets. */
export interface GradientTile {
  b0: number;
  nb: number;
  dx: GPUBuffer; // dx: [nb,L,D]
  targets: { t0: number; nt: number; dm: GPUBuffer }[]; // dm: [nb,L,nt]
}

/**
 * Reads a layer's gradients back in one submission and assembles them in the canonical
 * layouts, from whichever tiles the layer (fast or naive) keeps them in.
 *
 * @example
 * ```ts ignore
 * const grads = await readLayerGradients(gpu, shape, { dWt, dbias }, tiles);
 * ```
 */
export async function readLayerGradients(
  gpu: Gpu,
  { B, L, D, T, widths }: MaskedConvShape,
  params: { dWt: GPUBuffer; dbias: GPUBuffer },
  tiles: GradientTile[],
): Promise<MaskedConvGpuGradients> {
  const targets = tiles.flatMap((tile) => tile.targets.map((target) => ({ tile, target })));
  const [dWt, db, ...rest] = await readBuffers(gpu, [
    params.dWt,
    params.dbias,
    ...tiles.map((tile) => tile.dx),
    ...targets.map(({ target }) => target.dm),
  ]);
  const dx = new Float32Array(B * L * D);
  tiles.forEach((tile, i) => dx.set(new Float32Array(rest[i]), tile.b0 * L * D));
  const dm = new Float32Array(B * L * T);
  targets.forEach(({ tile, target }, i) => {
    const block = new Float32Array(rest[tiles.length + i]);
    putBlock(dm, T, tile.b0 * L, tile.nb * L, target.t0, target.nt, block);
  });
  return {
    dx,
    dm,
    dW: fromProjectionLayout(new Float32Array(dWt), widths, D),
    dbias: new Float32Array(db),
  };
}
