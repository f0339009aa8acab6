// llama_wide.glsl: what the wide plan's kernels share.
//
// The wide plan is for shapes whose step is bound by the bytes of its
// weights, not by the number of its dispatches: each matrix-vector product
// is its own dispatch over many small workgroups (rows_per_group rows each,
// MV_ROWS rows per subgroup at a time), so that every SM streams weights
// with many loads in flight. Each workgroup first builds the product's whole
// input vector in shared memory (from L2: a few KB, against the MB of
// weights the grid reads from DRAM), RMS-normalized where the model says so,
// then its subgroups stride over their rows' columns in 16-byte loads, UNROLL
// of them per row issued before their sums, and add up with subgroupAdd.
// A subgroup's MV_ROWS rows share each read of the input from shared memory
// (it is read once per MV_ROWS rows' weights, not once per row's). Each
// kernel's epilogue (RoPE and the KV cache, SwiGLU, the residual add, the
// argmax) runs on the workgroup's row results in shared memory.
//
// Subgroup arithmetic is used with any subgroup size (32 on NVIDIA, 4 to 16
// on lavapipe): rows go to subgroups by gl_SubgroupID.
//
// Weights are stored in one of five types, picked at compile time by one
// WEIGHTS_<type> definition (none: F32); arithmetic is float32 for all.
// A "unit" is what one lane loads at a time, 16 bytes or 32 (F32):
//   F32   8 columns, 2 vec4
//   F16   8 columns, one uvec4 of IEEE halves (unpackHalf2x16: no device feature)
//   BF16  8 columns, one uvec4 of bfloat16 (the upper halves of float32)
//   Q8_0  16 columns, one uvec4 of int8, half a block (2 lanes share a scale)
//   Q4_0  32 columns, one uvec4 of nibbles, a whole block
// A Q8_0/Q4_0 row is its quants, then its blocks' f16 scales, padded to 16
// bytes (quant.h says why); a lane reads its unit's scale as one 32-bit
// word next to its quants, and adjacent lanes read adjacent scales. The host
// checks that every product's columns are a multiple of 8 (32 for Q8_0/Q4_0).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require // [[unroll]]: arrays stay in registers

#define WG 256u // threads per workgroup (128 ran 15-35% slower on the H100)
#define MAX_COLS4 1536u // input vectors of at most 6144 floats (checked by the host)
#define MAX_ROWS WG     // rows_per_group <= WG (checked by the host)
#ifndef MV_ROWS
#define MV_ROWS 2u // rows a subgroup sums at a time, sharing its reads of the input
#endif
#define NEG_INF uintBitsToFloat(0xff800000u)
#define NO_INDEX 0xffffffffu
// "No token" in Step.token: the GPU takes the argmax of the previous step's
// logits (see llama_wide_embed.comp).
#define NO_TOKEN 0xffffffffu

#if WEIGHTS_F16 || WEIGHTS_BF16 || WEIGHTS_Q8_0 || WEIGHTS_Q4_0
#define WEIGHT_TYPE uvec4
#define UNIT_WORDS 1u // WEIGHT_TYPE elements per unit
#else
#define WEIGHTS_F32 1
#define WEIGHT_TYPE vec4
#define UNIT_WORDS 2u
#endif
#if WEIGHTS_Q8_0
#define UNIT_COLS 16u
#elif WEIGHTS_Q4_0
#define UNIT_COLS 32u
#else
#define UNIT_COLS 8u
#endif
#define WEIGHT_QUANT (WEIGHTS_Q8_0 || WEIGHTS_Q4_0)
// UNROLL: units per lane loaded before they are summed. A quantized unit
// holds 16 or 32 columns, so 2 per lane already span rows of 1-2K columns;
// 4 would add loads past the row's end and registers (fewer workgroups per
// SM). On the H100, 2 against 4: Q4_0 +8%, Q8_0 +3%, f16 -6% tok/s.
#ifndef UNROLL
#if WEIGHT_QUANT
#define UNROLL 2u
#else
#define UNROLL 4u
#endif
#endif
#define UNIT_VEC4 (UNIT_COLS / 4u) // vec4 of columns per unit

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

// WEIGHT_TYPE elements of a row of `cols` columns (quant.h's GPU layout).
uint row_words(uint cols) {
#if WEIGHT_QUANT
  return cols / UNIT_COLS + (cols / 32u + 7u) / 8u; // quants, then scales in 16-byte words
#else
  return cols / UNIT_COLS * UNIT_WORDS;
#endif
}

vec4 bf16x4(uint a, uint b) {
  return vec4(uintBitsToFloat(a << 16), uintBitsToFloat(a & 0xffff0000u), uintBitsToFloat(b << 16),
              uintBitsToFloat(b & 0xffff0000u));
}

#if WEIGHT_QUANT
// MAGIC + the bytes of q, each masked by `mask`, as floats: with the integer
// in the low mantissa bits of 2^23, the float is 2^23 + integer exactly, so
// subtracting MAGIC (and the type's offset) costs one add instead of an
// int-to-float conversion (an eighth of the add's rate on NVIDIA GPUs). On
// the H100 the two decodes ran within 2% of each other: these products are
// bound by latency, not by their arithmetic.
#define MAGIC 8388608.0
vec4 small_uints(uint q, uint mask) {
  return uintBitsToFloat((uvec4(q, q >> 8, q >> 16, q >> 24) & mask) | 0x4b000000u);
}
#endif

// Columns 4i..4i+3 of a unit (i < UNIT_VEC4, a constant once unrolled),
// before the block's scale.
vec4 unit_vec4(WEIGHT_TYPE w[UNIT_WORDS], uint i) {
#if WEIGHTS_F16
  return i == 0u ? vec4(unpackHalf2x16(w[0].x), unpackHalf2x16(w[0].y))
                 : vec4(unpackHalf2x16(w[0].z), unpackHalf2x16(w[0].w));
#elif WEIGHTS_BF16
  return i == 0u ? bf16x4(w[0].x, w[0].y) : bf16x4(w[0].z, w[0].w);
#elif WEIGHTS_Q8_0
  // Bytes: columns 4i..4i+3; the xor makes each byte b + 128, unsigned.
  return small_uints(w[0][i] ^ 0x80808080u, 0xffu) - (MAGIC + 128.0);
#elif WEIGHTS_Q4_0
  // Byte j of a block: column j in its low nibble, column j + 16 in its high one.
  return small_uints(w[0][i % 4u] >> (i < 4u ? 0u : 4u), 0xfu) - (MAGIC + 8.0);
#else
  return w[i];
#endif
}

#if WEIGHT_QUANT
// Where unit j's scale lies in its row: WEIGHT_TYPE element scale_element
// (after the row's base; `units` per row), component scale_component, and
// which half of that word.
uint scale_block(uint j) { return j * UNIT_COLS / 32u; }
uint scale_element(uint j, uint units) { return units + scale_block(j) / 8u; }
uint scale_component(uint j) { return (scale_block(j) / 2u) % 4u; }
float scale_value(uint word, uint j) { return unpackHalf2x16(word)[scale_block(j) % 2u]; }
#endif
