#version 450
// 2048 invocations per workgroup: more than maxComputeWorkGroupInvocations
// on every device gpubatch targets (1024), within each dimension's limit.
layout(local_size_x = 1024, local_size_y = 2) in;
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
void main() { x[gl_LocalInvocationIndex] = 1u; }
