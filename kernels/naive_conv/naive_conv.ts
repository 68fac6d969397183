/**
 * The naive masked convolution on the GPU, the benchmark's baseline: what a framework does with
 * `conv1d(m[..., None] * x[:, :, None, :])`. It materialises every target's masked copy xm
 * [B,L,T,D], convolves each copy into z [B,T,F,L], max-pools, and in the backward materialises
 * dz [B,T,F,L] and dxm [B,L,T,D] before reducing them to dW, dbias, dm and dx.
 *
 * It implements `MaskedConvLayer` (../masked_conv/masked_conv.ts) as the fast layer does, with
 * the same projection-layout parameters, so the benchmark swaps one for the other and a model
 * can train with either. The materialised tensors are split over documents × targets
 * into buffers that each fit a binding, and all of them are allocated at once: that memory is
 * the point of the comparison.
 *
 * @module
 */

import { putBlock, takeBlock } from "../blocks.ts";
import { type Gpu, readBuffers } from "../gpu.ts";
import { type Dispatch, encodeAll, LOOP_TRIPS, submitStage } from "../launch.ts";
import {
  type MaskedConvActivations,
  type MaskedConvGpuGradients,
  type MaskedConvLayer,
  type MaskedConvParameters,
  readLayerGradients,
} from "../masked_conv/masked_conv.ts";
import type { MaskedConvShape } from "../masked_conv/reference.ts";
import { toProjectionLayout } from "../projection/projection.ts";
import {
  type DocBlock,
  docBlocks,
  NaiveBuilder,
  tile,
  tileForward,
  tileInputBackward,
  tileWeightBackward,
  unpackWeights,
  weightGradScratch,
} from "./naive_dispatches.ts";

/** How the naive layer splits its batch: document ranges × target ranges. */
export interface NaiveTilePlan {
  /** Documents per tile (the last tile may hold fewer). */
  docsPerTile: number;
  /** Targets per tile (the last tile may hold fewer). */
  targetsPerTile: number;
}

/**
 * The largest tiles whose every buffer (xm, dxm, z, dz, m, dm, x, dx, h, ...) stays within
 * `maxElements` 4-byte values, balanced so tiles along an axis differ by at most one.
 *
 * @example
 * ```ts
 * import { planNaiveTiles } from "./naive_conv.ts";
 * const shape = { B: 8, L: 512, D: 100, T: 1000, widths: [{ K: 3, F: 50 }] };
 * console.log(planNaiveTiles(shape, 2 ** 25)); // { docsPerTile: 1, targetsPerTile: 500 }
 * ```
 */
export function planNaiveTiles(
  shape: MaskedConvShape,
  maxElements: number,
): NaiveTilePlan {
  const { B, L, D, T, widths } = shape;
  const F_max = Math.max(...widths.map((w) => w.F));
  const F_total = widths.reduce((sum, w) => sum + w.F, 0);
  // Elements one (document, target) pair adds to the largest per-tile buffer.
  const perPair = Math.max(L * Math.max(D, F_max), F_total);
  const maxTargets = Math.min(T, Math.floor(maxElements / perPair));
  if (maxTargets < 1 || L * D > maxElements) {
    throw new RangeError(
      `naive mode: one document × one target (${perPair} values) does not fit a ` +
        `${maxElements * 4}-byte binding`,
    );
  }
  const targetsPerTile = Math.ceil(T / Math.ceil(T / maxTargets));
  const maxDocs = Math.min(
    B,
    Math.floor(maxElements / (perPair * targetsPerTile)),
    Math.floor(maxElements / (L * D)),
  );
  const docsPerTile = Math.ceil(B / Math.ceil(B / Math.max(maxDocs, 1)));
  return { docsPerTile, targetsPerTile };
}

/** Bytes of the naive layer's GPU tensors, by what they hold. */
interface NaiveMemory {
  /** xm and dxm [B,L,T,D]. */
  copies: number;
  /** z and dz [B,T,F,L] of every width. */
  activations: number;
  /**
   * m, dm, x, dx, h, g, the pooling state, the parameters in both layouts (counted even when a
   * model owns them), their gradients and the partial sums of dW.
   */
  rest: number;
  total: number;
}

function naiveMemory({ B, L, D, T, widths }: MaskedConvShape): NaiveMemory {
  const F_total = widths.reduce((sum, w) => sum + w.F, 0);
  const C = widths.reduce((sum, w) => sum + w.K * w.F, 0);
  const gradRow = Math.max(...widths.map(({ K, F }) => F * K * D + F));
  // Partial sums of dW: one row per chunk of the (b,t,l) axis, at most LOOP_TRIPS rows.
  const chunks = Math.min(Math.ceil((B * T * L) / LOOP_TRIPS), LOOP_TRIPS);
  const copies = 2 * B * L * T * D * 4;
  const activations = 2 * B * T * F_total * L * 4;
  const rest = 4 * (
    2 * B * L * T + 2 * B * L * D + B + 4 * B * T * F_total +
    3 * D * C + 2 * F_total + // W [F,D,K] of every width, Wt, dWt [D,C], bias, dbias
    chunks * gradRow
  );
  return { copies, activations, rest, total: copies + activations + rest };
}

