#version 450
// A layer's attention half, in one dispatch, from its input to wo's output:
//   x = base + sum of the previous layer's FFN partials (layer 0: the
//   embedding row of `token`); xb = rmsnorm(x, rms_att[layer]);
//   q, k, v of xb with RoPE; attention of q over the cache; wo times it.
// Workgroup (h, s) for query head h; s picks its role. With
// past = ceil(pos / split_len) splits of the positions before pos:
//   s < past     PAST: q_h, attention over positions
//                [s * split_len, min((s + 1) * split_len, pos)): scores
//                q_h . k_t / sqrt(head_size), their maximum m_s,
//                l_s = sum exp(score - m_s), acc_s = sum exp(score - m_s) v_t,
//                then y_s = wo_h acc_s (wo_h: wo's columns of head h);
//   s = past     Q: q_h, stored for the FFN kernel, which takes the score of
//                position pos as q_h . k_pos itself;
//   s = past + 1 K: k of kv head h / kv_mul at pos, into the cache (only the
//                first query head of each kv head);
//   s = past + 2 V: v at pos, into the cache, and y = wo_h v.
// Each workgroup writes (m_s, l_s) and y_s, slot s of head h (V: slot past,
// whose m and l the FFN kernel takes from q_h . k_pos). Since wo is linear,
// wo (softmax-weighted sum over slots of acc) = the same weighted sum of
// the y slots; the FFN kernel forms it (exp(m_s - M) / L weights) and adds
// the residual. No workgroup waits for another: past positions were cached
// by earlier steps, and position pos is handled by Q, K and V.
// Workgroup (0, 0) stores x for the FFN kernel's residual.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Base { vec4 base[]; }; // x before the last FFN
layout(std430, set = 0, binding = 1) readonly buffer Emb { WVEC emb[]; };
layout(std430, set = 0, binding = 2) readonly buffer FfnParts { vec4 ffn_parts[]; }; // [ffn_parts][dim4]
layout(std430, set = 0, binding = 3) readonly buffer RmsAtt { vec4 rms_att[]; };
// Per layer: the rows of wq, then of wk, then of wv (dim + 2 kv_dim rows).
layout(std430, set = 0, binding = 4) readonly buffer Wqkv { WVEC wqkv[]; };
layout(std430, set = 0, binding = 5) readonly buffer Wo { WVEC wo[]; }; // [layer][dim][dim4]
layout(std430, set = 0, binding = 6) readonly buffer Rope { vec2 rope[]; }; // [pos][head_size / 2] (cos, sin)
layout(std430, set = 0, binding = 7) buffer KV { vec4 kv[]; }; // [layer][k, v][seq_len][kv_dim / 4]
layout(std430, set = 0, binding = 8) writeonly buffer Q { float q_out[]; }; // dim
layout(std430, set = 0, binding = 9) writeonly buffer XOut { vec4 x_out[]; }; // x, for the FFN's residual
// [head][slot] (m, l), then from y_base: [head][slot][dim] y.
layout(std430, set = 0, binding = 10) writeonly buffer Slots { float slots[]; };
layout(std430, set = 0, binding = 11) readonly buffer Step { uint pos; uint token; } step; // see llama_common.glsl
// The previous step's classifier workgroups' best (value bits, index), for
// a step whose token the GPU chooses (step.token == NO_TOKEN).
layout(std430, set = 0, binding = 12) readonly buffer PrevBest { uvec2 prev_best[]; };

layout(push_constant) uniform Params {
  uint dim;
  uint kv_dim;
  uint head_size;
  uint seq_len;
  uint layer;
  uint first_layer; // 1: x is the embedding row of the step's token, no FFN partials
  uint kv_mul;      // n_heads / n_kv_heads
  uint split_len;   // positions per PAST workgroup, 1..WG
  uint slot_stride; // slots per head in `slots`
  uint ffn_parts;   // partial vectors the previous layer's FFN left
  uint best_count;  // entries of prev_best
} pc;

#define ROLE_PAST 0u
#define ROLE_Q 1u
#define ROLE_K 2u
#define ROLE_V 3u
#define MAX_HS4 64u // head_size <= 256
// When loads are issued (registers permitting, earlier is better: each
// wait for memory is on the critical path of a latency-bound step):
#ifndef AHEAD_KV
#define AHEAD_KV 1 // keys and values: 1 before x is summed, 0 after the matvec
#endif
#ifndef AHEAD_WO
#define AHEAD_WO 0 // wo_h rows: 1 before x is summed, 0 after the matvec
#endif
#define K_PREFETCH 4u  // vec4 of a key per invocation loaded ahead
#define V_PREFETCH 4u  // values per invocation loaded ahead
#define O_PREFETCH 12u // vec4 of a wo_h row loaded ahead (head_size <= 48)
#define PART_BATCH 16u // FFN partials per invocation loaded at once

