#version 450
// x[i] += 1 for i < n: the tiny dependent kernel of `gpubatch bench chain`.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
layout(push_constant) uniform Params { uint n; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) x[i] += 1u;
}
