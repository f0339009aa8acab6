#version 450
// Busy work, then out[0] = value: keeps the GPU busy so that a batch is still
// running when the host goes on (the staging-reuse test relies on it).
layout(local_size_x = 1) in;
layout(std430, set = 0, binding = 0) buffer Out { uint v[]; };
layout(push_constant) uniform Params { uint iterations; uint value; };
void main() {
  uint acc = v[0];
  for (uint i = 0; i < iterations; i++) acc = acc * 1664525u + 1013904223u;
  v[0] = value + (acc & 0u);
  v[1] = acc;
}
