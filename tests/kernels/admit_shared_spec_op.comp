#version 450
// The same through an expression of the constant (OpSpecConstantOp).
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint N = 50000u;
shared uint s[N * 2u];
layout(std430, binding = 0) buffer Out { uint v[]; };
void main() {
  s[gl_LocalInvocationIndex] = gl_LocalInvocationIndex;
  barrier();
  v[gl_LocalInvocationIndex] = s[gl_LocalInvocationIndex];
}
