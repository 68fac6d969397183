// Gradient accumulation over the passes of a batch too large for one pass: each pass's backward
// overwrites the gradients g, so after it one of three entry points runs per parameter:
//
//   first   acc = g           after the first pass
//   add     acc = acc + g     after every pass but the first and the last
//   finish  g = g + acc       after the last pass: g then holds the batch's gradient for Adam
//
// One invocation per element, no loop; the passes add in order, so the sum is deterministic.

struct Params {
  n: u32, // elements of the parameter
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>; // g: [n]
@group(0) @binding(2) var<storage, read_write> acc: array<f32>; // acc: [n]

@compute @workgroup_size(WG)
fn first(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_id) lid: vec3u) {
  let i = flat_id(wid, nwg, lid);
  if (i < params.n) { acc[i] = grad[i]; }
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_id) lid: vec3u) {
  let i = flat_id(wid, nwg, lid);
  if (i < params.n) { acc[i] += grad[i]; }
}

@compute @workgroup_size(WG)
fn finish(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_id) lid: vec3u) {
  let i = flat_id(wid, nwg, lid);
  if (i < params.n) { grad[i] += acc[i]; }
}
