#version 450
// Every invocation adds 1 + its index % 4 to sum[i % 4] with a float atomic
// (VK_EXT_shader_atomic_float's shaderBufferFloat32AtomicAdd): the way
// workgroups add their parts of one vector.
#extension GL_EXT_shader_atomic_float : require
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Sum { float sum[]; };
layout(push_constant) uniform Params { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) atomicAdd(sum[i % 4u], float(1u + i % 4u));
}
