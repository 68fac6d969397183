// The prediction loss over the targets and its gradient, in two steps. First one invocation per
// (document, target) writes the probabilities, the gradient w·(p − onehot) and its weighted
// loss term:
//
//   aspects: term[b,t] = w·(log Σ_{c<n[t]} exp(z_c) − z_y)   (0 when y = −1),  p = softmax
//   labels:  term[b,t] = w·(softplus(z) − y·z),                                 p = σ(z)
//
// Then one invocation per document sums its terms in target order over the slice
// [t_begin, t_end), so the sums are deterministic and no loop passes llvmpipe's ~65,535 cut-off.

struct Params {
  B: u32, // documents
  T: u32, // targets
  C: u32, // logits per target
  w: f32, // weight of every term: 1/B makes Σ_b r[b] the batch mean
  t_begin: u32,
  t_end: u32,
  add_to_r: u32, // a later slice: add to the partial sums already in r
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>; // [B, T, C]
@group(0) @binding(2) var<storage, read> y: array<i32>; // [B, T]
@group(0) @binding(3) var<storage, read> classes: array<u32>; // [T]: n[t], 1 ≤ n[t] ≤ C
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>; // [B, T, C]
@group(0) @binding(5) var<storage, read_write> probabilities: array<f32>; // [B, T, C]
@group(0) @binding(6) var<storage, read_write> terms: array<f32>; // [B, T]
@group(0) @binding(7) var<storage, read_write> r: array<f32>; // [B]

const LOWEST: f32 = -3.40282347e38;

// Log-sum-exp from the maximum, so no exponent overflows. At most 3·C loop trips: the launcher
// bounds C.
@compute @workgroup_size(WG)
fn softmax_cross_entropy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.B * params.T) { return; }
  let n = classes[id % params.T];
  let base = id * params.C;
  var max_logit = LOWEST;
  for (var c = 0u; c < n; c++) { max_logit = max(max_logit, logits[base + c]); }
  var sum = 0.0;
  for (var c = 0u; c < n; c++) { sum += exp(logits[base + c] - max_logit); }
  let label = y[id];
  let known = label >= 0 && u32(label) < n;
  for (var c = 0u; c < params.C; c++) {
    let p = select(0.0, exp(logits[base + c] - max_logit) / sum, c < n);
    probabilities[base + c] = p;
    let onehot = select(0.0, 1.0, i32(c) == label);
    dlogits[base + c] = select(0.0, params.w * (p - onehot), known && c < n);
  }
  let z_label = logits[base + u32(clamp(label, 0, i32(n) - 1))];
  terms[id] = select(0.0, params.w * (log(sum) - (z_label - max_logit)), known);
}

@compute @workgroup_size(WG)
fn sigmoid_cross_entropy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.B * params.T) { return; }
  let z = logits[id];
  let label = f32(y[id]);
  // exp of −|z| only: neither form overflows.
  let e = exp(-abs(z));
  let p = select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
  probabilities[id] = p;
  dlogits[id] = params.w * (p - label);
  terms[id] = params.w * (max(z, 0.0) - label * z + log(1.0 + e));
}

// r[b] (+)= Σ_{t in slice} terms[b,t]: one invocation per document.
@compute @workgroup_size(WG)
fn sum_targets(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_id) lid: vec3u) {
  let b = flat_id(wid, nwg, lid);
  if (b >= params.B) { return; }
  var sum = 0.0;
  for (var t = params.t_begin; t < params.t_end; t++) { sum += terms[b * params.T + t]; }
  r[b] = select(0.0, r[b], params.add_to_r != 0u) + sum;
}
