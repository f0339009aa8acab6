#version 450
// Multi-head attention of one position, one workgroup per query head:
// scores q_h . k_t / sqrt(head_size) for t = 0..pos, softmax, and the
// weighted sum of v_t, all in shared memory. Grouped-query attention: query
// head h reads kv head h / kv_mul.
//
// Positions are processed in chunks of `chunk` (at most MAX_CHUNK, the
// shared score array) with an online softmax: a running maximum m, running
// denominator l, and accumulators rescaled by exp(m_old - m_new) when a
// later chunk raises the maximum. With pos < chunk this is the plain
// softmax of run.c in one pass.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 1) readonly buffer KCache { float kcache[]; }; // [layer][pos][kv_dim]
layout(std430, set = 0, binding = 2) readonly buffer VCache { float vcache[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Out { float att_out[]; };    // dim

layout(push_constant) uniform Params {
  uint head_size;
  uint kv_dim;
  uint seq_len;
  uint layer;
  uint pos;
  uint kv_mul; // n_heads / n_kv_heads
  uint chunk;  // positions per pass, 1..MAX_CHUNK
} pc;

#define MAX_CHUNK 1024u
#define MAX_HEAD_SIZE 256u // == WG: groups * head_size below never exceeds it

shared float q_head[MAX_HEAD_SIZE];
shared float scores[MAX_CHUNK];
// Weighted-sum accumulators: `groups` groups of invocations each take every
// groups-th position for all head_size outputs; acc[g * head_size + d].
shared float acc[MAX_HEAD_SIZE];

void main() {
  uint tid = gl_LocalInvocationIndex;
  uint h = gl_WorkGroupID.x, hs = pc.head_size;
  // Element of position 0 of this head's kv head in the layer's cache.
  uint base = pc.layer * pc.seq_len * pc.kv_dim + (h / pc.kv_mul) * hs;
  uint groups = max(1u, WG / hs);
  for (uint d = tid; d < hs; d += WG) q_head[d] = q[h * hs + d];
  for (uint e = tid; e < groups * hs; e += WG) acc[e] = 0.0;
  barrier();

  float m = 0.0, l = 0.0;
  uint positions = pc.pos + 1u;
  for (uint c0 = 0u; c0 < positions; c0 += pc.chunk) {
    uint n = min(pc.chunk, positions - c0);
    float local_max = NEG_INF;
    for (uint t = tid; t < n; t += WG) {
      uint k_at = base + (c0 + t) * pc.kv_dim;
      float s = 0.0;
      for (uint i = 0u; i < hs; i++) s += q_head[i] * kcache[k_at + i];
      s /= sqrt(float(hs));
      scores[t] = s;
      local_max = max(local_max, s);
    }
    float chunk_max = workgroup_max(local_max); // its barriers publish scores[]
    float m_new = c0 == 0u ? chunk_max : max(m, chunk_max);
    float rescale = c0 == 0u ? 0.0 : exp(m - m_new);
    float local_sum = 0.0;
    for (uint t = tid; t < n; t += WG) {
      float p = exp(scores[t] - m_new);
      scores[t] = p;
      local_sum += p;
    }
    l = l * rescale + workgroup_sum(local_sum);
    for (uint e = tid; e < groups * hs; e += WG) {
      uint g = e / hs, d = e % hs;
      float a = acc[e] * rescale;
      for (uint t = g; t < n; t += groups) a += scores[t] * vcache[base + (c0 + t) * pc.kv_dim + d];
      acc[e] = a;
    }
    barrier(); // the next chunk overwrites scores[]; acc is read below
    m = m_new;
  }

  for (uint d = tid; d < hs; d += WG) {
    float o = 0.0;
    for (uint g = 0u; g < groups; g++) o += acc[g * hs + d];
    att_out[h * hs + d] = o / l;
  }
}
