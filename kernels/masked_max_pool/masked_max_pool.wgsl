// The fused masked mix + max-pool over time of one convolution width, and its backward, on one
// tile of nb documents × nt targets. With the per-tap projection P of the width,
//
//   z[b,t,f,l] = bias[f] + Σ_k m[b,j,t]·P[b,j,k,f],   j = l + k − pad, 0 ≤ j < len[b]
//   h[b,t,f]   = relu(max_{l < len[b]} z[b,t,f,l]),   a[b,t,f] = first arg-max
//
// without ever storing z. Every invocation owns its outputs (gather form), so sums are
// deterministic and need no float atomics. Loops over l (forward) and t (backward) run over a
// slice [begin, end) per dispatch, so no invocation exceeds llvmpipe's ~65,535-iteration cut-off.
//
// The forward is bound by loads: llvmpipe fetches storage values lane by lane, a vec4 for about
// the price of two f32s, so the forward is written to need few loads, and wide ones.

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
  doc0: u32, // forward and pack_taps: the first of the documents whose taps taps4 holds
  docs: u32, // forward and pack_taps: how many documents from doc0 this dispatch covers
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

const LOWEST: f32 = -3.40282347e38;

// The upstream gradient that reaches z through relu and the max: 0 where h is 0.
fn pooled_grad(o: u32) -> f32 {
  if (argmax[o] < 0 || zmax[o] <= 0.0) { return 0.0; }
  return g[o];
}

// The forward's copy of the taps of one width for documents doc0..doc0+docs−1, made by
// pack_taps before the forward: taps4[b − doc0, pad + j, k, q] holds filters 4q..4q+3 of tap k at
// position j, so that one vec4 load fetches four filters. It is 0 at positions outside
// [0, len[b]) and filters past F, with pad rows before and pad + CHUNK − 1 after every
// document, so that the forward reads taps around the edges without bounds checks.
@group(0) @binding(13) var<storage, read_write> taps4: array<vec4f>; // [docs, tap_rows, K, F/4]
// m again, as vectors of 2 or 4 targets where nt allows (see MASK_WIDTH).
@group(0) @binding(14) var<storage, read> m2: array<vec2f>; // [nb, L, nt/2]
@group(0) @binding(15) var<storage, read> m4: array<vec4f>; // [nb, L, nt/4]

// Taps of the forward's width, fixed per pipeline so that its written-out taps fold away.
override TAPS: u32 = 3u;
// Targets per mask load in the forward: 4 or 2 where nt is a multiple of it, else 1.
override MASK_WIDTH: u32 = 1u;
// Positions the forward finishes per pass over the taps: each mask row it loads serves every
// one of them that reads it.
const CHUNK: u32 = 4u;

// Rows of one document in taps4.
fn tap_rows() -> u32 {
  return params.L + params.K + CHUNK - 2u;
}

// One invocation per vec4 of taps4.
@compute @workgroup_size(WG)
fn pack_taps(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let filter_blocks = (params.F + 3u) / 4u;
  if (id >= params.docs * tap_rows() * params.K * filter_blocks) { return; }
  let q = id % filter_blocks;
  let k = (id / filter_blocks) % params.K;
  let r = (id / (filter_blocks * params.K)) % tap_rows();
  let b = params.doc0 + id / (filter_blocks * params.K * tap_rows());
  let j = i32(r) - i32(params.K - 1u) / 2;
  let fs = vec4u(0u, 1u, 2u, 3u) + 4u * q;
  let inside = vec4<bool>(j >= 0 && j < i32(lengths[b])) & (fs < vec4u(params.F));
  // Reads stay in bounds; what they fetch outside the document or past F is replaced by 0.
  let row = b * params.L + u32(clamp(j, 0, i32(params.L) - 1));
  let po = row * params.C + params.p_col + k * params.F;
  let f = min(fs, vec4u(params.F - 1u));
  taps4[id] = select(vec4f(0.0), vec4f(P[po + f.x], P[po + f.y], P[po + f.z], P[po + f.w]),
                     inside);
}

