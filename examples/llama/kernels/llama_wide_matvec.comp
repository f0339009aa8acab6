#version 450
// The wide plan's matrix-vector products (see llama_wide.glsl), one source
// compiled once per KIND (and per weight type). "xn" is x * gains of the
// next RMS norm, written by the kernel that last updated x, in the unit
// order of the product that reads it; SumSq holds that kernel's parts of
// the sum of squares of x.
//   KIND_QKV         q, k, v = wqkv[layer] xn / RMS, RoPE on q and k; q to
//                    Q, k and v into the cache at step.pos
//   KIND_W13         hb = silu(w1 xn / RMS) * (w3 xn / RMS) (w1 and w3
//                    interleaved by row: row 2i of w13 is w1's i)
//   KIND_WO          x += wo[layer] att (the attention's merged output);
//                    xn and SumSq for w13
//   KIND_W2          x += w2[layer] hb; xn and SumSq for the next layer's
//                    q/k/v or the classifier
//   KIND_CLASSIFIER  logits = wcls xn / RMS; the workgroup's best (value,
//                    index) to Best and BestOut
// Workgroup g takes rows [g * rows_per_group, ...) of the layer's matrix,
// a pair of rows at a time per pc.split subgroups: each takes every
// split-th run of the pair's units (pair_dot; "split-K", for products with
// few rows: more loads in flight, fewer after one another), and
// the pair's first subgroup adds the parts up in shared memory. Rows are
// written by that subgroup alone, so x is updated in place: KIND_WO and
// KIND_W2 read only their own rows of it.
#extension GL_GOOGLE_include_directive : require
#include "llama_wide.glsl"

layout(local_size_x = WG) in;