shared vec4 head_vec[MAX_HS4]; // q_h (PAST) or v (V), then PAST's attention output
shared float key_parts[WG];    // [position][part] of the scores' dot products
shared float scores[WG];
shared uint token_of[WG]; // step_token's per-subgroup winners

uint g_role, g_row0, g_n4, g_h, g_pos;
vec2 g_rope[PAIR_PAIRS]; // RoPE (cos, sin) of this subgroup's first pairs

vec4 pair_weight(uint pair, uint row, uint j) { return wvec4(wqkv[(g_row0 + 2u * pair + row) * g_n4 + j]); }

uint cache_at(uint which, uint t) { // float index of (k or v, position t) of this head's kv head
  return ((pc.layer * 2u + which) * pc.seq_len + t) * pc.kv_dim + (g_h / pc.kv_mul) * pc.head_size;
}

vec2 rope_of(uint pair) { return rope[g_pos * (pc.head_size / 2u) + pair]; }

void finish_pair(uint k, uint pair, float a, float b) {
  if (g_role != ROLE_V) { // RoPE on q and k
    vec2 cs = k < PAIR_PAIRS ? g_rope[min(k, PAIR_PAIRS - 1u)] : rope_of(pair);
    float r0 = a * cs.x - b * cs.y, r1 = a * cs.y + b * cs.x;
    a = r0;
    b = r1;
  }
  if (!subgroupElect()) return;
  uint i = 2u * pair;
  if (g_role == ROLE_PAST || g_role == ROLE_V) {
    head_vec[i / 4u][i % 4u] = a;
    head_vec[i / 4u][i % 4u + 1u] = b;
  }
  if (g_role == ROLE_Q) {
    q_out[g_h * pc.head_size + i] = a;
    q_out[g_h * pc.head_size + i + 1u] = b;
  } else if (g_role != ROLE_PAST) {
    uint at = cache_at(g_role == ROLE_K ? 0u : 1u, g_pos) + i;
    kv[at / 4u][at % 4u] = a;
    kv[at / 4u][at % 4u + 1u] = b;
  }
}

// Stores this invocation's part of x = base + FFN partials (see
// store_part); sum_parts_rms finishes it after a barrier.
void gather_input(uint n4, uint token) {
  uint parts = vec_parts(n4), part = vec_part(n4);
  for (uint j = vec_first(n4); part < parts && j < n4; j += WG) {
    vec4 v = part != 0u ? vec4(0.0) : pc.first_layer != 0u ? wvec4(emb[token * n4 + j]) : base[j];
    for (uint g0 = part; g0 < pc.ffn_parts; g0 += PART_BATCH * parts) {
      vec4 p[PART_BATCH];
      [[unroll]] for (uint k = 0u; k < PART_BATCH; k++) {
        uint g = g0 + k * parts;
        p[k] = g < pc.ffn_parts ? ffn_parts[g * n4 + j] : vec4(0.0);
      }
      [[unroll]] for (uint k = 0u; k < PART_BATCH; k++) v += p[k];
    }
    store_part(j, part, n4, v);
  }
}

// Row r of y = wo_h vec (vec = head_vec); `ahead` holds the row's first
// O_PREFETCH vec4 of wo_h.
void project_row(uint slot, uint r, vec4 ahead[O_PREFETCH]) {
  if (r >= pc.dim) return;
  uint hs4 = pc.head_size / 4u;
  uint y_base = (gl_NumWorkGroups.x * pc.slot_stride * 2u + 3u) & ~3u; // (m, l) first
  uint w_at = (pc.layer * pc.dim + r) * g_n4 + g_h * hs4;
  float y = 0.0;
  [[unroll]] for (uint c = 0u; c < O_PREFETCH; c++)
    if (c < hs4) y += dot(ahead[c], head_vec[c]);
  for (uint c = O_PREFETCH; c < hs4; c++) y += dot(wvec4(wo[w_at + c]), head_vec[c]);
  slots[y_base + (g_h * pc.slot_stride + slot) * pc.dim + r] = y;
}

// The wo_h row of output row r (zeros past the end), for project_row.
void wo_row(uint r, bool wanted, out vec4 ahead[O_PREFETCH]) {
  uint hs4 = pc.head_size / 4u;
  [[unroll]] for (uint c = 0u; c < O_PREFETCH; c++)
    ahead[c] = wanted && r < pc.dim && c < hs4 ? wvec4(wo[(pc.layer * pc.dim + r) * g_n4 + g_h * hs4 + c]) : vec4(0.0);
}

