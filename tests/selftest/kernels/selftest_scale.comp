#version 450
// y[i] = x[i] * a + b for i < n (u32, wrapping): exact, so the selftest's CPU
// model can compare every byte. x is readonly: the runtime counts it as a read.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer In { uint x[]; };
layout(std430, set = 0, binding = 1) buffer Out { uint y[]; };
layout(push_constant) uniform Params { uint n; uint a; uint b; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) y[i] = x[i] * a + b;
}