// 8 targets × 4 filters: element i holds target t0 + i's filters f0..f0+3.
alias Block = array<vec4f, 8>;
alias BlockArgs = array<vec4i, 8>;

// The masks of a block's 8 targets at one position.
struct Masks {
  lo: vec4f,
  hi: vec4f,
}

// What a forward invocation owns: document b (its taps start at row tap_row0 of taps4), targets
// t0..t0+7 and filters 4q..4q+3.
struct Site {
  b: u32,
  len: i32,
  tap_row0: u32,
  t0: u32,
  q: u32,
}

// The pre-activations of positions l0..l0+3 so far, and the masks of the rows their next tap
// reads (the last position's is loaded with the tap).
struct Window {
  z0: Block,
  z1: Block,
  z2: Block,
  z3: Block,
  masks0: Masks,
  masks1: Masks,
  masks2: Masks,
}

// One invocation owns a block of 8 targets × 4 filters of one document and walks its positions
// CHUNK at a time: the running maxima stay in registers, every tap load serves 8 targets and
// every mask load 4 filters and up to CHUNK positions.
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  let filter_blocks = (params.F + 3u) / 4u;
  let target_blocks = (params.nt + 7u) / 8u;
  if (id >= params.docs * target_blocks * filter_blocks) { return; }
  let doc = id / (filter_blocks * target_blocks);
  let b = params.doc0 + doc;
  let site = Site(b, i32(lengths[b]), doc * tap_rows(),
                  ((id / filter_blocks) % target_blocks) * 8u, id % filter_blocks);
  let f0 = 4u * site.q;
  // Targets and filters past the edge are clamped onto the last one and never written.
  let fs = min(vec4u(f0, f0 + 1u, f0 + 2u, f0 + 3u), vec4u(params.F - 1u));
  let pad = i32(TAPS - 1u) / 2;
  let fo = params.f_off;
  let bias_f = vec4f(bias[fo + fs.x], bias[fo + fs.y], bias[fo + fs.z], bias[fo + fs.w]);
  let fresh = Block(bias_f, bias_f, bias_f, bias_f, bias_f, bias_f, bias_f, bias_f);
  var best: Block;
  var arg: BlockArgs;
  for (var i = 0u; i < 8u; i++) {
    let t = min(site.t0 + i, params.nt - 1u);
    if (params.first == 0u) {
      best[i] = load_zmax(b, t, fs);
      arg[i] = load_argmax(b, t, fs);
    } else {
      best[i] = vec4f(LOWEST);
      arg[i] = vec4i(-1);
    }
  }
  let stop = min(i32(params.end), site.len);
  for (var l0 = i32(params.begin); l0 < stop; l0 += i32(CHUNK)) {
    var window = Window(fresh, fresh, fresh, fresh, masks_at(site, l0 - pad),
                        masks_at(site, l0 + 1 - pad), masks_at(site, l0 + 2 - pad));
    // Written out up to 7 taps (TAPS is fixed per pipeline, so the tests fold away): a loop
    // carrying the window would cost llvmpipe a masked copy of it on every trip.
    add_tap(&window, site, l0, 0u);
    if (TAPS > 1u) {
      add_tap(&window, site, l0, 1u);
      add_tap(&window, site, l0, 2u);
    }
    if (TAPS > 3u) {
      add_tap(&window, site, l0, 3u);
      add_tap(&window, site, l0, 4u);
    }
    if (TAPS > 5u) {
      add_tap(&window, site, l0, 5u);
      add_tap(&window, site, l0, 6u);
    }
    for (var k = 7u; k < TAPS; k++) { add_tap(&window, site, l0, k); }
    keep(&best, &arg, window.z0, l0, true);
    keep(&best, &arg, window.z1, l0 + 1, l0 + 1 < stop);
    keep(&best, &arg, window.z2, l0 + 2, l0 + 2 < stop);
    keep(&best, &arg, window.z3, l0 + 3, l0 + 3 < stop);
  }
  for (var i = 0u; i < 8u; i++) { store_pooled(b, site.t0 + i, f0, best[i], arg[i]); }
}

