/**
 * The model's parameters: GPU buffers for values and gradients, seeded initialisation, and the
 * conversion to and from the tensors saved in `model.safetensors`.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";
import { type Gpu, readBuffers, tensorBuffer } from "../../kernels/gpu.ts";
import type { NamedTensor } from "../files/safetensors.ts";

/** How a saved tensor maps to the GPU layout of a parameter, when they differ. */
export interface Layout {
  /** The saved (canonical) shape. */
  shape: number[];
  toGpu(saved: Float32Array): Float32Array<ArrayBuffer>;
  fromGpu(gpu: Float32Array): Float32Array<ArrayBuffer>;
}

/**
 * Bytes past which a parameter is kept as slices along its leading axis: WebGPU's default, and
 * smallest allowed, `maxStorageBufferBindingSize`. A constant rather than the adapter's limit, so
 * that files and checkpoints do not depend on where a model was trained.
 */
export const PARAMETER_SLICE_BYTES = 2 ** 27;

/** Where a slice of a larger tensor sits in it: rows [first, first + rows) of its leading axis. */
export interface SliceOf {
  /** The saved tensor's name. */
  of: string;
  /** Its whole (saved) shape. */
  shape: number[];
  first: number;
  rows: number;
}

/** One parameter tensor on the GPU. */
export interface Parameter {
  name: string;
  /** Elements in the GPU buffer. */
  size: number;
  value: GPUBuffer;
  grad: GPUBuffer;
  trainable: boolean;
  /** Saved shape and conversion; absent when the GPU layout is the saved one. */
  layout?: Layout;
  /** Saved shape when `layout` is absent. */
  shape: number[];
  /** How the saved tensor is laid out, for other tools (`config.json`'s `layouts`). */
  doc: string;
  /** Set when this is a slice of a tensor saved whole (see {@link ParameterSet.addSlices}). */
  slice?: SliceOf;
}

/** Initial values: Glorot-uniform weights (fan-in and fan-out given) or zeros. */
export type Init = { kind: "glorot"; fanIn: number; fanOut: number } | { kind: "zeros" } | {
  kind: "values";
  values: Float32Array;
};

/** A parameter as it is declared: its GPU shape, initial values and saved layout. */
export interface ParameterDeclaration {
  name: string;
  /** The shape on the GPU (the saved one too, unless `layout` says otherwise). */
  shape: number[];
  init: Init;
  /** Trained by the optimizer (default true). */
  trainable?: boolean;
  /** The saved shape and conversion, when they differ from the GPU's. */
  layout?: Layout;
  doc: string;
}

/**
 * The set of parameters, created in a fixed order so that one seed gives one initialisation.
 *
 * @example
 * ```ts
 * import { getGpu } from "../../kernels/gpu.ts";
 * import { ParameterSet } from "./parameters.ts";
 * const params = new ParameterSet(await getGpu(), () => 0.5);
 * params.add({ name: "bias", shape: [3], init: { kind: "zeros" }, doc: "[3]" });
 * console.log((await params.save()).bias.data); // [0, 0, 0]
 * ```
 */
export class ParameterSet {
  readonly list: Parameter[] = [];
  #gpu: Gpu;
  #next: () => number;

  constructor(gpu: Gpu, next: () => number) {
    this.#gpu = gpu;
    this.#next = next;
  }

  /** Adds a parameter, initialised now (Glorot draws come from the set's generator). */
  add({ name, shape, init, trainable = true, layout, doc }: ParameterDeclaration): Parameter {
    const values = this.#initial(shape, init);
    return this.#upload(
      { name, size: values.length, shape: layout?.shape ?? shape, layout, trainable, doc },
      layout ? layout.toGpu(values) : values,
    );
  }

  /**
   * Adds a parameter as slices of its leading axis, `rows` each, one buffer per slice: for
   * tensors past one binding. Initialised as {@link add} would, so slicing changes no value;
   * saved and loaded whole, under the declared name.
   */
  addSlices({ name, shape, init, trainable = true, doc }: ParameterDeclaration, rows: number[]) {
    const values = this.#initial(shape, init);
    const rowSize = values.length / shape[0];
    let first = 0;
    return rows.map((count) => {
      const part = values.slice(first * rowSize, (first + count) * rowSize);
      const slice = { of: name, shape, first, rows: count };
      first += count;
      return this.#upload({
        name: `${name}[${slice.first}:${first}]`,
        size: part.length,
        shape: [count, ...shape.slice(1)],
        trainable,
        doc,
        slice,
      }, part);
    });
  }

  #initial(shape: number[], init: Init): Float32Array<ArrayBuffer> {
    const size = shape.reduce((a, b) => a * b, 1);
    if (init.kind === "values") return Float32Array.from(init.values);
    const values = new Float32Array(size);
    if (init.kind === "glorot") {
      const limit = Math.sqrt(6 / (init.fanIn + init.fanOut));
      for (let i = 0; i < size; i++) values[i] = (2 * this.#next() - 1) * limit;
    }
    return values;
  }

  #upload(
    declared: Omit<Parameter, "value" | "grad">,
    values: Float32Array<ArrayBuffer>,
  ): Parameter {
    const { name, size } = declared;
    const parameter: Parameter = {
      ...declared,
      value: tensorBuffer(this.#gpu, size, name),
      grad: tensorBuffer(this.#gpu, size, `${name}.grad`),
    };
    this.#gpu.device.queue.writeBuffer(parameter.value, 0, values);
    this.list.push(parameter);
    return parameter;
  }

  /** Every parameter's values in its saved layout, slices joined, read back in one submission. */
  async save(): Promise<Record<string, NamedTensor>> {
    const data = await readBuffers(this.#gpu, this.list.map((p) => p.value));
    const tensors: Record<string, NamedTensor> = {};
    this.list.forEach((p, i) => {
      const values = new Float32Array(data[i]);
      if (!p.slice) {
        tensors[p.name] = { shape: p.shape, data: p.layout ? p.layout.fromGpu(values) : values };
        return;
      }
      const { of, shape, first } = p.slice;
      tensors[of] ??= { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
      tensors[of].data.set(values, first * (p.size / p.slice.rows));
    });
    return tensors;
  }

  /** Loads saved tensors, checking every name and shape against the model's. */
  load(tensors: Record<string, NamedTensor>, path: string): void {
    for (const p of this.list) {
      const name = p.slice?.of ?? p.name;
      const shape = p.slice?.shape ?? p.shape;
      const saved = tensors[name];
      if (!saved) throw new DataError(`${path}: tensor ${name} is missing`);
      if (saved.shape.join("x") !== shape.join("x")) {
        throw new DataError(
          `${path}: tensor ${name} has shape [${saved.shape}], the model needs [${shape}]`,
        );
      }
      const first = (p.slice?.first ?? 0) * (p.size / (p.slice?.rows ?? 1));
      const values = p.layout
        ? p.layout.toGpu(saved.data)
        : Float32Array.from(saved.data.subarray(first, first + p.size));
      this.#gpu.device.queue.writeBuffer(p.value, 0, values);
    }
  }

  /** Frees every buffer. */
  destroy(): void {
    for (const p of this.list) {
      p.value.destroy();
      p.grad.destroy();
    }
  }
}
