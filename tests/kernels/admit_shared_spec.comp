#version 450
// Shared memory sized by a specialization constant: 400,000 bytes at its
// default, over every device's limit; gpubatch must count it and refuse.
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint N = 100000u;
shared uint s[N];
layout(std430, binding = 0) buffer Out { uint v[]; };
void main() {
  s[gl_LocalInvocationIndex] = gl_LocalInvocationIndex;
  barrier();
  v[gl_LocalInvocationIndex] = s[N - 1u - gl_LocalInvocationIndex];
}