// Adds tap k to the window's positions l0 + c, which read input j = l0 + c + k − pad (row
// l0 + c + k of the document's taps4), and slides its masks one row on.
fn add_tap(window: ptr<function, Window>, site: Site, l0: i32, k: u32) {
  let filter_blocks = (params.F + 3u) / 4u;
  let row = TAPS * filter_blocks;
  let at = (site.tap_row0 + u32(l0) + k) * row + k * filter_blocks + site.q;
  let masks3 = masks_at(site, l0 + 3 - i32(TAPS - 1u) / 2 + i32(k));
  (*window).z0 = mix((*window).z0, taps4[at], (*window).masks0);
  (*window).z1 = mix((*window).z1, taps4[at + row], (*window).masks1);
  (*window).z2 = mix((*window).z2, taps4[at + 2u * row], (*window).masks2);
  (*window).z3 = mix((*window).z3, taps4[at + 3u * row], masks3);
  (*window).masks0 = (*window).masks1;
  (*window).masks1 = (*window).masks2;
  (*window).masks2 = masks3;
}

// m[b, j, t0..t0+7]; 0 where j lies outside the document. Reads stay in bounds: targets past
// nt read the row's last ones.
fn masks_at(site: Site, j: i32) -> Masks {
  let o = (site.b * params.L + u32(clamp(j, 0, site.len - 1))) * params.nt;
  let t0 = site.t0;
  let last = params.nt - MASK_WIDTH;
  var masks: Masks;
  switch MASK_WIDTH {
    case 4u: {
      masks = Masks(m4[(o + min(t0, last)) / 4u], m4[(o + min(t0 + 4u, last)) / 4u]);
    }
    case 2u: {
      let lo = vec4f(m2[(o + min(t0, last)) / 2u], m2[(o + min(t0 + 2u, last)) / 2u]);
      let hi = vec4f(m2[(o + min(t0 + 4u, last)) / 2u], m2[(o + min(t0 + 6u, last)) / 2u]);
      masks = Masks(lo, hi);
    }
    default: {
      let lo = min(vec4u(t0) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) + o;
      let hi = min(vec4u(t0) + vec4u(4u, 5u, 6u, 7u), vec4u(last)) + o;
      masks = Masks(vec4f(m[lo.x], m[lo.y], m[lo.z], m[lo.w]),
                    vec4f(m[hi.x], m[hi.y], m[hi.z], m[hi.w]));
    }
  }
  let inside = vec4<bool>(j >= 0 && j < site.len);
  return Masks(select(vec4f(0.0), masks.lo, inside), select(vec4f(0.0), masks.hi, inside));
}

// z + taps ⊗ masks: one tap's contribution to the block.
fn mix(z: Block, taps: vec4f, masks: Masks) -> Block {
  return Block(z[0] + masks.lo.x * taps, z[1] + masks.lo.y * taps, z[2] + masks.lo.z * taps,
               z[3] + masks.lo.w * taps, z[4] + masks.hi.x * taps, z[5] + masks.hi.y * taps,
               z[6] + masks.hi.z * taps, z[7] + masks.hi.w * taps);
}

// Folds the block's pre-activations at position l into the running maxima; strictly greater
// wins, so the first arg-max stays.
fn keep(best: ptr<function, Block>, arg: ptr<function, BlockArgs>, z: Block, l: i32,
        valid: bool) {
  for (var i = 0u; i < 8u; i++) {
    let up = (z[i] > (*best)[i]) & vec4<bool>(valid);
    (*best)[i] = select((*best)[i], z[i], up);
    (*arg)[i] = select((*arg)[i], vec4i(l), up);
  }
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
