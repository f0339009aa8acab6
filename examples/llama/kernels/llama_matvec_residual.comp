#version 450
// x[r] = residual[r] + W[layer] a, for the attention output projection (wo,
// a = attention output) and the FFN down projection (w2, a = hb). The
// residual is x itself, or for layer 0's wo the embedding row of `token`
// (from_embedding): layer 0's input never needs to be copied into x.
// Each output row is written only by the workgroup that reads it, so the
// in-place update is safe.
#extension GL_GOOGLE_include_directive : require
#include "llama_common.glsl"

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer A { vec4 a[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { vec4 w[]; }; // [layer][rows][n]
layout(std430, set = 0, binding = 2) readonly buffer Emb { float emb[]; };
layout(std430, set = 0, binding = 3) buffer X { float x[]; };

layout(push_constant) uniform Params {
  uint n;    // length of a (multiple of 4)
  uint rows; // length of x (dim)
  uint layer;
  uint from_embedding;
  uint token;
} pc;

#define ROWS 8u

shared float row_partials[WG];

vec4 a_at(uint j) { return a[j]; }

void main() {
  uint tid = gl_LocalInvocationIndex;
  uint n4 = pc.n / 4u;
  uint parts = row_parts(ROWS), part = row_part(ROWS);
  uint first = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint stride = parts * gl_SubgroupSize;
  for (uint r = gl_SubgroupID % ROWS; r < ROWS && part < parts; r += gl_NumSubgroups) {
    uint row = gl_WorkGroupID.x * ROWS + r;
    float acc = 0.0;
    if (row < pc.rows) DOT4_LOOP(acc, w, (pc.layer * pc.rows + row) * n4, a_at, n4)
    acc = subgroupAdd(acc);
    if (subgroupElect()) row_partials[part * ROWS + r] = acc;
  }
  barrier();

  if (tid >= ROWS) return;
  uint row = gl_WorkGroupID.x * ROWS + tid;
  if (row >= pc.rows) return;
  float dot_value = 0.0;
  for (uint p = 0u; p < parts; p++) dot_value += row_partials[p * ROWS + tid];
  float residual = pc.from_embedding != 0u ? emb[pc.token * pc.rows + row] : x[row];
  x[row] = residual + dot_value;
}
