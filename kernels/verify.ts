/**
 * The verification harness: tolerance checks of GPU results against float64 references, and
 * central-difference gradient fixtures stored as CSV.
 *
 * @module
 */

/** A tolerance of the form |actual − expected| ≤ atol + rtol·|expected|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** The outcome of one check, as `maskconv gradcheck` prints it. */
export interface CheckResult {
  kernel: string;
  check: "forward parity" | "backward parity" | "fd fixture" | "fixture reproducible";
  /** What was compared, e.g. "dW B=2 L=7 D=5 T=3 K=3,5". */
  what: string;
  /** Largest |actual − expected| over all elements. */
  worstError: number;
  /** Largest |actual − expected| / (atol + rtol·|expected|); the check passes when ≤ 1. */
  worstRatio: number;
  tolerance: Tolerance;
  pass: boolean;
}

/**
 * Compares two equally long arrays element by element.
 *
 * @example
 * ```ts
 * import { compare } from "./verify.ts";
 * const r = compare("demo", "forward parity", "y", [1, 2.0001], [1, 2], { atol: 0, rtol: 1e-4 });
 * console.log(r.pass, r.worstError);
 * ```
 */
export function compare(
  kernel: string,
  check: CheckResult["check"],
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
): CheckResult {
  if (actual.length !== expected.length) {
    throw new RangeError(`${what}: ${actual.length} values, expected ${expected.length}`);
  }
  let worstError = 0;
  let worstRatio = 0;
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    const ratio = error / (tolerance.atol + tolerance.rtol * Math.abs(expected[i]));
    // NaN fails: it compares false with everything, so it is caught explicitly.
    if (!(ratio <= worstRatio)) worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
    if (!(error <= worstError)) worstError = Number.isNaN(error) ? Infinity : error;
  }
  return { kernel, check, what, worstError, worstRatio, tolerance, pass: worstRatio <= 1 };
}

/** Unit roundoff of float32. */
export const F32_EPS = 2 ** -24;

/**
 * The tolerance for a float32 result that sums `terms` products of inputs bounded by
 * `magnitude`: the absolute part is the classic γ_n bound n·u·Σ|aᵢbᵢ| ≤ n·u·n·magnitude taken
 * as 4·n·u·magnitude (sums of random-sign terms grow like √n, far below it), and rtol 1e-5.
 *
 * @example
 * ```ts
 * import { f32SumTolerance } from "./verify.ts";
 * console.log(f32SumTolerance(100, 1));
 * ```
 */
export function f32SumTolerance(terms: number, magnitude: number): Tolerance {
  return { atol: 4 * Math.max(terms, 1) * F32_EPS * magnitude, rtol: 1e-5 };
}

/** Tolerance of the finite-difference fixtures: analytic vs central-difference gradients. */
export const FD_TOLERANCE: Tolerance = { atol: 1e-9, rtol: 1e-6 };

/** Step of the central differences; inputs are drawn so no kink lies within it. */
export const FD_STEP = 1e-5;

/** A named float64 tensor of a fixture, with its central-difference gradient when it has one. */
export interface FixtureTensor {
  name: string;
  shape: number[];
  values: Float64Array;
  fdGrad?: Float64Array;
}

/**
 * Central differences (f(v+h) − f(v−h)) / 2h of `loss` for every element of `tensor.values`,
 * perturbed in place and restored.
 *
 * @example
 * ```ts
 * import { centralDifferences } from "./verify.ts";
 * const v = new Float64Array([1, 2]);
 * const g = centralDifferences(v, () => v[0] * v[0] + 3 * v[1], 1e-5);
 * console.log(g); // ≈ [2, 3]
 * ```
 */
export function centralDifferences(
  values: Float64Array,
  loss: () => number,
  step: number,
): Float64Array {
  const grad = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const saved = values[i];
    values[i] = saved + step;
    const up = loss();
    values[i] = saved - step;
    const down = loss();
    values[i] = saved;
    grad[i] = (up - down) / (2 * step);
  }
  return grad;
}

const HEADER = "tensor,shape,index,value,fd_grad";

/**
 * The CSV text of a fixture: one row per element, float64 written with 17 significant digits
 * so that parsing gives back the same numbers.
 *
 * @example
 * ```ts
 * import { fixtureCsv } from "./verify.ts";
 * const csv = fixtureCsv([{ name: "x", shape: [2], values: new Float64Array([0.5, -1]) }]);
 * console.log(csv);
 * ```
 */
