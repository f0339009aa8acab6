#version 450
// The wide plan's attention: workgroup (h, s) takes query head h over the
// cached positions [s * split_len, min((s + 1) * split_len, pos + 1)) (the
// q/k/v kernel has already put position pos into the cache) and leaves,
// in slot s of head h, the split's largest score m, l = sum exp(score - m)
// and acc = sum exp(score - m) v. The head's last workgroup to finish (a
// counter per head says which) merges its slots into the head's output:
// sum over slots of exp(m_s - M) acc_s / L (M: the largest m_s, L: sum of
// l_s exp(m_s - M)), written in the wo kernel's unit order. Scores are
// q . k / sqrt(head_size).
#extension GL_GOOGLE_include_directive : require
#include "llama_wide.glsl"

layout(local_size_x = WG) in;

layout(std430, set = 0, binding = 0) readonly buffer Q { vec4 q4[]; };
layout(std430, set = 0, binding = 1) readonly buffer KV { vec4 kv4[]; }; // [layer][k, v][seq_len][kv_dim4]
// [head][slot] (m, l, -, -), then from n_heads * slot_stride: [head][slot][head_size4] acc.
// Other workgroups' slots are read by the last one: coherent.
layout(std430, set = 0, binding = 2) coherent buffer Slots { vec4 slots[]; };
layout(std430, set = 0, binding = 3) readonly buffer Step { uint pos; uint token; } step;
layout(std430, set = 0, binding = 4) writeonly buffer Att { vec4 att4[]; }; // [dim4], wo's unit order
// Per head, the workgroups done with this dispatch; the last one sets it
// back to 0 for the next.
layout(std430, set = 0, binding = 5) coherent buffer Done { uint done[]; };

#define MAX_HS4 64u // head_size <= 256
// vec4 of a key and values per invocation loaded up front: all of them at
// head size 64 and 64 positions per workgroup.
#define KEY_HELD 4u
#define VAL_HELD 4u
shared vec4 q_h[MAX_HS4];
shared float key_parts[WG]; // [position][part] of the scores' dot products
shared float weights[WG];   // exp(score - m) per position
shared vec4 acc_parts[WG];  // [group][element] of acc
shared bool last;           // this workgroup finishes its head

// Element d4 of acc: the sum of its groups' parts in acc_parts.
vec4 group_sum(uint d4, uint groups, uint hs4) {
  vec4 sum = vec4(0.0);
  for (uint g = 0u; g < groups; g++) sum += acc_parts[g * hs4 + d4];
  return sum;
}

void main() {
  uint t = gl_LocalInvocationIndex;
  uint h = gl_WorkGroupID.x, s = gl_WorkGroupID.y;
  uint hs4 = pc.head_size / 4u, kv_dim4 = pc.kv_dim / 4u;
  uint t0 = s * pc.split_len, n = min(pc.split_len, step.pos + 1u - t0);
  uint kv_head4 = (h / pc.kv_mul) * hs4;
  uint keys = (pc.layer * 2u * pc.seq_len + t0) * kv_dim4 + kv_head4;
  uint values = ((pc.layer * 2u + 1u) * pc.seq_len + t0) * kv_dim4 + kv_head4;
  // Keys and values are loaded first, with q: none of them waits for another.
  uint per_pos = max(1u, WG / pc.split_len), my_pos = t / per_pos, part = t % per_pos;
  uint groups = WG / hs4, group = t / hs4, d4 = t % hs4;
  vec4 key[KEY_HELD], val[VAL_HELD];
  [[unroll]] for (uint k = 0u; k < KEY_HELD; k++) {
    uint c = part + k * per_pos;
    key[k] = my_pos < n && c < hs4 ? kv4[keys + my_pos * kv_dim4 + c] : vec4(0.0);
  }
  [[unroll]] for (uint k = 0u; k < VAL_HELD; k++) {
    uint i = group + k * groups;
    val[k] = group < groups && i < n ? kv4[values + i * kv_dim4 + d4] : vec4(0.0);
  }
  if (t < hs4) q_h[t] = q4[h * hs4 + t];
  barrier();

  // Scores: per_pos invocations share each position's key.
  float d = 0.0;
  if (my_pos < n) {
    [[unroll]] for (uint k = 0u; k < KEY_HELD; k++) {
      uint c = part + k * per_pos;
      if (c < hs4) d += dot(q_h[c], key[k]);
    }
    for (uint c = part + KEY_HELD * per_pos; c < hs4; c += per_pos) d += dot(q_h[c], kv4[keys + my_pos * kv_dim4 + c]);
  }
  key_parts[t] = d;
  barrier();
  float score = NEG_INF;
  if (t < n) {
    score = 0.0;
    for (uint k = 0u; k < per_pos; k++) score += key_parts[t * per_pos + k];
    score /= sqrt(float(pc.head_size));
  }
  float m = workgroup_max(score);
  float e = t < n ? exp(score - m) : 0.0;
  float l = workgroup_sum(e);
  weights[t] = e;
  barrier();

  // acc: groups of invocations take every groups-th position of element d4.
  vec4 a = vec4(0.0);
  if (group < groups) {
    [[unroll]] for (uint k = 0u; k < VAL_HELD; k++) {
      uint i = group + k * groups;
      if (i < n) a += weights[i] * val[k];
    }
    for (uint i = group + VAL_HELD * groups; i < n; i += groups) a += weights[i] * kv4[values + i * kv_dim4 + d4];
  }
  acc_parts[t] = a;
  barrier();
  uint slot = h * pc.slot_stride + s, acc0 = pc.n_heads * pc.slot_stride;
  uint splits = gl_NumWorkGroups.y;
  vec4 sum = t < hs4 ? group_sum(t, groups, hs4) : vec4(0.0);
  if (splits == 1u) { // the only workgroup of its head: no slots to merge
    if (t < hs4) att4[in_slot(h * hs4 + t, pc.cols, pc.out_vec4)] = sum / l;
    return;
  }
  if (t < hs4) slots[acc0 + slot * hs4 + t] = sum;
  if (t == 0u) slots[slot] = vec4(m, l, 0.0, 0.0);

  // The slot is written before the counter counts it (the release), and
  // read by the last workgroup after it saw the count (the acquire).
  memoryBarrierBuffer();
  barrier();
  if (t == 0u) {
    last = atomicAdd(done[h], 1u) == splits - 1u;
    if (last) done[h] = 0u;
  }
  barrier();
  if (!last) return;
  memoryBarrierBuffer();
  uint first = h * pc.slot_stride;
  float big = NEG_INF;
  for (uint k = 0u; k < splits; k++) big = max(big, slots[first + k].x);
  float total = 0.0;
  for (uint k = 0u; k < splits; k++) total += slots[first + k].y * exp(slots[first + k].x - big);
  // groups of invocations take every groups-th slot of element d4.
  vec4 merged = vec4(0.0);
  if (group < groups)
    for (uint k = group; k < splits; k += groups)
      merged += exp(slots[first + k].x - big) * slots[acc0 + (first + k) * hs4 + d4];
  acc_parts[t] = merged;
  barrier();
  if (t < hs4) att4[in_slot(h * hs4 + t, pc.cols, pc.out_vec4)] = group_sum(t, groups, hs4) / total;
}
