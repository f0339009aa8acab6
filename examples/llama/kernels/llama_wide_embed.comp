#version 450
// The wide plan's first dispatch, one workgroup: x = the embedding row of
// the step's token, xn = x * the first layer's attention gains (in the
// q/k/v kernel's unit order), the sum of squares of x, and the step's
// (pos, token) copied to StepOut, which the step's other kernels read:
// Step may be host memory (record-ahead), where every read is a trip over
// the bus. The token is Step.token or, when that is NO_TOKEN, the argmax of
// the previous step's logits, taken from its classifier workgroups' bests
// with the host's rules (gpu_forward.c, best_token): NaN never wins, ties
// go to the lowest index.
#extension GL_GOOGLE_include_directive : require
#include "llama_wide.glsl"

layout(local_size_x = WG) in;

layout(std430, set = 0, binding = 0) readonly buffer Emb { WEIGHT_TYPE emb[]; }; // [vocab][row_words(dim)]
layout(std430, set = 0, binding = 1) writeonly buffer X { vec4 x_out[]; };
layout(std430, set = 0, binding = 2) readonly buffer Step { uint pos; uint token; } step;
layout(std430, set = 0, binding = 3) readonly buffer PrevBest { uvec2 prev_best[]; };
layout(std430, set = 0, binding = 4) writeonly buffer StepOut { uint pos; uint token; } step_out;
layout(std430, set = 0, binding = 5) readonly buffer Gains { vec4 gains4[]; }; // rms_att: layer 0's first
layout(std430, set = 0, binding = 6) writeonly buffer XNext { vec4 xn4[]; };
layout(std430, set = 0, binding = 7) writeonly buffer SumSqOut { float sum_sq_out[]; }; // one entry

uint step_token() {
  uint token = step.token;
  if (token != NO_TOKEN) return token;
  float v = NEG_INF;
  uint i = NO_INDEX;
  for (uint k = gl_LocalInvocationIndex; k < pc.best_count; k += WG) {
    uvec2 b = prev_best[k];
    keep_best(uintBitsToFloat(b.x), b.y, v, i);
  }
  workgroup_best(v, i);
  return i == NO_INDEX ? 0u : i; // every logit NaN: the host reports it
}

void main() {
  uint token = step_token();
  if (gl_LocalInvocationIndex == 0u) {
    step_out.pos = step.pos;
    step_out.token = token;
  }
  uint units = pc.dim / UNIT_COLS, base = token * row_words(pc.dim);
  float ss = 0.0;
  for (uint j = gl_LocalInvocationIndex; j < units; j += WG) {
    WEIGHT_TYPE w[UNIT_WORDS];
    [[unroll]] for (uint e = 0u; e < UNIT_WORDS; e++) w[e] = emb[base + j * UNIT_WORDS + e];
#if WEIGHT_QUANT
    float s = scale_value(emb[base + scale_element(j, units)][scale_component(j)], j);
#else
    float s = 1.0;
#endif
    [[unroll]] for (uint i = 0u; i < UNIT_VEC4; i++) {
      uint j4 = j * UNIT_VEC4 + i;
      vec4 v = unit_vec4(w, i) * s;
      x_out[j4] = v;
      xn4[in_slot(j4, pc.dim, pc.out_vec4)] = v * gains4[j4];
      ss += dot(v, v);
    }
  }
  float total = workgroup_sum(ss);
  if (gl_LocalInvocationIndex == 0u) sum_sq_out[0] = total;
}
