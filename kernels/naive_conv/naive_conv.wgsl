// The naive masked convolution, done the way a framework would: materialise every target's
// masked copy of the embeddings, convolve each copy, max-pool the materialised z; the backward
// materialises dz and dxm and reduces them. It exists only as the baseline of the benchmark and
// of a naive-mode model step, on one tile of nb documents × nt targets and one width per
// dispatch:
//
//   xm[b,l,t,d]  = m[b,l,t]·x[b,l,d]·[l < len[b]]
//   z[b,t,f,l]   = bias[f] + Σ_k Σ_d W[f,d,k]·xm[b,l+k−pad,t,d]
//   h[b,t,f]     = relu(max_{l < len[b]} z[b,t,f,l]),   a[b,t,f] = first arg-max
//   dz[b,t,f,l]  = g[b,t,f]·[l = a]·[max z > 0]
//   dxm[b,j,t,d] = Σ_f Σ_k dz[b,t,f,j−k+pad]·W[f,d,k]·[j < len[b]]
//   dm[b,j,t]    = Σ_d dxm[b,j,t,d]·x[b,j,d],   dx[b,j,d] = Σ_t dxm[b,j,t,d]·m[b,j,t]
//   dW[f,d,k]    = Σ_{b,t,l} dz[b,t,f,l]·xm[b,l+k−pad,t,d],   dbias[f] = Σ_{b,t,l} dz[b,t,f,l]
//
// Like a framework, every contraction is dense: nothing skips the zeros of dz.
// W [F,D,K] is the framework's layout; the layer's parameters live in the fast layer's
// projection layout Wt [D, Σ K·F] (column c_off + k·F + f of width w), so unpack_weights copies
// W out of Wt before the forward and weight_grad_reduce writes dW straight into dWt.
// x, m, lengths, h, g, dm and dx may hold more than the tile: the tile's documents start at b0
// and its targets at t0 of the T targets of a row of m, dm, h and g. The materialised tensors
// (xm, z, zmax, argmax, dz, dxm) hold exactly the tile.
// Every invocation owns its outputs (gather form: deterministic, no float atomics). Each loop
// walks a slice [begin, end) that the launcher sizes so no invocation runs more than ~12,288
// iterations: llvmpipe silently stops loops past ~65,535. The three big contractions compute
// 4×4 blocks per invocation so that, as in a framework's GEMM, loads do not dominate.

