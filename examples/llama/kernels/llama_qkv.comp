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

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Emb { float emb[]; };
layout(std430, set = 0, binding = 2) readonly buffer RmsAtt { float rms_att[]; };
layout(std430, set = 0, binding = 3) readonly buffer Wq { float wq[]; };
layout(std430, set = 0, binding = 4) readonly buffer Wk { float wk[]; };
layout(std430, set = 0, binding = 5) readonly buffer Wv { float wv[]; };
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

float x_at(uint j) {
  return pc.from_embedding != 0u ? emb[pc.token * pc.dim + j] : x[j];
}

// Accumulates rows r and r+1 of matrix W (at element `base`) against g*x.
#define DOT_PAIR(W, base)                                                   \
  for (uint j = first; j < pc.dim; j += stride) {                           \
    float xn = x_at(j) * rms_att[g_base + j];                               \
    acc0 += W[(base) + j] * xn;                                             \
    acc1 += W[(base) + pc.dim + j] * xn;                                    \
  }

void main() {
  uint tid = gl_LocalInvocationIndex;
  float ss = 0.0;
  for (uint j = tid; j < pc.dim; j += WG) {
    float v = x_at(j);
    ss += v * v;
  }
  float scale = rms_scale(workgroup_sum(ss), pc.dim);

  uint g_base = pc.layer * pc.dim;
  uint total_pairs = (pc.dim + 2u * pc.kv_dim) / 2u;
  uint parts = row_parts(PAIRS), part = row_part(PAIRS);
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  for (uint r = gl_SubgroupID % PAIRS; r < PAIRS && part < parts; r += gl_NumSubgroups) {
    uint pair = gl_WorkGroupID.x * PAIRS + r;
    float acc0 = 0.0, acc1 = 0.0;
    if (pair < total_pairs) {
      uint row = 2u * pair; // in [q | k | v]
      if (row < pc.dim) {
        DOT_PAIR(wq, (pc.layer * pc.dim + row) * pc.dim)
      } else if (row < pc.dim + pc.kv_dim) {
        DOT_PAIR(wk, (pc.layer * pc.kv_dim + row - pc.dim) * pc.dim)
      } else {
        DOT_PAIR(wv, (pc.layer * pc.kv_dim + row - pc.dim - pc.kv_dim) * pc.dim)
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
