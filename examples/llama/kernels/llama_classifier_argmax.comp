#version 450
// The decode step's end, in one dispatch: logits = wcls rmsnorm(x, rms_final),
// and the greedy token = argmax(logits) (lowest index on ties, NaN never
// wins), so the host reads back 4 bytes per token.
//
// The classifier is the largest matrix (vocab x dim, 37 MB at stories15M)
// and is streamed from memory every step, so each subgroup keeps BATCH
// rows' loads in flight at once, and a workgroup takes ROWS rows.
//
// The argmax spans every workgroup: each writes its best (value, index) to
// state.partial[workgroup], then counts itself done with an atomic; the
// workgroup that finishes last reduces all partials and resets the counter
// for the next step (the classic "last block" reduction). That saves a
// dependent dispatch per token. The state buffer must start zeroed.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, set = 0, binding = 1) readonly buffer RmsFinal { vec4 rms_final[]; };
layout(std430, set = 0, binding = 2) readonly buffer Wcls { vec4 wcls[]; }; // [vocab][dim]
layout(std430, set = 0, binding = 3) writeonly buffer Logits { float logits[]; };
layout(std430, set = 0, binding = 4) coherent buffer ArgmaxState {
  uint done_count; // workgroups finished this step
  uint token;      // the result, read back by the host
  uint reserved0;
  uint reserved1;
  uvec2 partial[]; // per workgroup: (float bits of best value, its index)
} state;

layout(push_constant) uniform Params {
  uint dim;
  uint vocab;
} pc;

#define ROWS 64u // rows per workgroup (a power of two, <= WG)
#define BATCH 4u // rows a subgroup reads at once

shared float row_value[ROWS];
shared float best_value[WG];
shared uint best_index[WG];
shared uint is_last;

bool better(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

// Argmax over best_value/best_index[0..count) into slot 0 (tree, fixed
// order); count is a power of two <= WG.
void reduce_best(uint count) {
  uint tid = gl_LocalInvocationIndex;
  for (uint half_size = count / 2u; half_size > 0u; half_size /= 2u) {
    barrier();
    if (tid < half_size &&
        better(best_value[tid + half_size], best_index[tid + half_size], best_value[tid], best_index[tid])) {
      best_value[tid] = best_value[tid + half_size];
      best_index[tid] = best_index[tid + half_size];
    }
  }
  barrier();
}

void main() {
  uint tid = gl_LocalInvocationIndex, lane = gl_SubgroupInvocationID;
  uint dim4 = pc.dim / 4u;
  uint row0 = gl_WorkGroupID.x * ROWS;
  // Each subgroup reads all of x with its first batch of rows and takes the
  // sum of squares from those loads (no separate pass before the weights).
  float ss = 0.0, scale = 0.0;
  bool first_batch = true;
  for (uint r = gl_SubgroupID * BATCH; r < ROWS; r += gl_NumSubgroups * BATCH) {
    // Rows past the vocabulary read the last row (valid memory) and are dropped.
    uvec4 at = uvec4(min(uvec4(row0 + r) + uvec4(0u, 1u, 2u, 3u), uvec4(pc.vocab - 1u))) * dim4;
    vec4 acc = vec4(0.0);
    for (uint j = lane; j < dim4; j += gl_SubgroupSize) {
      vec4 xv = x[j];
      vec4 xn = xv * rms_final[j];
      if (first_batch) ss += dot(xv, xv);
      acc += vec4(dot(wcls[at.x + j], xn), dot(wcls[at.y + j], xn), dot(wcls[at.z + j], xn),
                  dot(wcls[at.w + j], xn));
    }
    if (first_batch) scale = rms_scale(subgroupAdd(ss), pc.dim);
    first_batch = false;
    acc = subgroupAdd(acc) * scale;
    if (subgroupElect())
      for (uint k = 0u; k < BATCH; k++) row_value[r + k] = acc[k];
  }
  barrier();

  // This workgroup's logits out, then their argmax.
  if (tid < ROWS) {
    uint row = row0 + tid;
    bool real = row < pc.vocab;
    if (real) logits[row] = row_value[tid];
    best_value[tid] = real ? row_value[tid] : NEG_INF;
    best_index[tid] = real ? row : 0xffffffffu;
  }
  reduce_best(ROWS);
  if (tid == 0u) {
    state.partial[gl_WorkGroupID.x] = uvec2(floatBitsToUint(best_value[0]), best_index[0]);
    memoryBarrierBuffer(); // the partial is visible before we count ourselves done
    uint finished_before = atomicAdd(state.done_count, 1u);
    is_last = finished_before == gl_NumWorkGroups.x - 1u ? 1u : 0u;
  }
  barrier();
  if (is_last == 0u) return;

  memoryBarrierBuffer(); // see every other workgroup's partial
  float bv = NEG_INF;
  uint bi = 0xffffffffu;
  uint groups = gl_NumWorkGroups.x;
  // Four independent loads per step: this tail is on the critical path.
  for (uint g = tid; g < groups; g += 4u * WG) {
    uvec2 p[4];
    for (uint k = 0u; k < 4u; k++)
      p[k] = g + k * WG < groups ? state.partial[g + k * WG] : uvec2(floatBitsToUint(NEG_INF), 0xffffffffu);
    for (uint k = 0u; k < 4u; k++) {
      float v = uintBitsToFloat(p[k].x);
      if (better(v, p[k].y, bv, bi)) {
        bv = v;
        bi = p[k].y;
      }
    }
  }
  best_value[tid] = bv;
  best_index[tid] = bi;
  reduce_best(WG);
  if (tid == 0u) {
    state.token = best_index[0];
    state.done_count = 0u;
  }
}