/**
 * Bytes the naive layer allocates on the GPU for `shape`: the masked copies xm and dxm
 * [B,L,T,D], z and dz [B,T,F,L], and the smaller tensors.
 *
 * @example
 * ```ts
 * import { naiveMemoryBytes } from "./naive_conv.ts";
 * const icd = { B: 4, L: 2500, D: 100, T: 8922, widths: [{ K: 3, F: 50 }] };
 * console.log((naiveMemoryBytes(icd) / 1e9).toFixed(1), "GB"); // 108.3 GB
 * ```
 */
export function naiveMemoryBytes(shape: MaskedConvShape): number {
  return naiveMemory(shape).total;
}

/**
 * The memory the naive layer may take: 60% of the machine's memory.
 *
 * The rule is min(what the adapter allows in total, 60% of system memory). WebGPU reports
 * per-buffer limits only, which the layer always meets by splitting its tensors, and no total,
 * so the adapter term is unbounded here. On llvmpipe and unified-memory GPUs every buffer comes
 * out of host RAM, where the host-side inputs and read-backs also live; 60% leaves room for
 * them and the system. A discrete GPU's smaller VRAM is invisible to WebGPU: pass an explicit
 * budget to the constructor there.
 *
 * @example
 * ```ts
 * import { naiveMemoryBudget } from "./naive_conv.ts";
 * console.log((naiveMemoryBudget() / 1e9).toFixed(1), "GB");
 * ```
 */
export function naiveMemoryBudget(): number {
  return 0.6 * Deno.systemMemoryInfo().total;
}

/**
 * Raised, before anything is allocated, when the naive layer would not fit the budget.
 *
 * @example
 * ```ts
 * import { NaiveMemoryError } from "./naive_conv.ts";
 * const icd = { B: 4, L: 2500, D: 100, T: 8922, widths: [{ K: 3, F: 50 }] };
 * console.log(new NaiveMemoryError(icd, 15e9).message); // naive mode needs 108.3 GB at ...
 * ```
 */
export class NaiveMemoryError extends Error {
  /** @param budgetRule where the budget comes from, for the message. */
  constructor(
    shape: MaskedConvShape,
    budgetBytes: number,
    budgetRule = "60% of its memory",
  ) {
    const { B, L, D, T, widths } = shape;
    const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;
    const { copies, activations, rest, total } = naiveMemory(shape);
    const widthsText = widths.map((w) => `K=${w.K} F=${w.F}`).join(", ");
    super(
      `naive mode needs ${gb(total)} at B=${B} L=${L} D=${D} T=${T} (${widthsText}): ` +
        `${gb(copies)} for the [B,L,T,D] masked copies xm and dxm, ${gb(activations)} for z and ` +
        `dz [B,T,F,L], ${gb(rest)} for the rest; this machine allows ${gb(budgetBytes)} ` +
        `(${budgetRule}): use the fast mode`,
    );
    this.name = "NaiveMemoryError";
  }
}

/** Construction options of {@link NaiveMaskedConv}, like `MaskedConv`'s. */
export interface NaiveMaskedConvOptions {
  /** The binding size to split buffers for; the adapter's limit unless a test asks for less. */
  maxBindingBytes?: number;
  /**
   * The most the layer may allocate ({@link naiveMemoryBudget} unless given); beyond it the
   * constructor throws {@link NaiveMemoryError} before allocating anything.
   */
  memoryBudgetBytes?: number;
  /**
   * Parameter buffers owned by a model, in the projection layout Wt [D, Σ K·F] of `MaskedConv`;
   * else the layer's own. dWt and dbias are overwritten by each backward.
   */
  parameters?: MaskedConvParameters;
}

/** Throws, before anything is allocated, on a width it cannot run or a shape over the budget. */
function checkNaiveShape(shape: MaskedConvShape, memoryBudgetBytes?: number): void {
  for (const { K, F } of shape.widths) {
    if (K < 1 || K % 2 === 0 || F < 1) {
      throw new RangeError(`width K=${K} F=${F}: K must be odd and positive, F positive`);
    }
  }
  const budget = memoryBudgetBytes ?? naiveMemoryBudget();
  if (naiveMemoryBytes(shape) > budget) {
    const rule = memoryBudgetBytes === undefined ? undefined : "the budget it was given";
    throw new NaiveMemoryError(shape, budget, rule);
  }
}