// y = wo_h vec, one output row per invocation at a time; rows t and t + WG
// may come loaded (ahead0, ahead1).
void project_out(uint slot, vec4 ahead0[O_PREFETCH], vec4 ahead1[O_PREFETCH]) {
  uint t = gl_LocalInvocationIndex;
  project_row(slot, t, ahead0);
  project_row(slot, t + WG, ahead1);
  uint hs4 = pc.head_size / 4u;
  uint y_base = (gl_NumWorkGroups.x * pc.slot_stride * 2u + 3u) & ~3u;
  for (uint r = t + 2u * WG; r < pc.dim; r += WG) { // dim > 512
    float y = 0.0;
    for (uint c = 0u; c < hs4; c++) y += dot(wvec4(wo[(pc.layer * pc.dim + r) * g_n4 + g_h * hs4 + c]), head_vec[c]);
    slots[y_base + (g_h * pc.slot_stride + slot) * pc.dim + r] = y;
  }
}

// The token of a first layer: the step's, or (NO_TOKEN) the argmax of the
// previous step's logits from its classifier workgroups' bests, with the
// host's rules (gpu_forward.c, best_token): NaN never wins, ties go to the
// lowest index. Uses key_parts before anything else does.
uint step_token() {
  uint token = step.token;
  if (token != NO_TOKEN || pc.first_layer == 0u) return token;
  float v = NEG_INF;
  uint i = NO_TOKEN;
  for (uint k = gl_LocalInvocationIndex; k < pc.best_count; k += WG) {
    uvec2 b = prev_best[k];
    float bv = uintBitsToFloat(b.x);
    if (b.y != NO_TOKEN && !isnan(bv) && (i == NO_TOKEN || bv > v)) { // k ascends: ties keep the earlier
      v = bv;
      i = b.y;
    }
  }
  float m = subgroupMax(v);
  i = subgroupMin(v == m ? i : NO_TOKEN);
  if (subgroupElect()) {
    key_parts[gl_SubgroupID] = m;
    token_of[gl_SubgroupID] = i;
  }
  barrier();
  v = NEG_INF;
  i = NO_TOKEN;
  for (uint k = 0u; k < gl_NumSubgroups; k++) {
    float kv = key_parts[k];
    uint ki = token_of[k];
    if (ki != NO_TOKEN && (i == NO_TOKEN || kv > v || (kv == v && ki < i))) {
      v = kv;
      i = ki;
    }
  }
  barrier(); // key_parts is reused
  return i == NO_TOKEN ? 0u : i; // every logit NaN: the host reports it
}

