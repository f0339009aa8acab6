#version 450
// Busy work, then out[0] = value: keeps the GPU busy so that a batch is still
// running when the host goes on (the staging-reuse, timeout and stream-destroy
// tests rely on it). Each invocation runs `iterations` (at most 60000) steps
// of a nonlinear recurrence, which no compiler can fold; the duration scales
// with the number of workgroups dispatched. Wide rather than long because
// llvmpipe (lavapipe) silently stops an invocation's loops after 65535
// iterations in all (seen: a 64M-iteration loop ran 65534).
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Out { uint v[]; };
layout(push_constant) uniform Params { uint iterations; uint value; };
void main() {
  uint acc = gl_GlobalInvocationID.x;
  uint n = min(iterations, 60000u);
  for (uint i = 0; i < n; i++) acc = ((acc ^ (acc >> 13)) * 0x5bd1e995u) + i;
  if (gl_GlobalInvocationID.x == 0u) v[0] = value;
  if (acc == 0x9e3779b9u) v[1] = acc; // keeps every invocation's loop alive
}
