#version 450
// t[2i], t[2i + 1]: the device clock before and after invocation i's
// n steps of work (VK_KHR_shader_clock's shaderDeviceClock).
#extension GL_EXT_shader_realtime_clock : require
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) writeonly buffer Out { uvec2 t[]; };
layout(push_constant) uniform Params { uint n; uint steps; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  uvec2 before = clockRealtime2x32EXT();
  uint x = i;
  for (uint k = 0u; k < steps; k++) x = x * 1664525u + 1013904223u;
  uvec2 after = clockRealtime2x32EXT();
  // x joins the result (so the loop stays) without changing it: x | 1 is odd.
  if (i < n) {
    t[2u * i] = before;
    t[2u * i + 1u] = after + uvec2((x | 1u) == 0u ? 1u : 0u, 0u);
  }
}