struct Params {
  nb: u32, // documents in the tile
  L: u32, // positions per document (padded)
  nt: u32, // targets in the tile
  D: u32, // embedding size
  F: u32, // filters of this width
  K: u32, // taps of this width
  F_total: u32, // filters of all widths: the last axis of h
  f_off: u32, // first filter of this width in h and bias
  begin: u32, // the slice this dispatch walks (what it slices is stated per kernel)
  end: u32,
  first: u32, // 1: overwrite the outputs, 0: add to them (a later slice)
  chunk: u32, // weight grad: flat (b,t,l) steps per chunk
  b0: u32, // first document of the tile in x, m, lengths, h, g, dm and dx
  t0: u32, // first target of the tile in m, dm, h and g
  T: u32, // targets per row of m, dm, h and g
  C: u32, // columns of Wt and dWt: Σ K·F over all widths
  c_off: u32, // first column of this width in Wt and dWt
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [b0 + nb.., L, D]
@group(0) @binding(2) var<storage, read> m: array<f32>; // [b0 + nb.., L, T]
@group(0) @binding(3) var<storage, read> lengths: array<u32>; // [b0 + nb..]
@group(0) @binding(4) var<storage, read_write> xm: array<f32>; // [nb, L, nt, D]
@group(0) @binding(5) var<storage, read_write> W: array<f32>; // [F, D, K]
@group(0) @binding(6) var<storage, read> bias: array<f32>; // [F_total]
@group(0) @binding(7) var<storage, read_write> z: array<f32>; // [nb, nt, F, L]
@group(0) @binding(8) var<storage, read_write> zmax: array<f32>; // [nb, nt, F_total]
@group(0) @binding(9) var<storage, read_write> argmax: array<i32>; // [nb, nt, F_total]
@group(0) @binding(10) var<storage, read_write> h: array<f32>; // [b0 + nb.., T, F_total]
@group(0) @binding(11) var<storage, read> g: array<f32>; // [b0 + nb.., T, F_total]
@group(0) @binding(12) var<storage, read_write> dz: array<f32>; // [nb, nt, F, L]
@group(0) @binding(13) var<storage, read_write> dxm: array<f32>; // [nb, L, nt, D]
@group(0) @binding(14) var<storage, read_write> dm: array<f32>; // [b0 + nb.., L, T]
@group(0) @binding(15) var<storage, read_write> dx: array<f32>; // [b0 + nb.., L, D]
@group(0) @binding(16) var<storage, read_write> partial: array<f32>; // [chunks, F·K·D + F]
@group(0) @binding(17) var<storage, read_write> dWt: array<f32>; // [D, C]
@group(0) @binding(18) var<storage, read_write> dbias: array<f32>; // [F_total]
@group(0) @binding(19) var<storage, read> Wt: array<f32>; // [D, C]

const LOWEST: f32 = -3.40282347e38;

// Row b·L + l of the tile, as a row of x, m, dm and dx.
fn outer_row(row: u32) -> u32 {
  return params.b0 * params.L + row;
}

// Element (row b·L + l, target t) of the tile in m and dm.
fn m_index(row: u32, t: u32) -> u32 {
  return outer_row(row) * params.T + params.t0 + t;
}

// Element (b·nt + t, column c) of the tile in h and g.
fn h_index(bt: u32, c: u32) -> u32 {
  let b = bt / params.nt;
  let t = bt % params.nt;
  return ((params.b0 + b) * params.T + params.t0 + t) * params.F_total + c;
}

// xm at position j of (b, t), 0 outside the document's padded range.
fn xm_at(b: u32, j: i32, t: u32, d: u32) -> f32 {
  if (j < 0 || j >= i32(params.L) || d >= params.D) { return 0.0; }
  return xm[((b * params.L + u32(j)) * params.nt + t) * params.D + d];
}

// dz at position l of (b, t, f), 0 outside [0, L).
fn dz_at(b: u32, t: u32, f: u32, l: i32) -> f32 {
  if (l < 0 || l >= i32(params.L)) { return 0.0; }
  return dz[((b * params.nt + t) * params.F + f) * params.L + u32(l)];
}

// W[f,d,k], 0 past the last filter or input (the blocks' ragged edges).
fn w_at(f: u32, d: u32, k: u32) -> f32 {
  if (f >= params.F || d >= params.D) { return 0.0; }
  return W[(f * params.D + d) * params.K + k];
}

// The 4×4 block that invocation `id` owns, of the [nb, nt, ⌈rows/4⌉, ⌈cols/4⌉] blocks of a
// tile (columns fastest): its document, target, first row and first column; not valid past the
// last block.
struct Quad {
  b: u32,
  t: u32,
  row0: u32,
  col0: u32,
  valid: bool,
}

fn quad_of(id: u32, rows: u32, cols: u32) -> Quad {
  let col_blocks = (cols + 3u) / 4u;
  let row_blocks = (rows + 3u) / 4u;
  let per_target = row_blocks * col_blocks;
  return Quad(id / (per_target * params.nt), (id / per_target) % params.nt,
              ((id / col_blocks) % row_blocks) * 4u, (id % col_blocks) * 4u,
              id < params.nb * params.nt * per_target);
}

// One invocation per element of xm.
@compute @workgroup_size(WG)
fn mask_copy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.nb * params.L * params.nt * params.D) { return; }
  let d = id % params.D;
  let t = (id / params.D) % params.nt;
  let row = id / (params.D * params.nt); // b·L + l
  let inside = row % params.L < lengths[params.b0 + row / params.L];
  xm[id] = select(0.0, m[m_index(row, t)] * x[outer_row(row) * params.D + d], inside);
}

// z over the inputs d in [begin, end): one invocation per (b, t, 4 filters, 4 positions).
@compute @workgroup_size(WG)
fn conv_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let quad = quad_of(flat_id(wid, nwg, lid), params.F, params.L);
  if (!quad.valid) { return; }
  let b = quad.b;
  let t = quad.t;
  let f0 = quad.row0;
  let l0 = quad.col0;
  let pad = i32(params.K - 1u) / 2;
  var acc: array<vec4f, 4>; // acc[position][filter]
  for (var k = 0u; k < params.K; k++) {
    let j0 = i32(l0 + k) - pad;
    for (var d = params.begin; d < params.end; d++) {
      let w = vec4f(w_at(f0, d, k), w_at(f0 + 1u, d, k), w_at(f0 + 2u, d, k), w_at(f0 + 3u, d, k));
      acc[0] += xm_at(b, j0, t, d) * w;
      acc[1] += xm_at(b, j0 + 1, t, d) * w;
      acc[2] += xm_at(b, j0 + 2, t, d) * w;
      acc[3] += xm_at(b, j0 + 3, t, d) * w;
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let l = l0 + i;
    for (var c = 0u; c < 4u; c++) {
      let f = f0 + c;
      if (l < params.L && f < params.F) {
        let at = ((b * params.nt + t) * params.F + f) * params.L + l;
        let base = select(z[at], bias[params.f_off + f], params.first != 0u);
        z[at] = base + acc[i][c];
      }
    }
  }
}

