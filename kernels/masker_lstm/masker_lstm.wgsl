// One time step of one direction of the masker's LSTM (forward) or of its backpropagation
// through time (backward); the launcher dispatches every step in order, so step s reads what
// step s − 1 (forward) or s + 1 (backward) wrote. The input projection x·Wx + bias and every
// reduction over positions are matmuls around these steps.
//
// Step s visits, in document b of length len, position l = s (left to right) or len − 1 − s
// (right to left); steps s ≥ len visit the padding position l = s and write zeros there, so every
// position of every buffer is written without clearing. One invocation owns one (b, unit j): its
// four gates, c, and its column of h; gates come in the order i, f, g, o (column q·H + j).

struct Params {
  B: u32,
  L: u32,
  H: u32,
  // 0: the left-to-right LSTM (u columns 0..H−1); 1: right to left (u columns H..2H−1).
  right_to_left: u32,
  step: u32, // s
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> lengths: array<u32>; // [B]
@group(0) @binding(2) var<storage, read> Wh: array<f32>; // [H,4H]
// Forward: in x·Wx + bias, out the activations i, f, g, o. Backward: read.
@group(0) @binding(3) var<storage, read_write> gates: array<f32>; // [B,L,4H]
@group(0) @binding(4) var<storage, read_write> c: array<f32>; // [B,L,H]
// h of the previous step at each position (0 at the first): the operand of
// dWh = Σ h_prevᵀ·dgates.
@group(0) @binding(5) var<storage, read_write> h_prev: array<f32>; // [B,L,H]
@group(0) @binding(6) var<storage, read_write> u: array<f32>; // [B,L,2H]
@group(0) @binding(7) var<storage, read> du: array<f32>; // [B,L,2H]
@group(0) @binding(8) var<storage, read_write> dgates: array<f32>; // [B,L,4H]
// dc·f of the step just done, which the next backward step (s − 1) adds to its dc.
@group(0) @binding(9) var<storage, read_write> dc_carry: array<f32>; // [B,H]

// The position step s visits in a document of length len.
fn position(s: u32, len: u32) -> u32 {
  if (s >= len || params.right_to_left == 0u) { return s; }
  return len - 1u - s;
}

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

// Written out because some implementations' tanh gives NaN for large |v| (e^2v overflowing).
fn tanh_stable(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  return sign(v) * (1.0 - e) / (1.0 + e);
}

// pre = x·Wx + bias + h_prev·Wh, then c = f·c_prev + i·g and h = o·tanh(c). Loop trips: H.
@compute @workgroup_size(WG)
fn forward_step(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let H = params.H;
  if (id >= params.B * H) { return; }
  let j = id % H;
  let b = id / H;
  let len = lengths[b];
  let s = params.step;
  let row = b * params.L + position(s, len);
  let g0 = row * 4u * H + j;
  let u_at = row * 2u * H + params.right_to_left * H + j;
  if (s >= len) {
    for (var q = 0u; q < 4u; q++) { gates[g0 + q * H] = 0.0; }
    c[row * H + j] = 0.0;
    h_prev[row * H + j] = 0.0;
    u[u_at] = 0.0;
    return;
  }
  var pre = vec4f(gates[g0], gates[g0 + H], gates[g0 + 2u * H], gates[g0 + 3u * H]);
  var c_before = 0.0;
  var h_before = 0.0;
  if (s > 0u) {
    let prev = b * params.L + position(s - 1u, len);
    let u_prev = prev * 2u * H + params.right_to_left * H;
    for (var k = 0u; k < H; k++) {
      let w = k * 4u * H + j;
      pre += u[u_prev + k] * vec4f(Wh[w], Wh[w + H], Wh[w + 2u * H], Wh[w + 3u * H]);
    }
    c_before = c[prev * H + j];
    h_before = u[u_prev + j];
  }
  let act = vec4f(sigmoid(pre.x), sigmoid(pre.y), tanh_stable(pre.z), sigmoid(pre.w));
  let cell = act.y * c_before + act.x * act.z;
  for (var q = 0u; q < 4u; q++) { gates[g0 + q * H] = act[q]; }
  c[row * H + j] = cell;
  h_prev[row * H + j] = h_before;
  u[u_at] = act.w * tanh_stable(cell);
}

// dh = du + dgates_next·Whᵀ and dc = dh·o·(1 − tanh²c) + dc_next·f_next, then the gates'
// gradients.
// Loop trips: 4H.
@compute @workgroup_size(WG)
fn backward_step(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let H = params.H;
  if (id >= params.B * H) { return; }
  let j = id % H;
  let b = id / H;
  let len = lengths[b];
  let s = params.step;
  let row = b * params.L + position(s, len);
  let g0 = row * 4u * H + j;
  if (s >= len) {
    for (var q = 0u; q < 4u; q++) { dgates[g0 + q * H] = 0.0; }
    return;
  }
  var dh = du[row * 2u * H + params.right_to_left * H + j];
  var dc = 0.0;
  if (s + 1u < len) {
    let next = (b * params.L + position(s + 1u, len)) * 4u * H;
    let w = j * 4u * H;
    for (var m = 0u; m < 4u * H; m++) { dh += dgates[next + m] * Wh[w + m]; }
    dc = dc_carry[b * H + j];
  }
  var c_before = 0.0;
  if (s > 0u) { c_before = c[(b * params.L + position(s - 1u, len)) * H + j]; }
  let act = vec4f(gates[g0], gates[g0 + H], gates[g0 + 2u * H], gates[g0 + 3u * H]);
  let tanh_c = tanh_stable(c[row * H + j]);
  dc += dh * act.w * (1.0 - tanh_c * tanh_c);
  dgates[g0] = dc * act.z * act.x * (1.0 - act.x);
  dgates[g0 + H] = dc * c_before * act.y * (1.0 - act.y);
  dgates[g0 + 2u * H] = dc * act.x * (1.0 - act.z * act.z);
  dgates[g0 + 3u * H] = dh * tanh_c * act.w * (1.0 - act.w);
  dc_carry[b * H + j] = dc * act.y;
}
