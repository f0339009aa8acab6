// llama_common.glsl: workgroup reductions and the matvec layout shared by
// the decoder's kernels.
//
// Every kernel runs WG = 256 invocations. Reductions use subgroup
// arithmetic first and shared memory across subgroups; nothing assumes a
// subgroup size (32 on NVIDIA, 8 on lavapipe, 64 on some AMD), nor how
// invocations map to subgroups: work is assigned by gl_SubgroupID.
//
// Matvec kernels give each workgroup `rows` consecutive output rows (or
// row pairs). Subgroups are spread over them: with at least `rows`
// subgroups, each row gets parts = gl_NumSubgroups / rows subgroups that
// stride over its columns; with fewer, each subgroup loops over several
// whole rows. Partial sums land in shared memory as [part][row] and are
// added in a fixed order. Matrices and vectors are read as vec4 (the host
// checks that dim and hidden are multiples of 4), two loads in flight per
// step: a decode step is latency-bound, so bytes in flight matter more
// than instruction count.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

#define WG 256u

shared float reduce_scratch[WG];

// Sum of `v` over the workgroup, returned to every invocation. Must be
// reached by all invocations (it holds barriers).
float workgroup_sum(float v) {
  float s = subgroupAdd(v);
  if (subgroupElect()) reduce_scratch[gl_SubgroupID] = s;
  barrier();
  float total = 0.0;
  for (uint i = 0u; i < gl_NumSubgroups; i++) total += reduce_scratch[i];
  barrier(); // the scratch may be reused right after
  return total;
}

// How many subgroups share one of `rows` rows (at least 1), and which part
// of its row this subgroup takes. part >= parts means: no row for it.
uint row_parts(uint rows) { return max(1u, gl_NumSubgroups / rows); }
uint row_part(uint rows) { return gl_SubgroupID / rows; }

// 1 / RMS of a vector whose sum of squares is `sum_squares`, as run.c.
float rms_scale(float sum_squares, uint n) {
  return 1.0 / sqrt(sum_squares / float(n) + 1e-5);
}

// -infinity, spelled so that compilers do not warn about 1/0.
#define NEG_INF uintBitsToFloat(0xff800000u)

// ACC += dot(W[WBASE + j], XV(j)) over j = first, first + stride, ... < N4
// (vec4 units), two independent loads per step.
#define DOT4_LOOP(ACC, W, WBASE, XV, N4)                                     \
  {                                                                          \
    uint j_ = first;                                                         \
    for (; j_ + stride < (N4); j_ += 2u * stride) {                          \
      vec4 w0_ = W[(WBASE) + j_];                                            \
      vec4 w1_ = W[(WBASE) + j_ + stride];                                   \
      ACC += dot(w0_, XV(j_)) + dot(w1_, XV(j_ + stride));                   \
    }                                                                        \
    if (j_ < (N4)) ACC += dot(W[(WBASE) + j_], XV(j_));                      \
  }
