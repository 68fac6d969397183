// The fused masked mix + max-pool over time of one convolution width, and its backward, on one
// tile of nb documents × nt targets. With the per-tap projection P of the width,
//
//   z[b,t,f,l] = bias[f] + Σ_k m[b,j,t]·P[b,j,k,f],   j = l + k − pad, 0 ≤ j < len[b]
//   h[b,t,f]   = relu(max_{l < len[b]} z[b,t,f,l]),   a[b,t,f] = first arg-max
//
// without ever storing z. Every invocation owns its outputs (gather form), so sums are
// deterministic and need no float atomics. Loops over l (forward) and t (backward) run over a
// slice [begin, end) per dispatch, so no invocation exceeds llvmpipe's ~65,535-iteration cut-off.

struct Params {
  nb: u32, // documents in the tile
  L: u32, // positions per document (padded)
  nt: u32, // targets in the tile
  C: u32, // columns of P: Σ over widths of K·F
  F_total: u32, // filters of all widths: the last axis of h
  K: u32, // taps of this width
  F: u32, // filters of this width
  p_col: u32, // first column of this width in P
  f_off: u32, // first filter of this width in h
  begin: u32, // slice of l (forward) or t (backward taps) this dispatch walks
  end: u32,
  first: u32, // forward: first slice, start the running max afresh; bias reduce: overwrite
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> P: array<f32>; // [nb, L, C]
@group(0) @binding(2) var<storage, read> m: array<f32>; // [nb, L, nt]
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [F_total]
@group(0) @binding(4) var<storage, read> lengths: array<u32>; // [nb]
@group(0) @binding(5) var<storage, read_write> zmax: array<f32>; // [nb, nt, F_total]
@group(0) @binding(6) var<storage, read_write> argmax: array<i32>; // [nb, nt, F_total]
@group(0) @binding(7) var<storage, read_write> h: array<f32>; // [nb, nt, F_total]
@group(0) @binding(8) var<storage, read> g: array<f32>; // [nb, nt, F_total]
@group(0) @binding(9) var<storage, read_write> dP: array<f32>; // [nb, L, C]
@group(0) @binding(10) var<storage, read_write> dm: array<f32>; // [nb, L, nt]
@group(0) @binding(11) var<storage, read_write> db_partial: array<f32>; // [nb, F_total]
@group(0) @binding(12) var<storage, read_write> db: array<f32>; // [F_total]

const WG: u32 = 64u;
const LOWEST: f32 = -3.40282347e38;

fn flat_id(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// The upstream gradient that reaches z through relu and the max: 0 where h is 0.
fn pooled_grad(o: u32) -> f32 {
  if (argmax[o] < 0 || zmax[o] <= 0.0) { return 0.0; }
  return g[o];
}

// One invocation owns a block of 4 targets × 4 filters of one document: the 16 running maxima
// stay in registers and every loaded mask and tap value is used four times.
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let filter_blocks = (params.F + 3u) / 4u;
  let target_blocks = (params.nt + 3u) / 4u;
  if (id >= params.nb * target_blocks * filter_blocks) { return; }
  let f0 = (id % filter_blocks) * 4u;
  let t0 = ((id / filter_blocks) % target_blocks) * 4u;
  let b = id / (filter_blocks * target_blocks);
  // Targets and filters past the edge are clamped onto the last one and never written.
  let fs = min(vec4u(f0, f0 + 1u, f0 + 2u, f0 + 3u), vec4u(params.F - 1u));
  let ts = min(vec4u(t0, t0 + 1u, t0 + 2u, t0 + 3u), vec4u(params.nt - 1u));
  let len = i32(lengths[b]);
  let pad = i32(params.K - 1u) / 2;
  let fo = params.f_off;
  let bias_f = vec4f(bias[fo + fs.x], bias[fo + fs.y], bias[fo + fs.z], bias[fo + fs.w]);
  var best0 = vec4f(LOWEST);
  var best1 = best0;
  var best2 = best0;
  var best3 = best0;
  var arg0 = vec4i(-1);
  var arg1 = arg0;
  var arg2 = arg0;
  var arg3 = arg0;
  if (params.first == 0u) {
    best0 = load_zmax(b, ts.x, fs);
    best1 = load_zmax(b, ts.y, fs);
    best2 = load_zmax(b, ts.z, fs);
    best3 = load_zmax(b, ts.w, fs);
    arg0 = load_argmax(b, ts.x, fs);
    arg1 = load_argmax(b, ts.y, fs);
    arg2 = load_argmax(b, ts.z, fs);
    arg3 = load_argmax(b, ts.w, fs);
  }
  let stop = min(i32(params.end), len);
  for (var l = i32(params.begin); l < stop; l++) {
    var z0 = bias_f;
    var z1 = bias_f;
    var z2 = bias_f;
    var z3 = bias_f;
    let k_first = max(0, pad - l);
    let k_stop = min(i32(params.K), len - l + pad);
    for (var k = k_first; k < k_stop; k++) {
      let row = b * params.L + u32(l + k - pad);
      let mo = row * params.nt;
      let po = row * params.C + params.p_col + u32(k) * params.F;
      let taps = vec4f(P[po + fs.x], P[po + fs.y], P[po + fs.z], P[po + fs.w]);
      z0 += m[mo + ts.x] * taps;
      z1 += m[mo + ts.y] * taps;
      z2 += m[mo + ts.z] * taps;
      z3 += m[mo + ts.w] * taps;
    }
    let here = vec4i(l);
    let up0 = z0 > best0;
    let up1 = z1 > best1;
    let up2 = z2 > best2;
    let up3 = z3 > best3;
    best0 = select(best0, z0, up0);
    best1 = select(best1, z1, up1);
    best2 = select(best2, z2, up2);
    best3 = select(best3, z3, up3);
    arg0 = select(arg0, here, up0);
    arg1 = select(arg1, here, up1);
    arg2 = select(arg2, here, up2);
    arg3 = select(arg3, here, up3);
  }
  store_pooled(b, t0, f0, best0, arg0);
  store_pooled(b, t0 + 1u, f0, best1, arg1);
  store_pooled(b, t0 + 2u, f0, best2, arg2);
  store_pooled(b, t0 + 3u, f0, best3, arg3);
}

fn pooled_at(b: u32, t: u32, f: u32) -> u32 {
  return (b * params.nt + t) * params.F_total + params.f_off + f;
}

fn load_zmax(b: u32, t: u32, fs: vec4u) -> vec4f {
  return vec4f(zmax[pooled_at(b, t, fs.x)], zmax[pooled_at(b, t, fs.y)],
               zmax[pooled_at(b, t, fs.z)], zmax[pooled_at(b, t, fs.w)]);
}

fn load_argmax(b: u32, t: u32, fs: vec4u) -> vec4i {
  return vec4i(argmax[pooled_at(b, t, fs.x)], argmax[pooled_at(b, t, fs.y)],
               argmax[pooled_at(b, t, fs.z)], argmax[pooled_at(b, t, fs.w)]);
}

// Writes the running max, its position and h for the filters f0..f0+3 of target t that exist.
fn store_pooled(b: u32, t: u32, f0: u32, best: vec4f, arg: vec4i) {
  if (t >= params.nt) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (f0 + j < params.F) {
      let o = pooled_at(b, t, f0 + j);
      zmax[o] = best[j];
      argmax[o] = arg[j];
      h[o] = select(0.0, max(best[j], 0.0), arg[j] >= 0);
    }
  }
}

