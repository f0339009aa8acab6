// llama_wide.glsl: what the wide plan's kernels share.
//
// The wide plan is for shapes whose step is bound by the bytes of its
// weights, not by the number of its dispatches: each matrix-vector product
// is its own dispatch over many workgroups, and each subgroup takes a pair
// of adjacent rows at a time (RoPE's pairs, w1/w3's interleaved rows), so
// that its epilogue needs no other subgroup: no kernel waits on a barrier
// before its weights' loads, and the workgroup is only a unit of
// scheduling. A subgroup strides over its rows' columns in 16-byte loads,
// UNROLL of them per row issued before their sums, reads the product's
// input straight from memory (a few KB, cached, against the MB of weights
// the grid reads from DRAM) and adds up with subgroupAdd.
//
// Each kernel leaves its output vector where the next product reads it, in
// that product's "unit order" (in_slot below: lane j's vec4 i of a unit at
// i * units + j, so a subgroup's input reads are adjacent, coalesced), and
// an RMS norm is split between the producer and the consumer: the kernel
// that updates x writes x * gains of the next norm and, per workgroup, the
// sum of squares of its rows of x; the consumer sums those parts and
// scales its row results by 1 / RMS (a scalar: rmsnorm(x) . w =
// (x * gains) . w / RMS). Each kernel's epilogue (RoPE and the KV cache,
// SwiGLU, the residual add, the argmax) runs on its subgroups' row pairs.
//
// Subgroup arithmetic is used with any subgroup size (32 on NVIDIA, 4 to 16
// on lavapipe): row pairs go to subgroups by gl_SubgroupID.
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

#ifndef WG
#define WG 256u // threads per workgroup
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
// UNROLL: units per lane loaded before they are summed. Fewer registers
// let more subgroups stay resident, which counts for more than a lane's
// loads in flight: at the TinyLlama-1.1B shape a w13 product has 5632 row
// pairs, one subgroup each, and 48 registers a lane leave room for 5280
// subgroups on an H100's 132 SMs (two rounds), 35 for 6336 (one). There,
// against the earlier defaults (4 for 16-byte F16/BF16 units, 2 for
// quantized ones): Q4_0 and Q8_0 with 1 +6% tok/s, F16 with 2 +9%
// (bench/results/history.md). F32 keeps 4 (its 32-byte units; 2 untried).
#ifndef UNROLL
#if WEIGHT_QUANT
#define UNROLL 1u
#elif WEIGHTS_F32
#define UNROLL 4u
#else
#define UNROLL 2u
#endif
#endif
#define UNIT_VEC4 (UNIT_COLS / 4u) // vec4 of columns per unit

// Every wide kernel takes the same push constants (the host fills one struct
// per dispatch); each reads the fields it needs. (llama_wide_layers.comp
// declares its own, with the fields the shared code reads.)
#ifndef WIDE_OWN_PARAMS
layout(push_constant) uniform Params {
  uint rows;           // rows of this product per layer
  uint cols;           // its input length, a multiple of 8
  uint layer;          // which layer's matrix: rows from layer * rows
  uint rows_per_group; // even
  uint dim;
  uint kv_dim;
  uint head_size;
  uint seq_len;
  uint n_heads;
  uint kv_mul;      // n_heads / n_kv_heads
  uint split_len;   // positions per attention workgroup, <= WG
  uint slot_stride; // attention slots per head: the most splits
  uint best_count;  // classifier workgroups (entries of Best)
  uint parts;       // entries of SumSq the consumer of a norm adds up
  uint out_vec4;    // UNIT_VEC4 of the kernel that reads this one's output vector
  uint gain_base;   // where the next norm's gains start in Gains (floats)
  uint split;       // subgroups per row pair (llama_wide_matvec.comp)
} pc;
#endif

#include "llama_reduce.glsl"

// The better of (v, i) and (bv, bi), the host's rules for the argmax
// (gpu_forward.c, best_token): NaN and NO_INDEX never win, ties go to the
// lower index.
void keep_best(float v, uint i, inout float bv, inout uint bi) {
  if (i != NO_INDEX && !isnan(v) && (bi == NO_INDEX || v > bv || (v == bv && i < bi))) {
    bv = v;
    bi = i;
  }
}

float workgroup_max(float v) {
  float s = subgroupMax(v);
  if (subgroupElect()) reduce_scratch[gl_SubgroupID] = s;
  barrier();
  float m = NEG_INF;
  for (uint i = 0u; i < gl_NumSubgroups; i++) m = max(m, reduce_scratch[i]);
  barrier();
  return m;
}

shared uint best_scratch[MAX_SUBGROUPS]; // workgroup_best's index per subgroup