void main() {
  uint t = gl_LocalInvocationIndex;
  g_pos = step.pos;
  uint h = gl_WorkGroupID.x, s = gl_WorkGroupID.y;
  uint n4 = pc.dim / 4u, hs = pc.head_size, hs4 = hs / 4u;
  uint past = (g_pos + pc.split_len - 1u) / pc.split_len;
  g_role = s < past ? ROLE_PAST : ROLE_Q + (s - past);
  g_h = h;
  g_n4 = n4;
  if (g_role == ROLE_K && h % pc.kv_mul != 0u) return; // another head writes this k
  uint layer_row = pc.layer * (pc.dim + 2u * pc.kv_dim);
  uint kv_row = (h / pc.kv_mul) * hs;
  g_row0 = layer_row + (g_role == ROLE_K ? pc.dim + kv_row : g_role == ROLE_V ? pc.dim + pc.kv_dim + kv_row : h * hs);

  // Everything this workgroup reads that does not depend on x is loaded
  // before x is ready: the q, k or v rows (from DRAM), RoPE angles, the
  // RMS gain, and (see AHEAD_KV, AHEAD_WO) keys, values and wo_h rows.
  vec4 wa[PAIR_HELD], wb[PAIR_HELD];
  pair_load(hs / 2u, n4, wa, wb);
  [[unroll]] for (uint k = 0u; k < PAIR_PAIRS; k++)
    g_rope[k] = g_role != ROLE_V && pair_at(k) < hs / 2u ? rope_of(pair_at(k)) : vec2(0.0);
  vec4 gain = t < n4 ? rms_att[pc.layer * n4 + t] : vec4(0.0);
  gather_input(n4, step_token());

  bool projects = g_role == ROLE_PAST || g_role == ROLE_V;
  vec4 wo_ahead0[O_PREFETCH], wo_ahead1[O_PREFETCH];
#if AHEAD_WO
  wo_row(t, projects, wo_ahead0);
  wo_row(t + WG, projects, wo_ahead1);
#endif
  // PAST: per_pos invocations share each key (position my_pos, vec4
  // key_part + k * per_pos); values: position my_t + k * groups, element my_d.
  uint t0 = s * pc.split_len;
  uint n = g_role == ROLE_PAST ? min(pc.split_len, g_pos - t0) : 0u;
  uint per_pos = max(1u, WG / pc.split_len), my_pos = t / per_pos, key_part = t % per_pos;
  uint key4 = cache_at(0u, t0 + my_pos) / 4u, val4 = cache_at(1u, t0) / 4u;
  uint groups = WG / hs4, my_t = t / hs4, my_d = t % hs4;
  uint kv_dim4 = pc.kv_dim / 4u;
  vec4 key[K_PREFETCH], val[V_PREFETCH];
#if AHEAD_KV
  [[unroll]] for (uint k = 0u; k < K_PREFETCH; k++) {
    uint c = key_part + k * per_pos;
    key[k] = my_pos < n && c < hs4 ? kv[key4 + c] : vec4(0.0);
  }
  [[unroll]] for (uint k = 0u; k < V_PREFETCH; k++) {
    uint i = my_t + k * groups;
    val[k] = my_t < groups && i < n ? kv[val4 + i * kv_dim4 + my_d] : vec4(0.0);
  }
#endif

  barrier(); // every part of x stored
  float scale = sum_parts_rms(n4, pc.dim);
  if (h == 0u && s == 0u)
    for (uint j = t; j < n4; j += WG) x_out[j] = xs[j];
  for (uint j = t; j < n4; j += WG) xs[j] *= (j == t ? gain : rms_att[pc.layer * n4 + j]) * scale;
  barrier();

  pair_matvec(hs / 2u, n4, wa, wb);
  if (g_role == ROLE_Q || g_role == ROLE_K) return;
#if !AHEAD_WO
  wo_row(t, true, wo_ahead0);
  wo_row(t + WG, true, wo_ahead1);
#endif
  barrier(); // head_vec

  if (g_role == ROLE_V) {
    project_out(past, wo_ahead0, wo_ahead1);
    return;
  }
#if !AHEAD_KV
  [[unroll]] for (uint k = 0u; k < K_PREFETCH; k++) {
    uint c = key_part + k * per_pos;
    key[k] = my_pos < n && c < hs4 ? kv[key4 + c] : vec4(0.0);
  }
  [[unroll]] for (uint k = 0u; k < V_PREFETCH; k++) {
    uint i = my_t + k * groups;
    val[k] = my_t < groups && i < n ? kv[val4 + i * kv_dim4 + my_d] : vec4(0.0);
  }
#endif

  // PAST: scores.
  float d = 0.0;
  if (my_pos < n) {
    [[unroll]] for (uint k = 0u; k < K_PREFETCH; k++) {
      uint c = key_part + k * per_pos;
      if (c < hs4) d += dot(head_vec[c], key[k]); // head_vec past hs4 is not written: maybe NaN
    }
    for (uint c = key_part + K_PREFETCH * per_pos; c < hs4; c += per_pos) d += dot(head_vec[c], kv[key4 + c]);
  }
  key_parts[t] = d;
  barrier();
  if (t < n) {
    float score = 0.0;
    for (uint k = 0u; k < per_pos; k++) score += key_parts[t * per_pos + k];
    scores[t] = score / sqrt(float(hs));
  }
  barrier();
  // Every subgroup finds the maximum and the denominator for itself.
  float m = NEG_INF;
  for (uint i = gl_SubgroupInvocationID; i < n; i += gl_SubgroupSize) m = max(m, scores[i]);
  m = subgroupMax(m);
  float l = 0.0;
  for (uint i = gl_SubgroupInvocationID; i < n; i += gl_SubgroupSize) l += exp(scores[i] - m);
  l = subgroupAdd(l);
  // acc: groups of invocations take every groups-th position of element my_d.
  if (my_t < groups) {
    vec4 a = vec4(0.0);
    [[unroll]] for (uint k = 0u; k < V_PREFETCH; k++) {
      uint i = my_t + k * groups;
      if (i < n) a += exp(scores[i] - m) * val[k];
    }
    for (uint i = my_t + V_PREFETCH * groups; i < n; i += groups) a += exp(scores[i] - m) * kv[val4 + i * kv_dim4 + my_d];
    part_sums[t] = a; // [group][element]
  }
  barrier();
  if (t < hs4) {
    vec4 a = vec4(0.0);
    for (uint g = 0u; g < groups; g++) a += part_sums[g * hs4 + t];
    head_vec[t] = a;
  }
  if (t == 0u) {
    slots[(h * pc.slot_stride + s) * 2u] = m;
    slots[(h * pc.slot_stride + s) * 2u + 1u] = l;
  }
  barrier();
  project_out(s, wo_ahead0, wo_ahead1);
}
