// The masker's per-token (Gumbel-)softmax over the T+1 classes (class 0 = "none") and its
// backward. For every token (b, l) with l < len[b]:
//
//   y = (a + n)/τ,  n = −log(−log u),  u = hash_uniform(seed, step, (b·L + l)·(T+1) + c)
//   p = softmax(y),  m[t] = s·p[t+1]
//
// with n = 0 in soft and sparse modes; hard mode outputs the one-hot of the first arg-max of y in
// p and m but keeps the soft p in p_soft, which every backward reads (straight-through); sparse
// mode keeps "none" and the `keep` largest targets' y (ties towards the lower class), and p is
// their softmax, 0 elsewhere; p_soft = p, so the backward below is exact on the kept classes.
// Sampled sparse mode (training) picks the kept targets by y with noise, so that a target not
// yet kept still gets drawn, and gradient, now and then (Gumbel top-k: a draw without
// replacement from softmax(y)); its p is the noise-free softmax of a/τ over them:
//
//   da = (1/τ)·ps ⊙ (gp − Σ_c ps_c·gp_c),  gp = dp + s·[0, dm]
//
// with s the mask scale: the model passes T+1, so that the encoder's input starts at the
// embeddings' own size while p is still uniform (see model/task/spec.ts).
//
// Padding tokens get zeros everywhere. One workgroup owns one token: its 64 invocations stride
// over the classes and meet in tree reductions of fixed order, so with T in the thousands (8,922
// ICD codes) an invocation loops ⌈(T+1)/64⌉ times per pass, far below llvmpipe's ~65,535
// iteration cut-off, and results are deterministic without atomics.

struct Params {
  B: u32,
  L: u32,
  T: u32, // targets; classes are T + 1
  seed: u32,
  step: u32, // the noise stream: fresh noise every training step
  mode: u32, // SOFT, GUMBEL, HARD, SPARSE or SPARSE_SAMPLED
  tau: f32, // temperature
  mask_scale: f32, // s
  keep: u32, // sparse mode: targets kept besides "none", 1 to MAX_KEPT
}

// The backward adds dp into the upstream gradient; without it dp is never read.
override HAS_DP: bool = true;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>; // [B, L, T+1]
@group(0) @binding(2) var<storage, read> lengths: array<u32>; // [B]
@group(0) @binding(3) var<storage, read_write> p: array<f32>; // [B, L, T+1]
@group(0) @binding(4) var<storage, read_write> m: array<f32>; // [B, L, T]
@group(0) @binding(5) var<storage, read_write> p_soft: array<f32>; // [B, L, T+1]
@group(0) @binding(6) var<storage, read> dp: array<f32>; // [B, L, T+1]
@group(0) @binding(7) var<storage, read> dm: array<f32>; // [B, L, T]
@group(0) @binding(8) var<storage, read_write> da: array<f32>; // [B, L, T+1]

const GUMBEL: u32 = 1u;
const HARD: u32 = 2u;
const SPARSE: u32 = 3u;
const SPARSE_SAMPLED: u32 = 4u;
const MAX_KEPT: u32 = 32u;
const LOWEST: f32 = -3.40282347e38;
// 2^-25: where a draw of exactly 0 is moved to, half the grid step of hash_uniform.
const U_MIN: f32 = 2.98023224e-8;

struct Best {
  value: f32,
  index: u32,
}

var<workgroup> best_values: array<f32, WG>;
var<workgroup> best_indices: array<u32, WG>;
var<workgroup> sums: array<f32, WG>;

fn logit(index: u32) -> f32 {
  var noise = 0.0;
  if (params.mode == GUMBEL || params.mode == HARD || params.mode == SPARSE_SAMPLED) {
    let u = max(hash_uniform(params.seed, params.step, index), U_MIN);
    noise = -log(neg_log(u));
  }
  return (a[index] + noise) / params.tau;
}

// Whether x comes before y in the sparse ranking: larger value, then lower class.
fn ranks_before(x: Best, y: Best) -> bool {
  return x.value > y.value || (x.value == y.value && x.index < y.index);
}

// The largest value over the workgroup and its lowest index among ties.
fn workgroup_best(lid: u32, mine: Best) -> Best {
  best_values[lid] = mine.value;
  best_indices[lid] = mine.index;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let value = best_values[lid + half];
      let index = best_indices[lid + half];
      if (ranks_before(Best(value, index), Best(best_values[lid], best_indices[lid]))) {
        best_values[lid] = value;
        best_indices[lid] = index;
      }
    }
    workgroupBarrier();
  }
  let best = Best(best_values[0], best_indices[0]);
  // Every invocation has read slot 0 before a later reduction overwrites it.
  workgroupBarrier();
  return best;
}

fn workgroup_sum(lid: u32, mine: f32) -> f32 {
  sums[lid] = mine;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { sums[lid] += sums[lid + half]; }
    workgroupBarrier();
  }
  let total = sums[0];
  workgroupBarrier();
  return total;
}

