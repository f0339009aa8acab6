#version 450
// Per invocation i: t[3i], t[3i + 1] the device clock before and after n
// steps of work (VK_KHR_shader_clock's shaderDeviceClock), t[3i + 2].x
// that work's result (stored, so the work stays in the program).
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
  if (i < n) {
    t[3u * i] = before;
    t[3u * i + 1u] = after;
    t[3u * i + 2u] = uvec2(x, 0u);
  }
}
