#version 450
// y[i] += a * x[i]: x is read-only, so readers of x need no barrier between them.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) buffer Y { uint y[]; };
layout(push_constant) uniform Params { uint n; uint a; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) y[i] += a * x[i];
}
