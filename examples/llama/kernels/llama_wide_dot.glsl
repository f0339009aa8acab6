// llama_wide_dot.glsl: a subgroup's dot products of a row pair of a wide
// product (llama_wide.glsl) with its input vector. The includer declares
// the buffers and defines
//   WEIGHT_AT(src, i)  WEIGHT_TYPE element i of matrix buffer `src`
//   INPUT_AT(src, i)   vec4 i of input buffer `src`
// (src: a constant at every call, so each access is one buffer's load once
// the compiler inlines).

// A subgroup's row is read UNROLL units per lane at a time, all loads of a
// chunk issued before its sums (with quantized weights, each unit's scale
// too).
struct chunk {
  WEIGHT_TYPE w[UNROLL][UNIT_WORDS];
#if WEIGHT_QUANT
  float s[UNROLL];
#endif
};

// This lane's units j0 + u * stride (u < UNROLL) of the row whose units
// start at `base` in matrix `wsrc` (zeros past the row's end).
chunk load_chunk(uint wsrc, uint base, uint j0, uint stride, uint units) {
  chunk c;
  [[unroll]] for (uint u = 0u; u < UNROLL; u++) {
    uint j = j0 + u * stride;
    [[unroll]] for (uint e = 0u; e < UNIT_WORDS; e++)
      c.w[u][e] = j < units ? WEIGHT_AT(wsrc, base + j * UNIT_WORDS + e) : WEIGHT_TYPE(0);
#if WEIGHT_QUANT
    c.s[u] = j < units ? scale_value(WEIGHT_AT(wsrc, base + scale_element(j, units))[scale_component(j)], j) : 0.0;
#endif
  }
  return c;
}

#if WEIGHT_QUANT
// acc + a . b as a chain of fused multiply-adds (dot() and an add: one
// instruction more, 1% slower in Q4_0).
float fma_dot(vec4 a, vec4 b, float acc) { return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc)))); }

// A unit of each row (w0, w1) . unit j of the input, before the scales.
vec2 quant_unit_dot(WEIGHT_TYPE w0[UNIT_WORDS], WEIGHT_TYPE w1[UNIT_WORDS], uint isrc, uint in_base, uint j, uint units) {
  vec2 d = vec2(0.0);
  [[unroll]] for (uint i = 0u; i < UNIT_VEC4; i++) {
    vec4 xv = INPUT_AT(isrc, in_base + i * units + j);
    d = vec2(fma_dot(quant_values(w0, i), xv, d.x), fma_dot(quant_values(w1, i), xv, d.y));
  }
  return d;
}
#endif

#if INT_DOT
// Integer dot products: the input staged as integers in shared memory.
//
// A product's input vector is staged once per workgroup (stage_input,
// before its first dot) as fixed point per block of 32 columns: x = d v,
// d = the block's largest |x| / STAGE_MAX, v an integer of STAGE_BYTES
// signed bytes, each value within half a step (plus float32's rounding of
// x / d) of x. With 3 bytes that is ~2^-24 of the block's largest value,
// float32's own precision there, and the products agree with the float
// dot's as closely as float32 sums do; 2 bytes (~2^-16) is a measuring
// knob (the decoder's tests then fail their 1e-4 tolerance on random
// models, which amplify it). v's bytes are balanced digits, each in
// -128..127 (v = 2^16 h + 2^8 m + l), kept apart and packed four a word,
// so that a weight unit's dot with them is packed signed 8-bit dot
// products (SPV_KHR_integer_dot_product; on NVIDIA an instruction for four
// weights, where the float dot spends two FMAs and a bitwise instruction
// a weight), the kind devices most often run fast (unsigned and
// mixed-signedness ones less often): Q4_0's nibbles (0..15) are
// non-negative signed bytes after one mask (and a shift for the high
// ones), a Q8_0 word is four as it is. Each digit's sums are exact
// integers; a unit's result is d times their weighted sum in float32
// (Q4_0: less 8 times the block's sum of v), then the weights' scale.
//
// GL_EXT_spirv_intrinsics declares the instruction (this glslang has no
// built-in for it). The last operand is PackedVectorFormat4x8Bit.
#extension GL_EXT_spirv_intrinsics : require
#extension GL_KHR_shader_subgroup_shuffle : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint x, uint y, spirv_literal int packed_format);
#define PACKED_4X8 0

