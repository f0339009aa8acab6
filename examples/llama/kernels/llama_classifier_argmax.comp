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

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer RmsFinal { float rms_final[]; };
layout(std430, set = 0, binding = 2) readonly buffer Wcls { float wcls[]; }; // [vocab][dim]
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

#define ROWS 8u

shared float row_partials[WG];
shared float best_value[WG];
shared uint best_index[WG];
shared uint is_last;

bool better(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

// Argmax over best_value/best_index[0..WG) into slot 0 (tree, fixed order).
void reduce_best() {
  uint tid = gl_LocalInvocationIndex;
  for (uint half_size = WG / 2u; half_size > 0u; half_size /= 2u) {
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
  float ss = 0.0;
  for (uint j = tid; j < pc.dim; j += WG) ss += x[j] * x[j];
  float scale = rms_scale(workgroup_sum(ss), pc.dim);

  uint parts = row_parts(ROWS), part = row_part(ROWS);
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  for (uint r = gl_SubgroupID % ROWS; r < ROWS && part < parts; r += gl_NumSubgroups) {
    uint row = gl_WorkGroupID.x * ROWS + r;
    float acc = 0.0;
    if (row < pc.vocab) {
      uint w_at = row * pc.dim;
      for (uint j = first; j < pc.dim; j += stride) acc += wcls[w_at + j] * (x[j] * rms_final[j]);
    }
    acc = subgroupAdd(acc);
    if (subgroupElect()) row_partials[part * ROWS + r] = acc;
  }
  barrier();

  if (tid == 0u) {
    float bv = NEG_INF;
    uint bi = 0xffffffffu;
    for (uint r = 0u; r < ROWS; r++) {
      uint row = gl_WorkGroupID.x * ROWS + r;
      if (row >= pc.vocab) break;
      float v = 0.0;
      for (uint p = 0u; p < parts; p++) v += row_partials[p * ROWS + r];
      v *= scale;
      logits[row] = v;
      if (better(v, row, bv, bi)) {
        bv = v;
        bi = row;
      }
    }
    state.partial[gl_WorkGroupID.x] = uvec2(floatBitsToUint(bv), bi);
    memoryBarrierBuffer(); // the partial is visible before we count ourselves done
    uint finished_before = atomicAdd(state.done_count, 1u);
    is_last = finished_before == gl_NumWorkGroups.x - 1u ? 1u : 0u;
  }
  barrier();
  if (is_last == 0u) return;

  memoryBarrierBuffer(); // see every other workgroup's partial
  float bv = NEG_INF;
  uint bi = 0xffffffffu;
  for (uint g = tid; g < gl_NumWorkGroups.x; g += WG) {
    uvec2 p = state.partial[g];
    float v = uintBitsToFloat(p.x);
    if (better(v, p.y, bv, bi)) {
      bv = v;
      bi = p.y;
    }
  }
  best_value[tid] = bv;
  best_index[tid] = bi;
  reduce_best();
  if (tid == 0u) {
    state.token = best_index[0];
    state.done_count = 0u;
  }
}
