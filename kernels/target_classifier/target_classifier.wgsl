// Per-target batched matmuls of the target classifiers and their backward: for every target t,
//
//   C_t[M,N] (+)= A_t[M,K] · B_t[K,N]      over the reduction slice [k_begin, k_end)
//
// with every operand addressed through strides, so the same kernel reads the activations
// [B,T,·] and the parameters [T,·,·] in place for the forward (in_t·W_t), the weight gradients
// (in_tᵀ·dout_t, a reduction over documents) and the input gradients (dout_t·W_tᵀ); the entry
// points differ only in how the sum starts and ends. Each invocation owns a block of 8 rows ×
// 8 (or 4) columns of one C_t held in registers and reads its operands straight from storage,
// which is fastest on llvmpipe. The launcher slices long reductions across dispatches, each adding to C in
// order, because llvmpipe silently stops loops past ~65,535 iterations.

struct Params {
  T: u32, // targets: the matmuls of the batch
  M: u32, // rows of every C_t
  N: u32, // columns of every C_t
  a_t: u32, // A_t[m,k] = a[t·a_t + m·a_m + k·a_k]
  a_m: u32,
  a_k: u32,
  b_t: u32, // B_t[k,n] = b[t·b_t + k·b_k + n·b_n]
  b_k: u32,
  b_n: u32,
  c_t: u32, // C_t[m,n] = c[t·c_t + m·c_m + n]
  c_m: u32,
  k_begin: u32,
  k_end: u32,
  add_to_c: u32, // start from what C holds: a later slice, or accumulated gradients
  last: u32, // this slice completes the sum: apply the ReLU or its gate
  relu: u32, // affine only: the layer's output goes through a ReLU
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>; // [T, N]
@group(0) @binding(5) var<storage, read> gate: array<f32>; // laid out as C: the ReLU outputs

const WG: u32 = 64u;
const ROWS: u32 = 8u;

// Blocks 8 columns wide for wide outputs; 4 where C_t has at most 4 columns (the logits and
// their weight gradients), so that few clamped columns are computed for nothing. The launcher
// sets WIDE; COLS follows from it.
override WIDE: bool = true;
override COLS: u32 = select(4u, 8u, WIDE);

fn flat_id(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

struct Block {
  t: u32,
  row0: u32,
  col0: u32,
}

// Columns vary fastest, so neighbouring invocations share the rows of A they read.
fn block_of(id: u32) -> Block {
  let col_blocks = (params.N + COLS - 1u) / COLS;
  let row_blocks = (params.M + ROWS - 1u) / ROWS;
  return Block(id / (col_blocks * row_blocks), ((id / col_blocks) % row_blocks) * ROWS,
               (id % col_blocks) * COLS);
}

// The block's partial products over the slice: row i, columns 4h..4h+3 at index 2i + h. Rows
// and columns past the edge are clamped onto the last one and never written.
fn block_sum(blk: Block) -> array<vec4f, 16> {
  let last_row = vec4u(params.M - 1u);
  let last_col = vec4u(params.N - 1u);
  let a_top = blk.t * params.a_t + min(blk.row0 + vec4u(0u, 1u, 2u, 3u), last_row) * params.a_m;
  let a_low = blk.t * params.a_t + min(blk.row0 + vec4u(4u, 5u, 6u, 7u), last_row) * params.a_m;
  let b_left = blk.t * params.b_t + min(blk.col0 + vec4u(0u, 1u, 2u, 3u), last_col) * params.b_n;
  let b_right = blk.t * params.b_t + min(blk.col0 + vec4u(4u, 5u, 6u, 7u), last_col) * params.b_n;
  var acc0l = vec4f();
  var acc0r = vec4f();
  var acc1l = vec4f();
  var acc1r = vec4f();
  var acc2l = vec4f();
  var acc2r = vec4f();
  var acc3l = vec4f();
  var acc3r = vec4f();
  var acc4l = vec4f();
  var acc4r = vec4f();
  var acc5l = vec4f();
  var acc5r = vec4f();
  var acc6l = vec4f();
  var acc6r = vec4f();
  var acc7l = vec4f();
  var acc7r = vec4f();
  for (var k = params.k_begin; k < params.k_end; k++) {
    let top = a_top + k * params.a_k;
    let low = a_low + k * params.a_k;
    let bl = b_left + k * params.b_k;
    let left = vec4f(b[bl.x], b[bl.y], b[bl.z], b[bl.w]);
    var right = vec4f();
    if (WIDE) {
      let br = b_right + k * params.b_k;
      right = vec4f(b[br.x], b[br.y], b[br.z], b[br.w]);
    }
    let a0 = a[top.x];
    acc0l += a0 * left;
    acc0r += a0 * right;
    let a1 = a[top.y];
    acc1l += a1 * left;
    acc1r += a1 * right;
    let a2 = a[top.z];
    acc2l += a2 * left;
    acc2r += a2 * right;
    let a3 = a[top.w];
    acc3l += a3 * left;
    acc3r += a3 * right;
    let a4 = a[low.x];
    acc4l += a4 * left;
    acc4r += a4 * right;
    let a5 = a[low.y];
    acc5l += a5 * left;
    acc5r += a5 * right;
    let a6 = a[low.z];
    acc6l += a6 * left;
    acc6r += a6 * right;
    let a7 = a[low.w];
    acc7l += a7 * left;
    acc7r += a7 * right;
  }
  return array<vec4f, 16>(acc0l, acc0r, acc1l, acc1r, acc2l, acc2r, acc3l, acc3r,
                          acc4l, acc4r, acc5l, acc5r, acc6l, acc6r, acc7l, acc7r);
}

fn c_at(blk: Block, i: u32, j: u32) -> u32 {
  return blk.t * params.c_t + (blk.row0 + i) * params.c_m + blk.col0 + j;
}

fn inside(blk: Block, i: u32, j: u32) -> bool {
  return blk.row0 + i < params.M && blk.col0 + j < params.N;
}

// out = relu?(bias + in·W): the first slice starts from the bias, the last applies the ReLU.
@compute @workgroup_size(WG)
fn affine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_id) lid: vec3u) {
  let blk = block_of(flat_id(wid, nwg, lid));
  if (blk.t >= params.T) { return; }
  var sums = block_sum(blk);
  for (var i = 0u; i < ROWS; i++) {
    for (var j = 0u; j < COLS; j++) {
      if (inside(blk, i, j)) {
        let at = c_at(blk, i, j);
        let start = select(bias[blk.t * params.N + blk.col0 + j], c[at], params.add_to_c != 0u);
        let value = start + sums[2u * i + j / 4u][j % 4u];
        c[at] = select(value, max(value, 0.0), params.relu != 0u && params.last != 0u);
      }
    }
  }
}