#ifndef STAGE_BYTES
#define STAGE_BYTES 3
#endif
// The largest |v|: every digit at most 127 (and -127 for -v).
#if STAGE_BYTES == 3
#define STAGE_MAX 8355711.0 // 127 (2^16 + 2^8 + 1)
#else
#define STAGE_MAX 32639.0 // 127 (2^8 + 1)
#endif
#ifndef MAX_STAGE_COLS
#define MAX_STAGE_COLS 6144u // the longest input the host may give (gpu_forward.c)
#endif
#define STAGE_PLANE (MAX_STAGE_COLS / 16u) // uvec4s of one byte of v
// Byte k of v (0: the top one) of vec4 m of unit j at k * STAGE_PLANE +
// m * units + j, the weights' unit order: adjacent lanes read adjacent
// uvec4s.
shared uvec4 stage_v[STAGE_BYTES * STAGE_PLANE];
shared vec2 stage_block[MAX_STAGE_COLS / 32u]; // per block: d, the sum of its v

// Stores vec4 k of the input as v (its block's scale applied), each
// balanced digit in its plane, the lowest first found: l = v's low byte
// read as signed, then the same of (v - l) / 256.
void stage_vec4(uint k, ivec4 v, uint units) {
  uint at = (k % UNIT_VEC4) / 4u * units + k / UNIT_VEC4;
  [[unroll]] for (int byte = STAGE_BYTES - 1; byte >= 0; byte--) {
    ivec4 digit = bitfieldExtract(v, 0, 8); // sign-extended
    uvec4 p = uvec4(digit) & 0xffu;
    stage_v[uint(byte) * STAGE_PLANE + at][k % 4u] = p.x | p.y << 8 | p.z << 16 | p.w << 24;
    v = (v - digit) >> 8;
  }
}

float abs_max(vec4 x) { return max(max(abs(x.x), abs(x.y)), max(abs(x.z), abs(x.w))); }

// Stages input `cols` (a multiple of 32, <= MAX_STAGE_COLS) of input
// buffer isrc from in_base (this type's unit order): 4 adjacent lanes of a
// subgroup a block (the host asks for subgroups of 4 or more; they
// exchange their parts by shuffles: lavapipe has no clustered reductions),
// 2 vec4s a lane, every lane's loads issued before any sum. Every
// invocation must reach it (it ends with a barrier). A block whose largest
// |x| is NaN or infinite makes d NaN or infinite, so its products are not
// finite either, as the float dot's would not be.
#define STAGE_ROUNDS ((MAX_STAGE_COLS / 8u + WG - 1u) / WG)
void stage_input(uint isrc, uint in_base, uint cols) {
  uint lanes = cols / 8u, units = cols / UNIT_COLS;
  uint lane = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID; // 4 aligned lanes a block
  vec4 x[STAGE_ROUNDS][2];
  [[unroll]] for (uint r = 0u; r < STAGE_ROUNDS; r++) {
    uint g = r * WG + lane;
    [[unroll]] for (uint h = 0u; h < 2u; h++)
      x[r][h] = g < lanes ? INPUT_AT(isrc, in_base + in_slot(2u * g + h, cols, UNIT_VEC4)) : vec4(0.0);
  }
  [[unroll]] for (uint r = 0u; r < STAGE_ROUNDS; r++) {
    if (r * WG >= lanes) break; // uniform: every lane takes part in the shuffles
    uint g = r * WG + lane;
    float m = max(abs_max(x[r][0]), abs_max(x[r][1]));
    m = max(m, subgroupShuffleXor(m, 1u));
    m = max(m, subgroupShuffleXor(m, 2u));
    float inv = m > 0.0 && !isinf(m) ? STAGE_MAX / m : 0.0;
    ivec4 v0 = clamp(ivec4(round(x[r][0] * inv)), ivec4(-STAGE_MAX), ivec4(STAGE_MAX));
    ivec4 v1 = clamp(ivec4(round(x[r][1] * inv)), ivec4(-STAGE_MAX), ivec4(STAGE_MAX));
    ivec4 t = v0 + v1;
    int sum = t.x + t.y + t.z + t.w;
    sum += subgroupShuffleXor(sum, 1u);
    sum += subgroupShuffleXor(sum, 2u);
    if (g < lanes) {
      stage_vec4(2u * g, v0, units);
      stage_vec4(2u * g + 1u, v1, units);
      if (g % 4u == 0u) stage_block[g / 4u] = vec2(m / STAGE_MAX, float(sum));
    }
  }
  barrier();
}

