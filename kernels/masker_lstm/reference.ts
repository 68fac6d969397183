/**
 * Float64 reference of the masker: a bidirectional LSTM over each document's own positions, then
 * a linear layer to the logits of the T+1 classes, with backpropagation through time written for
 * clarity, one position at a time.
 *
 * @module
 */

/** Sizes of the masker: B documents of L padded positions, D inputs, H units per direction. */
export interface MaskerLstmShape {
  B: number;
  L: number;
  D: number;
  H: number;
  /** T+1: class 0 ("none") and the T targets. */
  classes: number;
}

/** One direction's weights, gate blocks side by side in the order i, f, g, o (column q·H + j). */
export interface LstmWeights {
  Wx: Float64Array; // Wx: [D,4H]
  Wh: Float64Array; // Wh: [H,4H]
  bias: Float64Array; // bias: [4H]
}

/** The masker's weights; its gradients come back in the same layout. */
export interface MaskerLstmWeights {
  /** The LSTM that reads each document left to right (its h fills u[…, 0..H−1]). */
  fwd: LstmWeights;
  /** The LSTM that reads each document right to left (its h fills u[…, H..2H−1]). */
  bwd: LstmWeights;
  Wo: Float64Array; // Wo: [2H, T+1]
  bo: Float64Array; // bo: [T+1]
}

/** What one direction's forward keeps for the backward; 0 at padding. */
export interface LstmTrace {
  gates: Float64Array; // gates: [B,L,4H], activations i, f, g, o
  c: Float64Array; // c: [B,L,H]
  h: Float64Array; // h: [B,L,H]
}

/** Forward results: the LSTM outputs, the logits and each direction's trace. */
export interface MaskerLstmForward {
  u: Float64Array; // u: [B,L,2H] = [h_fwd, h_bwd], 0 at padding
  a: Float64Array; // a: [B,L,T+1] = u·Wo + bo (bo at padding)
  fwd: LstmTrace;
  bwd: LstmTrace;
}

/** Gradients of Σ a·da with respect to x and every weight. */
export interface MaskerLstmGradients {
  dx: Float64Array; // dx: [B,L,D]
  weights: MaskerLstmWeights;
}

/**
 * The positions of a document of length `len` in the order a direction visits them.
 *
 * @example
 * ```ts
 * import { visitOrder } from "./reference.ts";
 * console.log(visitOrder(3, "bwd")); // [2, 1, 0]
 * ```
 */
