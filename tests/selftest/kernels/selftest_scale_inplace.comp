#version 450
// x[i] = x[i] * a + b for i < n, in place through one read-write binding, so
// a single command both reads and writes its range.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
layout(push_constant) uniform Params { uint n; uint a; uint b; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) x[i] = x[i] * a + b;
}
