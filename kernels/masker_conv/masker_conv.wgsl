// The small kernels of the convolutional masker, around the matmuls the launcher reuses
// (Q = x·Wt, a = u·Wo, and their backward). With Q the per-tap projection of every position,
//
//   u[b,l,j] = tanh(c[j] + Σ_k Q[b,l+k−1,k,j]),  0 ≤ l+k−1 < len[b],  and u = 0 for l ≥ len[b]
//   a[b,l,o] = Σ_j u[b,l,j]·Wo[j,o] + bo[o]
//
// Every invocation owns its outputs (gather form), so results are deterministic without float
// atomics. The column sum walks a slice [begin, end) of rows per dispatch, so no invocation
// exceeds llvmpipe's silent ~65,535-iteration cut-off.

struct Params {
  B: u32, // documents
  L: u32, // positions per document (padded)
  H: u32, // hidden units
  cols: u32, // columns of the bias add (T+1) or of the column sum
  begin: u32, // slice of rows the column sum walks in this dispatch
  end: u32,
  first: u32, // column sum: first slice, overwrite instead of adding
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>; // [B]
@group(0) @binding(2) var<storage, read> Q: array<f32>; // [B, L, 3, H]
@group(0) @binding(3) var<storage, read> c: array<f32>; // [H]
@group(0) @binding(4) var<storage, read_write> u: array<f32>; // [B, L, H]
@group(0) @binding(5) var<storage, read_write> a: array<f32>; // [B, L, cols]
@group(0) @binding(6) var<storage, read> bo: array<f32>; // [cols]
@group(0) @binding(7) var<storage, read> du: array<f32>; // [B, L, H]
@group(0) @binding(8) var<storage, read_write> dpre: array<f32>; // [B, L, H]
@group(0) @binding(9) var<storage, read_write> dQ: array<f32>; // [B, L, 3, H]
@group(0) @binding(10) var<storage, read> column_in: array<f32>; // [rows, cols]
@group(0) @binding(11) var<storage, read_write> column_out: array<f32>; // [cols]

const TAPS: i32 = 3;
// tanh(±15) rounds to ±1 in f32; clamping first keeps drivers that build tanh from exponentials
// from overflowing to inf/inf = NaN on large pre-activations.
const TANH_CLAMP: f32 = 15.0;

// u[b,l,j]: one invocation per (b, l, j); the three taps read the neighbouring positions' Q.
@compute @workgroup_size(WG)
fn tap_tanh(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.B * params.L * params.H) { return; }
  let j = id % params.H;
  let row = id / params.H;
  let b = row / params.L;
  let l = i32(row % params.L);
  let len = i32(lengths[b]);
  if (l >= len) {
    u[id] = 0.0;
    return;
  }
  var pre = c[j];
  for (var k = 0; k < TAPS; k++) {
    let p = l + k - 1;
    if (p >= 0 && p < len) {
      pre += Q[((b * params.L + u32(p)) * 3u + u32(k)) * params.H + j];
    }
  }
  u[id] = tanh(clamp(pre, -TANH_CLAMP, TANH_CLAMP));
}

// a[b,l,o] += bo[o]: one invocation per element of a.
@compute @workgroup_size(WG)
fn add_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.B * params.L * params.cols) { return; }
  a[id] += bo[id % params.cols];
}

// dpre = du·(1 − u²) inside documents; 0 at padding, where u is the constant 0, not a tanh.
@compute @workgroup_size(WG)
fn tanh_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.B * params.L * params.H) { return; }
  let row = id / params.H;
  let inside = row % params.L < lengths[row / params.L];
  dpre[id] = select(0.0, du[id] * (1.0 - u[id] * u[id]), inside);
}

// dQ[b,p,k,h] = dpre[b,p−k+1,h] when both p and p−k+1 lie inside the document, else 0: one
// invocation per element of dQ.
@compute @workgroup_size(WG)
fn tap_gradients(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.B * params.L * 3u * params.H) { return; }
  let h = id % params.H;
  let k = i32((id / params.H) % 3u);
  let row = id / (3u * params.H);
  let b = row / params.L;
  let p = i32(row % params.L);
  let len = i32(lengths[b]);
  let l = p - k + 1;
  var grad = 0.0;
  if (p < len && l >= 0 && l < len) {
    grad = dpre[(b * params.L + u32(l)) * params.H + h];
  }
  dQ[id] = grad;
}

// column_out[col] (+)= Σ_{row in [begin, end)} column_in[row, col], rows added in order.
@compute @workgroup_size(WG)
fn column_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_id) lid: vec3u) {
  let col = flat_id(wid, nwg, lid);
  if (col >= params.cols) { return; }
  var sum = 0.0;
  for (var row = params.begin; row < params.end; row++) {
    sum += column_in[row * params.cols + col];
  }
  if (params.first != 0u) {
    column_out[col] = sum;
  } else {
    column_out[col] += sum;
  }
}
