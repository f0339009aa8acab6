#version 450
// The decode step's end, in one dispatch: logits = wcls rmsnorm(x, rms_final),
// and the greedy token = argmax(logits) (lowest index on ties, NaN never
// wins), so the host reads back 4 bytes per token.
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

#define ROWS 16u

shared float row_partials[2u * WG];
shared float best_value[WG];
shared uint best_index[WG];
shared uint is_last;

bool better(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

vec4 xn_at(uint j) { return x[j] * rms_final[j]; }

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
  uint tid = gl_LocalInvocationIndex;
  uint dim4 = pc.dim / 4u;
  float ss = 0.0;
  for (uint j = tid; j < dim4; j += WG) ss += dot(x[j], x[j]);
  float scale = rms_scale(workgroup_sum(ss), pc.dim);

  uint parts = row_parts(ROWS), part = row_part(ROWS);
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  for (uint r = gl_SubgroupID % ROWS; r < ROWS && part < parts; r += gl_NumSubgroups) {
    uint row = gl_WorkGroupID.x * ROWS + r;
    float acc = 0.0;
    if (row < pc.vocab) DOT4_LOOP(acc, wcls, row * dim4, xn_at, dim4)
    acc = subgroupAdd(acc);
    if (subgroupElect()) row_partials[part * ROWS + r] = acc;
  }
  barrier();

  // Rows of this workgroup: logits out, then their argmax.
  if (tid < ROWS) {
    uint row = gl_WorkGroupID.x * ROWS + tid;
    float v = NEG_INF;
    uint vi = 0xffffffffu;
    if (row < pc.vocab) {
      v = 0.0;
      for (uint p = 0u; p < parts; p++) v += row_partials[p * ROWS + tid];
      v *= scale;
      logits[row] = v;
      vi = row;
    }
    best_value[tid] = v;
    best_index[tid] = vi;
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
