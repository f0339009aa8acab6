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
