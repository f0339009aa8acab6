#version 450
// One attention block's input side, in one dispatch:
//   xb = rmsnorm(x, rms_att[layer]); [q | k | v] = wqkv[layer] xb;
//   RoPE on q and k at `pos`; k and v stored into the layer's cache at pos.
// Each subgroup computes a PAIR of consecutive output rows, which RoPE
// rotates together, and the sum of squares of x for itself from the same
// loads, rather than waiting on a separate rmsnorm dispatch. Layer 0 reads
// its input straight from the embedding row of `token` and workgroup 0
// stores that row as x for the residual: no embedding copy dispatch.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer X { vec4 x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Emb { vec4 emb[]; };
layout(std430, set = 0, binding = 2) readonly buffer RmsAtt { vec4 rms_att[]; };
// Per layer: the rows of wq, then of wk, then of wv (dim + 2 kv_dim rows).
layout(std430, set = 0, binding = 3) readonly buffer Wqkv { vec4 wqkv[]; };
layout(std430, set = 0, binding = 4) readonly buffer Rope { float rope[]; }; // [pos][pair][cos, sin]
layout(std430, set = 0, binding = 5) writeonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 6) writeonly buffer KV { float kv[]; }; // [layer][k, v][pos][kv_dim]

layout(push_constant) uniform Params {
  uint dim;
  uint kv_dim;
  uint head_size;
  uint seq_len;
  uint layer;
  uint pos;
  uint token;
  uint from_embedding; // 1: the input is row `token` of the embedding
  uint pairs_per_group; // row pairs per workgroup, 1..WG
} pc;

#define PAIRS pc.pairs_per_group

shared float pair_partials[2u * WG];

vec4 x_at(uint j) { // vec4 index j of the (unnormalized) input
  return pc.from_embedding != 0u ? emb[pc.token * (pc.dim / 4u) + j] : x[j];
}

// The RoPE (cos, sin) for rows 2 * pair, 2 * pair + 1 (unused for v rows).
// Loaded before the dot product so its latency hides behind the weights'.
vec2 angle_of(uint pair) {
  uint row = 2u * pair;
  uint i = row < pc.dim ? row : row - pc.dim;
  if (row >= pc.dim + pc.kv_dim) return vec2(1.0, 0.0);
  uint angle_at = (pc.pos * (pc.head_size / 2u) + (i % pc.head_size) / 2u) * 2u;
  return vec2(rope[angle_at], rope[angle_at + 1u]);
}

// Stores rows 2 * pair and 2 * pair + 1 of [q | k | v], rotating q and k.
void finish_pair(uint pair, float v0, float v1, vec2 angle) {
  uint row = 2u * pair;
  uint k_at = (pc.layer * 2u * pc.seq_len + pc.pos) * pc.kv_dim;
  uint v_at = k_at + pc.seq_len * pc.kv_dim;
  if (row >= pc.dim + pc.kv_dim) { // v: no rotation
    uint i = row - pc.dim - pc.kv_dim;
    kv[v_at + i] = v0;
    kv[v_at + i + 1u] = v1;
    return;
  }
  uint i = row < pc.dim ? row : row - pc.dim;
  float fcr = angle.x, fci = angle.y;
  float r0 = v0 * fcr - v1 * fci;
  float r1 = v0 * fci + v1 * fcr;
  if (row < pc.dim) {
    q[i] = r0;
    q[i + 1u] = r1;
  } else {
    kv[k_at + i] = r0;
    kv[k_at + i + 1u] = r1;
  }
}

void main() {
  uint dim4 = pc.dim / 4u;
  uint parts = row_parts(PAIRS), part = row_part(PAIRS);
  // One pair per subgroup, all columns: the pair's loads of x also give
  // the sum of squares. Otherwise a separate pass computes it.
  bool fused_norm = parts == 1u && gl_NumSubgroups >= PAIRS;
  float ss = 0.0;
  if (!fused_norm)
    for (uint j = gl_SubgroupInvocationID; j < dim4; j += gl_SubgroupSize) ss += dot(x_at(j), x_at(j));
  if (pc.from_embedding != 0u && gl_WorkGroupID.x == 0u)
    for (uint j = gl_LocalInvocationIndex; j < dim4; j += WG) x[j] = x_at(j); // residual input

  uint g_base = pc.layer * dim4;
  uint total_pairs = (pc.dim + 2u * pc.kv_dim) / 2u;
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  float fused_ss = 0.0;
  for (uint r = gl_SubgroupID % PAIRS; r < PAIRS && part < parts; r += gl_NumSubgroups) {
    uint pair = min(gl_WorkGroupID.x * PAIRS + r, total_pairs - 1u); // tail: recompute, drop
    uint w0 = (pc.layer * (pc.dim + 2u * pc.kv_dim) + 2u * pair) * dim4;
    vec2 angle = fused_norm ? angle_of(pair) : vec2(0.0);
    float acc0 = 0.0, acc1 = 0.0;
    for (uint j0 = first; j0 < dim4; j0 += BLOCK * stride) {
      vec4 a[BLOCK], b[BLOCK], xv[BLOCK], g[BLOCK];
      for (uint k = 0u; k < BLOCK; k++) {
        uint j = j0 + k * stride;
        bool in_row = j < dim4;
        a[k] = in_row ? wqkv[w0 + j] : vec4(0.0);
        b[k] = in_row ? wqkv[w0 + dim4 + j] : vec4(0.0);
        xv[k] = in_row ? x_at(j) : vec4(0.0);
        g[k] = in_row ? rms_att[g_base + j] : vec4(0.0);
      }
      for (uint k = 0u; k < BLOCK; k++) {
        vec4 xn = xv[k] * g[k];
        acc0 += dot(a[k], xn);
        acc1 += dot(b[k], xn);
        fused_ss += dot(xv[k], xv[k]);
      }
    }
    acc0 = subgroupAdd(acc0);
    acc1 = subgroupAdd(acc1);
    bool real = gl_WorkGroupID.x * PAIRS + r < total_pairs;
    if (fused_norm) {
      float scale = rms_scale(subgroupAdd(fused_ss), pc.dim);
      if (subgroupElect() && real) finish_pair(pair, acc0 * scale, acc1 * scale, angle);
    } else if (subgroupElect()) {
      pair_partials[2u * (part * PAIRS + r)] = acc0;
      pair_partials[2u * (part * PAIRS + r) + 1u] = acc1;
    }
  }
  if (fused_norm) return; // uniform: every pair is finished

  float scale = rms_scale(subgroupAdd(ss), pc.dim);
  barrier();
  uint tid = gl_LocalInvocationIndex;
  uint pair = gl_WorkGroupID.x * PAIRS + tid;
  if (tid >= PAIRS || pair >= total_pairs) return;
  float v0 = 0.0, v1 = 0.0;
  for (uint p = 0u; p < parts; p++) {
    v0 += pair_partials[2u * (p * PAIRS + tid)];
    v1 += pair_partials[2u * (p * PAIRS + tid) + 1u];
  }
  finish_pair(pair, v0 * scale, v1 * scale, angle_of(pair));
}
