#version 450
// total = x[0] + ... + x[n-1] (u32, wrapping), by one workgroup: a 4-byte
// write that depends on a whole input range.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer In { uint x[]; };
layout(std430, set = 0, binding = 1) buffer Out { uint total; };
layout(push_constant) uniform Params { uint n; };
shared uint partial[64];
void main() {
  uint t = gl_LocalInvocationID.x;
  uint sum = 0u;
  for (uint i = t; i < n; i += 64u) sum += x[i];
  partial[t] = sum;
  barrier();
  if (t == 0u) {
    uint s = 0u;
    for (uint j = 0u; j < 64u; j++) s += partial[j];
    total = s;
  }
}
