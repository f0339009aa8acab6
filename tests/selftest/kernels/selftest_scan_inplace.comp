#version 450
// x[i] = x[0] + ... + x[i] for i < n, in place, by one workgroup. Each
// invocation reads its chunk completely (for the chunk sums) before the
// workgroup barrier and only then overwrites it, so chunks never race.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
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
    x[i] = run;
  }
}