export function fixtureCsv(tensors: FixtureTensor[]): string {
  const lines = [HEADER];
  for (const t of tensors) {
    const shape = t.shape.join("x");
    t.values.forEach((v, i) => {
      const grad = t.fdGrad ? t.fdGrad[i].toPrecision(17) : "";
      lines.push(`${t.name},${shape},${i},${v.toPrecision(17)},${grad}`);
    });
  }
  return lines.join("\n") + "\n";
}

/**
 * Parses what {@link fixtureCsv} wrote, by tensor name.
 *
 * @example
 * ```ts
 * import { fixtureCsv, parseFixtureCsv } from "./verify.ts";
 * const csv = fixtureCsv([{ name: "x", shape: [1], values: new Float64Array([2]) }]);
 * console.log(parseFixtureCsv(csv).get("x")?.values);
 * ```
 */
export function parseFixtureCsv(text: string): Map<string, FixtureTensor> {
  const lines = text.trimEnd().split("\n");
  if (lines[0] !== HEADER) throw new SyntaxError(`fixture header is not "${HEADER}"`);
  const rows = new Map<string, { shape: number[]; values: number[]; grads: number[] }>();
  lines.slice(1).forEach((line, i) => {
    const [name, shape, index, value, grad] = line.split(",");
    let row = rows.get(name);
    if (!row) rows.set(name, row = { shape: shape.split("x").map(Number), values: [], grads: [] });
    if (Number(index) !== row.values.length) {
      throw new SyntaxError(`fixture line ${i + 2}: index ${index} out of order`);
    }
    row.values.push(Number(value));
    if (grad !== "") row.grads.push(Number(grad));
  });
  return new Map(
    [...rows].map(([name, r]) => [name, {
      name,
      shape: r.shape,
      values: Float64Array.from(r.values),
      fdGrad: r.grads.length ? Float64Array.from(r.grads) : undefined,
    }]),
  );
}

/** One parity case of a kernel: a label for reports and the run that compares GPU to reference. */
export interface ParityCase {
  label: string;
  run(gpu: import("./gpu.ts").Gpu): Promise<CheckResult[]>;
}

/** Everything `maskconv gradcheck`, `deno task fixtures` and the tests need of one kernel. */
export interface KernelCheck {
  name: string;
  /**
   * Its finite-difference fixture; absent for the optimizer and gradient accumulation (no backward) and for a second
   * implementation of a reference whose fixture another kernel holds (see `fixtureOf`).
   */
  fixture?: {
    /** File name under `fixtures/fd/`. */
    file: string;
    /** Draws the fixture's inputs and computes their central-difference gradients. */
    make(): FixtureTensor[];
    /** Compares the reference's analytic gradients with a fixture's stored ones. */
    check(fixture: Map<string, FixtureTensor>): CheckResult[];
  };
  /** GPU-vs-reference parity cases, edge cases included. */
  parityCases: ParityCase[];
  /** The kernel whose fixture checks this one's reference gradients (the naive layer's). */
  fixtureOf?: string;
}

/**
 * Draws with `draw` until `accept` holds, so that fixtures keep every kink (a ReLU at 0, a tie
 * for the max) farther than the finite-difference step; deterministic since the generator is.
 *
 * @example
 * ```ts
 * import { drawUntil } from "./verify.ts";
 * let n = 0;
 * console.log(drawUntil(() => ++n, (v) => v > 2)); // 3
 * ```
 */
export function drawUntil<T>(draw: () => T, accept: (value: T) => boolean, attempts = 1000): T {
  for (let i = 0; i < attempts; i++) {
    const value = draw();
    if (accept(value)) return value;
  }
  throw new Error(`no acceptable draw in ${attempts} attempts`);
}

/** Smallest distance a fixture keeps between a pooled maximum and any kink (0, the runner-up). */
export const KINK_MARGIN = 1e-3;

/**
 * The analytic-vs-FD comparison of every differentiated tensor of a fixture.
 *
 * @example
 * ```ts
 * import { fdChecks } from "./verify.ts";
 * const fixture = new Map([["x", {
 *   name: "x", shape: [1], values: new Float64Array([1]), fdGrad: new Float64Array([2]),
 * }]]);
 * console.log(fdChecks("demo", fixture, { x: new Float64Array([2]) })[0].pass);
 * ```
 */
export function fdChecks(
  kernel: string,
  fixture: Map<string, FixtureTensor>,
  analytic: Record<string, ArrayLike<number>>,
): CheckResult[] {
  return Object.entries(analytic).map(([name, grad]) => {
    const stored = fixture.get(name)?.fdGrad;
    if (!stored) throw new Error(`${kernel} fixture has no gradient of ${name}`);
    return compare(kernel, "fd fixture", `d${name}`, grad, stored, FD_TOLERANCE);
  });
}