// The last target sparse mode keeps, from the y that p_soft[row..] holds: each invocation sorts
// its own strided targets' k best into a private list (≤ k trips per target), then k workgroup
// rounds each take the best of the lists' heads, so nothing is read from memory twice.
fn kth_target(lid: u32, row: u32) -> Best {
  let k = min(params.keep, params.T);
  var list: array<Best, MAX_KEPT>;
  var count = 0u;
  for (var c = 1u + lid; c <= params.T; c += WG) {
    let item = Best(p_soft[row + c], c);
    if (count == k && !ranks_before(item, list[k - 1u])) { continue; }
    var i = min(count, k - 1u);
    while (i > 0u && ranks_before(item, list[i - 1u])) {
      list[i] = list[i - 1u];
      i -= 1u;
    }
    list[i] = item;
    count = min(count + 1u, k);
  }
  var head = 0u;
  var kth = Best(LOWEST, 0xffffffffu);
  for (var round = 0u; round < k; round++) {
    var mine = Best(LOWEST, 0xffffffffu);
    if (head < count) { mine = list[head]; }
    kth = workgroup_best(lid, mine);
    if (head < count && list[head].index == kth.index) { head += 1u; }
  }
  return kth;
}

// Sparse modes: picks the kept classes by the scores p_soft holds (y, plus noise when sampled),
// parks the noise-free a/τ of each kept class and LOWEST elsewhere (exp gives 0 there), and
// returns the kept classes' largest a/τ.
fn keep_sparse(lid: u32, row: u32) -> Best {
  let kth = kth_target(lid, row);
  var mine = Best(LOWEST, 0xffffffffu);
  for (var c = lid; c <= params.T; c += WG) {
    let kept = c == 0u || !ranks_before(kth, Best(p_soft[row + c], c));
    let y = select(LOWEST, a[row + c] / params.tau, kept);
    p_soft[row + c] = y;
    if (y > mine.value) { mine = Best(y, c); }
  }
  return workgroup_best(lid, mine);
}

fn token_id(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

fn is_padding(token: u32) -> bool {
  return token % params.L >= lengths[token / params.L];
}

// One workgroup per token. Each invocation parks its classes' y, then exp(y − max), in p_soft
// and reads back only what it wrote itself, so the noise is drawn once.
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let token = token_id(wid, nwg);
  if (token >= params.B * params.L) { return; }
  let classes = params.T + 1u;
  let row = token * classes;
  let mask_row = token * params.T;
  if (is_padding(token)) {
    for (var c = lid.x; c < classes; c += WG) {
      p[row + c] = 0.0;
      p_soft[row + c] = 0.0;
      if (c > 0u) { m[mask_row + c - 1u] = 0.0; }
    }
    return;
  }
  var mine = Best(LOWEST, 0xffffffffu);
  for (var c = lid.x; c < classes; c += WG) {
    let y = logit(row + c);
    p_soft[row + c] = y;
    if (y > mine.value) { mine = Best(y, c); }
  }
  var best = workgroup_best(lid.x, mine);
  if (params.mode == SPARSE || params.mode == SPARSE_SAMPLED) { best = keep_sparse(lid.x, row); }
  var sum = 0.0;
  for (var c = lid.x; c < classes; c += WG) {
    let e = exp(p_soft[row + c] - best.value);
    p_soft[row + c] = e;
    sum += e;
  }
  let total = workgroup_sum(lid.x, sum);
  let hard = params.mode == HARD;
  for (var c = lid.x; c < classes; c += WG) {
    let soft = p_soft[row + c] / total;
    p_soft[row + c] = soft;
    let out = select(soft, select(0.0, 1.0, c == best.index), hard);
    p[row + c] = out;
    if (c > 0u) { m[mask_row + c - 1u] = params.mask_scale * out; }
  }
}

// gp[c] = dp[c] + s·dm[c − 1] (no dm for class 0, no dp without HAS_DP).
fn upstream(token: u32, c: u32) -> f32 {
  var g = 0.0;
  if (HAS_DP) { g = dp[token * (params.T + 1u) + c]; }
  if (c > 0u) { g += params.mask_scale * dm[token * params.T + c - 1u]; }
  return g;
}

// One workgroup per token: da = (1/τ)·ps ⊙ (gp − ps·gp), overwriting da.
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid: vec3u) {
  let token = token_id(wid, nwg);
  if (token >= params.B * params.L) { return; }
  let classes = params.T + 1u;
  let row = token * classes;
  if (is_padding(token)) {
    for (var c = lid.x; c < classes; c += WG) { da[row + c] = 0.0; }
    return;
  }
  var dot = 0.0;
  for (var c = lid.x; c < classes; c += WG) { dot += p_soft[row + c] * upstream(token, c); }
  let total = workgroup_sum(lid.x, dot);
  for (var c = lid.x; c < classes; c += WG) {
    da[row + c] = p_soft[row + c] * (upstream(token, c) - total) / params.tau;
  }
}
