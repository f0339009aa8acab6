#version 450
// A runtime-sized descriptor array (descriptor indexing, not enabled).
#extension GL_EXT_nonuniform_qualifier : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer B { uint v[]; } b[];
layout(push_constant) uniform P { uint which; } p;
void main() { b[nonuniformEXT(p.which)].v[gl_LocalInvocationIndex] = 1u; }
