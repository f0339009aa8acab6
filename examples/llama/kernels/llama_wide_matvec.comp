#version 450
// The wide plan's matrix-vector products (see llama_wide.glsl), one source
// compiled once per KIND (and per weight type):
//   KIND_QKV         q, k, v = wqkv[layer] rmsnorm(x, rms_att[layer]), RoPE on
//                    q and k; q to Q, k and v into the cache at step.pos
//   KIND_W13         hb = silu(w1 xb) * (w3 xb), xb = rmsnorm(x, rms_ffn[layer])
//                    (w1 and w3 interleaved by row: row 2i of w13 is w1's i)
//   KIND_WO          x += wo[layer] attention, the attention merged from the
//                    attention workgroups' slots (llama_wide_attention.comp)
//   KIND_W2          x += w2[layer] hb
//   KIND_CLASSIFIER  logits = wcls rmsnorm(x, rms_final); the workgroup's
//                    best (value, index) to Best and BestOut
// Workgroup g takes rows [g * rows_per_group, ...) of the layer's matrix.
// Rows of a workgroup are written by that workgroup alone, so x is updated
// in place: KIND_WO and KIND_W2 read only their own rows of it.
#extension GL_GOOGLE_include_directive : require
#include "llama_wide.glsl"

layout(local_size_x = WG) in;