// Unit j of each row (w0, w1) . the staged input, before the scales.
vec2 staged_unit_dot(WEIGHT_TYPE w0[UNIT_WORDS], WEIGHT_TYPE w1[UNIT_WORDS], uint j, uint units) {
  ivec2 s[STAGE_BYTES]; // per byte of v (0: the top one), its dot with each row
  [[unroll]] for (uint byte = 0u; byte < STAGE_BYTES; byte++) s[byte] = ivec2(0);
#if WEIGHTS_Q4_0
  // Word e's low nibbles are columns 4e..4e+3 (the block's vec4 e), its
  // high ones 16+4e.. (vec4 4 + e): staged uvec4s j and units + j.
  vec2 blk = stage_block[j];
  [[unroll]] for (uint e = 0u; e < 4u; e++) {
    uint a0 = w0[0][e] & 0x0f0f0f0fu, b0 = (w0[0][e] >> 4) & 0x0f0f0f0fu;
    uint a1 = w1[0][e] & 0x0f0f0f0fu, b1 = (w1[0][e] >> 4) & 0x0f0f0f0fu;
    [[unroll]] for (uint byte = 0u; byte < STAGE_BYTES; byte++) {
      uint lo = stage_v[byte * STAGE_PLANE + j][e], hi = stage_v[byte * STAGE_PLANE + units + j][e];
      s[byte] += ivec2(sdot(lo, a0, PACKED_4X8) + sdot(hi, b0, PACKED_4X8),
                       sdot(lo, a1, PACKED_4X8) + sdot(hi, b1, PACKED_4X8));
    }
  }
  // sum (q - 8) v = sum q v - 8 sum v.
  vec2 t = vec2(-8.0 * blk.y);
#else
  // Q8_0: word e is columns 4e..4e+3 of the unit (half block j / 2).
  float d = stage_block[j / 2u].x;
  [[unroll]] for (uint e = 0u; e < 4u; e++) {
    [[unroll]] for (uint byte = 0u; byte < STAGE_BYTES; byte++) {
      uint x = stage_v[byte * STAGE_PLANE + j][e];
      s[byte] += ivec2(sdot(w0[0][e], x, PACKED_4X8), sdot(w1[0][e], x, PACKED_4X8));
    }
  }
  vec2 t = vec2(0.0);
#endif
  // The lower two digits' sums together stay exact in an int (< 2^25).
#if STAGE_BYTES == 3
  t = fma(vec2(s[0]), vec2(65536.0), t + vec2(s[1] * 256 + s[2]));
#else
  t += vec2(s[0] * 256 + s[1]);
#endif
#if WEIGHTS_Q4_0
  return blk.x * t;
#else
  return d * t;
#endif
}
#endif

