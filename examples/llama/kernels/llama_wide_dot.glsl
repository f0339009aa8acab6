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
// Quantized units are decoded without a float add a weight: each quant
// lands, by one shift and one masked or, in the top mantissa bits of a
// float f in [1, 2) (f = 1 + b / 2^k, exact), and a unit's dot product is
// 2^k sum(f x) less the quants' offset times sum(x), which the lane adds
// up from the input it reads anyway (shared by the pair's two rows):
//   Q4_0: a nibble q gives f = 1 + q / 16, q - 8 = 16 f - 24.
//   Q8_0: a byte b = q + 128 gives f = 1 + b / 256, q = 256 f - 384.
// On the H100, against the magic-number decode with an add a weight
// (small_uints): TinyLlama-1.1B-like Q4_0 +3% tok/s, Qwen2.5-0.5B-like
// Q4_0 +2%, Q8_0 the same. The rounding of f x is relative to f (1 to 2),
// where the add's was relative to q - 8: the GGUF tests' logits are
// 1.6e-5 (relative L2) from the CPU's in Q4_0, 3e-6 before. Tried: the
// low nibbles at 1 + q / 256 (one shift for two nibbles) put them 1e-4
// away; the offsets kept per input unit in shared memory took 79
// registers a lane and lost 1%.

// Bytes 0-3 of a word, each moved to bits 15-22 (and the bits above).
uvec4 byte_shifts(uint w) { return uvec4(w << 15, w << 7, w >> 1, w >> 9); }
// The low (high 0) or high nibbles of bytes 0-3, each moved to bits 19-22.
uvec4 nibble_shifts(uint w, uint high) {
  return high == 0u ? uvec4(w << 19, w << 11, w << 3, w >> 5) : uvec4(w << 15, w << 7, w >> 1, w >> 9);
}
vec4 mantissa_floats(uvec4 t, uint mask) { return uintBitsToFloat((t & mask) | 0x3f800000u); }
// acc + a . b as a chain of fused multiply-adds (dot() and an add: one
// instruction more, 1% slower in Q4_0).
float fma_dot(vec4 a, vec4 b, float acc) { return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc)))); }

// Columns 4i..4i+3 of a unit with their quants moved to the bits of f
// above (QUANT_MASK picks them), and the constants of the unit's dot
// product: QUANT_SCALE sum(f x) - QUANT_OFFSET sum(x).
#if WEIGHTS_Q4_0
#define QUANT_MASK 0x00780000u
#define QUANT_SCALE 16.0
#define QUANT_OFFSET 24.0
// Word i % 4 holds bytes 4i..4i+3 (i < 4): their low nibbles are columns
// 4i..4i+3, their high ones those of vec4 i + 4.
uvec4 quant_bits(WEIGHT_TYPE w[UNIT_WORDS], uint i) { return nibble_shifts(w[0][i % 4u], i / 4u); }
#else
#define QUANT_MASK 0x007f8000u
#define QUANT_SCALE 256.0
#define QUANT_OFFSET 384.0
uvec4 quant_bits(WEIGHT_TYPE w[UNIT_WORDS], uint i) { return byte_shifts(w[0][i] ^ 0x80808080u); }
#endif

// A unit of each row (w0, w1) . unit j of the input, before the scales.
vec2 quant_unit_dot(WEIGHT_TYPE w0[UNIT_WORDS], WEIGHT_TYPE w1[UNIT_WORDS], uint isrc, uint in_base, uint j, uint units) {
  vec2 d = vec2(0.0);
  vec4 s = vec4(0.0);
  [[unroll]] for (uint i = 0u; i < UNIT_VEC4; i++) {
    vec4 xv = INPUT_AT(isrc, in_base + i * units + j);
    s += xv;
    uvec4 t0 = quant_bits(w0, i), t1 = quant_bits(w1, i);
    d = vec2(fma_dot(mantissa_floats(t0, QUANT_MASK), xv, d.x), fma_dot(mantissa_floats(t1, QUANT_MASK), xv, d.y));
  }
  return QUANT_SCALE * d - QUANT_OFFSET * ((s.x + s.y) + (s.z + s.w));
}
#endif

// acc += the pair's chunks . the input (vec4s from in_base in input
// buffer isrc): each vec4 of the input is read once for both rows.
void sum_chunks(chunk c0, chunk c1, uint isrc, uint in_base, uint j0, uint stride, uint units, inout vec2 acc) {
  [[unroll]] for (uint u = 0u; u < UNROLL; u++) {
    uint j = j0 + u * stride;
    if (j < units) {
#if WEIGHT_QUANT
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

shared vec2 pair_parts[WG]; // per subgroup: its part of its pair

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