// The product's input, in this kernel's unit order (llama_wide.glsl).
layout(std430, set = 0, binding = 0) readonly buffer In { vec4 in4[]; };
layout(std430, set = 0, binding = 1) readonly buffer Weights { WEIGHT_TYPE wt[]; };
#if KIND_QKV || KIND_W13 || KIND_CLASSIFIER
#define NORM_INPUT 1
layout(std430, set = 0, binding = 2) readonly buffer SumSq { float sum_sq[]; }; // pc.parts entries
#endif
#if KIND_QKV
layout(std430, set = 0, binding = 3) readonly buffer Rope { vec2 rope[]; }; // [pos][head_size / 2] (cos, sin)
layout(std430, set = 0, binding = 4) writeonly buffer KV { float kv[]; }; // [layer][k, v][seq_len][kv_dim]
layout(std430, set = 0, binding = 5) writeonly buffer Q { float q_out[]; };
layout(std430, set = 0, binding = 6) readonly buffer Step { uint pos; uint token; } step;
#elif KIND_W13
layout(std430, set = 0, binding = 3) writeonly buffer Hb { float hb[]; }; // in w2's unit order
#elif KIND_CLASSIFIER
// Two steps' logits: step pos writes half pos % 2, so the host can read a
// step's logits while the next one runs.
layout(std430, set = 0, binding = 3) writeonly buffer Logits { float logits[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Best { uvec2 best[]; }; // (float bits, index)
layout(std430, set = 0, binding = 5) readonly buffer Step { uint pos; uint token; } step;
// The same bests again, for the host (Best is read by the next step's
// embedding kernel when the GPU picks its token).
layout(std430, set = 0, binding = 6) writeonly buffer BestOut { uvec2 best_out[]; };
#elif KIND_WO || KIND_W2
layout(std430, set = 0, binding = 2) buffer X { float x[]; };
layout(std430, set = 0, binding = 3) readonly buffer Gains { float gains[]; }; // the next norm's, from pc.gain_base
layout(std430, set = 0, binding = 4) writeonly buffer XNext { float xn[]; };   // in the next product's unit order
layout(std430, set = 0, binding = 5) writeonly buffer SumSqOut { float sum_sq_out[]; }; // per workgroup
#else
#error "define one KIND_*"
#endif

#define WEIGHT_AT(src, i) wt[i]
#define INPUT_AT(src, i) in4[i]
#include "llama_wide_dot.glsl"

// What a row pair's epilogue reads besides its results, loaded before the
// pair's weights so that the epilogue waits for no load (on the H100 that
// took 0.25-0.75 µs off wo and w2, bench/results/history.md). QKV: RoPE's
// (cos, sin) for the pair; WO/W2: x and the next norm's gains at both rows
// (x[r] is this pair's own: no other subgroup writes it).
vec4 pair_inputs(uint r, uint pos) {
  vec4 v = vec4(0.0);
#if KIND_QKV
  uint kv_end = pc.dim + pc.kv_dim;
  if (r < kv_end) {
    uint i = r < pc.dim ? r % pc.head_size : (r - pc.dim) % pc.head_size;
    v.xy = rope[pos * (pc.head_size / 2u) + i / 2u];
  }
#elif KIND_WO || KIND_W2
  bool second = r + 1u < pc.rows;
  v = vec4(x[r], second ? x[r + 1u] : 0.0, gains[pc.gain_base + r], second ? gains[pc.gain_base + r + 1u] : 0.0);
#endif
  return v;
}

// Row pair (r, r + 1) of the layer's matrix, its results d (already / RMS
// for a norm's input) and its pair_inputs in_v; rows past pc.rows not
// stored.
void epilogue(uint r, vec2 d, vec4 in_v, uint pos, inout float keep_v, inout uint keep_i) {
  bool second = r + 1u < pc.rows;
#if KIND_QKV
  // Rows come in (even, odd) pairs: RoPE rotates each pair of q and k.
  uint kv_end = pc.dim + pc.kv_dim;
  if (r < kv_end) d = vec2(d.x * in_v.x - d.y * in_v.y, d.x * in_v.y + d.y * in_v.x);
  if (subgroupElect()) {
    if (r < pc.dim) {
      q_out[r] = d.x;
      q_out[r + 1u] = d.y;
    } else {
      uint which = r < kv_end ? 0u : 1u, c = r - (which == 0u ? pc.dim : kv_end);
      uint at = ((pc.layer * 2u + which) * pc.seq_len + pos) * pc.kv_dim + c;
      kv[at] = d.x;
      kv[at + 1u] = d.y;
    }
  }
#elif KIND_W13
  if (subgroupElect()) hb[out_index(r / 2u, pc.rows / 2u)] = d.x * (1.0 / (1.0 + exp(-d.x))) * d.y; // silu(h1) * h3
#elif KIND_WO || KIND_W2
  // One lane (the first: the subgroup is whole here and at the end of
  // main) writes x and keeps the sum of squares of its rows.
  if (subgroupElect()) {
    float v0 = in_v.x + d.x, v1 = second ? in_v.y + d.y : 0.0;
    keep_v += v0 * v0 + v1 * v1;
    x[r] = v0;
    xn[out_index(r, pc.rows)] = v0 * in_v.z;
    if (second) {
      x[r + 1u] = v1;
      xn[out_index(r + 1u, pc.rows)] = v1 * in_v.w;
    }
  }
#elif KIND_CLASSIFIER
  uint half_at = (pos & 1u) * pc.rows;
  if (subgroupElect()) {
    logits[half_at + r] = d.x;
    if (second) logits[half_at + r + 1u] = d.y;
  }
  keep_best(d.x, r, keep_v, keep_i);
  if (second) keep_best(d.y, r + 1u, keep_v, keep_i);
#endif
}

void main() {
#if NORM_INPUT
  // Loaded now, added up after the first pass's products: the loads
  // overlap the weights'.
  float part_sq = 0.0;
  for (uint i = gl_LocalInvocationIndex; i < pc.parts; i += WG) part_sq += sum_sq[i];
  bool have_scale = false;
  float scale = 1.0;
#endif
#if KIND_QKV || KIND_CLASSIFIER
  uint pos = step.pos;
#else
  uint pos = 0u;
#endif
  float keep_v = 0.0; // WO/W2: sum of squares; classifier: best value
#if KIND_CLASSIFIER
  keep_v = NEG_INF;
#endif
  uint keep_i = NO_INDEX;
  uint blocks = (pc.rows + pc.rows_per_group - 1u) / pc.rows_per_group;
  // Subgroup w takes part w % split of pair w / split of each pass; every
  // subgroup runs every pass (they meet at barriers).
  uint split = clamp(pc.split, 1u, gl_NumSubgroups), part = gl_SubgroupID % split;
  uint pairs_per_pass = gl_NumSubgroups / split;
  bool lead = part == 0u;
  // A workgroup takes blocks g, g + groups, ... (the host may dispatch
  // fewer workgroups than blocks).
  for (uint b = gl_WorkGroupID.x; b < blocks; b += gl_NumWorkGroups.x) {
    uint row0 = b * pc.rows_per_group, count = min(pc.rows_per_group, pc.rows - row0);
    for (uint p0 = 0u; 2u * p0 < count; p0 += pairs_per_pass) {
      uint r = row0 + 2u * (p0 + gl_SubgroupID / split), first = pc.layer * pc.rows;
      bool mine = r < row0 + count && gl_SubgroupID < pairs_per_pass * split;
      vec4 in_v = lead && mine ? pair_inputs(r, pos) : vec4(0.0);
      vec2 d = mine ? pair_dot(0u, 0u, 0u, pc.cols, first + r, first + min(r + 1u, pc.rows - 1u), part, split) : vec2(0.0);
#if NORM_INPUT
      if (!have_scale) { // the workgroup's first pass: every invocation
        scale = rms_scale(workgroup_sum(part_sq), pc.cols);
        have_scale = true;
      }
#endif
      d = pair_sum(d, split, lead && mine);
      if (lead && mine) {
#if NORM_INPUT
        d *= scale;
#endif
        epilogue(r, d, in_v, pos, keep_v, keep_i);
      }
    }
  }
#if KIND_WO || KIND_W2
  float s = workgroup_sum(keep_v); // only the subgroups' first lanes hold parts
  if (gl_LocalInvocationIndex == 0u) sum_sq_out[gl_WorkGroupID.x] = s;
#elif KIND_CLASSIFIER
  workgroup_best(keep_v, keep_i);
  if (gl_LocalInvocationIndex == 0u) {
    best[gl_WorkGroupID.x] = uvec2(floatBitsToUint(keep_v), keep_i);
    best_out[gl_WorkGroupID.x] = uvec2(floatBitsToUint(keep_v), keep_i);
  }
#endif
}
