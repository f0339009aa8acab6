#version 450
// Four buffers behind one binding: gpubatch binds one buffer per binding.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer B { uint v[]; } b[4];
void main() { b[3].v[gl_LocalInvocationIndex] = 1u; }
