// The Multi-Target Masker's regularisers and their gradient. Per document b of length len > 0:
//
//   p_sel  = (1/len) Σ_{l<len} (1 − p[l,0])                    tokens given to some target
//   l_sel  = −[λ_p·log p_sel + (1 − λ_p)·log(1 − p_sel)]       BCE towards the prior λ_p
//   p_dis  = (1/len) Σ_{1≤l<len} ‖p[l,:] − p[l−1,:]‖₁ / (T+1)  neighbours that disagree
//   l_cont = −log(1 − p_dis)                                   BCE towards 0
//   r[b]   = w_sel·l_sel + w_cont·l_cont,   dp = ∂(Σ_b r[b])/∂p  (0 at padding)
//
// p_sel and q = 1 − p_sel = (1/len) Σ p[l,0] are each summed from their own terms, so neither
// loses its relative precision when the other is near 1. Every probability is clamped into
// [1e-7, 1 − 1e-7] (as f32) before its log, with gradient 0 where the clamp binds; the L1
// norm's kink takes sign(0) = 0. Sums run in fixed orders (workgroup tree reductions), so
// results are deterministic without atomics, and no invocation loops more than
// max(⌈(T+1)/64⌉, ⌈L/64⌉) times, far below llvmpipe's ~65,535-iteration cut-off.

struct Params {
  B: u32,
  L: u32,
  T: u32, // targets; classes are T + 1
  lambda_p: f32, // prior share of selected tokens
  w_sel: f32, // λ_sel / B
  w_cont: f32, // λ_cont / B
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> p: array<f32>; // [B, L, T+1]
@group(0) @binding(2) var<storage, read> lengths: array<u32>; // [B]
@group(0) @binding(3) var<storage, read_write> row_distance: array<f32>; // [B, L]
@group(0) @binding(4) var<storage, read_write> r: array<f32>; // [B]
// [B, 2]: ∂(Σ r)/∂p[l,0] through l_sel, and ∂(Σ r)/∂|p[l,c] − p[l−1,c]| through l_cont.
@group(0) @binding(5) var<storage, read_write> coefficients: array<f32>;
@group(0) @binding(6) var<storage, read_write> dp: array<f32>; // [B, L, T+1]

const PROB_FLOOR: f32 = 1e-7;
const PROB_CEIL: f32 = 1.0 - 1e-7;

var<workgroup> sums: array<vec3f, WG>;

fn workgroup_sum(lid: u32, mine: vec3f) -> vec3f {
  sums[lid] = mine;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { sums[lid] += sums[lid + half]; }
    workgroupBarrier();
  }
  return sums[0];
}

// −log(1 − x) for x in [0, 1), to a few ulps.
fn neg_log1m(x: f32) -> f32 {
  if (x > 0.5) { return -log(1.0 - x); }
  return log_ratio(x / (2.0 - x));
}

fn inside(x: f32) -> f32 {
  return select(0.0, 1.0, x > PROB_FLOOR && x < PROB_CEIL);
}

// row_distance[b,l] = ‖p[l,:] − p[l−1,:]‖₁ for 1 ≤ l < len[b], else 0: one workgroup per token.
@compute @workgroup_size(WG)
fn row_distances(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let token = wid.y * nwg.x + wid.x;
  if (token >= params.B * params.L) { return; }
  let l = token % params.L;
  if (l == 0u || l >= lengths[token / params.L]) {
    if (lid.x == 0u) { row_distance[token] = 0.0; }
    return;
  }
  let classes = params.T + 1u;
  let row = token * classes;
  var distance = 0.0;
  for (var c = lid.x; c < classes; c += WG) { distance += abs(p[row + c] - p[row - classes + c]); }
  let total = workgroup_sum(lid.x, vec3f(distance, 0.0, 0.0));
  if (lid.x == 0u) { row_distance[token] = total.x; }
}

// r[b] and the two gradient coefficients of document b: one workgroup per document.
@compute @workgroup_size(WG)
fn document_losses(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid: vec3u) {
  let b = wid.y * nwg.x + wid.x;
  if (b >= params.B) { return; }
  let len = lengths[b];
  let classes = params.T + 1u;
  // Per invocation: (Σ 1 − p[l,0], Σ p[l,0], Σ row distances) over its positions.
  var mine = vec3f(0.0);
  for (var l = lid.x; l < len; l += WG) {
    let none = p[(b * params.L + l) * classes];
    mine += vec3f(1.0 - none, none, row_distance[b * params.L + l]);
  }
  let total = workgroup_sum(lid.x, mine);
  if (lid.x != 0u) { return; }
  if (len == 0u) {
    r[b] = 0.0;
    coefficients[2u * b] = 0.0;
    coefficients[2u * b + 1u] = 0.0;
    return;
  }
  let n = f32(len);
  let selected = total.x / n;
  let unselected = total.y / n;
  let disagreement = total.z / (n * f32(classes));
  let sel = clamp(selected, PROB_FLOOR, PROB_CEIL);
  let unsel = clamp(unselected, PROB_FLOOR, PROB_CEIL);
  let dis = clamp(disagreement, PROB_FLOOR, PROB_CEIL);
  let lambda = params.lambda_p;
  let l_sel = lambda * neg_log(sel) + (1.0 - lambda) * neg_log(unsel);
  r[b] = params.w_sel * l_sel + params.w_cont * neg_log1m(dis);
  // ∂p_sel/∂p[l,0] = −1/len and ∂q/∂p[l,0] = 1/len; ∂p_dis/∂|Δ| = 1/(len·(T+1)).
  coefficients[2u * b] = params.w_sel / n *
    (lambda * inside(selected) / sel - (1.0 - lambda) * inside(unselected) / unsel);
  coefficients[2u * b + 1u] = params.w_cont * inside(disagreement) /
    ((1.0 - dis) * n * f32(classes));
}

// dp[b,l,c] = [c = 0]·coefficients[b,0] + coefficients[b,1]·(sign(p[l,c] − p[l−1,c]) −
// sign(p[l+1,c] − p[l,c])), each difference only where both rows lie inside the document;
// one invocation per element, overwriting dp.
@compute @workgroup_size(WG)
fn gradients(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid.x;
  let classes = params.T + 1u;
  if (i >= params.B * params.L * classes) { return; }
  let c = i % classes;
  let token = i / classes;
  let l = token % params.L;
  let b = token / params.L;
  let len = lengths[b];
  if (l >= len) {
    dp[i] = 0.0;
    return;
  }
  var steps = 0.0;
  if (l > 0u) { steps += sign(p[i] - p[i - classes]); }
  if (l + 1u < len) { steps -= sign(p[i + classes] - p[i]); }
  dp[i] = select(0.0, coefficients[2u * b], c == 0u) + coefficients[2u * b + 1u] * steps;
}
