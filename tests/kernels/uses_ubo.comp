#version 450
// A uniform buffer: gpubatch binds storage buffers only.
layout(local_size_x = 8, local_size_y = 2) in;
layout(std140, set = 0, binding = 0) uniform U { uint k; };
layout(std430, set = 0, binding = 1) buffer Data { uint v[]; };
void main() { v[0] = k; }