export function visitOrder(len: number, direction: "fwd" | "bwd"): number[] {
  const order = Array.from({ length: len }, (_, l) => l);
  return direction === "fwd" ? order : order.reverse();
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

function lstmForward(
  x: Float64Array, // x: [B,L,D]
  lengths: ArrayLike<number>, // lengths: [B]
  { Wx, Wh, bias }: LstmWeights,
  direction: "fwd" | "bwd",
  { B, L, D, H }: MaskerLstmShape,
): LstmTrace {
  const G = 4 * H;
  const gates = new Float64Array(B * L * G);
  const c = new Float64Array(B * L * H);
  const h = new Float64Array(B * L * H);
  for (let b = 0; b < B; b++) {
    let prev = -1; // the previously visited position; none yet, so h = c = 0
    for (const l of visitOrder(lengths[b], direction)) {
      const row = b * L + l;
      for (let j = 0; j < H; j++) {
        const pre = [0, 1, 2, 3].map((q) => {
          let sum = bias[q * H + j];
          for (let d = 0; d < D; d++) sum += x[row * D + d] * Wx[d * G + q * H + j];
          if (prev >= 0) {
            for (let k = 0; k < H; k++) sum += h[(b * L + prev) * H + k] * Wh[k * G + q * H + j];
          }
          return sum;
        });
        const [i, f, g, o] = [sigmoid(pre[0]), sigmoid(pre[1]), Math.tanh(pre[2]), sigmoid(pre[3])];
        const cPrev = prev >= 0 ? c[(b * L + prev) * H + j] : 0;
        c[row * H + j] = f * cPrev + i * g;
        h[row * H + j] = o * Math.tanh(c[row * H + j]);
        [i, f, g, o].forEach((v, q) => gates[row * G + q * H + j] = v);
      }
      prev = l;
    }
  }
  return { gates, c, h };
}

/**
 * u = [h_fwd, h_bwd] of the two LSTMs (initial h = c = 0, each over its document's own
 * positions) and the logits a = u·Wo + bo.
 *
 * @example
 * ```ts
 * import { maskerLstmForward } from "./reference.ts";
 * const lstm = () => ({
 *   Wx: new Float64Array(4).fill(1), Wh: new Float64Array(4), bias: new Float64Array(4),
 * });
 * const { u } = maskerLstmForward(new Float64Array([1]), [1], {
 *   fwd: lstm(), bwd: lstm(), Wo: new Float64Array(4), bo: new Float64Array(2),
 * }, { B: 1, L: 1, D: 1, H: 1, classes: 2 });
 * console.log(u); // both directions: σ(1)·tanh(σ(1)·tanh(1))
 * ```
 */
export function maskerLstmForward(
  x: Float64Array, // x: [B,L,D]
  lengths: ArrayLike<number>, // lengths: [B]
  weights: MaskerLstmWeights,
  shape: MaskerLstmShape,
): MaskerLstmForward {
  const { B, L, H, classes } = shape;
  const fwd = lstmForward(x, lengths, weights.fwd, "fwd", shape);
  const bwd = lstmForward(x, lengths, weights.bwd, "bwd", shape);
  const u = new Float64Array(B * L * 2 * H);
  const a = new Float64Array(B * L * classes);
  for (let row = 0; row < B * L; row++) {
    for (let j = 0; j < H; j++) {
      u[row * 2 * H + j] = fwd.h[row * H + j];
      u[row * 2 * H + H + j] = bwd.h[row * H + j];
    }
    for (let t = 0; t < classes; t++) {
      let sum = weights.bo[t];
      for (let k = 0; k < 2 * H; k++) sum += u[row * 2 * H + k] * weights.Wo[k * classes + t];
      a[row * classes + t] = sum;
    }
  }
  return { u, a, fwd, bwd };
}

/** Backpropagation through time of one direction: adds into dx, returns its weights' gradients. */
function lstmBackward(
  x: Float64Array, // x: [B,L,D]
  lengths: ArrayLike<number>, // lengths: [B]
  { Wx, Wh }: LstmWeights,
  { gates, c, h }: LstmTrace,
  du: Float64Array, // du: [B,L,2H]
  direction: "fwd" | "bwd",
  { B, L, D, H }: MaskerLstmShape,
  dx: Float64Array, // dx: [B,L,D]
): LstmWeights {
  const G = 4 * H;
  const uCol = direction === "fwd" ? 0 : H;
  const grads = {
    Wx: new Float64Array(D * G),
    Wh: new Float64Array(H * G),
    bias: new Float64Array(G),
  };
  for (let b = 0; b < B; b++) {
    const order = visitOrder(lengths[b], direction);
    const dhNext = new Float64Array(H); // what h at the current step receives from the next step
    const dcNext = new Float64Array(H); // likewise for c
    for (let s = order.length - 1; s >= 0; s--) {
      const row = b * L + order[s];
      const prevRow = s > 0 ? b * L + order[s - 1] : -1;
      const dgates = new Float64Array(G);
      for (let j = 0; j < H; j++) {
        const [i, f, g, o] = [0, 1, 2, 3].map((q) => gates[row * G + q * H + j]);
        const tanhC = Math.tanh(c[row * H + j]);
        const dh = du[row * 2 * H + uCol + j] + dhNext[j];
        const dc = dh * o * (1 - tanhC * tanhC) + dcNext[j];
        const cPrev = prevRow >= 0 ? c[prevRow * H + j] : 0;
        dgates[j] = dc * g * i * (1 - i);
        dgates[H + j] = dc * cPrev * f * (1 - f);
        dgates[2 * H + j] = dc * i * (1 - g * g);
        dgates[3 * H + j] = dh * tanhC * o * (1 - o);
        dcNext[j] = dc * f;
      }
      dhNext.fill(0);
      for (let m = 0; m < G; m++) {
        grads.bias[m] += dgates[m];
        for (let d = 0; d < D; d++) {
          grads.Wx[d * G + m] += x[row * D + d] * dgates[m];
          dx[row * D + d] += Wx[d * G + m] * dgates[m];
        }
        for (let k = 0; k < H; k++) {
          if (prevRow >= 0) grads.Wh[k * G + m] += h[prevRow * H + k] * dgates[m];
          dhNext[k] += Wh[k * G + m] * dgates[m];
        }
      }
    }
  }
  return grads;
}

/**
 * Gradients of Σ a·da: du = da·Woᵀ, then backpropagation through time of each direction;
 * padding positions receive nothing.
 *
 * @example
 * ```ts
 * import { maskerLstmBackward, maskerLstmForward } from "./reference.ts";
 * const lstm = () => ({
 *   Wx: new Float64Array(4).fill(1), Wh: new Float64Array(4), bias: new Float64Array(4),
 * });
 * const weights = { fwd: lstm(), bwd: lstm(), Wo: new Float64Array(4), bo: new Float64Array(2) };
 * const shape = { B: 1, L: 1, D: 1, H: 1, classes: 2 };
 * const x = new Float64Array([1]);
 * const fwd = maskerLstmForward(x, [1], weights, shape);
 * const da = new Float64Array([1, 0]);
 * const { weights: grads } = maskerLstmBackward(x, [1], weights, fwd, da, shape);
 * console.log(grads.bo); // [1, 0]
 * ```
 */
export function maskerLstmBackward(
  x: Float64Array, // x: [B,L,D]
  lengths: ArrayLike<number>, // lengths: [B]
  weights: MaskerLstmWeights,
  forward: MaskerLstmForward,
  da: Float64Array, // da: [B,L,T+1]
  shape: MaskerLstmShape,
): MaskerLstmGradients {
  const { B, L, D, H, classes } = shape;
  const { u } = forward;
  const du = new Float64Array(B * L * 2 * H);
  const Wo = new Float64Array(2 * H * classes);
  const bo = new Float64Array(classes);
  for (let row = 0; row < B * L; row++) {
    for (let t = 0; t < classes; t++) {
      const g = da[row * classes + t];
      bo[t] += g;
      for (let k = 0; k < 2 * H; k++) {
        Wo[k * classes + t] += u[row * 2 * H + k] * g;
        du[row * 2 * H + k] += weights.Wo[k * classes + t] * g;
      }
    }
  }
  const dx = new Float64Array(B * L * D);
  const fwd = lstmBackward(x, lengths, weights.fwd, forward.fwd, du, "fwd", shape, dx);
  const bwd = lstmBackward(x, lengths, weights.bwd, forward.bwd, du, "bwd", shape, dx);
  return { dx, weights: { fwd, bwd, Wo, bo } };
}
