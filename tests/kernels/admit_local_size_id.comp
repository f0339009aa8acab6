#version 450
// Compiled for Vulkan 1.3 (SPIR-V 1.6, LocalSizeId from the specialization
// constant): the device is created for Vulkan 1.2.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64u;
layout(std430, binding = 0) buffer Out { uint v[]; };
void main() { v[gl_LocalInvocationIndex] = WG; }
