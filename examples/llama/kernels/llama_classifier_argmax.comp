#version 450
// The decode step's end, in one dispatch:
//   x = base + the last FFN's partials; logits = wcls rmsnorm(x, rms_final);
//   best[workgroup] = (value, index) of the largest of its logits.
// The host reads the per-workgroup bests back (8 bytes each, from BestOut)
// and takes the greedy token as their argmax (lowest index on ties, NaN
// never wins); when the next step is submitted before that (ahead), its
// attention kernel takes the same argmax from Best itself. A grid-wide
// argmax here would need the last workgroup to wait for an atomic counter
// and re-read every partial: a serial tail as long as the reduction of a
// few hundred pairs is short.
//
// The classifier is the largest matrix (vocab x dim, 37 MB at stories15M)
// and is streamed from memory every step, so each subgroup keeps BATCH
// rows' loads in flight at once (its first BATCH rows are loaded before x
// is ready, each later BATCH while the one before is summed), and a
// workgroup takes rows_per_group rows.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Base { vec4 base[]; };
layout(std430, set = 0, binding = 1) readonly buffer FfnParts { vec4 ffn_parts[]; }; // [ffn_parts][dim4]
layout(std430, set = 0, binding = 2) readonly buffer RmsFinal { vec4 rms_final[]; };
layout(std430, set = 0, binding = 3) readonly buffer Wcls { WVEC wcls[]; }; // [vocab][dim4]
// Two steps' logits: step pos writes half pos % 2, so the host can read a
// step's logits while the next one runs.
layout(std430, set = 0, binding = 4) writeonly buffer Logits { float logits[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Best { uvec2 best[]; }; // (float bits, index)
layout(std430, set = 0, binding = 6) readonly buffer Step { uint pos; uint token; } step; // see llama_common.glsl
// The same bests again, for the host to read (Best is read by the next
// step's attention kernel when the GPU picks its token).
layout(std430, set = 0, binding = 7) writeonly buffer BestOut { uvec2 best_out[]; };

layout(push_constant) uniform Params {
  uint dim;
  uint vocab;
  uint ffn_parts;
  uint rows_per_group; // a multiple of BATCH
} pc;

#ifndef ROW_PREFETCH
#define ROW_PREFETCH 3u // vec4 per lane and row loaded ahead (dim <= 384 on NVIDIA)
#endif
#define BATCH 4u        // rows a subgroup reads at once (one vec4 of sums)
#define PART_BATCH 16u  // FFN partials per invocation loaded at once
#define NO_INDEX 0xffffffffu

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

// Offsets of rows row0 + r .. + 3; rows past the vocabulary read the last
// row (valid memory) and are dropped.
uvec4 row_offsets(uint row, uint n4) {
  return min(uvec4(row) + uvec4(0u, 1u, 2u, 3u), uvec4(pc.vocab - 1u)) * n4;
}

// The first ROW_PREFETCH vec4 per lane of BATCH rows at `at`.
void load_rows(uvec4 at, uint n4, bool wanted, out vec4 w0[ROW_PREFETCH], out vec4 w1[ROW_PREFETCH],
               out vec4 w2[ROW_PREFETCH], out vec4 w3[ROW_PREFETCH]) {
  [[unroll]] for (uint k = 0u; k < ROW_PREFETCH; k++) {
    uint j = gl_SubgroupInvocationID + k * gl_SubgroupSize;
    bool load = wanted && j < n4;
    w0[k] = load ? wvec4(wcls[at.x + j]) : vec4(0.0);
    w1[k] = load ? wvec4(wcls[at.y + j]) : vec4(0.0);
    w2[k] = load ? wvec4(wcls[at.z + j]) : vec4(0.0);
    w3[k] = load ? wvec4(wcls[at.w + j]) : vec4(0.0);
  }
}

void main() {
  uint t = gl_LocalInvocationIndex, lane = gl_SubgroupInvocationID;
  uint n4 = pc.dim / 4u;
  uint row0 = gl_WorkGroupID.x * pc.rows_per_group;

  // This subgroup's first rows are loaded before x is ready.
  uint r_first = gl_SubgroupID * BATCH;
  vec4 w0[ROW_PREFETCH], w1[ROW_PREFETCH], w2[ROW_PREFETCH], w3[ROW_PREFETCH];
  load_rows(row_offsets(row0 + r_first, n4), n4, r_first < pc.rows_per_group, w0, w1, w2, w3);
  vec4 gain = t < n4 ? rms_final[t] : vec4(0.0);

  // x = base + partials (see llama_attention.comp's gather_input).
  uint parts = vec_parts(n4), part = vec_part(n4);
  for (uint j = vec_first(n4); part < parts && j < n4; j += WG) {
    vec4 v = part == 0u ? base[j] : vec4(0.0);
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
  barrier();
  float scale = sum_parts_rms(n4, pc.dim);
  for (uint j = t; j < n4; j += WG) xs[j] *= (j == t ? gain : rms_final[j]) * scale;
  barrier();

  // Rows: each subgroup takes BATCH at a time; its lanes keep their best.
  // The next BATCH rows' loads go out before this batch's sums.
  float bv = NEG_INF;
  uint bi = NO_INDEX;
  uint stride = gl_NumSubgroups * BATCH;
  uvec4 at = row_offsets(row0 + r_first, n4);
  for (uint r = r_first; r < pc.rows_per_group; r += stride) {
    uvec4 at_next = row_offsets(row0 + r + stride, n4);
    vec4 n0[ROW_PREFETCH], n1[ROW_PREFETCH], n2[ROW_PREFETCH], n3[ROW_PREFETCH];
    load_rows(at_next, n4, r + stride < pc.rows_per_group, n0, n1, n2, n3);
    vec4 acc = vec4(0.0);
    [[unroll]] for (uint k = 0u; k < ROW_PREFETCH; k++) {
      uint j = lane + k * gl_SubgroupSize;
      if (j < n4) {
        vec4 xn = xs[j];
        acc += vec4(dot(w0[k], xn), dot(w1[k], xn), dot(w2[k], xn), dot(w3[k], xn));
      }
    }
    for (uint j = lane + ROW_PREFETCH * gl_SubgroupSize; j < n4; j += gl_SubgroupSize) {
      vec4 xn = xs[j];
      acc += vec4(dot(wvec4(wcls[at.x + j]), xn), dot(wvec4(wcls[at.y + j]), xn), dot(wvec4(wcls[at.z + j]), xn),
                  dot(wvec4(wcls[at.w + j]), xn));
    }
    acc = subgroupAdd(acc);
    if (lane < BATCH) { // lane k keeps row r + k
      uint row = row0 + r + lane;
      if (row < pc.vocab) {
        float v = acc[lane];
        logits[(step.pos & 1u) * pc.vocab + row] = v;
        if (v > bv || (bi == NO_INDEX && !isnan(v))) { // rows ascend: ties keep the earlier
          bv = v;
          bi = row;
        }
      }
    }
    w0 = n0;
    w1 = n1;
    w2 = n2;
    w3 = n3;
    at = at_next;
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
    for (uint k = lane; k < gl_NumSubgroups; k += gl_SubgroupSize) {
      float kv = best_value[k];
      uint ki = best_index[k];
      if (kv > v || (kv == v && ki < i)) {
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
}
