#version 450
// A layer's FFN half, in one dispatch, from the attention's slots to w2's
// partial output:
//   x = x_in + wo (attention), formed from the attention kernel's slots:
//     per head, with M = max(m_s, score) and L = sum l_s exp(m_s - M) +
//     exp(score - M) (score = q_h . k_pos / sqrt(head_size), position pos),
//     x += sum_s y_s exp(m_s - M) / L + y_pos exp(score - M) / L;
//   xb = rmsnorm(x, rms_ffn[layer]); hb = silu(w1 xb) * (w3 xb);
//   part[g] = w2[:, rows of g] hb[rows of g].
// Workgroup g takes rows_per_group rows of hb (w1 and w3 are interleaved
// by row, so a subgroup reads both rows of an output next to each other)
// and, with them, one split of w2's input: the next kernel adds the
// partial vectors. Workgroup 0 stores x for that kernel's residual.
#extension GL_GOOGLE_include_directive : require
#ifndef PAIR_PAIRS
#define PAIR_PAIRS 2u // rows_per_group 16 over 8 subgroups
#endif
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x_in[]; };
layout(std430, set = 0, binding = 1) readonly buffer Slots { vec4 slots[]; }; // see llama_attention.comp
layout(std430, set = 0, binding = 2) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 3) readonly buffer KV { float kv[]; };
layout(std430, set = 0, binding = 4) readonly buffer RmsFfn { vec4 rms_ffn[]; };
layout(std430, set = 0, binding = 5) readonly buffer W13 { WVEC w13[]; }; // [layer][hidden][w1, w3][dim4]
layout(std430, set = 0, binding = 6) readonly buffer W2 { WVEC w2[]; };   // [layer][dim][hidden4]
layout(std430, set = 0, binding = 7) writeonly buffer XOut { vec4 x_out[]; };
layout(std430, set = 0, binding = 8) writeonly buffer Parts { float parts_out[]; }; // [workgroup][dim]
layout(std430, set = 0, binding = 9) readonly buffer Step { uint pos; uint token; } step; // see llama_common.glsl

layout(push_constant) uniform Params {
  uint dim;
  uint hidden;
  uint layer;
  uint rows_per_group; // multiple of 4, 4..WG
  uint n_heads;
  uint head_size;
  uint kv_dim;
  uint kv_mul;
  uint seq_len;
  uint split_len;
  uint slot_stride;
} pc;

// When the w2 splits are loaded: 1 first, 2 after the slots are summed, 0
// after x is normalized (each earlier start holds registers longer). 2 was
// fastest on an H100 (bench/results/history.md, compile-time knobs).
#ifndef AHEAD_W2
#define AHEAD_W2 2
#endif
#define MAX_SLOTS 1024u // n_heads * slot_stride, checked by the host
#define SLOT_BATCH 16u  // slots per invocation loaded at once
#define W2_PREFETCH 8u  // vec4 of a w2 row split loaded ahead (rows_per_group <= 32)

shared float weight_of[MAX_SLOTS]; // [head][slot] softmax weight of the slot's y
shared vec4 hb4[WG / 4u];

uint g_w13_row0, g_n4, g_row0_4; // g_row0_4: first hb row of this workgroup / 4

vec4 pair_weight(uint pair, uint row, uint j) { return wvec4(w13[((g_w13_row0 + pair) * 2u + row) * g_n4 + j]); }

void finish_pair(uint k, uint pair, float h1, float h3) {
  if (subgroupElect()) hb4[pair / 4u][pair % 4u] = h1 * (1.0 / (1.0 + exp(-h1))) * h3; // silu(h1) * h3
}

float slot_m(uint head, uint slot) {
  uint i = (head * pc.slot_stride + slot) * 2u;
  return slots[i / 4u][i % 4u];
}
float slot_l(uint head, uint slot) {
  uint i = (head * pc.slot_stride + slot) * 2u + 1u;
  return slots[i / 4u][i % 4u];
}

// Softmax weight of every (head, slot) y, one subgroup per head; its lanes
// take the slots (the loads of m and l go out with those of q and k).
void slot_weights(uint past) {
  uint hs = pc.head_size, count = past + 1u, lane = gl_SubgroupInvocationID;
  for (uint h = gl_SubgroupID; h < pc.n_heads; h += gl_NumSubgroups) {
    float m0 = lane < past ? slot_m(h, lane) : NEG_INF, l0 = lane < past ? slot_l(h, lane) : 0.0;
    uint k_at = (pc.layer * 2u * pc.seq_len + step.pos) * pc.kv_dim + (h / pc.kv_mul) * hs;
    float d = 0.0;
    for (uint i = lane; i < hs; i += gl_SubgroupSize) d += q[h * hs + i] * kv[k_at + i];
    float score = subgroupAdd(d) / sqrt(float(hs));
    float m = max(score, m0);
    for (uint s = lane + gl_SubgroupSize; s < past; s += gl_SubgroupSize) m = max(m, slot_m(h, s));
    m = subgroupMax(m);
    float l = lane < past ? l0 * exp(m0 - m) : 0.0;
    for (uint s = lane + gl_SubgroupSize; s < past; s += gl_SubgroupSize) l += slot_l(h, s) * exp(slot_m(h, s) - m);
    l = subgroupAdd(l) + exp(score - m);
    if (lane < past) weight_of[h * count + lane] = exp(m0 - m) / l;
    for (uint s = lane + gl_SubgroupSize; s < past; s += gl_SubgroupSize)
      weight_of[h * count + s] = exp(slot_m(h, s) - m) / l;
    if (subgroupElect()) weight_of[h * count + past] = exp(score - m) / l;
  }
}