// acc += the pair's chunks . the input (vec4s from in_base in input
// buffer isrc): each vec4 of the input is read once for both rows.
void sum_chunks(chunk c0, chunk c1, uint isrc, uint in_base, uint j0, uint stride, uint units, inout vec2 acc) {
  [[unroll]] for (uint u = 0u; u < UNROLL; u++) {
    uint j = j0 + u * stride;
    if (j < units) {
#if INT_DOT
      acc += staged_unit_dot(c0.w[u], c1.w[u], j, units) * vec2(c0.s[u], c1.s[u]);
#elif WEIGHT_QUANT
      acc += quant_unit_dot(c0.w[u], c1.w[u], isrc, in_base, j, units) * vec2(c0.s[u], c1.s[u]);
#else
      vec2 d = vec2(0.0);
      [[unroll]] for (uint i = 0u; i < UNIT_VEC4; i++) {
        vec4 xv = INPUT_AT(isrc, in_base + i * units + j);
        d.x += dot(unit_vec4(c0.w[u], i), xv);
        d.y += dot(unit_vec4(c1.w[u], i), xv);
      }
      acc += d;
#endif
    }
  }
}

// This lane's first chunks of rows r and r1 for pair_dot_from.
void first_chunks(uint wsrc, uint cols, uint r, uint r1, uint part, uint split, out chunk c0, out chunk c1) {
  uint units = cols / UNIT_COLS, stride = gl_SubgroupSize * split, j0 = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  c0 = load_chunk(wsrc, r * row_words(cols), j0, stride, units);
  c1 = load_chunk(wsrc, r1 * row_words(cols), j0, stride, units);
}

// Part `part` (of `split`) of rows r and r1 (of `cols` columns) of matrix
// wsrc . the input, in every lane, given this lane's first chunks (loaded
// earlier, while something else was waited for): the row's units in runs
// of a subgroup's width, run k to part k % split (each load stays one
// coalesced run).
vec2 pair_dot_from(uint wsrc, uint isrc, uint in_base, uint cols, uint r, uint r1, uint part, uint split, chunk c0,
                   chunk c1) {
  uint units = cols / UNIT_COLS, stride = gl_SubgroupSize * split, step = stride * UNROLL;
  uint base0 = r * row_words(cols), base1 = r1 * row_words(cols);
  uint j0 = part * gl_SubgroupSize + gl_SubgroupInvocationID;
  vec2 acc = vec2(0.0);
  sum_chunks(c0, c1, isrc, in_base, j0, stride, units, acc); // sums nothing past the row's end
  for (j0 += step; j0 < units; j0 += step)
    sum_chunks(load_chunk(wsrc, base0, j0, stride, units), load_chunk(wsrc, base1, j0, stride, units), isrc, in_base,
               j0, stride, units, acc);
  return vec2(subgroupAdd(acc.x), subgroupAdd(acc.y));
}

shared vec2 pair_parts[MAX_SUBGROUPS]; // per subgroup: its part of its pair

// A pair's results d from its `split` subgroups (split-K), added up in
// shared memory; the sum goes to the subgroups with `add` (the pair's
// first). With split > 1 every invocation must reach it (it holds barriers).
vec2 pair_sum(vec2 d, uint split, bool add) {
  if (split > 1u) {
    if (subgroupElect()) pair_parts[gl_SubgroupID] = d;
    barrier();
    if (add)
      for (uint k = 1u; k < split; k++) d += pair_parts[gl_SubgroupID + k];
    barrier(); // the next pass rewrites pair_parts
  }
  return d;
}

vec2 pair_dot(uint wsrc, uint isrc, uint in_base, uint cols, uint r, uint r1, uint part, uint split) {
  chunk c0, c1;
  first_chunks(wsrc, cols, r, r1, part, split, c0, c1);
  return pair_dot_from(wsrc, isrc, in_base, cols, r, r1, part, split, c0, c1);
}
