// One optimizer step over every trained parameter, in three entry points dispatched in order:
//
//   sum_squares  partial[offset + c] = Σ_j g[c + j·chunks]²   (one dispatch per parameter)
//   finish_norm  S = Σ partial in index order, ‖g‖ = √S, scale = min(1, max_norm / (‖g‖ + 1e-6))
//   adam_step    g' = scale·g + λ·w;  m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'²;
//                w −= lr·s·(m / bc1) / (√(v / bc2) + ε)      (one dispatch per parameter)
//
// The norm is a fixed two-level sum (every partial owned by one invocation, then one invocation
// adding the partials in order), so it is deterministic without float atomics. Invocations
// stride through their parameter (c, c + chunks, …) so that neighbours read neighbouring
// elements, and each loop runs at most 1,024 trips (the launcher's NORM_CHUNK): far under
// llvmpipe's silent ~65,535 cut-off, and short enough for a tight rounding-error bound.
// A non-finite ‖g‖ (a NaN or Inf gradient, or Σg² overflowing) skips the update: w, m and v keep
// their values and scale reads 0, so a caller that sees it in the norm has lost nothing.

struct Hyper {
  lr: f32,
  beta1: f32,
  one_minus_beta1: f32, // rounded from float64, not 1 − f32(β1), which loses digits
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  weight_decay: f32, // λ of the coupled L2 term, as PyTorch's Adam weight_decay
  max_norm: f32,
}

// What one dispatch of sum_squares or adam_step covers.
struct Param {
  size: u32, // elements of this parameter
  chunks: u32, // partial sums of this parameter, one per sum_squares invocation
  offset: u32, // first partial of this parameter in `partials`
}

// The partials one dispatch of finish_norm adds, after those of the dispatches before it.
struct Span {
  begin: u32,
  end: u32,
  first: u32, // start the running sum afresh
  last: u32, // write ‖g‖ and the clip scale
}

// What the host writes once per step. The bias corrections: 1 − β2^t in f32 would lose ~1e-5
// of its value to cancellation at t = 1, so the host computes them in float64. The learning-rate
// schedule's factor s of this step: lr·s is lr exactly when s is 1.
struct Step {
  bc1: f32, // 1 − β1^t
  bc2: f32, // 1 − β2^t
  lr_scale: f32, // s
}

@group(0) @binding(0) var<uniform> hyper: Hyper;
@group(0) @binding(1) var<uniform> param: Param;
@group(0) @binding(2) var<uniform> span: Span;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<storage, read> grad: array<f32>; // [size]
@group(0) @binding(5) var<storage, read_write> partials: array<f32>; // [Σ chunks]
@group(0) @binding(6) var<storage, read_write> stats: array<f32>; // [4]: ‖g‖, scale, Σg², 0
@group(0) @binding(7) var<storage, read_write> w: array<f32>; // [size]
@group(0) @binding(8) var<storage, read_write> m: array<f32>; // [size]
@group(0) @binding(9) var<storage, read_write> v: array<f32>; // [size]

const NORM: u32 = 0u;
const SCALE: u32 = 1u;
const SUM_SQUARES: u32 = 2u;

// By the bits: WGSL lets compilers assume floats are finite, so `x != x` may fold to false.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn sum_squares(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_id) lid: vec3u) {
  let c = flat_id(wid, nwg, lid);
  if (c >= param.chunks) { return; }
  var sum = 0.0;
  for (var i = c; i < param.size; i += param.chunks) { sum += grad[i] * grad[i]; }
  partials[param.offset + c] = sum;
}

@compute @workgroup_size(WG)
fn finish_norm(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_id) lid: vec3u) {
  if (flat_id(wid, nwg, lid) != 0u) { return; }
  var sum = select(stats[SUM_SQUARES], 0.0, span.first != 0u);
  for (var i = span.begin; i < span.end; i++) { sum += partials[i]; }
  stats[SUM_SQUARES] = sum;
  if (span.last != 0u) {
    let norm = sqrt(sum);
    stats[NORM] = norm;
    stats[SCALE] = select(0.0, min(1.0, hyper.max_norm / (norm + 1e-6)), is_finite(norm));
  }
}

@compute @workgroup_size(WG)
fn adam_step(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_id) lid: vec3u) {
  let i = flat_id(wid, nwg, lid);
  if (i >= param.size || !is_finite(stats[NORM])) { return; }
  let w_old = w[i];
  let g = stats[SCALE] * grad[i] + hyper.weight_decay * w_old;
  let m_new = hyper.beta1 * m[i] + hyper.one_minus_beta1 * g;
  let v_new = hyper.beta2 * v[i] + hyper.one_minus_beta2 * g * g;
  m[i] = m_new;
  v[i] = v_new;
  let lr = hyper.lr * step.lr_scale;
  w[i] = w_old - lr * (m_new / step.bc1) / (sqrt(v_new / step.bc2) + hyper.eps);
}
