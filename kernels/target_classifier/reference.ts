/**
 * Float64 reference of the per-target classifiers and their backward, written for clarity: each
 * target t has its own stack of affine layers on the pooled features h[b,t,:].
 *
 *   mlp:    z = relu(b1[t] + h[b,t,:]·W1[t]),  logits[b,t,:] = b2[t] + z·W2[t]
 *   linear: logits[b,t,:] = b[t] + h[b,t,:]·W[t]
 *
 * @module
 */

/** "mlp": one ReLU hidden layer per target; "linear": one affine map per target. */
export type ClassifierKind = "mlp" | "linear";

/** Sizes of the classifiers: B documents, T targets, F pooled features, C classes. */
export interface ClassifierShape {
  B: number;
  T: number;
  F: number;
  C: number;
  kind: ClassifierKind;
  /** Hidden units per target of the mlp (Hc); ignored by the linear kind. */
  hidden: number;
}

/** One affine layer of every target: out[b,t,:] = bias[t] + in[b,t,:]·W[t], then maybe relu. */
export interface ClassifierLayer {
  inputs: number;
  outputs: number;
  relu: boolean;
}

/**
 * The layers of the classifier kind, input side first.
 *
 * @example
 * ```ts
 * import { classifierLayers } from "./reference.ts";
 * console.log(classifierLayers({ B: 1, T: 1, F: 150, C: 3, kind: "mlp", hidden: 100 }));
 * ```
 */
export function classifierLayers({ F, C, kind, hidden }: ClassifierShape): ClassifierLayer[] {
  if (kind === "linear") return [{ inputs: F, outputs: C, relu: false }];
  return [{ inputs: F, outputs: hidden, relu: true }, { inputs: hidden, outputs: C, relu: false }];
}

/** A named parameter tensor and its row-major shape. */
export interface ParameterShape {
  name: string;
  shape: number[];
}

/**
 * The parameters in the order every parameter list of this module uses: per layer its weights
 * [T, inputs, outputs] then its biases [T, outputs] — mlp: W1 [T,F,Hc], b1 [T,Hc], W2 [T,Hc,C],
 * b2 [T,C]; linear: W [T,F,C], b [T,C]. Target-major, so the parameters of a range of targets
 * are one contiguous slice of each tensor.
 *
 * @example
 * ```ts
 * import { classifierParameterShapes } from "./reference.ts";
 * const shape = { B: 4, T: 2, F: 3, C: 1, kind: "linear" as const, hidden: 0 };
 * console.log(classifierParameterShapes(shape)); // W [2,3,1], b [2,1]
 * ```
 */
export function classifierParameterShapes(shape: ClassifierShape): ParameterShape[] {
  const layers = classifierLayers(shape);
  const suffix = (i: number) => layers.length === 1 ? "" : String(i + 1);
  return layers.flatMap(({ inputs, outputs }, i) => [
    { name: `W${suffix(i)}`, shape: [shape.T, inputs, outputs] },
    { name: `b${suffix(i)}`, shape: [shape.T, outputs] },
  ]);
}

/**
 * The activations of every layer, input first: [h, z, logits] for the mlp, [h, logits] for the
 * linear kind, each [B,T,·].
 *
 * @example
 * ```ts
 * import { classifierForward } from "./reference.ts";
 * const shape = { B: 1, T: 1, F: 2, C: 1, kind: "linear" as const, hidden: 0 };
 * const W = new Float64Array([1, 2]);
 * const acts = classifierForward(new Float64Array([3, 4]), [W, new Float64Array([0.5])], shape);
 * console.log(acts.at(-1)); // [11.5]
 * ```
 */
export function classifierForward(
  h: Float64Array, // h: [B,T,F]
  params: Float64Array[], // in the order of classifierParameterShapes
  shape: ClassifierShape,
): Float64Array[] {
  const { B, T } = shape;
  const activations = [h];
  classifierLayers(shape).forEach(({ inputs, outputs, relu }, i) => {
    const [W, bias] = [params[2 * i], params[2 * i + 1]];
    const x = activations[i];
    const out = new Float64Array(B * T * outputs);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let o = 0; o < outputs; o++) {
          let sum = bias[t * outputs + o];
          for (let j = 0; j < inputs; j++) {
            sum += x[(b * T + t) * inputs + j] * W[(t * inputs + j) * outputs + o];
          }
          out[(b * T + t) * outputs + o] = relu ? Math.max(sum, 0) : sum;
        }
      }
    }
    activations.push(out);
  });
  return activations;
}

/**
 * Gradients of Σ logits·dlogits: dh [B,T,F] and the parameter gradients in the order of
 * {@link classifierParameterShapes}. A ReLU passes the gradient where its output is positive.
 *
 * @example
 * ```ts
 * import { classifierBackward, classifierForward } from "./reference.ts";
 * const shape = { B: 1, T: 1, F: 2, C: 1, kind: "linear" as const, hidden: 0 };
 * const params = [new Float64Array([1, 2]), new Float64Array([0.5])];
 * const acts = classifierForward(new Float64Array([3, 4]), params, shape);
 * const { dh, grads } = classifierBackward(params, acts, new Float64Array([1]), shape);
 * console.log(dh, grads); // [1, 2] [[3, 4], [1]]
 * ```
 */
export function classifierBackward(
  params: Float64Array[],
  activations: Float64Array[], // from classifierForward
  dlogits: Float64Array, // dlogits: [B,T,C]
  shape: ClassifierShape,
): { dh: Float64Array; grads: Float64Array[] } {
  const { B, T } = shape;
  const layers = classifierLayers(shape);
  const grads: Float64Array[] = [];
  let dout = dlogits;
  for (let i = layers.length - 1; i >= 0; i--) {
    const { inputs, outputs } = layers[i];
    const W = params[2 * i];
    const x = activations[i];
    const dW = new Float64Array(T * inputs * outputs);
    const dbias = new Float64Array(T * outputs);
    const dx = new Float64Array(B * T * inputs);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let o = 0; o < outputs; o++) {
          const g = dout[(b * T + t) * outputs + o];
          dbias[t * outputs + o] += g;
          for (let j = 0; j < inputs; j++) {
            dW[(t * inputs + j) * outputs + o] += x[(b * T + t) * inputs + j] * g;
            dx[(b * T + t) * inputs + j] += W[(t * inputs + j) * outputs + o] * g;
          }
        }
      }
    }
    if (i > 0 && layers[i - 1].relu) dx.forEach((_, k) => dx[k] = x[k] > 0 ? dx[k] : 0);
    grads.unshift(dW, dbias);
    dout = dx;
  }
  return { dh: dout, grads };
}
