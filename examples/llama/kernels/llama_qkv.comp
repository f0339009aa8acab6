#version 450
// One attention block's input side, in one dispatch:
//   xb = rmsnorm(x, rms_att[layer]); q = wq xb; k = wk xb; v = wv xb;
//   RoPE on q and k at `pos`; k and v stored into the layer's cache at pos.
// Each subgroup computes a PAIR of consecutive output rows of [q | k | v],
// which RoPE rotates together. Every workgroup recomputes the (small)
// sum of squares of x itself rather than waiting on a separate rmsnorm
// dispatch. Layer 0 reads x straight from the embedding row of `token`
// (from_embedding), which saves the embedding copy.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Emb { vec4 emb[]; };
layout(std430, set = 0, binding = 2) readonly buffer RmsAtt { vec4 rms_att[]; };
layout(std430, set = 0, binding = 3) readonly buffer Wq { vec4 wq[]; };
layout(std430, set = 0, binding = 4) readonly buffer Wk { vec4 wk[]; };
layout(std430, set = 0, binding = 5) readonly buffer Wv { vec4 wv[]; };
layout(std430, set = 0, binding = 6) readonly buffer Rope { float rope[]; }; // [pos][pair][cos, sin]
layout(std430, set = 0, binding = 7) writeonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 8) writeonly buffer KCache { float kcache[]; }; // [layer][pos][kv_dim]
layout(std430, set = 0, binding = 9) writeonly buffer VCache { float vcache[]; };

layout(push_constant) uniform Params {
  uint dim;
  uint kv_dim;
  uint head_size;
  uint seq_len;
  uint layer;
  uint pos;
  uint token;
  uint from_embedding; // 1: x is row `token` of the embedding
} pc;

#define PAIRS 8u // row pairs per workgroup

shared float pair_partials[2u * WG];

vec4 x_at(uint j) { // vec4 index j of the (unnormalized) input
  return pc.from_embedding != 0u ? emb[pc.token * (pc.dim / 4u) + j] : x[j];
}

void main() {
  uint tid = gl_LocalInvocationIndex;
  uint dim4 = pc.dim / 4u;
  float ss = 0.0;
  for (uint j = tid; j < dim4; j += WG) {
    vec4 v = x_at(j);
    ss += dot(v, v);
  }
  float scale = rms_scale(workgroup_sum(ss), pc.dim);

  uint g_base = pc.layer * dim4;
  uint total_pairs = (pc.dim + 2u * pc.kv_dim) / 2u;
  uint parts = row_parts(PAIRS), part = row_part(PAIRS);
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  for (uint r = gl_SubgroupID % PAIRS; r < PAIRS && part < parts; r += gl_NumSubgroups) {
    uint pair = gl_WorkGroupID.x * PAIRS + r;
    float acc0 = 0.0, acc1 = 0.0;
    if (pair < total_pairs) {
      uint row = 2u * pair; // in [q | k | v]
      // Rows `row` and `row + 1` of one matrix start at w0 and w0 + dim4.
      uint w0;
      if (row < pc.dim) w0 = (pc.layer * pc.dim + row) * dim4;
      else if (row < pc.dim + pc.kv_dim) w0 = (pc.layer * pc.kv_dim + row - pc.dim) * dim4;
      else w0 = (pc.layer * pc.kv_dim + row - pc.dim - pc.kv_dim) * dim4;
      for (uint j = first; j < dim4; j += stride) {
        vec4 xn = x_at(j) * rms_att[g_base + j];
        vec4 a, b;
        if (row < pc.dim) {
          a = wq[w0 + j];
          b = wq[w0 + dim4 + j];
        } else if (row < pc.dim + pc.kv_dim) {
          a = wk[w0 + j];
          b = wk[w0 + dim4 + j];
        } else {
          a = wv[w0 + j];
          b = wv[w0 + dim4 + j];
        }
        acc0 += dot(a, xn);
        acc1 += dot(b, xn);
      }
    }
    acc0 = subgroupAdd(acc0);
    acc1 = subgroupAdd(acc1);
    if (subgroupElect()) {
      pair_partials[2u * (part * PAIRS + r)] = acc0;
      pair_partials[2u * (part * PAIRS + r) + 1u] = acc1;
    }
  }
  barrier();

  if (tid >= PAIRS) return;
  uint pair = gl_WorkGroupID.x * PAIRS + tid;
  if (pair >= total_pairs) return;
  float v0 = 0.0, v1 = 0.0;
  for (uint p = 0u; p < parts; p++) {
    v0 += pair_partials[2u * (p * PAIRS + tid)];
    v1 += pair_partials[2u * (p * PAIRS + tid) + 1u];
  }
  v0 *= scale;
  v1 *= scale;
  uint row = 2u * pair;
  uint cache_at = (pc.layer * pc.seq_len + pc.pos) * pc.kv_dim;
  if (row >= pc.dim + pc.kv_dim) { // v: no rotation
    uint i = row - pc.dim - pc.kv_dim;
    vcache[cache_at + i] = v0;
    vcache[cache_at + i + 1u] = v1;
    return;
  }
  uint i = row < pc.dim ? row : row - pc.dim;
  uint angle_at = (pc.pos * (pc.head_size / 2u) + (i % pc.head_size) / 2u) * 2u;
  float fcr = rope[angle_at], fci = rope[angle_at + 1u];
  float r0 = v0 * fcr - v1 * fci;
  float r1 = v0 * fci + v1 * fcr;
  if (row < pc.dim) {
    q[i] = r0;
    q[i + 1u] = r1;
  } else {
    kcache[cache_at + i] = r0;
    kcache[cache_at + i + 1u] = r1;
  }
}
