#version 450
// 256 KiB of shared memory: more than maxComputeSharedMemorySize anywhere
// (32 KiB on lavapipe, 48 KiB on NVIDIA, 64 KiB on AMD).
layout(local_size_x = 64) in;
shared uint tile[65536];
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
void main() {
  tile[gl_LocalInvocationIndex * 1024u] = x[gl_LocalInvocationIndex];
  barrier();
  x[gl_LocalInvocationIndex] = tile[65535u - gl_LocalInvocationIndex];
}