/** Whether x, dx [B,L,D], m, dm [B,L,T], h and g [B,T,ΣF] each fit one binding whole. */
function activationsFit({ B, L, D, T, widths }: MaskedConvShape, maxElements: number): boolean {
  const F_total = widths.reduce((sum, w) => sum + w.F, 0);
  return B * L * Math.max(D, T) <= maxElements && B * T * F_total <= maxElements;
}

/**
 * The naive layer with every buffer, pipeline and bind group built once.
 *
 * Its parameters are in the projection layout of `MaskedConv`, so a model can hand both layers
 * the same buffers. The convolution itself keeps a framework's W [F,D,K], so that it stays the
 * baseline the benchmark measured: the forward first unpacks W out of Wt (D·Σ K·F values a
 * step, negligible beside the masked copies), and the dW reduction writes into dWt. The
 * activations x, m, h, g, dx and dm are whole [B,…] buffers whenever each fits a binding, even
 * when the materialised xm, z, dz and dxm are split into tiles; only then can a model share
 * them through {@link NaiveMaskedConv.activations}.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu.ts";
 * import { NaiveMaskedConv } from "./naive_conv.ts";
 * const gpu = await getGpu();
 * const shape = { B: 1, L: 3, D: 2, T: 2, widths: [{ K: 3, F: 1 }] };
 * const layer = new NaiveMaskedConv(gpu, shape);
 * layer.setWeights([new Float32Array(6).fill(0.5)], new Float32Array([0.1]));
 * layer.setInputs(new Float32Array(6).fill(1), new Float32Array(6).fill(1), [3]);
 * layer.forward();
 * console.log(await layer.readOutput()); // h: [B,T,F]
 * layer.destroy();
 * ```
 */
export class NaiveMaskedConv implements MaskedConvLayer {
  readonly shape: MaskedConvShape;
  readonly plan: NaiveTilePlan;
  #gpu: Gpu;
  #F_total: number;
  #maxBindingBytes: number;
  #params: MaskedConvParameters;
  #blocks: DocBlock[];
  #forward: Dispatch[];
  #backward: Dispatch[];
  #buffers: GPUBuffer[];

  constructor(gpu: Gpu, shape: MaskedConvShape, options: NaiveMaskedConvOptions = {}) {
    checkNaiveShape(shape, options.memoryBudgetBytes);
    this.#gpu = gpu;
    this.shape = shape;
    this.#maxBindingBytes = options.maxBindingBytes ?? gpu.limits.maxStorageBufferBindingSize;
    const maxElements = Math.floor(this.#maxBindingBytes / 4);
    this.plan = planNaiveTiles(shape, maxElements);
    const build = new NaiveBuilder(gpu, shape);
    const { B, D, T, widths } = shape;
    this.#F_total = build.F_total;
    this.#params = options.parameters ?? {
      Wt: build.buffer(D * build.C, "Wt"),
      bias: build.buffer(build.F_total, "bias"),
      dWt: build.buffer(D * build.C, "dWt"),
      dbias: build.buffer(build.F_total, "dbias"),
    };
    const weights = {
      ...this.#params,
      weights: widths.map(({ K, F }) => build.buffer(F * D * K, "W")),
    };
    unpackWeights(build, weights);
    const { docsPerTile, targetsPerTile } = this.plan;
    const whole = activationsFit(shape, maxElements);
    this.#blocks = whole ? docBlocks(build, B, T) : docBlocks(build, docsPerTile, targetsPerTile);
    const scratch = weightGradScratch(build, docsPerTile * targetsPerTile, maxElements);
    for (let b0 = 0, docTile = 0; b0 < B; b0 += docsPerTile, docTile++) {
      const docs = this.#blocks[whole ? 0 : docTile];
      for (let t0 = 0, targetTile = 0; t0 < T; t0 += targetsPerTile, targetTile++) {
        const nb = Math.min(docsPerTile, B - b0);
        const nt = Math.min(targetsPerTile, T - t0);
        const part = tile(build, { b0, nb, t0, nt }, docs, docs.targets[whole ? 0 : targetTile]);
        tileForward(build, part, weights);
        tileInputBackward(build, part, weights);
        tileWeightBackward(build, part, weights, scratch);
      }
    }
    this.#forward = build.forward;
    this.#backward = build.backward;
    this.#buffers = build.buffers;
  }