// din = (dout·Wᵀ)·[in > 0] for an input that is a ReLU's output: the gate applies once the
// sum is complete.
@compute @workgroup_size(WG)
fn relu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let blk = block_of(flat_id(wid, nwg, lid));
  if (blk.t >= params.T) { return; }
  var sums = block_sum(blk);
  for (var i = 0u; i < ROWS; i++) {
    for (var j = 0u; j < COLS; j++) {
      if (inside(blk, i, j)) {
        let at = c_at(blk, i, j);
        let value = select(0.0, c[at], params.add_to_c != 0u) + sums[2u * i + j / 4u][j % 4u];
        c[at] = select(value, 0.0, params.last != 0u && gate[at] <= 0.0);
      }
    }
  }
}

// C (+)= A·B: the weight gradients and the gradient of the classifier's input.
@compute @workgroup_size(WG)
fn product(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let blk = block_of(flat_id(wid, nwg, lid));
  if (blk.t >= params.T) { return; }
  var sums = block_sum(blk);
  for (var i = 0u; i < ROWS; i++) {
    for (var j = 0u; j < COLS; j++) {
      if (inside(blk, i, j)) {
        let at = c_at(blk, i, j);
        c[at] = select(0.0, c[at], params.add_to_c != 0u) + sums[2u * i + j / 4u][j % 4u];
      }
    }
  }
}

// dbias[t,n] (+)= Σ_b dout[b,t,n] over the slice of documents [k_begin, k_end), with dout [M,T,N]
// bound as a and dbias [T,N] as c: one invocation per (t, n).
@compute @workgroup_size(WG)
fn sum_documents(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.T * params.N) { return; }
  var sum = 0.0;
  for (var doc = params.k_begin; doc < params.k_end; doc++) {
    sum += a[doc * params.T * params.N + id];
  }
  c[id] = select(0.0, c[id], params.add_to_c != 0u) + sum;
}
