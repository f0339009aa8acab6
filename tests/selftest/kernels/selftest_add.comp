#version 450
// z[i] = x[i] + y[i] for i < n (u32, wrapping). Two readonly inputs, which the
// selftest may bind to overlapping ranges of one buffer (reads never conflict).
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer A { uint x[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { uint y[]; };
layout(std430, set = 0, binding = 2) buffer Out { uint z[]; };
layout(push_constant) uniform Params { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) z[i] = x[i] + y[i];
}
