// The embedding lookup with inverted dropout, and its backward; prepended with HASH_WGSL.
//
//   x[b,l,d] = E[ids[b,l], d]·keep[b,l,d]/(1−p) for l < len[b], 0 at padding
//   keep[b,l,d] = hash_uniform(seed, step, (b·L + l)·D + d) ≥ p, in training only
//
// The backward gathers instead of scattering, so it needs no float atomics and sums in a fixed
// order: the host lists the distinct tokens of the batch and, for each, its flat positions b·L + l
// in increasing order (CSR); one invocation per (token, d) walks its token's list. A frequent
// token may own thousands of positions, so each dispatch walks only the slice [begin, end) of
// every list, keeping each invocation under llvmpipe's silent ~65,535-iteration cut-off.

struct Shape {
  B: u32, // documents
  L: u32, // positions per document (padded)
  D: u32, // embedding dimensions
  V: u32, // vocabulary rows of E
  p: f32, // drop probability
}

// Rewritten by the host between submissions, never rebuilt.
struct State {
  seed: u32, // key of the dropout masks
  step: u32,
  training: u32, // 0: evaluation, no dropout
  tokens: u32, // distinct tokens of the current batch's index
}

struct Slice {
  begin: u32, // slice [begin, end) of every token's list that this dispatch walks
  end: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<uniform> state: State;
@group(0) @binding(2) var<uniform> slice: Slice;
@group(0) @binding(3) var<storage, read> E: array<f32>; // [V, D]
@group(0) @binding(4) var<storage, read> ids: array<u32>; // [B, L]
@group(0) @binding(5) var<storage, read> lengths: array<u32>; // [B]
@group(0) @binding(6) var<storage, read_write> x: array<f32>; // [B, L, D]
@group(0) @binding(7) var<storage, read> dx: array<f32>; // [B, L, D]
@group(0) @binding(8) var<storage, read_write> dE: array<f32>; // [V, D]
@group(0) @binding(9) var<storage, read> tokens: array<u32>; // [U]: distinct ids
@group(0) @binding(10) var<storage, read> offsets: array<u32>; // [U + 1]: list bounds
@group(0) @binding(11) var<storage, read> positions: array<u32>; // [n]: b·L + l, by token

// keep/(1−p) of the element at flat index (b·L + l)·D + d; 1 in evaluation.
fn dropout_scale(index: u32) -> f32 {
  if (state.training == 0u) { return 1.0; }
  let kept = hash_uniform(state.seed, state.step, index) >= shape.p;
  return select(0.0, 1.0 / (1.0 - shape.p), kept);
}

// One invocation per element of x.
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= shape.B * shape.L * shape.D) { return; }
  let row = id / shape.D;
  let d = id % shape.D;
  // Padding ids are never read: they may be anything, even out of the vocabulary.
  if (row % shape.L >= lengths[row / shape.L]) {
    x[id] = 0.0;
    return;
  }
  x[id] = E[ids[row] * shape.D + d] * dropout_scale(id);
}

// Zeroes dE ahead of the gather, so rows the batch does not use hold no stale gradient.
@compute @workgroup_size(WG)
fn clear_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= shape.V * shape.D) { return; }
  dE[id] = 0.0;
}

// dE[v,d] += Σ dx[pos,d]·keep/(1−p) over the slice of token v's positions; one invocation per
// (token, d). Tokens whose list ends before the slice return at once.
@compute @workgroup_size(WG)
fn backward_gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= state.tokens * shape.D) { return; }
  let u = id / shape.D;
  let d = id % shape.D;
  let start = offsets[u] + slice.begin;
  let stop = min(offsets[u + 1u], offsets[u] + slice.end);
  if (start >= stop) { return; }
  var sum = 0.0;
  for (var i = start; i < stop; i++) {
    let at = positions[i] * shape.D + d;
    sum += dx[at] * dropout_scale(at);
  }
  dE[tokens[u] * shape.D + d] += sum;
}
