#version 450
// y[i] = x[0] + ... + x[i] for i < n (u32, wrapping), by one workgroup.
// Every output depends on every earlier input, so a stale read anywhere in
// the input range shows up in the output. Each invocation scans its own
// contiguous chunk, so the result does not depend on scheduling.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer In { uint x[]; };
layout(std430, set = 0, binding = 1) buffer Out { uint y[]; };
layout(push_constant) uniform Params { uint n; };
shared uint partial[64];
void main() {
  uint t = gl_LocalInvocationID.x;
  uint chunk = (n + 63u) / 64u;
  uint begin = min(t * chunk, n);
  uint end = min(begin + chunk, n);
  uint sum = 0u;
  for (uint i = begin; i < end; i++) sum += x[i];
  partial[t] = sum;
  barrier();
  uint run = 0u;
  for (uint j = 0u; j < t; j++) run += partial[j];
  for (uint i = begin; i < end; i++) {
    run += x[i];
    y[i] = run;
  }
}
