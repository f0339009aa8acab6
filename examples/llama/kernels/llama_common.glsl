// llama_common.glsl: what the decoder's three kernels share.
//
// A decode step is a chain of dependent dispatches, each one latency-bound:
// what costs is the number of dispatches and, inside one, the memory round
// trips and barriers on its slowest workgroup's path. So the kernels
//   - fuse everything that needs no grid-wide result (2 dispatches a layer);
//   - split a matvec whose result is needed whole by the next dispatch
//     (wo, w2) over its input instead ("split-K"): each workgroup writes a
//     partial output vector, and every workgroup of the next kernel adds
//     the partials itself, in a fixed order, while it loads its weights.
//     No atomics and no last-workgroup merge (those cost an extra round
//     trip to L2 and back, as much as a dispatch), and results do not
//     depend on the order in which workgroups run;
//   - load the weights of their first matvec into registers before the
//     input vector is ready, so the weights' DRAM latency overlaps the
//     partial sums' L2 latency.
//
// Every kernel runs WG = 256 invocations. Subgroup arithmetic is used with
// any subgroup size (32 on NVIDIA, 8 or 4 on lavapipe, 64 on some AMD):
// work that needs it is assigned by gl_SubgroupID and
// gl_SubgroupInvocationID, never by an assumed mapping of invocations.
// Matrices and vectors are read as vec4 (the host checks that dim, hidden
// and head_size are multiples of 4).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require // [[unroll]]: arrays stay in registers

#define WG 256u
#ifndef MAX_DIM4
#define MAX_DIM4 1024u // dim <= 4096, checked by the host
#endif

// "No token": in Step.token, the GPU picks the token (see below); as an
// index, none.
#define NO_TOKEN 0xffffffffu

// The step's position and token, written by the host before each step (a
// captured step replays unchanged, so nothing that changes per step is a
// push constant). token == NO_TOKEN: the argmax of the previous step's
// logits, which the GPU takes from that step's classifier workgroups.
// (Declared by each kernel that reads it, at its own binding.)

// Weight matrices: float32, or with WEIGHT_F16 IEEE halves packed two per
// uint (unpackHalf2x16 needs no device feature), read as WVEC (4 weights)
// and widened by wvec4; arithmetic is float32 either way.
#if WEIGHT_F16
#define WVEC uvec2
vec4 wvec4(uvec2 u) { return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)); }
#else
#define WVEC vec4
vec4 wvec4(vec4 v) { return v; }
#endif

// -infinity, spelled so that compilers do not warn about 1/0.
#define NEG_INF uintBitsToFloat(0xff800000u)

shared vec4 xs[MAX_DIM4];        // the step's input vector, then its RMS-normalized form
shared vec4 part_sums[WG];       // partial sums of vec4 elements, parts 1.. (see store_part)
#include "llama_reduce.glsl"

// Vector sums: invocation t adds up part t / n4 of vec4 element t % n4 (and
// of t % n4 + WG, ... when n4 > WG): vec_parts(n4) parts share the terms
// of each element, so a vector of 72 vec4 (dim 288) keeps 216 invocations
// busy. vec_part() >= vec_parts() means: no element for this invocation.
uint vec_parts(uint n4) { return max(1u, WG / n4); }
uint vec_part(uint n4) { return gl_LocalInvocationIndex / n4; }
uint vec_first(uint n4) { return gl_LocalInvocationIndex % n4; }

// Part 0 of element j goes straight to xs, the others to part_sums.
void store_part(uint j, uint part, uint n4, vec4 v) {
  if (part == 0u)
    xs[j] = v;
  else
    part_sums[(part - 1u) * n4 + j] = v;
}

// After a barrier that follows every store_part: xs[j] = the sum of the
// parts, in part order; returns 1 / RMS of xs (holds barriers).
float sum_parts_rms(uint n4, uint n) {
  uint parts = vec_parts(n4);
  float ss = 0.0;
  for (uint j = gl_LocalInvocationIndex; j < n4; j += WG) {
    vec4 v = xs[j];
    for (uint p = 1u; p < parts; p++) v += part_sums[(p - 1u) * n4 + j];
    xs[j] = v;
    ss += dot(v, v);
  }
  return rms_scale(workgroup_sum(ss), n);
}

