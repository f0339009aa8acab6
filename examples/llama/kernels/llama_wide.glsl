// llama_wide.glsl: what the wide plan's kernels share.
//
// The wide plan is for shapes whose step is bound by the bytes of its
// weights, not by the number of its dispatches: each matrix-vector product
// is its own dispatch over many small workgroups (rows_per_group rows each,
// one row per subgroup at a time), so that every SM streams weights with
// many loads in flight. Each workgroup first builds the product's whole
// input vector in shared memory (from L2: a few KB, against the MB of
// weights the grid reads from DRAM), RMS-normalized where the model says so,
// then its subgroups stride over their rows' columns in 16-byte loads, UNROLL
// of them issued before their sums, and add up with subgroupAdd. Each
// kernel's epilogue (RoPE and the KV cache, SwiGLU, the residual add, the
// argmax) runs on the workgroup's row results in shared memory.
//
// Subgroup arithmetic is used with any subgroup size (32 on NVIDIA, 4 to 16
// on lavapipe): rows go to subgroups by gl_SubgroupID.
//
// Weights are float32 or, with WEIGHT_F16, IEEE half packed two per uint
// (unpackHalf2x16 needs no device feature); arithmetic is float32 either way.
// A "unit" is 8 columns: 2 vec4 of float32 or one uvec4 of halves, 32 or 16
// bytes. The host checks that every product's columns are a multiple of 8.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require // [[unroll]]: arrays stay in registers

#define WG 256u
#define MAX_COLS4 1536u // input vectors of at most 6144 floats (checked by the host)
#define MAX_ROWS WG     // rows_per_group <= WG (checked by the host)
#ifndef UNROLL
#define UNROLL 4u // units per lane loaded before they are summed
#endif
#define NEG_INF uintBitsToFloat(0xff800000u)
#define NO_INDEX 0xffffffffu
// "No token" in Step.token: the GPU takes the argmax of the previous step's
// logits (see llama_wide_embed.comp).
#define NO_TOKEN 0xffffffffu

#if WEIGHT_F16
#define WEIGHT_TYPE uvec4
#define UNIT_WORDS 1u // WEIGHT_TYPE elements per unit
#else
#define WEIGHT_TYPE vec4
#define UNIT_WORDS 2u
#endif

// Every wide kernel takes the same push constants (the host fills one struct
// per dispatch); each reads the fields it needs.
layout(push_constant) uniform Params {
  uint rows;           // rows of this product per layer
  uint cols;           // its input length, a multiple of 8
  uint layer;          // which layer's matrix: rows from layer * rows
  uint rows_per_group; // even, <= WG
  uint dim;
  uint kv_dim;
  uint head_size;
  uint seq_len;
  uint n_heads;
  uint kv_mul;      // n_heads / n_kv_heads
  uint split_len;   // positions per attention workgroup, <= WG
  uint slot_stride; // attention slots per head: the most splits
  uint best_count;  // classifier workgroups (entries of Best)
} pc;

#include "llama_reduce.glsl"

float workgroup_max(float v) {
  float s = subgroupMax(v);
  if (subgroupElect()) reduce_scratch[gl_SubgroupID] = s;
  barrier();
  float m = NEG_INF;
  for (uint i = 0u; i < gl_NumSubgroups; i++) m = max(m, reduce_scratch[i]);
  barrier();
  return m;
}

// Unpacks 8 weights from their storage form.
void unpack_unit(WEIGHT_TYPE w[UNIT_WORDS], out vec4 lo, out vec4 hi) {
#if WEIGHT_F16
  lo = vec4(unpackHalf2x16(w[0].x), unpackHalf2x16(w[0].y));
  hi = vec4(unpackHalf2x16(w[0].z), unpackHalf2x16(w[0].w));
#else
  lo = w[0];
  hi = w[1];
#endif
}
