#version 450
// out[i] = base + i: writes only.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) writeonly buffer Out { uint v[]; };
layout(push_constant) uniform Params { uint n; uint base; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) v[i] = base + i;
}