  /** Uploads per-width weights W_i [F_i,D,K_i] and the biases of all widths [ΣF]. */
  setWeights(weights: ArrayLike<number>[], bias: ArrayLike<number>): void {
    const queue = this.#gpu.device.queue;
    const { D, widths } = this.shape;
    queue.writeBuffer(this.#params.Wt, 0, toProjectionLayout(weights, widths, D));
    queue.writeBuffer(this.#params.bias, 0, Float32Array.from(bias));
  }

  /** Uploads x [B,L,D], m [B,L,T] and the documents' lengths, block by block. */
  setInputs(
    x: Float32Array<ArrayBuffer>,
    m: Float32Array<ArrayBuffer>,
    lengths: ArrayLike<number>,
  ): void {
    const { L, D, T } = this.shape;
    const queue = this.#gpu.device.queue;
    for (const block of this.#blocks) {
      queue.writeBuffer(
        block.x,
        0,
        x.subarray(block.b0 * L * D, (block.b0 + block.nb) * L * D),
      );
      const docLengths = Uint32Array.from(
        { length: block.nb },
        (_, i) => lengths[block.b0 + i],
      );
      if (docLengths.some((len) => len > L)) {
        throw new RangeError(`a length exceeds L=${L}`);
      }
      queue.writeBuffer(block.lengths, 0, docLengths);
      for (const target of block.targets) {
        const part = takeBlock(
          m,
          T,
          block.b0 * L,
          block.nb * L,
          target.t0,
          target.nt,
        );
        queue.writeBuffer(target.m, 0, part);
      }
    }
  }

  /** Uploads the upstream gradient g [B,T,ΣF] of the pooled features. */
  setUpstream(g: Float32Array<ArrayBuffer>): void {
    const F_total = this.#F_total;
    for (const block of this.#blocks) {
      for (const target of block.targets) {
        const part = takeBlock(
          g,
          this.shape.T * F_total,
          block.b0,
          block.nb,
          target.t0 * F_total,
          target.nt * F_total,
        );
        this.#gpu.device.queue.writeBuffer(target.g, 0, part);
      }
    }
  }

  /**
   * The activation buffers, when each is one whole buffer (what a model composes with): x,
   * lengths, m and g are filled by the model; h is written by the forward; dx and dm are
   * overwritten by the backward.
   */
  get activations(): MaskedConvActivations {
    const [block] = this.#blocks;
    if (this.#blocks.length !== 1 || block.targets.length !== 1) {
      throw new RangeError(
        `naive mode: x [B,L,D], m [B,L,T] or h [B,T,ΣF] does not fit one ` +
          `${this.#maxBindingBytes}-byte binding at this shape; lower --batch-size or --max-len`,
      );
    }
    const [target] = block.targets;
    const { x, lengths, dx } = block;
    return { x, lengths, dx, m: target.m, h: target.h, g: target.g, dm: target.dm };
  }

  /** Records the forward (W out of Wt, then xm, z and h) into `pass`. */
  encodeForward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#forward);
  }

  /**
   * Records nothing: every buffer the backward writes is overwritten, none accumulated from
   * zero. It exists so that a model drives this layer and `MaskedConv` alike.
   */
  encodeClears(_encoder: GPUCommandEncoder): void {}

  /**
   * Records the backward of Σ h·g into `pass`: dz, dxm, then dx, dm, dWt and dbias. It uses the
   * weights the last recorded forward unpacked.
   */
  encodeBackward(pass: GPUComputePassEncoder): void {
    this.#encode(pass, this.#backward);
  }

  /** Runs the forward: h [B,T,ΣF] on the GPU. */
  forward(): void {
    submitStage(this.#gpu, this, "forward", "naive conv forward");
  }

  /** Runs the backward of Σ h·g: dx, dm, dWt and dbias on the GPU. */
  backward(): void {
    submitStage(this.#gpu, this, "backward", "naive conv backward");
  }

  #encode(pass: GPUComputePassEncoder, dispatches: Dispatch[]) {
    encodeAll(this.#gpu, pass, dispatches);
  }

  /** Reads h [B,T,ΣF] back. */
  async readOutput(): Promise<Float32Array> {
    const targets = this.#blocks.flatMap((block) =>
      block.targets.map((target) => ({ block, target }))
    );
    const data = await readBuffers(
      this.#gpu,
      targets.map(({ target }) => target.h),
    );
    const { B, T } = this.shape;
    const F_total = this.#F_total;
    const h = new Float32Array(B * T * F_total);
    targets.forEach(({ block, target }, i) => {
      putBlock(
        h,
        T * F_total,
        block.b0,
        block.nb,
        target.t0 * F_total,
        target.nt * F_total,
        new Float32Array(data[i]),
      );
    });
    return h;
  }

  /** Reads every gradient back in one submission. */
  readGradients(): Promise<MaskedConvGpuGradients> {
    return readLayerGradients(this.#gpu, this.shape, this.#params, this.#blocks);
  }

  /** Frees every GPU buffer the layer made (not parameters passed in by a model). */
  destroy(): void {
    for (const buffer of this.#buffers) buffer.destroy();
    this.#buffers = [];
  }
}
