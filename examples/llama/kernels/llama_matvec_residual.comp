#version 450
// x[r] += W[layer] a, for the attention output projection (wo, a = the
// attention output) and the FFN down projection (w2, a = hb). Each output
// row is written only by the subgroup or workgroup that reads it, so the
// in-place update is safe.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer A { vec4 a[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { vec4 w[]; }; // [layer][rows][n]
layout(std430, set = 0, binding = 2) buffer X { float x[]; };

layout(push_constant) uniform Params {
  uint n;    // length of a (multiple of 4)
  uint rows; // length of x (dim)
  uint layer;
  uint rows_per_group; // 1..WG
} pc;

#define ROWS pc.rows_per_group
#define WIDE_BLOCK (2u * BLOCK) // a single matrix row per subgroup: room for more loads

shared float row_partials[WG];

void main() {
  uint n4 = pc.n / 4u;
  uint parts = row_parts(ROWS), part = row_part(ROWS);
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  for (uint r = gl_SubgroupID % ROWS; r < ROWS && part < parts; r += gl_NumSubgroups) {
    uint row = min(gl_WorkGroupID.x * ROWS + r, pc.rows - 1u); // tail: recompute, drop
    uint w_at = (pc.layer * pc.rows + row) * n4;
    float residual = parts == 1u ? x[row] : 0.0; // loaded early: off the critical path
    float acc = 0.0;
    for (uint j0 = first; j0 < n4; j0 += WIDE_BLOCK * stride) {
      vec4 wv[WIDE_BLOCK], av[WIDE_BLOCK];
      for (uint k = 0u; k < WIDE_BLOCK; k++) {
        uint j = j0 + k * stride;
        wv[k] = j < n4 ? w[w_at + j] : vec4(0.0);
        av[k] = j < n4 ? a[j] : vec4(0.0);
      }
      for (uint k = 0u; k < WIDE_BLOCK; k++) acc += dot(wv[k], av[k]);
    }
    acc = subgroupAdd(acc);
    bool real = gl_WorkGroupID.x * ROWS + r < pc.rows;
    if (parts == 1u) {
      if (subgroupElect() && real) x[row] = residual + acc;
    } else if (subgroupElect()) {
      row_partials[part * ROWS + r] = acc;
    }
  }
  if (parts == 1u) return; // uniform: every row is finished

  barrier();
  uint tid = gl_LocalInvocationIndex;
  uint row = gl_WorkGroupID.x * ROWS + tid;
  if (tid >= ROWS || row >= pc.rows) return;
  float dot_value = 0.0;
  for (uint p = 0u; p < parts; p++) dot_value += row_partials[p * ROWS + tid];
  x[row] += dot_value;
}
