// The helpers every kernel shares. `computePipeline` (kernels/gpu.ts) compiles each shader with
// this file before it, after `const WG: u32` (the workgroup size of every 1-D kernel,
// WORKGROUP_SIZE in gpu.ts), so a shader uses WG, flat_id, neg_log and the register tile
// without declaring them.

// The flat invocation index of a 1-D dispatch folded into two dimensions (see dispatchFlat).
fn flat_id(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// log((1 + s)/(1 − s)) = 2·atanh(s) for |s| ≤ 1/3, as its odd series up to s¹³ (the rest is
// under 2^-26 of the sum): logs of arguments near 1 keep their relative precision, which WGSL's
// log does not promise there (it bounds only the absolute error).
fn log_ratio(s: f32) -> f32 {
  let s2 = s * s;
  return 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 +
    s2 * (1.0 / 11.0 + s2 / 13.0))))));
}

// −log(u) for u in (0, 1), to a few ulps, for u up to 1 − 2^-24 (Gumbel noise, log-barriers).
fn neg_log(u: f32) -> f32 {
  if (u < 0.5) { return -log(u); }
  return log_ratio((1.0 - u) / (1.0 + u));
}

// An 8×8 block of C held in registers, the tile of the matmul kernels (projection/matmul.wgsl,
// target_classifier.wgsl): row i, columns 0..3 are column i % 4 of top_left (i < 4) or
// low_left, columns 4..7 the same column of top_right or low_right.
struct Tile8x8 {
  top_left: mat4x4f,
  top_right: mat4x4f,
  low_left: mat4x4f,
  low_right: mat4x4f,
}

// One step k of the reduction: row i adds a_i · B[k, 0..7], with a_0..a_3 in `top`, a_4..a_7 in
// `low`, and B[k, 0..3], B[k, 4..7] in `left`, `right`.
fn tile_add(tile: ptr<function, Tile8x8>, top: vec4f, low: vec4f, left: vec4f, right: vec4f) {
  (*tile).top_left += mat4x4f(top.x * left, top.y * left, top.z * left, top.w * left);
  (*tile).top_right += mat4x4f(top.x * right, top.y * right, top.z * right, top.w * right);
  (*tile).low_left += mat4x4f(low.x * left, low.y * left, low.z * left, low.w * left);
  (*tile).low_right += mat4x4f(low.x * right, low.y * right, low.z * right, low.w * right);
}

// Columns 4h..4h+3 (h = 0 or 1) of row i of the tile.
fn tile_row(tile: ptr<function, Tile8x8>, i: u32, h: u32) -> vec4f {
  if (i < 4u) { return select((*tile).top_left[i], (*tile).top_right[i], h == 1u); }
  return select((*tile).low_left[i - 4u], (*tile).low_right[i - 4u], h == 1u);
}
