// Inverted dropout of the pooled features, in place, and its backward; prepended with
// HASH_WGSL.
//
//   forward:  h[i] ← h[i]·keep[i]/(1−p)       backward:  g[i] ← g[i]·keep[i]/(1−p)
//   keep[i] = hash_uniform(seed, step, i) ≥ p, in training only
//
// The same entry point runs on h after the layer's forward and on g (the gradient of h) after
// the classifier's backward: one step's two dispatches draw the same mask, so the backward
// scales exactly the features the forward kept. In place is safe because the layer's backward
// reads its pooled positions and maxima, never h.

struct Params {
  n: u32, // elements of h: B·T·ΣF
  p: f32, // drop probability
}

// Rewritten by the host between submissions, never rebuilt.
struct State {
  seed: u32, // key of the masks
  step: u32,
  training: u32, // 0: evaluation, no dropout
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> state: State;
@group(0) @binding(2) var<storage, read_write> values: array<f32>; // [B, T, ΣF]: h or g

// One invocation per element.
@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_id) lid: vec3u) {
  let id = flat_id(wid, nwg, lid);
  if (id >= params.n || state.training == 0u) { return; }
  let kept = hash_uniform(state.seed, state.step, id) >= params.p;
  values[id] = select(0.0, values[id] / (1.0 - params.p), kept);
}