// Running max over the positions l in [begin, end) ∩ [0, len): one invocation per (b, t, f).
@compute @workgroup_size(WG)
fn max_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.nb * params.nt * params.F) { return; }
  let f = id % params.F;
  let bt = id / params.F; // b·nt + t
  let b = bt / params.nt;
  let o = bt * params.F_total + params.f_off + f;
  var best = LOWEST;
  var arg = -1;
  if (params.first == 0u) {
    best = zmax[o];
    arg = argmax[o];
  }
  let stop = min(params.end, lengths[params.b0 + b]);
  for (var l = params.begin; l < stop; l++) {
    let v = z[id * params.L + l];
    if (v > best) {
      best = v;
      arg = i32(l);
    }
  }
  zmax[o] = best;
  argmax[o] = arg;
  h[h_index(bt, params.f_off + f)] = select(0.0, max(best, 0.0), arg >= 0);
}

// The dense dz of the max-pool and relu: one invocation per element.
@compute @workgroup_size(WG)
fn pool_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.nb * params.nt * params.F * params.L) { return; }
  let l = i32(id % params.L);
  let f = (id / params.L) % params.F;
  let bt = id / (params.L * params.F);
  let o = bt * params.F_total + params.f_off + f;
  dz[id] = select(0.0, g[h_index(bt, params.f_off + f)], argmax[o] == l && zmax[o] > 0.0);
}

// dxm over the filters f in [begin, end): one invocation per (b, t, 4 positions, 4 inputs).
@compute @workgroup_size(WG)
fn input_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_id) lid: vec3u) {
  let quad = quad_of(flat_id(wid, nwg, lid), params.L, params.D);
  if (!quad.valid) { return; }
  let b = quad.b;
  let t = quad.t;
  let j0 = quad.row0;
  let d0 = quad.col0;
  let pad = i32(params.K - 1u) / 2;
  var acc: array<vec4f, 4>; // acc[position][input]
  for (var f = params.begin; f < params.end; f++) {
    for (var k = 0u; k < params.K; k++) {
      let w = vec4f(w_at(f, d0, k), w_at(f, d0 + 1u, k), w_at(f, d0 + 2u, k), w_at(f, d0 + 3u, k));
      let l0 = i32(j0) - i32(k) + pad;
      acc[0] += dz_at(b, t, f, l0) * w;
      acc[1] += dz_at(b, t, f, l0 + 1) * w;
      acc[2] += dz_at(b, t, f, l0 + 2) * w;
      acc[3] += dz_at(b, t, f, l0 + 3) * w;
    }
  }
  let len = lengths[params.b0 + b];
  for (var i = 0u; i < 4u; i++) {
    let j = j0 + i;
    for (var c = 0u; c < 4u; c++) {
      let d = d0 + c;
      if (j < params.L && d < params.D) {
        let at = ((b * params.L + j) * params.nt + t) * params.D + d;
        let base = select(dxm[at], 0.0, params.first != 0u);
        dxm[at] = select(0.0, base + acc[i][c], j < len);
      }
    }
  }
}

// dm over the inputs d in [begin, end): one invocation per (b, j, t).
@compute @workgroup_size(WG)
fn mask_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.nb * params.L * params.nt) { return; }
  let row = id / params.nt; // b·L + j
  let out = m_index(row, id % params.nt);
  var sum = select(dm[out], 0.0, params.first != 0u);
  for (var d = params.begin; d < params.end; d++) {
    sum += dxm[id * params.D + d] * x[outer_row(row) * params.D + d];
  }
  dm[out] = sum;
}

// dx over the tile's targets t in [begin, end): one invocation per (b, j, d).
@compute @workgroup_size(WG)
fn embedding_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.nb * params.L * params.D) { return; }
  let d = id % params.D;
  let row = id / params.D; // b·L + j
  let out = outer_row(row) * params.D + d;
  var sum = select(dx[out], 0.0, params.first != 0u);
  for (var t = params.begin; t < params.end; t++) {
    sum += dxm[(row * params.nt + t) * params.D + d] * m[m_index(row, t)];
  }
  dx[out] = sum;
}

