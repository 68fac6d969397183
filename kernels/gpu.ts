/**
 * The WebGPU runtime every kernel shares: one device per process, requested with the adapter's
 * own limits, plus the few buffer and pipeline helpers the launchers need.
 *
 * @module
 */

import PRELUDE_WGSL from "./prelude.wgsl" with { type: "text" };

/** Raised when no WebGPU adapter exists; its message says what to install. */
export class NoAdapterError extends Error {
  constructor() {
    super(
      "no WebGPU adapter found: install a GPU driver (NVIDIA, AMD or Intel with Vulkan), " +
        "or Mesa's software adapter (Debian: `apt-get install libegl-mesa0 mesa-vulkan-drivers` " +
        "for llvmpipe/lavapipe), then run `maskconv info`",
    );
    this.name = "NoAdapterError";
  }
}

/** The device with the facts about it that launchers and `maskconv info` need. */
export interface Gpu {
  device: GPUDevice;
  /** The adapter's description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** The limits the device was created with (the adapter's own). */
  limits: Record<string, number>;
  isFallbackAdapter: boolean;
  /** Why the device was lost, once it has been (a driver reset, a crash); undefined while usable. */
  lost?: string;
}

const LIMIT_NAMES = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
  "maxBindGroups",
  "minStorageBufferOffsetAlignment",
  "minUniformBufferOffsetAlignment",
] as const;

let cached: Promise<Gpu> | undefined;

/**
 * The process-wide device, created on first use with every limit the adapter offers (the
 * WebGPU defaults cap storage bindings at 128 MiB and buffers at 256 MiB whatever the GPU).
 *
 * @example
 * ```ts
 * import { getGpu } from "./gpu.ts";
 * const gpu = await getGpu();
 * console.log(gpu.description, gpu.limits.maxStorageBufferBindingSize);
 * ```
 */
export function getGpu(): Promise<Gpu> {
  cached ??= createGpu();
  return cached;
}

async function createGpu(): Promise<Gpu> {
  // Mesa's Vulkan loader complains on stderr when a headless machine has no runtime directory;
  // a private one keeps the tool's output clean.
  let runtimeDir: string | undefined;
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    runtimeDir = Deno.makeTempDirSync({ prefix: "maskconv-runtime-" });
    Deno.env.set("XDG_RUNTIME_DIR", runtimeDir);
  }
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NoAdapterError();
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits });
  // Releasing the device before the runtime tears down avoids a crash at exit seen with Mesa's
  // GL driver when buffers are still alive.
  globalThis.addEventListener("unload", () => {
    device.destroy();
    if (runtimeDir) Deno.removeSync(runtimeDir, { recursive: true });
  });
  const gpu: Gpu = {
    device,
    description: adapter.info.description || adapter.info.vendor || "unknown adapter",
    limits: requiredLimits,
    isFallbackAdapter: adapter.info.isFallbackAdapter,
  };
  device.lost.then((info) => {
    if (info.reason === "destroyed") return;
    gpu.lost = info.message || "no reason given";
    console.error(`maskconv: GPU device lost: ${gpu.lost}`);
  });
  return gpu;
}

/** Usage of every tensor buffer: bindable as storage, filled and read back by copies. */
export const TENSOR_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/**
 * A storage buffer of `elements` 4-byte values (at least one, as WebGPU forbids empty bindings).
 *
 * @example
 * ```ts
 * import { getGpu, tensorBuffer } from "./gpu.ts";
 * const gpu = await getGpu();
 * const buffer = tensorBuffer(gpu, 1024, "scratch");
 * buffer.destroy();
 * ```
 */
export function tensorBuffer(gpu: Gpu, elements: number, label: string): GPUBuffer {
  const size = Math.max(4, elements * 4);
  if (size > gpu.limits.maxStorageBufferBindingSize) {
    throw new RangeError(
      `${label}: ${size} bytes exceeds maxStorageBufferBindingSize ` +
        `${gpu.limits.maxStorageBufferBindingSize}; the launcher must tile it`,
    );
  }
  return gpu.device.createBuffer({ label, size, usage: TENSOR_USAGE });
}

/**
 * A uniform buffer holding `words` (u32 or i32 bit patterns), written once at creation.
 *
 * @example
 * ```ts
 * import { getGpu, uniformBuffer } from "./gpu.ts";
 * const gpu = await getGpu();
 * const params = uniformBuffer(gpu, [4, 8, 16], "shape");
 * params.destroy();
 * ```
 */
