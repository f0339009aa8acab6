#version 450
// The FFN's input side, in one dispatch:
//   xb = rmsnorm(x, rms_ffn[layer]); hb = silu(w1 xb) * (w3 xb).
// w1 and w3 are interleaved by row (w13[layer][r] = w1 row r, then w3 row
// r), so a subgroup reads both rows of output r next to each other and
// shares the reads of x, from which it also takes the sum of squares.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, set = 0, binding = 1) readonly buffer RmsFfn { vec4 rms_ffn[]; };
layout(std430, set = 0, binding = 2) readonly buffer W13 { vec4 w13[]; }; // [layer][hidden][w1, w3][dim]
layout(std430, set = 0, binding = 3) writeonly buffer Hb { float hb[]; };

layout(push_constant) uniform Params {
  uint dim;
  uint hidden;
  uint layer;
  uint rows_per_group; // 1..WG
} pc;

#define ROWS pc.rows_per_group

shared float row_partials[2u * WG];

void finish_row(uint row, float h1, float h3) {
  hb[row] = h1 * (1.0 / (1.0 + exp(-h1))) * h3; // silu(h1) * h3
}

void main() {
  uint dim4 = pc.dim / 4u;
  uint parts = row_parts(ROWS), part = row_part(ROWS);
  bool fused_norm = parts == 1u && gl_NumSubgroups >= ROWS; // see llama_qkv.comp
  float ss = 0.0;
  if (!fused_norm)
    for (uint j = gl_SubgroupInvocationID; j < dim4; j += gl_SubgroupSize) ss += dot(x[j], x[j]);

  uint g_base = pc.layer * dim4;
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  float fused_ss = 0.0;
  for (uint r = gl_SubgroupID % ROWS; r < ROWS && part < parts; r += gl_NumSubgroups) {
    uint row = min(gl_WorkGroupID.x * ROWS + r, pc.hidden - 1u); // tail: recompute, drop
    uint w_at = (pc.layer * pc.hidden + row) * 2u * dim4;
    float acc1 = 0.0, acc3 = 0.0;
    for (uint j0 = first; j0 < dim4; j0 += BLOCK * stride) {
      vec4 a[BLOCK], b[BLOCK], xv[BLOCK], g[BLOCK];
      for (uint k = 0u; k < BLOCK; k++) {
        uint j = j0 + k * stride;
        bool in_row = j < dim4;
        a[k] = in_row ? w13[w_at + j] : vec4(0.0);
        b[k] = in_row ? w13[w_at + dim4 + j] : vec4(0.0);
        xv[k] = in_row ? x[j] : vec4(0.0);
        g[k] = in_row ? rms_ffn[g_base + j] : vec4(0.0);
      }
      for (uint k = 0u; k < BLOCK; k++) {
        vec4 xn = xv[k] * g[k];
        acc1 += dot(a[k], xn);
        acc3 += dot(b[k], xn);
        fused_ss += dot(xv[k], xv[k]);
      }
    }
    acc1 = subgroupAdd(acc1);
    acc3 = subgroupAdd(acc3);
    bool real = gl_WorkGroupID.x * ROWS + r < pc.hidden;
    if (fused_norm) {
      float scale = rms_scale(subgroupAdd(fused_ss), pc.dim);
      if (subgroupElect() && real) finish_row(row, acc1 * scale, acc3 * scale);
    } else if (subgroupElect()) {
      row_partials[2u * (part * ROWS + r)] = acc1;
      row_partials[2u * (part * ROWS + r) + 1u] = acc3;
    }
  }
  if (fused_norm) return; // uniform: every row is finished

  float scale = rms_scale(subgroupAdd(ss), pc.dim);
  barrier();
  uint tid = gl_LocalInvocationIndex;
  uint row = gl_WorkGroupID.x * ROWS + tid;
  if (tid >= ROWS || row >= pc.hidden) return;
  float h1 = 0.0, h3 = 0.0;
  for (uint p = 0u; p < parts; p++) {
    h1 += row_partials[2u * (p * ROWS + tid)];
    h3 += row_partials[2u * (p * ROWS + tid) + 1u];
  }
  finish_row(row, h1 * scale, h3 * scale);
}
