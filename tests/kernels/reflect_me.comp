#version 450
// Reflection target: sparse bindings, one read-only, a fixed-size header
// before a runtime array, 12 push-constant bytes, workgroup 16x4x1.
layout(local_size_x = 16, local_size_y = 4) in;
layout(std430, set = 0, binding = 3) buffer Out { uint count; uint pad; uint v[]; } o;
layout(std430, set = 0, binding = 1) readonly buffer In { uint w[]; } i_;
layout(push_constant) uniform Params { uint a; uint b; uint c; };
void main() { o.v[gl_LocalInvocationIndex] = i_.w[gl_LocalInvocationIndex] * a + b + c; o.count = 1u; }
