#version 450
// A buffer device address from a push constant (bufferDeviceAddress is not
// enabled): dispatched with a made-up address it killed the process.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 64) in;
layout(buffer_reference, std430) buffer Ptr { uint v[]; };
layout(push_constant) uniform P { uint64_t address; } p;
void main() { Ptr(p.address).v[gl_LocalInvocationIndex] = 1u; }
