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
layout(std430, set = 0, binding = 1) readonly buffer KV { float kv[]; }; // [layer][k, v][pos][kv_dim]
layout(std430, set = 0, binding = 2) writeonly buffer Out { float att_out[]; }; // dim
layout(std430, set = 0, binding = 3) coherent buffer SplitDone { uint split_done[]; }; // per head
// Per (head, split): m, l, acc[head_size], at ((h * max_splits) + s) * (head_size + 2).
layout(std430, set = 0, binding = 4) coherent buffer Splits { float splits[]; };

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
#define PREFETCH 8u        // values per invocation loaded before the softmax

shared float scores[WG];
shared float dot_parts[WG];
// Weighted-sum accumulators: `groups` groups of invocations each take every
// groups-th position for all head_size outputs; acc[g * head_size + d].
shared float acc[MAX_HEAD_SIZE];
shared float split_weight[WG]; // merge: exp(m_s - M) per split
shared uint is_last;

void main() {
  uint tid = gl_LocalInvocationIndex, lane = gl_SubgroupInvocationID;
  uint h = gl_WorkGroupID.x, s = gl_WorkGroupID.y, split_count = gl_NumWorkGroups.y;
  uint hs = pc.head_size;
  uint n = min(pc.split_len, pc.pos + 1u - s * pc.split_len);
  // Keys of this split's first position, this head's kv head; values follow
  // the layer's keys at v_off.
  uint base = (pc.layer * 2u * pc.seq_len + s * pc.split_len) * pc.kv_dim + (h / pc.kv_mul) * hs;
  uint v_off = pc.seq_len * pc.kv_dim;

  // The values this invocation will weigh (position g + k * groups, element
  // d), loaded now so that their latency overlaps the scores and softmax.
  uint groups = max(1u, WG / hs);
  uint my_g = tid / hs, my_d = tid % hs;
  float v_early[PREFETCH];
  for (uint k = 0u; k < PREFETCH; k++) {
    uint i = my_g + k * groups;
    v_early[k] = tid < groups * hs && i < n ? kv[v_off + base + i * pc.kv_dim + my_d] : 0.0;
  }

  // Scores: `per_pos` invocations share each position's dot product.
  uint per_pos = max(1u, WG / pc.split_len);
  uint t = tid / per_pos;
  float partial = 0.0;
  if (t < n) {
    uint k_at = base + t * pc.kv_dim;
    for (uint d = tid % per_pos; d < hs; d += per_pos) partial += q[h * hs + d] * kv[k_at + d];
  }
  dot_parts[tid] = partial;
  barrier();
  if (tid < n) {
    float score = 0.0;
    for (uint i = 0u; i < per_pos; i++) score += dot_parts[tid * per_pos + i];
    scores[tid] = score / sqrt(float(hs));
  }
  barrier();
  // Every subgroup finds the split's maximum and denominator for itself.
  float m = NEG_INF;
  for (uint i = lane; i < n; i += gl_SubgroupSize) m = max(m, scores[i]);
  m = subgroupMax(m);
  float l = 0.0;
  for (uint i = lane; i < n; i += gl_SubgroupSize) l += exp(scores[i] - m);
  l = subgroupAdd(l);

  // groups * hs <= WG (hs <= MAX_HEAD_SIZE == WG): one (g, d) per invocation.
  if (tid < groups * hs) {
    float a = 0.0;
    for (uint k = 0u; k < PREFETCH; k++) {
      uint i = my_g + k * groups;
      if (i < n) a += exp(scores[i] - m) * v_early[k];
    }
    for (uint i = my_g + PREFETCH * groups; i < n; i += groups)
      a += exp(scores[i] - m) * kv[v_off + base + i * pc.kv_dim + my_d];
    acc[tid] = a;
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
  // Merge: M = max m_s, weights exp(m_s - M), L = sum l_s * weight.
  float big_m = NEG_INF;
  for (uint k = lane; k < split_count; k += gl_SubgroupSize) big_m = max(big_m, splits[head0 + k * (hs + 2u)]);
  big_m = subgroupMax(big_m);
  float total_l = 0.0;
  for (uint k = lane; k < split_count; k += gl_SubgroupSize) {
    float weight = exp(splits[head0 + k * (hs + 2u)] - big_m);
    if (gl_SubgroupID == 0u) split_weight[k] = weight;
    total_l += splits[head0 + k * (hs + 2u) + 1u] * weight;
  }
  total_l = subgroupAdd(total_l);
  barrier(); // split_weight
  for (uint d = tid; d < hs; d += WG) {
    float o = 0.0;
    for (uint k = 0u; k < split_count; k++) o += splits[head0 + k * (hs + 2u) + 2u + d] * split_weight[k];
    att_out[h * hs + d] = o / total_l;
  }
  if (tid == 0u) split_done[h] = 0u;
}
