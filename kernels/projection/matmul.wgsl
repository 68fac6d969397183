// C[M,N] (+)= A'[M,K] · B'[K,N] over the reduction slice [k_begin, k_end), where A' is A or Aᵀ
// and B' is B or Bᵀ as the override constants say.
//
// Each invocation owns an 8×8 block of C held in registers and reads its operands straight from
// storage: on llvmpipe (invocations vectorised across SIMD lanes, barriers emulated) this runs
// several times faster than workgroup-memory tiling, and real GPUs cache the repeated reads.
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

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_id) lid: vec3u) {
  let id = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  let col_blocks = (params.N + BLOCK - 1u) / BLOCK;
  let row0 = (id / col_blocks) * BLOCK;
  let col0 = (id % col_blocks) * BLOCK;
  if (row0 >= params.M) { return; }
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
    let left = b_at(k, col0);
    let right = b_at(k, col0 + 4u);
    let a0 = a_at(row0 + 0u, k);
    acc0l += a0 * left;
    acc0r += a0 * right;
    let a1 = a_at(row0 + 1u, k);
    acc1l += a1 * left;
    acc1r += a1 * right;
    let a2 = a_at(row0 + 2u, k);
    acc2l += a2 * left;
    acc2r += a2 * right;
    let a3 = a_at(row0 + 3u, k);
    acc3l += a3 * left;
    acc3r += a3 * right;
    let a4 = a_at(row0 + 4u, k);
    acc4l += a4 * left;
    acc4r += a4 * right;
    let a5 = a_at(row0 + 5u, k);
    acc5l += a5 * left;
    acc5r += a5 * right;
    let a6 = a_at(row0 + 6u, k);
    acc6l += a6 * left;
    acc6r += a6 * right;
    let a7 = a_at(row0 + 7u, k);
    acc7l += a7 * left;
    acc7r += a7 * right;
  }
  store(row0 + 0u, col0, acc0l);
  store(row0 + 0u, col0 + 4u, acc0r);
  store(row0 + 1u, col0, acc1l);
  store(row0 + 1u, col0 + 4u, acc1r);
  store(row0 + 2u, col0, acc2l);
  store(row0 + 2u, col0 + 4u, acc2r);
  store(row0 + 3u, col0, acc3l);
  store(row0 + 3u, col0 + 4u, acc3r);
  store(row0 + 4u, col0, acc4l);
  store(row0 + 4u, col0 + 4u, acc4r);
  store(row0 + 5u, col0, acc5l);
  store(row0 + 5u, col0 + 4u, acc5r);
  store(row0 + 6u, col0, acc6l);
  store(row0 + 6u, col0 + 4u, acc6r);
  store(row0 + 7u, col0, acc7l);
  store(row0 + 7u, col0 + 4u, acc7r);
}