// Partial sums of dW and dbias over chunks of the flat (b, t, l) axis: chunk c covers
// [(begin + c)·chunk, (begin + c + 1)·chunk). One invocation per (chunk, 4 filters, tap,
// 4 inputs) writes partial[c, f, k, d], then one per (chunk, 4 filters) writes the bias part.
@compute @workgroup_size(WG)
fn weight_grad_partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let f_blocks = (params.F + 3u) / 4u;
  let d_blocks = (params.D + 3u) / 4u;
  let weight_blocks = f_blocks * params.K * d_blocks;
  let per_chunk = weight_blocks + f_blocks;
  if (id >= (params.end - params.begin) * per_chunk) { return; }
  let c = id / per_chunk;
  let e = id % per_chunk;
  let total = params.nb * params.nt * params.L;
  let r0 = (params.begin + c) * params.chunk;
  let r1 = min(total, r0 + params.chunk);
  let row_len = params.F * params.K * params.D + params.F;
  let out = c * row_len;
  let is_bias = e >= weight_blocks;
  var d0 = 0u;
  var k = 0u;
  var f0 = (e - weight_blocks) * 4u;
  if (!is_bias) {
    d0 = (e % d_blocks) * 4u;
    k = (e / d_blocks) % params.K;
    f0 = (e / (d_blocks * params.K)) * 4u;
  }
  let pad = i32(params.K - 1u) / 2;
  var acc: array<vec4f, 4>; // acc[filter][input]; the bias part uses acc[0][filter]
  var l = r0 % params.L;
  var t = (r0 / params.L) % params.nt;
  var b = r0 / (params.L * params.nt);
  for (var r = r0; r < r1; r++) {
    let bt = b * params.nt + t;
    let grads = vec4f(
      dz_at(b, t, min(f0, params.F - 1u), i32(l)) * f32(f0 < params.F),
      dz_at(b, t, min(f0 + 1u, params.F - 1u), i32(l)) * f32(f0 + 1u < params.F),
      dz_at(b, t, min(f0 + 2u, params.F - 1u), i32(l)) * f32(f0 + 2u < params.F),
      dz_at(b, t, min(f0 + 3u, params.F - 1u), i32(l)) * f32(f0 + 3u < params.F),
    );
    if (is_bias) {
      acc[0] += grads;
    } else {
      let j = i32(l + k) - pad;
      let inputs = vec4f(xm_at(b, j, t, d0), xm_at(b, j, t, d0 + 1u), xm_at(b, j, t, d0 + 2u),
                         xm_at(b, j, t, d0 + 3u));
      acc[0] += grads[0] * inputs;
      acc[1] += grads[1] * inputs;
      acc[2] += grads[2] * inputs;
      acc[3] += grads[3] * inputs;
    }
    l++;
    if (l == params.L) {
      l = 0u;
      t++;
      if (t == params.nt) {
        t = 0u;
        b++;
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let f = f0 + i;
    if (f >= params.F) { break; }
    if (is_bias) {
      partial[out + params.F * params.K * params.D + f] = acc[0][i];
      continue;
    }
    for (var c4 = 0u; c4 < 4u; c4++) {
      let d = d0 + c4;
      if (d < params.D) { partial[out + (f * params.K + k) * params.D + d] = acc[i][c4]; }
    }
  }
}

// dW (into dWt) and dbias (+)= Σ over the partial sums' chunks c in [begin, end): one
// invocation per value of a partial row, dW[f,k,d] then dbias[f].
@compute @workgroup_size(WG)
fn weight_grad_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let weights = params.F * params.K * params.D;
  let row_len = weights + params.F;
  if (id >= row_len) { return; }
  let is_bias = id >= weights;
  let d = id % params.D;
  let k = (id / params.D) % params.K;
  let f = id / (params.D * params.K);
  let at = select(d * params.C + params.c_off + k * params.F + f, params.f_off + id - weights,
                  is_bias);
  var sum = 0.0;
  if (params.first == 0u && is_bias) { sum = dbias[at]; }
  if (params.first == 0u && !is_bias) { sum = dWt[at]; }
  for (var c = params.begin; c < params.end; c++) { sum += partial[c * row_len + id]; }
  if (is_bias) {
    dbias[at] = sum;
  } else {
    dWt[at] = sum;
  }
}

// W [F,D,K] of this width out of the projection layout Wt: one invocation per value.
@compute @workgroup_size(WG)
fn unpack_weights(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.F * params.D * params.K) { return; }
  let k = id % params.K;
  let d = (id / params.K) % params.D;
  let f = id / (params.K * params.D);
  W[id] = Wt[d * params.C + params.c_off + k * params.F + f];
}
