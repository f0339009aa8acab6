// llama_common.glsl: workgroup reductions and the matvec layout shared by
// the decoder's kernels.
//
// Every kernel runs WG = 256 invocations. Reductions use subgroup
// arithmetic first and shared memory across subgroups; nothing assumes a
// subgroup size (32 on NVIDIA, 8 on lavapipe, 64 on some AMD), nor how
// invocations map to subgroups: work is assigned by gl_SubgroupID.
//
// Matvec kernels give each workgroup `rows` consecutive output rows (or
// row pairs; a push constant, so tests can steer lavapipe, whose subgroups
// are 8 wide, onto either path below). Subgroups are spread over them: with at least `rows`
// subgroups, each row gets parts = gl_NumSubgroups / rows subgroups that
// stride over its columns; with fewer, each subgroup loops over several
// whole rows. When a row is one subgroup's alone (parts == 1: NVIDIA's 8
// subgroups of 32 for 8 rows) that subgroup finishes it by itself and the
// kernel has no barrier at all; otherwise partial sums meet in shared
// memory as [part][row] and are added in a fixed order. RMS norms are
// likewise computed by every subgroup for itself (x is tiny and cached):
// redundant arithmetic is cheaper than a workgroup barrier here, since a
// decode step is a chain of latency-bound dispatches. Matrices and vectors
// are read as vec4 (the host checks that dim and hidden are multiples of 4).
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

// Column blocking: a lane's columns are j = first + k * stride. They are
// visited BLOCK at a time with a constant inner trip count, so the compiler
// issues all of a block's loads before the first multiply (one memory
// round trip per block instead of one per column).
#define BLOCK 4u