// The w2 split of output row r (zeros past the end).
void w2_row_ahead(uint r, uint rows4, out vec4 ahead[W2_PREFETCH]) {
  uint at = (pc.layer * pc.dim + r) * (pc.hidden / 4u) + g_row0_4;
  [[unroll]] for (uint c = 0u; c < W2_PREFETCH; c++) ahead[c] = r < pc.dim && c < rows4 ? wvec4(w2[at + c]) : vec4(0.0);
}

// part[workgroup][r] = the w2 split of row r . this workgroup's hb rows.
void w2_row(uint r, uint rows4, vec4 ahead[W2_PREFETCH]) {
  if (r >= pc.dim) return;
  uint at = (pc.layer * pc.dim + r) * (pc.hidden / 4u) + g_row0_4;
  float p = 0.0;
  [[unroll]] for (uint c = 0u; c < W2_PREFETCH; c++)
    if (c < rows4) p += dot(ahead[c], hb4[c]);
  for (uint c = W2_PREFETCH; c < rows4; c++) p += dot(wvec4(w2[at + c]), hb4[c]);
  parts_out[gl_WorkGroupID.x * pc.dim + r] = p;
}

void main() {
  uint t = gl_LocalInvocationIndex;
  uint n4 = pc.dim / 4u;
  uint row0 = gl_WorkGroupID.x * pc.rows_per_group, rows = min(pc.rows_per_group, pc.hidden - row0);
  g_n4 = n4;
  g_w13_row0 = pc.layer * pc.hidden + row0;
  g_row0_4 = row0 / 4u;

  // Weights first: they come from DRAM. w2: this invocation's output rows'
  // splits.
  vec4 wa[PAIR_HELD], wb[PAIR_HELD];
  pair_load(rows, n4, wa, wb);
  vec4 gain = t < n4 ? rms_ffn[pc.layer * n4 + t] : vec4(0.0);
  vec4 w2_ahead0[W2_PREFETCH], w2_ahead1[W2_PREFETCH];
#if AHEAD_W2 == 1
  w2_row_ahead(t, rows / 4u, w2_ahead0);
  w2_row_ahead(t + WG, rows / 4u, w2_ahead1);
#endif

  // x = x_in + weighted slots, parts of the (head, slot) list per element.
  // The first SLOT_BATCH slots are loaded before their weights are known.
  uint past = (step.pos + pc.split_len - 1u) / pc.split_len, count = past + 1u;
  uint items = pc.n_heads * count;
  uint y_base4 = ((pc.n_heads * pc.slot_stride * 2u + 3u) & ~3u) / 4u;
  uint parts = vec_parts(n4), part = vec_part(n4), j0 = vec_first(n4);
  bool gathers = part < parts;
  vec4 y[SLOT_BATCH];
  [[unroll]] for (uint k = 0u; k < SLOT_BATCH; k++) {
    uint i = part + k * parts, h = i / count, s = i % count;
    y[k] = gathers && i < items ? slots[y_base4 + (h * pc.slot_stride + s) * n4 + j0] : vec4(0.0);
  }
  vec4 x0 = gathers && part == 0u ? x_in[j0] : vec4(0.0);
  slot_weights(past);
  barrier();
  for (uint j = j0; gathers && j < n4; j += WG) {
    vec4 v = j == j0 ? x0 : part == 0u ? x_in[j] : vec4(0.0);
    for (uint i0 = part; i0 < items; i0 += SLOT_BATCH * parts) {
      if (i0 != part || j != j0) {
        [[unroll]] for (uint k = 0u; k < SLOT_BATCH; k++) {
          uint i = i0 + k * parts, h = i / count, s = i % count;
          y[k] = i < items ? slots[y_base4 + (h * pc.slot_stride + s) * n4 + j] : vec4(0.0);
        }
      }
      [[unroll]] for (uint k = 0u; k < SLOT_BATCH; k++) {
        uint i = i0 + k * parts;
        if (i < items) v += weight_of[i] * y[k];
      }
    }
    store_part(j, part, n4, v);
  }
#if AHEAD_W2 == 2
  w2_row_ahead(t, rows / 4u, w2_ahead0);
  w2_row_ahead(t + WG, rows / 4u, w2_ahead1);
#endif
  barrier();
  float scale = sum_parts_rms(n4, pc.dim);
  if (gl_WorkGroupID.x == 0u)
    for (uint j = t; j < n4; j += WG) x_out[j] = xs[j];
  for (uint j = t; j < n4; j += WG) xs[j] *= (j == t ? gain : rms_ffn[pc.layer * n4 + j]) * scale;
#if AHEAD_W2 == 0
  w2_row_ahead(t, rows / 4u, w2_ahead0);
  w2_row_ahead(t + WG, rows / 4u, w2_ahead1);
#endif
  barrier();

  pair_matvec(rows, n4, wa, wb);
  barrier(); // hb4

  // This workgroup's split of w2, output rows t and t + WG loaded ahead.
  w2_row(t, rows / 4u, w2_ahead0);
  w2_row(t + WG, rows / 4u, w2_ahead1);
  for (uint r = t + 2u * WG; r < pc.dim; r += WG) { // dim > 512
    uint at = (pc.layer * pc.dim + r) * (pc.hidden / 4u) + g_row0_4;
    float p = 0.0;
    for (uint c = 0u; c < rows / 4u; c++) p += dot(wvec4(w2[at + c]), hb4[c]);
    parts_out[gl_WorkGroupID.x * pc.dim + r] = p;
  }
}
