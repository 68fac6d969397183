// C[M,N] (+)= A'[M,K] · B'[K,N] over the reduction slice [k_begin, k_end), where A' is A or Aᵀ
// and B' is B or Bᵀ as the override constants say.
//
// Each invocation owns an 8×8 block of C held in registers (the prelude's Tile8x8) and reads its
// operands straight from storage: on llvmpipe (invocations vectorised across SIMD lanes, barriers
// emulated) this runs several times faster than workgroup-memory tiling, and real GPUs cache the
// repeated reads.
// The launcher splits long reductions into dispatches of at most 8,192 steps, each adding to C
// in order, because llvmpipe silently stops loops past ~65,535 iterations.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  k_begin: u32,
  k_end: u32,
  accumulate: u32,
}

override TRANS_A: bool = false; // A stored [K,M]
override TRANS_B: bool = false; // B stored [N,K]

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const BLOCK: u32 = 8u;

// Element (row, k) of A'; rows past M are clamped, their results never written.
fn a_at(row: u32, k: u32) -> f32 {
  let r = min(row, params.M - 1u);
  if (TRANS_A) { return a[k * params.M + r]; }
  return a[r * params.K + k];
}

// Columns col..col+3 of row k of B'; columns past N are clamped, their results never written.
fn b_at(k: u32, col: u32) -> vec4f {
  let last = params.N - 1u;
  let cols = vec4u(min(col, last), min(col + 1u, last), min(col + 2u, last), min(col + 3u, last));
  if (TRANS_B) {
    return vec4f(b[cols.x * params.K + k], b[cols.y * params.K + k], b[cols.z * params.K + k],
                 b[cols.w * params.K + k]);
  }
  let o = k * params.N;
  return vec4f(b[o + cols.x], b[o + cols.y], b[o + cols.z], b[o + cols.w]);
}

fn store(row: u32, col: u32, value: vec4f) {
  if (row >= params.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (col + j < params.N) {
      let at = row * params.N + col + j;
      if (params.accumulate != 0u) {
        c[at] += value[j];
      } else {
        c[at] = value[j];
      }
    }
  }
}

// The block's sums over the slice, in registers; the caller indexes a copy of them.
fn block_sum(row0: u32, col0: u32) -> Tile8x8 {
  var tile = Tile8x8();
  for (var k = params.k_begin; k < params.k_end; k++) {
    let top = vec4f(a_at(row0, k), a_at(row0 + 1u, k), a_at(row0 + 2u, k), a_at(row0 + 3u, k));
    let low = vec4f(a_at(row0 + 4u, k), a_at(row0 + 5u, k), a_at(row0 + 6u, k),
                    a_at(row0 + 7u, k));
    tile_add(&tile, top, low, b_at(k, col0), b_at(k, col0 + 4u));
  }
  return tile;
}

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let col_blocks = (params.N + BLOCK - 1u) / BLOCK;
  let row0 = (id / col_blocks) * BLOCK;
  let col0 = (id % col_blocks) * BLOCK;
  if (row0 >= params.M) { return; }
  var tile = block_sum(row0, col0);
  for (var i = 0u; i < BLOCK; i++) {
    store(row0 + i, col0, tile_row(&tile, i, 0u));
    store(row0 + i, col0 + 4u, tile_row(&tile, i, 1u));
  }
}