// Row-pair matvec: `pairs` pairs of rows, each dotted with xs[0 .. n4).
// Subgroup s takes pairs s, s + gl_NumSubgroups, ...; its lanes stride over
// the columns in blocks of gl_SubgroupSize vec4. The weights of PAIR_PAIRS
// pairs x PAIR_BLOCKS blocks per lane are held in registers, loaded by
// pair_load before xs is ready (columns past those blocks, and pairs past
// those, are loaded when needed: only for shapes larger than stories15M on
// NVIDIA). The kernel defines where a weight lives and what becomes of a
// pair's two dot products: finish_pair(k, pair, a, b) is called by every
// lane of the subgroup with the subgroup's sums, k = which of the
// subgroup's pairs it is.
#ifndef PAIR_PAIRS
#define PAIR_PAIRS 3u // 24 pairs (head size 48) over 8 subgroups
#endif
#ifndef PAIR_BLOCKS
#define PAIR_BLOCKS 3u // dim <= 384 with 32-wide subgroups
#endif
#define PAIR_HELD (PAIR_PAIRS * PAIR_BLOCKS)

vec4 pair_weight(uint pair, uint row, uint j); // row: 0 or 1 of the pair
void finish_pair(uint k, uint pair, float a, float b);

uint pair_count(uint pairs) { // this subgroup's pairs
  return gl_SubgroupID < pairs ? (pairs - gl_SubgroupID + gl_NumSubgroups - 1u) / gl_NumSubgroups : 0u;
}
uint pair_at(uint k) { return gl_SubgroupID + k * gl_NumSubgroups; }

// Loads the held weights of this subgroup's first PAIR_PAIRS pairs.
void pair_load(uint pairs, uint n4, out vec4 a[PAIR_HELD], out vec4 b[PAIR_HELD]) {
  uint mine = pair_count(pairs);
  [[unroll]] for (uint k = 0u; k < PAIR_PAIRS; k++) {
    [[unroll]] for (uint c = 0u; c < PAIR_BLOCKS; c++) {
      uint j = gl_SubgroupInvocationID + c * gl_SubgroupSize;
      bool load = k < mine && j < n4;
      a[k * PAIR_BLOCKS + c] = load ? pair_weight(pair_at(k), 0u, j) : vec4(0.0);
      b[k * PAIR_BLOCKS + c] = load ? pair_weight(pair_at(k), 1u, j) : vec4(0.0);
    }
  }
}

// The matvec itself, once xs holds the input (a, b: from pair_load).
// Pairs past the held ones go through a plain loop.
void pair_matvec(uint pairs, uint n4, vec4 a[PAIR_HELD], vec4 b[PAIR_HELD]) {
  uint mine = pair_count(pairs);
  [[unroll]] for (uint k = 0u; k < PAIR_PAIRS; k++) {
    float acc_a = 0.0, acc_b = 0.0;
    [[unroll]] for (uint c = 0u; c < PAIR_BLOCKS; c++) {
      uint j = gl_SubgroupInvocationID + c * gl_SubgroupSize;
      vec4 x = j < n4 ? xs[j] : vec4(0.0);
      acc_a += dot(a[k * PAIR_BLOCKS + c], x);
      acc_b += dot(b[k * PAIR_BLOCKS + c], x);
    }
    bool real = k < mine; // uniform
    uint pair = pair_at(k);
    for (uint j = gl_SubgroupInvocationID + PAIR_BLOCKS * gl_SubgroupSize; real && j < n4; j += gl_SubgroupSize) {
      vec4 x = xs[j];
      acc_a += dot(pair_weight(pair, 0u, j), x);
      acc_b += dot(pair_weight(pair, 1u, j), x);
    }
    if (real) finish_pair(k, pair, subgroupAdd(acc_a), subgroupAdd(acc_b));
  }
  for (uint k = PAIR_PAIRS; k < mine; k++) {
    float acc_a = 0.0, acc_b = 0.0;
    uint pair = pair_at(k);
    for (uint j = gl_SubgroupInvocationID; j < n4; j += gl_SubgroupSize) {
      vec4 x = xs[j];
      acc_a += dot(pair_weight(pair, 0u, j), x);
      acc_b += dot(pair_weight(pair, 1u, j), x);
    }
    finish_pair(k, pair, subgroupAdd(acc_a), subgroupAdd(acc_b));
  }
}
