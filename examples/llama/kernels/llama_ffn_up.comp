#version 450
// The FFN's input side, in one dispatch:
//   xb = rmsnorm(x, rms_ffn[layer]); hb = silu(w1 xb) * (w3 xb).
// Each subgroup computes row r of both w1 and w3 (sharing the reads of x),
// and every workgroup recomputes the sum of squares of x.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, set = 0, binding = 1) readonly buffer RmsFfn { vec4 rms_ffn[]; };
layout(std430, set = 0, binding = 2) readonly buffer W1 { vec4 w1[]; }; // [layer][hidden][dim]
layout(std430, set = 0, binding = 3) readonly buffer W3 { vec4 w3[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Hb { float hb[]; };

layout(push_constant) uniform Params {
  uint dim;
  uint hidden;
  uint layer;
} pc;

#define ROWS 8u

shared float row_partials[2u * WG];

void main() {
  uint tid = gl_LocalInvocationIndex;
  uint dim4 = pc.dim / 4u;
  float ss = 0.0;
  for (uint j = tid; j < dim4; j += WG) ss += dot(x[j], x[j]);
  float scale = rms_scale(workgroup_sum(ss), pc.dim);

  uint g_base = pc.layer * dim4;
  uint parts = row_parts(ROWS), part = row_part(ROWS);
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  for (uint r = gl_SubgroupID % ROWS; r < ROWS && part < parts; r += gl_NumSubgroups) {
    uint row = gl_WorkGroupID.x * ROWS + r;
    float acc1 = 0.0, acc3 = 0.0;
    if (row < pc.hidden) {
      uint w_at = (pc.layer * pc.hidden + row) * dim4;
      for (uint j = first; j < dim4; j += stride) {
        vec4 xn = x[j] * rms_ffn[g_base + j];
        acc1 += dot(w1[w_at + j], xn);
        acc3 += dot(w3[w_at + j], xn);
      }
    }
    acc1 = subgroupAdd(acc1);
    acc3 = subgroupAdd(acc3);
    if (subgroupElect()) {
      row_partials[2u * (part * ROWS + r)] = acc1;
      row_partials[2u * (part * ROWS + r) + 1u] = acc3;
    }
  }
  barrier();

  if (tid >= ROWS) return;
  uint row = gl_WorkGroupID.x * ROWS + tid;
  if (row >= pc.hidden) return;
  float h1 = 0.0, h3 = 0.0;
  for (uint p = 0u; p < parts; p++) {
    h1 += row_partials[2u * (p * ROWS + tid)];
    h3 += row_partials[2u * (p * ROWS + tid) + 1u];
  }
  h1 *= scale;
  h3 *= scale;
  hb[row] = h1 * (1.0 / (1.0 + exp(-h1))) * h3;
}