// dP[b,j,k,f] += Σ_t m[b,j,t]·s[b,t,f] over the targets whose arg-max a puts tap k at j = a+k−pad,
// and db_partial[b,f] += Σ_t s[b,t,f]: one invocation per (b, f) owns both.
@compute @workgroup_size(WG)
fn backward_taps(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.nb * params.F) { return; }
  let f = id % params.F;
  let b = id / params.F;
  let len = i32(lengths[b]);
  let pad = i32(params.K - 1u) / 2;
  var bias_grad = 0.0;
  for (var t = params.begin; t < params.end; t++) {
    let o = (b * params.nt + t) * params.F_total + params.f_off + f;
    let s = pooled_grad(o);
    if (s == 0.0) { continue; }
    bias_grad += s;
    for (var k = 0; k < i32(params.K); k++) {
      let j = argmax[o] + k - pad;
      if (j >= 0 && j < len) {
        let row = b * params.L + u32(j);
        let at = row * params.C + params.p_col + u32(k) * params.F + f;
        dP[at] += m[row * params.nt + t] * s;
      }
    }
  }
  db_partial[b * params.F_total + params.f_off + f] += bias_grad;
}

// dm[b,j,t] += Σ_{f,k} P[b,j,k,f]·s[b,t,f] where j = a[b,t,f]+k−pad: one invocation per (b, t)
// owns the column dm[b,:,t].
@compute @workgroup_size(WG)
fn backward_masks(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.nb * params.nt) { return; }
  let t = id % params.nt;
  let b = id / params.nt;
  let len = i32(lengths[b]);
  let pad = i32(params.K - 1u) / 2;
  for (var f = 0u; f < params.F; f++) {
    let o = (b * params.nt + t) * params.F_total + params.f_off + f;
    let s = pooled_grad(o);
    if (s == 0.0) { continue; }
    for (var k = 0; k < i32(params.K); k++) {
      let j = argmax[o] + k - pad;
      if (j >= 0 && j < len) {
        let row = b * params.L + u32(j);
        dm[row * params.nt + t] += P[row * params.C + params.p_col + u32(k) * params.F + f] * s;
      }
    }
  }
}

// db[f] (+)= Σ_b db_partial[b,f] over the tile's documents, in order.
@compute @workgroup_size(WG)
fn reduce_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_id) lid: vec3u) {
  let f = flat_id(wid, nwg, lid);
  if (f >= params.F_total) { return; }
  var sum = 0.0;
  for (var b = 0u; b < params.nb; b++) { sum += db_partial[b * params.F_total + f]; }
  if (params.first != 0u) {
    db[f] = sum;
  } else {
    db[f] += sum;
  }
}