export function uniformBuffer(gpu: Gpu, words: number[], label: string): GPUBuffer {
  const padded = new Uint32Array(Math.ceil(Math.max(words.length, 1) / 4) * 4);
  words.forEach((w, i) => padded[i] = w >>> 0);
  const buffer = gpu.device.createBuffer({
    label,
    size: padded.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  gpu.device.queue.writeBuffer(buffer, 0, padded);
  return buffer;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * A compute pipeline for `entryPoint` of the WGSL source `code`, built once per device, source
 * and override-constant set, then reused. The source is compiled after the shared prelude
 * (kernels/prelude.wgsl: `WG` = {@link WORKGROUP_SIZE}, `flat_id`, `log_ratio`, `neg_log` and the
 * matmuls' 8×8 register tile).
 *
 * @example
 * ```ts
 * import { computePipeline, getGpu } from "./gpu.ts";
 * import matmulWgsl from "./projection/matmul.wgsl" with { type: "text" };
 * const gpu = await getGpu();
 * const pipeline = computePipeline(gpu, matmulWgsl, "matmul", { TRANS_A: 0, TRANS_B: 0 });
 * console.log(pipeline.label);
 * ```
 */
export function computePipeline(
  gpu: Gpu,
  code: string,
  entryPoint: string,
  constants: Record<string, number> = {},
): GPUComputePipeline {
  let byKey = pipelines.get(gpu.device);
  if (!byKey) pipelines.set(gpu.device, byKey = new Map());
  const key = `${entryPoint}#${JSON.stringify(constants)}#${code}`;
  let pipeline = byKey.get(key);
  if (!pipeline) {
    const module = gpu.device.createShaderModule({ label: entryPoint, code: PRELUDE + code });
    pipeline = gpu.device.createComputePipeline({
      label: entryPoint,
      layout: "auto",
      compute: { module, entryPoint, constants },
    });
    byKey.set(key, pipeline);
  }
  return pipeline;
}

/**
 * A bind group for group 0 of `pipeline`, binding each buffer to the binding number it is
 * keyed by (an entry point's automatic layout holds only the bindings it uses).
 *
 * @example
 * ```ts
 * import { bindBuffers, computePipeline, getGpu, tensorBuffer, uniformBuffer } from "./gpu.ts";
 * import matmulWgsl from "./projection/matmul.wgsl" with { type: "text" };
 * const gpu = await getGpu();
 * const pipeline = computePipeline(gpu, matmulWgsl, "matmul", { TRANS_A: 0, TRANS_B: 0 });
 * const [a, b, c] = [1, 1, 1].map((n) => tensorBuffer(gpu, n, "t"));
 * const params = uniformBuffer(gpu, [1, 1, 1, 0, 1, 0], "p");
 * const group = bindBuffers(gpu, pipeline, { 0: params, 1: a, 2: b, 3: c });
 * console.log(group.label);
 * ```
 */
export function bindBuffers(
  gpu: Gpu,
  pipeline: GPUComputePipeline,
  buffers: Record<number, GPUBuffer>,
): GPUBindGroup {
  return gpu.device.createBindGroup({
    label: pipeline.label,
    layout: pipeline.getBindGroupLayout(0),
    entries: Object.entries(buffers).map(([binding, buffer]) => ({
      binding: Number(binding),
      resource: { buffer },
    })),
  });
}

/** Invocations per workgroup of every 1-D kernel: `WG` in the shaders, through the prelude. */
export const WORKGROUP_SIZE = 64;

const PRELUDE = `const WG: u32 = ${WORKGROUP_SIZE}u;\n${PRELUDE_WGSL}\n`;

/**
 * Records a 1-D dispatch of `invocations` threads, folded into two dimensions when it exceeds
 * `maxComputeWorkgroupsPerDimension` workgroups; kernels rebuild the flat index from
 * `num_workgroups` and guard against the overshoot.
 *
 * @example
 * ```ts
 * import { dispatchFlat, getGpu } from "./gpu.ts";
 * const gpu = await getGpu();
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * dispatchFlat(gpu, pass, 0); // records nothing: no work
 * pass.end();
 * ```
 */
export function dispatchFlat(gpu: Gpu, pass: GPUComputePassEncoder, invocations: number) {
  const groups = Math.ceil(invocations / WORKGROUP_SIZE);
  if (groups === 0) return;
  const perDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, perDim);
  pass.dispatchWorkgroups(x, Math.ceil(groups / x));
}

/**
 * Copies the given buffers back to the host in one submission and one wait.
 *
 * @example
 * ```ts
 * import { getGpu, readBuffers, tensorBuffer } from "./gpu.ts";
 * const gpu = await getGpu();
 * const buffer = tensorBuffer(gpu, 4, "four");
 * gpu.device.queue.writeBuffer(buffer, 0, new Float32Array([1, 2, 3, 4]));
 * const [values] = await readBuffers(gpu, [buffer]);
 * console.log(new Float32Array(values));
 * ```
 */
export async function readBuffers(gpu: Gpu, buffers: GPUBuffer[]): Promise<ArrayBuffer[]> {
  const encoder = gpu.device.createCommandEncoder({ label: "readback" });
  const staging = buffers.map((source) => {
    const target = gpu.device.createBuffer({
      label: `${source.label}:readback`,
      size: source.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(source, 0, target, 0, source.size);
    return target;
  });
  gpu.device.queue.submit([encoder.finish()]);
  await Promise.all(staging.map((s) => s.mapAsync(GPUMapMode.READ)));
  return staging.map((s) => {
    const copy = s.getMappedRange().slice(0);
    s.destroy();
    return copy;
  });
}
