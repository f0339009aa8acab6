// llama_wide_attend.glsl: one workgroup's split of one head's attention
// (llama_wide_attention.comp says what it computes). The includer declares
// KV (vec4 kv4[]), Slots (vec4 slots[]) and Done (uint done[]), both
// coherent, and defines
//   Q_AT(layer, i)          vec4 i of the layer's q
//   ATT_STORE(layer, j4, v)  vec4 j4 (in element order) of the layer's
//                           merged output = v

#define MAX_HS4 64u // head_size <= 256
// vec4 of a key and values per invocation loaded up front: all of them at
// head size 64 and 64 positions per workgroup (tuning knobs,
// LLAMA_WIDE_DEFINES; on the H100 2 each measured slower, and 6 each
// took the layers kernel to 128 registers a lane, 23% slower in Q4_0).
#ifndef KEY_HELD
#define KEY_HELD 4u
#endif
#ifndef VAL_HELD
#define VAL_HELD 4u
#endif
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

// Split s (of `splits`) of head h at layer `layer`, position pos. Must be
// reached by every invocation of the workgroup (it holds barriers).
void attend(uint h, uint s, uint splits, uint layer, uint pos) {
  uint t = gl_LocalInvocationIndex;
  uint hs4 = pc.head_size / 4u, kv_dim4 = pc.kv_dim / 4u;
  uint t0 = s * pc.split_len, n = min(pc.split_len, pos + 1u - t0);
  uint kv_head4 = (h / pc.kv_mul) * hs4;
  uint keys = (layer * 2u * pc.seq_len + t0) * kv_dim4 + kv_head4;
  uint values = ((layer * 2u + 1u) * pc.seq_len + t0) * kv_dim4 + kv_head4;
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
  if (t < hs4) q_h[t] = Q_AT(layer, h * hs4 + t);
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
  vec4 sum = t < hs4 ? group_sum(t, groups, hs4) : vec4(0.0);
  if (splits == 1u) { // the only workgroup of its head: no slots to merge
    if (t < hs4) ATT_STORE(layer, h * hs4 + t, sum / l);
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
  // Every subgroup reads the splits' (max, sum) pairs a split a lane, each
  // once, all at the same time (the merge is a chain of waits: one round
  // of loads here, one for the parts below), and folds them as the
  // softmax's running max and sum do; every lane gets the head's max and
  // sum from the subgroup.
  float lane_max = NEG_INF, lane_sum = 0.0;
  for (uint k = gl_SubgroupInvocationID; k < splits; k += gl_SubgroupSize) {
    vec2 ml = slots[first + k].xy;
    float m2 = max(lane_max, ml.x);
    lane_sum = (lane_max == NEG_INF ? 0.0 : lane_sum * exp(lane_max - m2)) + ml.y * exp(ml.x - m2);
    lane_max = m2;
  }
  float big = subgroupMax(lane_max);
  float total = subgroupAdd(lane_max == NEG_INF ? 0.0 : lane_sum * exp(lane_max - big));
  // groups of invocations take every groups-th slot of element d4.
  vec4 merged = vec4(0.0);
  if (group < groups)
    for (uint k = group; k < splits; k += groups)
      merged += exp(slots[first + k].x - big) * slots[acc0 + (first + k) * hs4 + d4];
  acc_parts[t] = merged;
  barrier();
  if (t < hs4) ATT_STORE(layer, h * hs4 + t, group_sum(t, groups, hs4) / total);
}
