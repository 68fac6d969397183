// C[M,N] (+)= A'[M,K] · B'[K,N] over the reduction slice [k_begin, k_end), where A' is A or Aᵀ
// and B' is B or Bᵀ as the override constants say. The launcher splits long reductions into
// several dispatches (each adding to C in order) so no invocation loops more than a few
// thousand times: llvmpipe silently stops loops past ~65,535 iterations.

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

const TILE: u32 = 32u; // output tile edge; each of the 8×8 invocations owns a 4×4 block
const TK: u32 = 16u; // reduction depth staged in workgroup memory per step

var<workgroup> tile_a: array<f32, 512>; // [TILE][TK]
var<workgroup> tile_b: array<f32, 512>; // [TK][TILE]

fn load_a(m: u32, k: u32) -> f32 {
  if (m >= params.M || k >= params.k_end) { return 0.0; }
  if (TRANS_A) { return a[k * params.M + m]; }
  return a[m * params.K + k];
}

fn load_b(k: u32, n: u32) -> f32 {
  if (n >= params.N || k >= params.k_end) { return 0.0; }
  if (TRANS_B) { return b[n * params.K + k]; }
  return b[k * params.N + n];
}

@compute @workgroup_size(8, 8)
fn matmul(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let local = lid.y * 8u + lid.x;
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  var acc: array<vec4f, 4>;
  for (var k0 = params.k_begin; k0 < params.k_end; k0 += TK) {
    for (var i = 0u; i < 8u; i++) {
      let e = local + i * 64u;
      tile_a[e] = load_a(row0 + e / TK, k0 + e % TK);
      tile_b[e] = load_b(k0 + e / TILE, col0 + e % TILE);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let bv = vec4f(
        tile_b[kk * TILE + lid.x * 4u],
        tile_b[kk * TILE + lid.x * 4u + 1u],
        tile_b[kk * TILE + lid.x * 4u + 2u],
        tile_b[kk * TILE + lid.x * 4u + 3u],
      );
      acc[0] += tile_a[(lid.y * 4u) * TK + kk] * bv;
      acc[1] += tile_a[(lid.y * 4u + 1u) * TK + kk] * bv;
      acc[2] += tile_a[(lid.y * 4u + 2u) * TK + kk] * bv;
      acc[3] += tile_a[(lid.y * 4u + 3u) * TK + kk] * bv;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x * 4u + j;
      if (row < params.M && col < params.N) {
        let at = row * params.N + col;
        if (params.accumulate != 0u) {
          c[at] += acc[i][j];
        } else {
          c[at] = acc[i][j];
        }
      }
    }
  }
}