// The best of every invocation's (v, i) by keep_best's rules, returned to
// every invocation in (v, i). Must be reached by all invocations (it holds
// barriers).
void workgroup_best(inout float v, inout uint i) {
  float m = subgroupMax(v);
  uint mi = subgroupMin(v == m ? i : NO_INDEX); // ties: the lowest index
  if (subgroupElect()) {
    reduce_scratch[gl_SubgroupID] = m;
    best_scratch[gl_SubgroupID] = mi;
  }
  barrier();
  v = NEG_INF;
  i = NO_INDEX;
  for (uint k = 0u; k < gl_NumSubgroups; k++) keep_best(reduce_scratch[k], best_scratch[k], v, i);
  barrier(); // the scratch may be reused right after
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
// Quantized units are decoded with one bitwise instruction a weight (and
// a shift a word), no shift a weight: a quant at bits k..k+n-1 of its word
// is masked in place into the mantissa of 2^23 (k + n <= 23), which makes
// the float 2^23 + 2^k b exactly, and one fused multiply-add by 2^-k less
// the type's offset gives the weight's integer value exactly
// (Q4_0: b - 8; Q8_0, its byte's top bit flipped by the same instruction:
// b - 128); a second one adds it times x. The three quants of a word past
// bit 19 (Q4_0) or the two past bit 15 (Q8_0) come from the word shifted
// down once. NVIDIA GPUs issue integer instructions at half the rate of
// float ones; the decode this replaced spent two a weight (a shift, an
// and/or) and summed x for the offsets. On the H100 (history: "The quants
// decoded in place"): TinyLlama-1.1B-like Q4_0 +1.5-2.3% tok/s (layers
// kernel 879 -> 851 µs a step), Q8_0 +1.5-1.9%, Qwen2.5-0.5B-like Q8_0
// +1.5%, its Q4_0 -1 to -2%; and each weight's value is exact, not folded
// into an offset times sum(x): the Q4_0 GGUF tests' logits went from
// 1.6e-5 to 4e-6 (relative L2) of the CPU's. The products
// (quant_unit_dot, llama_wide_dot.glsl) and unit_vec4 (the embedding row)
// both decode so.

// The integer values of columns 4i..4i+3 of a unit (i < UNIT_VEC4, a
// constant once unrolled), before the block's scale.
#if WEIGHTS_Q4_0
// Word i % 4 holds bytes 4i..4i+3 (i < 4): their low nibbles (bits 0, 8,
// 16, 24) are columns 4i..4i+3, their high ones (bits 4, 12, 20, 28)
// those of vec4 i + 4; w >> 20 has bits 20, 24 and 28 at 0, 4 and 8.
vec4 quant_values(WEIGHT_TYPE w[UNIT_WORDS], uint i) {
  uint a = w[0][i % 4u], b = a >> 20;
  uvec4 t = i < 4u ? (uvec4(a, a, a, b) & uvec4(0xfu, 0xf00u, 0xf0000u, 0xf0u))
                   : (uvec4(a, a, b, b) & uvec4(0xf0u, 0xf000u, 0xfu, 0xf00u));
  vec4 f = uintBitsToFloat(t | 0x4b000000u); // 2^23 + 2^k q
  return i < 4u ? fma(f, vec4(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0 / 16.0), -vec4(8388616.0, 32776.0, 136.0, 524296.0))
                : fma(f, vec4(1.0 / 16.0, 1.0 / 4096.0, 1.0, 1.0 / 256.0), -vec4(524296.0, 2056.0, 8388616.0, 32776.0));
}
#else
// Word i holds bytes 4i..4i+3 (int8), columns 4i..4i+3; w >> 16 has bytes
// 2 and 3 at bits 0 and 8. The xor flips each byte's top bit (b = q + 128)
// and sets 2^23's exponent in one instruction with the mask.
vec4 quant_values(WEIGHT_TYPE w[UNIT_WORDS], uint i) {
  uint a = w[0][i], b = a >> 16;
  uvec4 t = (uvec4(a, a, b, b) & uvec4(0xffu, 0xff00u, 0xffu, 0xff00u)) ^
            uvec4(0x4b000080u, 0x4b008000u, 0x4b000080u, 0x4b008000u);
  return fma(uintBitsToFloat(t), vec4(1.0, 1.0 / 256.0, 1.0, 1.0 / 256.0),
             -vec4(8388736.0, 32896.0, 8388736.0, 32896.0));
}
#endif
#endif

// Columns 4i..4i+3 of a unit (i < UNIT_VEC4, a constant once unrolled),
// before the block's scale.
vec4 unit_vec4(WEIGHT_TYPE w[UNIT_WORDS], uint i) {
#if WEIGHTS_F16
  return i == 0u ? vec4(unpackHalf2x16(w[0].x), unpackHalf2x16(w[0].y))
                 : vec4(unpackHalf2x16(w[0].z), unpackHalf2x16(w[0].w));
#elif WEIGHTS_BF16
  return i == 0u ? bf16x4(w[0].x, w[0].y) : bf16x4(w[0].z, w[0].w);
#elif WEIGHT_QUANT
  return quant_values(w, i);
#else
  return w[i];
#endif
}

// The unit-order slot of vec4 j4 of a vector of `cols` floats, read by a
// kernel whose units hold `unit_vec4` vec4s: vec4 i of unit j at
// i * units + j.
uint in_slot(uint j4, uint cols, uint unit_vec4) {
  return (j4 % unit_vec4) * (cols / (4u * unit_vec4)) + j4 / unit_vec4;
}

// The float index of element c of a vector of `cols` floats in the unit
// order of a reader whose units hold `unit_vec4` vec4s.
uint unit_index(uint c, uint cols, uint unit_vec4) { return in_slot(c / 4u, cols, unit_vec4) * 4u + c % 4u; }

// The float index of element c of an output vector of `cols` floats, in
// its reader's unit order (pc.out_vec4).
uint out_index(uint c, uint cols) { return unit_index(c, cols, pc.out_vec4); }

#if WEIGHT_QUANT
// Where unit j's scale lies in its row: WEIGHT_TYPE element scale_element
// (after the row's base; `units` per row), component scale_component, and
// which half of that word.
uint scale_block(uint j) { return j * UNIT_COLS / 32u; }
uint scale_element(uint j, uint units) { return units + scale_block(j) / 8u; }
uint scale_component(uint j) { return (scale_block(j) / 2u) % 4u; }
float scale_value(uint word, uint j) { return unpackHalf2x16(word)[scale_block(j) % 2u]; }
#endif
