#version 450
// Multi-head attention of one position, split over positions
// (flash-decoding): workgroup (h, s) takes query head h and positions
// [s * split_len, min((s + 1) * split_len, pos + 1)): scores
// q_h . k_t / sqrt(head_size), their maximum m_s, p_t = exp(score - m_s),
// l_s = sum p_t and acc_s = sum p_t v_t. Grouped-query attention: query
// head h reads kv head h / kv_mul.
//
// With one split the workgroup writes acc / l directly. Otherwise each
// writes (m_s, l_s, acc_s) to `splits` and counts itself done; the last
// workgroup of head h merges them (softmax over the union: weights
// exp(m_s - M) with M = max m_s) and resets the head's counter. Splitting
// keeps many workgroups busy at long positions (one workgroup per head
// would walk the whole cache alone, latency-bound), and the merge costs no
// extra dispatch. The counters must start zeroed.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 1) readonly buffer KCache { float kcache[]; }; // [layer][pos][kv_dim]
layout(std430, set = 0, binding = 2) readonly buffer VCache { float vcache[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Out { float att_out[]; };    // dim
layout(std430, set = 0, binding = 4) coherent buffer SplitDone { uint split_done[]; }; // per head
// Per (head, split): m, l, acc[head_size], at ((h * max_splits) + s) * (head_size + 2).
layout(std430, set = 0, binding = 5) coherent buffer Splits { float splits[]; };

layout(push_constant) uniform Params {
  uint head_size;
  uint kv_dim;
  uint seq_len;
  uint layer;
  uint pos;
  uint kv_mul;     // n_heads / n_kv_heads
  uint split_len;  // positions per workgroup, 1..WG
  uint max_splits; // stride of the splits array
} pc;

#define MAX_HEAD_SIZE 256u // == WG: groups * head_size below never exceeds it

shared float q_head[MAX_HEAD_SIZE];
shared float scores[WG];
shared float dot_parts[WG];
// Weighted-sum accumulators: `groups` groups of invocations each take every
// groups-th position for all head_size outputs; acc[g * head_size + d].
shared float acc[MAX_HEAD_SIZE];
shared uint is_last;

void main() {
  uint tid = gl_LocalInvocationIndex;
  uint h = gl_WorkGroupID.x, s = gl_WorkGroupID.y, split_count = gl_NumWorkGroups.y;
  uint hs = pc.head_size;
  uint t0 = s * pc.split_len;
  uint n = min(pc.split_len, pc.pos + 1u - t0);
  // Element of position t0 of this head's kv head in the layer's cache.
  uint base = (pc.layer * pc.seq_len + t0) * pc.kv_dim + (h / pc.kv_mul) * hs;
  for (uint d = tid; d < hs; d += WG) q_head[d] = q[h * hs + d];
  barrier();

  // Scores: `per_pos` invocations share each position's dot product.
  uint per_pos = max(1u, WG / pc.split_len);
  uint t = tid / per_pos, lane = tid % per_pos;
  float partial = 0.0;
  if (t < n) {
    uint k_at = base + t * pc.kv_dim;
    for (uint d = lane; d < hs; d += per_pos) partial += q_head[d] * kcache[k_at + d];
  }
  dot_parts[tid] = partial;
  barrier();
  if (tid < n) {
    float score = 0.0;
    for (uint i = 0u; i < per_pos; i++) score += dot_parts[tid * per_pos + i];
    scores[tid] = score / sqrt(float(hs));
  }
  barrier();
  float m = scores[0];
  for (uint i = 1u; i < n; i++) m = max(m, scores[i]);
  barrier(); // everyone has read the raw scores
  if (tid < n) scores[tid] = exp(scores[tid] - m);
  barrier();
  float l = 0.0;
  for (uint i = 0u; i < n; i++) l += scores[i];

  uint groups = max(1u, WG / hs);
  for (uint e = tid; e < groups * hs; e += WG) {
    uint g = e / hs, d = e % hs;
    float a = 0.0;
    for (uint i = g; i < n; i += groups) a += scores[i] * vcache[base + i * pc.kv_dim + d];
    acc[e] = a;
  }
  barrier();

  if (split_count == 1u) {
    for (uint d = tid; d < hs; d += WG) {
      float o = 0.0;
      for (uint g = 0u; g < groups; g++) o += acc[g * hs + d];
      att_out[h * hs + d] = o / l;
    }
    return;
  }

  uint mine = (h * pc.max_splits + s) * (hs + 2u);
  for (uint d = tid; d < hs; d += WG) {
    float o = 0.0;
    for (uint g = 0u; g < groups; g++) o += acc[g * hs + d];
    splits[mine + 2u + d] = o;
  }
  if (tid == 0u) {
    splits[mine] = m;
    splits[mine + 1u] = l;
  }
  memoryBarrierBuffer(); // this invocation's writes before the count below
  barrier();
  if (tid == 0u) is_last = atomicAdd(split_done[h], 1u) == split_count - 1u ? 1u : 0u;
  barrier();
  if (is_last == 0u) return;

  memoryBarrierBuffer(); // see the other workgroups' splits
  uint head0 = h * pc.max_splits * (hs + 2u);
  for (uint d = tid; d < hs; d += WG) {
    float big_m = NEG_INF;
    for (uint k = 0u; k < split_count; k++) big_m = max(big_m, splits[head0 + k * (hs + 2u)]);
    float total_l = 0.0, o = 0.0;
    for (uint k = 0u; k < split_count; k++) {
      uint at = head0 + k * (hs + 2u);
      float weight = exp(splits[at] - big_m);
      total_l += splits[at + 1u] * weight;
      o += splits[at + 2u + d] * weight;
    }
    att_out[h * hs + d] = o / total_l;
  }
  if (tid == 0u) split_done[h] = 0u;
}
