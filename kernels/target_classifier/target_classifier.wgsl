// Per-target batched matmuls of the target classifiers and their backward: for every target t,
//
//   C_t[M,N] (+)= A_t[M,K] · B_t[K,N]      over the reduction slice [k_begin, k_end)
//
// with every operand addressed through a base and strides, so the same kernel reads the
// activations [B,T,·] (or one range of their targets) and the parameters [T,·,·] in place for
// the forward (in_t·W_t), the weight gradients (in_tᵀ·dout_t, a reduction over documents) and
// the input gradients (dout_t·W_tᵀ); the entry points differ only in how the sum starts and ends.
// Each invocation owns a block of 8 rows × 8 (or 4) columns of one C_t held in registers (the
// prelude's Tile8x8) and reads its operands straight from storage, which is fastest on llvmpipe.
// The launcher slices long reductions across dispatches, each adding to C in order, because
// llvmpipe silently stops loops past ~65,535 iterations.

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
  a_base: u32, // where target 0 of each operand starts: a range of the caller's targets
  b_base: u32,
  c_base: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>; // [T, N]
@group(0) @binding(5) var<storage, read> gate: array<f32>; // laid out as C: the ReLU outputs

const ROWS: u32 = 8u;

// Blocks 8 columns wide for wide outputs; 4 where C_t has at most 4 columns (the logits and
// their weight gradients), so that few clamped columns are computed for nothing. The launcher
// sets WIDE; COLS follows from it.
override WIDE: bool = true;
override COLS: u32 = select(4u, 8u, WIDE);

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

// The block's partial products over the slice: read by tile_row. Rows
// and columns past the edge are clamped onto the last one and never written.
fn block_sum(blk: Block) -> Tile8x8 {
  let last_row = vec4u(params.M - 1u);
  let last_col = vec4u(params.N - 1u);
  let a0 = params.a_base + blk.t * params.a_t;
  let b0 = params.b_base + blk.t * params.b_t;
  let a_top = a0 + min(blk.row0 + vec4u(0u, 1u, 2u, 3u), last_row) * params.a_m;
  let a_low = a0 + min(blk.row0 + vec4u(4u, 5u, 6u, 7u), last_row) * params.a_m;
  let b_left = b0 + min(blk.col0 + vec4u(0u, 1u, 2u, 3u), last_col) * params.b_n;
  let b_right = b0 + min(blk.col0 + vec4u(4u, 5u, 6u, 7u), last_col) * params.b_n;
  var tile = Tile8x8();
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
    tile_add(&tile, vec4f(a[top.x], a[top.y], a[top.z], a[top.w]),
             vec4f(a[low.x], a[low.y], a[low.z], a[low.w]), left, right);
  }
  return tile;
}

fn c_at(blk: Block, i: u32, j: u32) -> u32 {
  return params.c_base + blk.t * params.c_t + (blk.row0 + i) * params.c_m + blk.col0 + j;
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
        let value = start + tile_row(&sums, i, j / 4u)[j % 4u];
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
        let value = select(0.0, c[at], params.add_to_c != 0u) + tile_row(&sums, i, j / 4u)[j % 4u];
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
        c[at] = select(0.0, c[at], params.add_to_c != 0u) + tile_row(&sums, i, j / 4u)[j % 4u];
      }
    }
  }
}

// dbias[t,n] (+)= Σ_b dout[b,t,n] over the slice of documents [k_begin, k_end), with dout bound as
// a (target t of document b at a_base + b·a_m + t·N) and dbias [T,N] as c: one invocation per
// (t, n).
@compute @workgroup_size(WG)
fn sum_documents(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.T * params.N) { return; }
  var sum = 0.0;
  for (var doc = params.k_begin; doc < params.k_end; doc++) {
    sum += a[params.a_base + doc * params.a_m + id];
  }
  c[id] = select(0.0, c[id], params.add_to_c != 0u) + sum;
}
