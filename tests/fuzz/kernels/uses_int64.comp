#version 450
// 64-bit integers: the Int64 capability, which needs the shaderInt64 device
// feature enabled at device creation.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Data { uint64_t x[]; };
layout(push_constant) uniform Params { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) x[i] += 0x100000001ul;
}