#if KIND_QKV || KIND_W13 || KIND_CLASSIFIER
#define NORM_INPUT 1
layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x_in[]; };
layout(std430, set = 0, binding = 1) readonly buffer Gains { vec4 gains[]; }; // [layer][dim4]
layout(std430, set = 0, binding = 2) readonly buffer Weights { WEIGHT_TYPE wt[]; };
#endif
#if KIND_QKV
layout(std430, set = 0, binding = 3) readonly buffer Rope { vec2 rope[]; }; // [pos][head_size / 2] (cos, sin)
layout(std430, set = 0, binding = 4) writeonly buffer KV { float kv[]; }; // [layer][k, v][seq_len][kv_dim]
layout(std430, set = 0, binding = 5) writeonly buffer Q { float q_out[]; };
layout(std430, set = 0, binding = 6) readonly buffer Step { uint pos; uint token; } step;
#elif KIND_W13
layout(std430, set = 0, binding = 3) writeonly buffer Hb { float hb[]; };
#elif KIND_CLASSIFIER
// Two steps' logits: step pos writes half pos % 2, so the host can read a
// step's logits while the next one runs.
layout(std430, set = 0, binding = 3) writeonly buffer Logits { float logits[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Best { uvec2 best[]; }; // (float bits, index)
layout(std430, set = 0, binding = 5) readonly buffer Step { uint pos; uint token; } step;
// The same bests again, for the host (Best is read by the next step's
// embedding kernel when the GPU picks its token).
layout(std430, set = 0, binding = 6) writeonly buffer BestOut { uvec2 best_out[]; };
#elif KIND_WO
// [head][slot] (m, l, -, -), then from n_heads * slot_stride: [head][slot][head_size4] acc.
layout(std430, set = 0, binding = 0) readonly buffer Slots { vec4 slots[]; };
layout(std430, set = 0, binding = 1) readonly buffer Weights { WEIGHT_TYPE wt[]; };
layout(std430, set = 0, binding = 2) buffer X { float x[]; };
layout(std430, set = 0, binding = 3) readonly buffer Step { uint pos; uint token; } step;
#define MAX_SLOTS 512u // n_heads * slot_stride, checked by the host
shared vec2 slot_ml[MAX_SLOTS]; // (m, l) of each (head, split), then (weight, -)
#elif KIND_W2
layout(std430, set = 0, binding = 0) readonly buffer Hb { vec4 hb4[]; };
layout(std430, set = 0, binding = 1) readonly buffer Weights { WEIGHT_TYPE wt[]; };
layout(std430, set = 0, binding = 2) buffer X { float x[]; };
#else
#error "define one KIND_*"
#endif

shared vec4 xs[MAX_COLS4];   // the product's input vector
shared float dots[MAX_ROWS]; // the workgroup's row results

// A subgroup's row is read UNROLL units per lane at a time, all loads of a
// chunk issued before its sums (with quantized weights, each unit's scale
// too).
struct chunk {
  WEIGHT_TYPE w[UNROLL][UNIT_WORDS];
#if WEIGHT_QUANT
  float s[UNROLL];
#endif
};

// The chunk of units [j0, j0 + UNROLL * subgroup size) of the row whose
// units start at `base`, this lane's part (zeros past the row's end).
chunk load_chunk(uint base, uint j0, uint units) {
  chunk c;
  [[unroll]] for (uint u = 0u; u < UNROLL; u++) {
    uint j = j0 + u * gl_SubgroupSize;
    [[unroll]] for (uint e = 0u; e < UNIT_WORDS; e++)
      c.w[u][e] = j < units ? wt[base + j * UNIT_WORDS + e] : WEIGHT_TYPE(0);
#if WEIGHT_QUANT
    c.s[u] = j < units ? scale_value(wt[base + scale_element(j, units)][scale_component(j)], j) : 0.0;
#endif
  }
  return c;
}

// Where vec4 i (< UNIT_VEC4) of unit j lies in xs: by unit column, so that
// lanes j and j + 1 read adjacent vec4s and a subgroup's shared-memory reads
// do not collide in the banks. (Stored in order, lane j's vec4s sit
// UNIT_VEC4 vec4s from lane j + 1's: 2-way to 8-way bank conflicts, the
// widest for the quantized units.)
uint xs_unit(uint j, uint i, uint units) { return i * units + j; }

// The xs slot of the input's vec4 `j4`.
uint xs_slot(uint j4) { return xs_unit(j4 / UNIT_VEC4, j4 % UNIT_VEC4, pc.cols / UNIT_COLS); }

// acc[r] += row r's part of the chunk . xs: each vec4 of xs is read once
// for all MV_ROWS rows.
void sum_chunks(chunk c[MV_ROWS], uint j0, uint units, inout float acc[MV_ROWS]) {
  [[unroll]] for (uint u = 0u; u < UNROLL; u++) {
    uint j = j0 + u * gl_SubgroupSize;
    if (j < units) {
      float d[MV_ROWS];
      [[unroll]] for (uint r = 0u; r < MV_ROWS; r++) d[r] = 0.0;
      [[unroll]] for (uint i = 0u; i < UNIT_VEC4; i++) {
        vec4 xv = xs[xs_unit(j, i, units)];
        [[unroll]] for (uint r = 0u; r < MV_ROWS; r++) d[r] += dot(unit_vec4(c[r].w[u], i), xv);
      }
      [[unroll]] for (uint r = 0u; r < MV_ROWS; r++) {
#if WEIGHT_QUANT
        d[r] *= c[r].s[u];
#endif
        acc[r] += d[r];
      }
    }
  }
}

uint row_base(uint row) { return row * row_words(pc.cols); }

// dots[k] = row (first_row + k) . xs for k < count; a subgroup takes
// MV_ROWS rows at a time (k, k + subgroups, ...). (Loading a subgroup's
// first chunks before the input was built, to overlap the two latencies,
// cost registers that left fewer workgroups on each SM: slower.)
void matvec(uint first_row, uint count) {
  uint units = pc.cols / UNIT_COLS, lane = gl_SubgroupInvocationID, step = UNROLL * gl_SubgroupSize;
  uint stride = gl_NumSubgroups;
  for (uint k = gl_SubgroupID; k < count; k += stride * MV_ROWS) {
    uint base[MV_ROWS];
    float acc[MV_ROWS];
    [[unroll]] for (uint r = 0u; r < MV_ROWS; r++) {
      base[r] = row_base(first_row + min(k + r * stride, count - 1u)); // past the end: a repeat, not stored
      acc[r] = 0.0;
    }
    for (uint j0 = lane; j0 < units; j0 += step) {
      chunk c[MV_ROWS];
      [[unroll]] for (uint r = 0u; r < MV_ROWS; r++) c[r] = load_chunk(base[r], j0, units);
      sum_chunks(c, j0, units, acc);
    }
    [[unroll]] for (uint r = 0u; r < MV_ROWS; r++) {
      float s = subgroupAdd(acc[r]);
      if (subgroupElect() && k + r * stride < count) dots[k + r * stride] = s;
    }
  }
}

#if NORM_INPUT
// xs = rmsnorm(x_in, gains[layer]) (classifier: the one final gain vector).
// x and the gains are loaded together, before the sum of squares is known.
void load_input() {
  uint t = gl_LocalInvocationIndex, n4 = pc.cols / 4u;
#if KIND_CLASSIFIER
  uint gain0 = 0u;
#else
  uint gain0 = pc.layer * n4;
#endif
  float ss = 0.0;
  for (uint j = t; j < n4; j += WG) {
    vec4 v = x_in[j];
    xs[xs_slot(j)] = v * gains[gain0 + j];
    ss += dot(v, v);
  }
  float scale = rms_scale(workgroup_sum(ss), pc.cols);
  for (uint j = t; j < n4; j += WG) xs[xs_slot(j)] *= scale;
}
#elif KIND_WO
// xs = the attention output: per head, the attention workgroups' slots
// weighted by exp(m_s - M) / L (M: the largest m_s, L: sum of l_s exp(m_s - M)).
void load_input() {
  uint t = gl_LocalInvocationIndex, hs4 = pc.head_size / 4u;
  uint splits = (step.pos + pc.split_len) / pc.split_len; // positions 0..pos
  uint items = pc.n_heads * splits;
  for (uint i = t; i < items; i += WG) slot_ml[i] = slots[(i / splits) * pc.slot_stride + i % splits].xy;
  barrier();
  for (uint h = t; h < pc.n_heads; h += WG) {
    float m = NEG_INF, l = 0.0;
    for (uint s = 0u; s < splits; s++) m = max(m, slot_ml[h * splits + s].x);
    for (uint s = 0u; s < splits; s++) l += slot_ml[h * splits + s].y * exp(slot_ml[h * splits + s].x - m);
    for (uint s = 0u; s < splits; s++) slot_ml[h * splits + s].x = exp(slot_ml[h * splits + s].x - m) / l;
  }
  barrier();
  uint acc0 = pc.n_heads * pc.slot_stride;
  for (uint j = t; j < pc.cols / 4u; j += WG) {
    uint h = j / hs4, d = j % hs4;
    vec4 a = vec4(0.0);
    for (uint s = 0u; s < splits; s++) a += slot_ml[h * splits + s].x * slots[acc0 + (h * pc.slot_stride + s) * hs4 + d];
    xs[xs_slot(j)] = a;
  }
}
#elif KIND_W2
void load_input() {
  for (uint j = gl_LocalInvocationIndex; j < pc.cols / 4u; j += WG) xs[xs_slot(j)] = hb4[j];
}
#endif

#if KIND_CLASSIFIER
shared float best_value[WG];
shared uint best_index[WG];

// The subgroup's best (value, index); NaN and NO_INDEX never win, ties go
// to the lowest index. Every lane gets the result.
void subgroup_best(inout float v, inout uint i) {
  if (isnan(v)) {
    v = NEG_INF;
    i = NO_INDEX;
  }
  float m = subgroupMax(v);
  i = subgroupMin(v == m ? i : NO_INDEX);
  v = m;
}
#endif

// One block of rows: [row0, row0 + count) of the layer's matrix, then its
// epilogue. A workgroup takes blocks g, g + groups, g + 2 * groups, ...
// (the host may dispatch fewer workgroups than blocks, so that each
// normalizes its input once for several blocks and the last wave of
// workgroups is not a small fraction of the GPU).
void block(uint row0, uint count);

void main() {
  uint blocks = (pc.rows + pc.rows_per_group - 1u) / pc.rows_per_group;
  uint row0 = gl_WorkGroupID.x * pc.rows_per_group;
  uint count = min(pc.rows_per_group, pc.rows - row0);
  load_input();
  barrier();
  block(row0, count);
#if !KIND_CLASSIFIER
  for (uint b = gl_WorkGroupID.x + gl_NumWorkGroups.x; b < blocks; b += gl_NumWorkGroups.x) {
    row0 = b * pc.rows_per_group;
    count = min(pc.rows_per_group, pc.rows - row0);
    barrier(); // the last block's epilogue has read dots
    block(row0, count);
  }
#endif
}

void block(uint row0, uint count) {
  uint t = gl_LocalInvocationIndex;
  uint first_row = pc.layer * pc.rows + row0;
  matvec(first_row, count);
  barrier();

#if KIND_QKV
  // Rows come in (even, odd) pairs: RoPE rotates each pair of q and k.
  uint pos = step.pos;
  for (uint p = t; 2u * p < count; p += WG) {
    uint r = row0 + 2u * p;
    float a = dots[2u * p], b = dots[2u * p + 1u];
    uint kv_end = pc.dim + pc.kv_dim;
    if (r < kv_end) {
      uint i = r < pc.dim ? r % pc.head_size : (r - pc.dim) % pc.head_size;
      vec2 cs = rope[pos * (pc.head_size / 2u) + i / 2u];
      float r0 = a * cs.x - b * cs.y, r1 = a * cs.y + b * cs.x;
      a = r0;
      b = r1;
    }
    if (r < pc.dim) {
      q_out[r] = a;
      q_out[r + 1u] = b;
    } else {
      uint which = r < kv_end ? 0u : 1u, c = r - (which == 0u ? pc.dim : kv_end);
      uint at = ((pc.layer * 2u + which) * pc.seq_len + pos) * pc.kv_dim + c;
      kv[at] = a;
      kv[at + 1u] = b;
    }
  }
#elif KIND_W13
  for (uint p = t; 2u * p < count; p += WG) {
    float h1 = dots[2u * p], h3 = dots[2u * p + 1u];
    hb[row0 / 2u + p] = h1 * (1.0 / (1.0 + exp(-h1))) * h3; // silu(h1) * h3
  }
#elif KIND_WO || KIND_W2
  for (uint k = t; k < count; k += WG) x[row0 + k] += dots[k];
#elif KIND_CLASSIFIER
  float bv = NEG_INF;
  uint bi = NO_INDEX;
  for (uint k = t; k < count; k += WG) {
    float v = dots[k];
    logits[(step.pos & 1u) * pc.rows + row0 + k] = v;
    if (v > bv || (bi == NO_INDEX && !isnan(v))) { // k ascends: ties keep the earlier
      bv = v;
      bi = row0 + k;
    }
  }
  subgroup_best(bv, bi);
  if (subgroupElect()) {
    best_value[gl_SubgroupID] = bv;
    best_index[gl_SubgroupID] = bi;
  }
  barrier();
  if (gl_SubgroupID == 0u) {
    float v = NEG_INF;
    uint i = NO_INDEX;
    for (uint k = gl_SubgroupInvocationID; k < gl_NumSubgroups; k += gl_SubgroupSize) {
      float kv = best_value[k];
      uint ki = best_index[k];
      if (ki != NO_INDEX && (i == NO_INDEX || kv > v || (kv == v && ki < i))) {
        v = kv;
        i = ki;
      }
    }
    subgroup_best(v, i);
    if (subgroupElect()) {
      best[gl_WorkGroupID.x] = uvec2(floatBitsToUint(v), i);
      best_out[gl_WorkGroupID.x] = uvec2(floatBitsToUint(v), i);
    }
  }
#endif
}
