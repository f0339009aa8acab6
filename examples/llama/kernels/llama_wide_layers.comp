#version 450
#if PHASE_CLOCK
#extension GL_EXT_shader_realtime_clock : require
#endif
// The persistent plan: every layer of a step in one dispatch. Its
// workgroups (a few per SM, all resident at once) run the wide plan's
// products and attention (llama_wide.glsl) one after the other, layer by
// layer, and meet at a grid barrier between them, where the wide plan ends
// one dispatch and starts the next. Between two dispatches an H100 drains
// the grid, waits on the pipeline barrier and starts the next grid cold:
// 7.7 µs a phase for a probe kernel of 264 workgroups, against 2.3 µs for
// this grid barrier (bench/results/history.md, the persistent plan).
//
// Phases of layer l: q/k/v (RoPE, k and v into the cache), attention
// (a task per head and split of positions), wo (x += wo att), and the FFN
// (x += w2 (silu(w1 xn) * w3 xn)) in one: the FFN's hidden vector is cut
// into slices, a task each (ffn below); a task's workgroup makes its
// slice of the hidden vector and adds that slice's part of the w2 product
// into x with float atomics (split-K), so no grid barrier stands between
// w1/w3 and w2. The q/k/v and wo products' rows go out in blocks of one
// pass of a workgroup (a row pair per `split` subgroups,
// llama_wide_matvec.comp), block b to workgroup b % groups. After the last
// layer one more barrier, then the classifier's input (write_output below).
//
// Memory between phases: every vector a phase writes for a later one has
// its own place per layer (x entering each layer, xn, q, att, the parts of
// the sums of squares), written once per dispatch before any workgroup
// reads it. A workgroup's first read of an address therefore misses its
// (incoherent) L1 cache and reads what the writer made visible before the
// barrier, so those vectors are read through the cache, not as coherent
// memory (each place starts on a 256-byte boundary, pc.dim_stride: no cache
// line holds two). x is the exception: wo's epilogue stores each layer's
// place and the FFN's atomics (done in L2) add into it, so a line of it in
// the storing workgroup's L1 would be stale; it is coherent, as are the
// attention's slots and counters, rewritten every layer.
//
// The grid barrier needs every workgroup resident: the host launches as
// many as a dispatch of no layers (one barrier) showed the device runs at
// once when the model loaded (gpu_forward.c). Should some not be, a
// barrier gives up after pc.spin_limit polls and sets Failed, which the
// host reports, rather than hang the GPU.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_atomic_float : require // the FFN's split-K adds into x

#define WIDE_OWN_PARAMS 1
#define WIDE_NO_BEST 1
layout(push_constant) uniform Params {
  uint dim;
  uint hidden;
  uint kv_dim;
  uint head_size;
  uint seq_len;
  uint n_heads;
  uint kv_mul;
  uint split_len;   // positions per attention task, <= WG
  uint slot_stride; // attention slots per head: the most splits
  uint layers;
  uint out_vec4;    // UNIT_VEC4 of the classifier, which reads the last layer's xn
  uint part_stride; // floats per slot of SumSqL (>= workgroups)
  uint spin_limit;  // polls of a grid barrier before it gives up
  uint split;       // subgroups per row pair of every product; 0: each
                    // product's own (pick_split)
  uint dim_stride; // floats per place of a dim vector: dim rounded up to 64
} pc;

// The workgroup size, per weight type (LAYERS_WG_TYPE from
// examples/llama/CMakeLists.txt, where the H100's figures are): the
// driver's register count decides how many workgroups share an SM (its
// 64K registers over 72-80 a lane: three of 256, two of 384, one of 512),
// and the best split of an SM between workgroups differs by type.
// LAYERS_WG, a tuning knob (LLAMA_WIDE_DEFINES), overrides it.
#ifdef LAYERS_WG
#define WG LAYERS_WG
#elif defined(LAYERS_WG_TYPE)
#define WG LAYERS_WG_TYPE
#endif
// The same for UNROLL (llama_wide.glsl), whose default is the wide plan's
// kernels': LAYERS_UNROLL_TYPE per type, LAYERS_UNROLL a knob over both.
#ifdef LAYERS_UNROLL
#undef UNROLL
#define UNROLL LAYERS_UNROLL
#elif defined(LAYERS_UNROLL_TYPE) && !defined(UNROLL)
#define UNROLL LAYERS_UNROLL_TYPE
#endif
#include "llama_wide.glsl"

layout(local_size_x = WG) in;

layout(std430, set = 0, binding = 0) readonly buffer Step { uint pos; uint token; } step;
// x entering each layer, [layers + 1][dim_stride]: 0 the embedding
// kernel's, l + 1 layer l's, set by its wo phase (x after attention) and
// added to by its FFN.
layout(std430, set = 0, binding = 1) coherent buffer Resid { float resid[]; };
// x after attention * the FFN norm's gains, [layers][2][dim_stride / 4]:
// layer l's w13 input at [l][1], in this type's unit order ([0][0] is the
// embedding kernel's output for the wide plan's q/k/v kernel, unused here).
layout(std430, set = 0, binding = 2) buffer XnL { vec4 xnl4[]; };
// Per workgroup, parts of the sum of squares of that vector,
// [layers][2][part_stride] at [l][1] ([0][0]: the embedding kernel's).
layout(std430, set = 0, binding = 3) buffer SumSqL { float sum_sq[]; };
layout(std430, set = 0, binding = 4) buffer QL { vec4 ql4[]; }; // [layers][dim_stride / 4]
layout(std430, set = 0, binding = 5) buffer KV { vec4 kv4[]; }; // [layer][k, v][seq_len][kv_dim4]
layout(std430, set = 0, binding = 6) coherent buffer Slots { vec4 slots[]; };
layout(std430, set = 0, binding = 7) coherent buffer Done { uint done[]; };
layout(std430, set = 0, binding = 8) buffer AttL { vec4 attl4[]; }; // [layers][dim_stride / 4], wo's unit order
layout(std430, set = 0, binding = 9) readonly buffer Rope { vec2 rope[]; };
layout(std430, set = 0, binding = 10) readonly buffer RmsAtt { float rms_att[]; };
layout(std430, set = 0, binding = 11) readonly buffer RmsFfn { float rms_ffn[]; };
layout(std430, set = 0, binding = 12) readonly buffer RmsFinal { float rms_final[]; };
layout(std430, set = 0, binding = 13) readonly buffer Wqkv { WEIGHT_TYPE wqkv[]; };
layout(std430, set = 0, binding = 14) readonly buffer Wo { WEIGHT_TYPE wwo[]; };
layout(std430, set = 0, binding = 15) readonly buffer W13 { WEIGHT_TYPE ww13[]; };
layout(std430, set = 0, binding = 16) readonly buffer W2 { WEIGHT_TYPE ww2[]; };
// The classifier's input: the last layer's x * final gains in its unit
// order, and the parts of its sum of squares.
layout(std430, set = 0, binding = 17) writeonly buffer XnOut { float xn_out[]; };
layout(std430, set = 0, binding = 18) writeonly buffer SumSqOut { float sum_sq_out[]; };
// The grid barrier: arrivals and exits of this dispatch (the last workgroup
// out sets both back to 0), and whether a barrier gave up (for good).
layout(std430, set = 0, binding = 19) coherent volatile buffer Sync {
  uint arrived;
  uint exited;
  uint failed;
} sync;
layout(std430, set = 0, binding = 20) writeonly buffer Failed { uint failed_host; }; // host-visible
#if PHASE_CLOCK
// The build that times its phases (--phase-times): per event e and
// workgroup g, [2 (e * groups + g)] the device clock when the workgroup
// arrived at e (its work and its writes done) and [+ 1] when it left e.
// Event 0 is the start, 4 l + k + 1 the end of phase k (q/k/v,
// attention, wo, FFN) of layer l, 4 layers + 1 the end of the
// classifier's input (no barrier: arrival and departure are its end).
layout(std430, set = 0, binding = 21) writeonly buffer Clock { uvec2 clock_marks[]; };
void mark(uint e, uint which) {
  if (gl_LocalInvocationIndex == 0u && e <= 4u * pc.layers + 1u)
    clock_marks[2u * (e * gl_NumWorkGroups.x + gl_WorkGroupID.x) + which] = clockRealtime2x32EXT();
}
#define MARK(e, which) mark(e, which)
#else
#define MARK(e, which) // the plain build's SPIR-V has no trace of the marks
#endif

#define SRC_QKV 0u
#define SRC_WO 1u
#define SRC_W13 2u

WEIGHT_TYPE weight_at(uint src, uint i) {
  if (src == SRC_QKV) return wqkv[i];
  if (src == SRC_WO) return wwo[i];
  return ww13[i];
}

// The q/k/v product's input, x * the attention norm's gains in this type's
// unit order, staged by each workgroup from x (stage_qkv_input): x is
// complete only once every FFN task of the layer before has added into it,
// and the barrier after that is the last. MAX_DIM bounds dim (checked by
// the host: PERSISTENT_MAX_DIM, gpu_forward.c). Idle in the other phases,
// the array holds the attention's parts of its sums (ACC_PARTS, WG vec4s:
// MAX_DIM / 4 >= 1024 invocations) and the FFN's slice of the hidden
// vector (ffn): the layers kernel stays within lavapipe's 32 KB of shared
// memory at 512 invocations.
#ifndef MAX_DIM
#define MAX_DIM 4096u
#endif
shared vec4 xs4[MAX_DIM / 4u];
#define ACC_PARTS xs4

vec4 input_at(uint src, uint i) {
  if (src == SRC_QKV) return xs4[i];
  if (src == SRC_W13) return xnl4[i];
  return attl4[i];
}

#define WEIGHT_AT(src, i) weight_at(src, i)
#define INPUT_AT(src, i) input_at(src, i)
#include "llama_wide_dot.glsl"

#define Q_AT(layer, i) ql4[(layer) * (pc.dim_stride / 4u) + (i)]
#define ATT_STORE(layer, j4, v) attl4[(layer) * (pc.dim_stride / 4u) + in_slot(j4, pc.dim, UNIT_VEC4)] = (v)
#include "llama_wide_attend.glsl"

// The grid barrier in two halves: every workgroup's writes before its
// arrive() are visible to every workgroup after its wait_all(). Between
// them a workgroup may issue loads that depend on no other workgroup (the
// next product's weights): the fence in arrive() would otherwise wait for
// them too (on NVIDIA a fence waits for the invocation's loads as well as
// its stores). `target`: arrivals so far, counted up here.
void arrive(inout uint target) {
  target += gl_NumWorkGroups.x;
  memoryBarrierBuffer(); // this invocation's writes, before the arrival
  barrier();
  MARK(target / gl_NumWorkGroups.x, 0u);
  if (gl_LocalInvocationIndex == 0u) atomicAdd(sync.arrived, 1u);
}

// A waiting workgroup reads whether a barrier gave up once every
// FAILED_POLLS polls of the arrivals, not with each: half the polling
// traffic (on the H100, Q4_0 +1% and Q8_0 +2% tok/s).
#define FAILED_POLLS 64u

void wait_all(uint target) {
  if (gl_LocalInvocationIndex == 0u) {
    for (uint polls = 0u; sync.arrived < target && (polls % FAILED_POLLS != 0u || sync.failed == 0u); polls++) {
      if (polls == pc.spin_limit) {
        sync.failed = 1u;
        failed_host = 1u;
      }
    }
  }
  barrier();
  memoryBarrierBuffer();
  MARK(target / gl_NumWorkGroups.x, 1u);
}

void grid_barrier(inout uint target) {
  arrive(target);
  wait_all(target);
}

// Where the sum-of-squares parts of a norm's input start: the slot
// [layer][which] of SumSqL.
uint sum_slot(uint layer, uint which) { return (layer * 2u + which) * pc.part_stride; }

// Where x entering layer `layer` (layers: the classifier's input) lies in Resid.
uint x_place(uint layer) { return layer * pc.dim_stride; }

// Layer `layer`'s q/k/v input into xs4 (x * its attention gains, in unit
// order); returns the norm's 1 / RMS. Every invocation must reach it.
float stage_qkv_input(uint layer) {
  uint at = x_place(layer), g = layer * pc.dim;
  float ss = 0.0;
  for (uint c = gl_LocalInvocationIndex; c < pc.dim; c += WG) {
    float v = resid[at + c];
    ss += v * v;
    xs4[in_slot(c / 4u, pc.dim, UNIT_VEC4)][c % 4u] = v * rms_att[g + c];
  }
  return rms_scale(workgroup_sum(ss), pc.dim); // its barriers make xs4 visible
}

// What a row pair's epilogue reads besides its results, loaded before its
// weights (llama_wide_matvec.comp's pair_inputs).
vec4 pair_inputs(uint kind, uint layer, uint r, uint pos) {
  vec4 v = vec4(0.0);
  if (kind == SRC_QKV) {
    uint kv_end = pc.dim + pc.kv_dim;
    if (r < kv_end) {
      uint i = r < pc.dim ? r % pc.head_size : (r - pc.dim) % pc.head_size;
      v.xy = rope[pos * (pc.head_size / 2u) + i / 2u];
    }
  } else { // SRC_WO: x, and the FFN norm's gains
    uint at = x_place(layer) + r, g = layer * pc.dim + r; // r + 1 < dim: dim is even
    v = vec4(resid[at], resid[at + 1u], rms_ffn[g], rms_ffn[g + 1u]);
  }
  return v;
}

// Row pair (r, r + 1) of layer `layer`'s product `kind` (q/k/v or wo):
// its results d (q/k/v's already / RMS) and pair_inputs in_v. Runs in the
// pair's subgroup; keep_v collects wo's sum of squares of x.
void epilogue(uint kind, uint layer, uint r, vec2 d, vec4 in_v, uint pos, inout float keep_v) {
  if (kind == SRC_QKV) {
    uint kv_end = pc.dim + pc.kv_dim;
    if (r < kv_end) d = vec2(d.x * in_v.x - d.y * in_v.y, d.x * in_v.y + d.y * in_v.x);
    if (subgroupElect()) {
      if (r < pc.dim) {
        uint at = layer * pc.dim_stride + r;
        ql4[at / 4u][at % 4u] = d.x;
        ql4[at / 4u][at % 4u + 1u] = d.y;
      } else {
        uint which = r < kv_end ? 0u : 1u, c = r - (which == 0u ? pc.dim : kv_end);
        uint at = ((layer * 2u + which) * pc.seq_len + pos) * pc.kv_dim + c;
        kv4[at / 4u][at % 4u] = d.x;
        kv4[at / 4u][at % 4u + 1u] = d.y;
      }
    }
  } else if (subgroupElect()) { // SRC_WO: x += the product, where the FFN adds; the FFN norm's input
    float v0 = in_v.x + d.x, v1 = in_v.y + d.y;
    keep_v += v0 * v0 + v1 * v1;
    uint at = x_place(layer + 1u) + r;
    resid[at] = v0;
    resid[at + 1u] = v1;
    uint base = (layer * 2u + 1u) * pc.dim_stride;
    uint a0 = base + unit_index(r, pc.dim, UNIT_VEC4), a1 = base + unit_index(r + 1u, pc.dim, UNIT_VEC4);
    xnl4[a0 / 4u][a0 % 4u] = v0 * in_v.z;
    xnl4[a1 / 4u][a1 % 4u] = v1 * in_v.w;
  }
}

// A product's shape: its rows and columns (per layer), subgroups per row
// pair, and rows per block (one pass of a workgroup).
struct shape {
  uint rows, cols, split, per_block;
};

uint product_rows(uint kind) {
  return kind == SRC_QKV ? pc.dim + 2u * pc.kv_dim : kind == SRC_W13 ? 2u * pc.hidden : pc.dim;
}

// Rows per block (one pass of a workgroup) at `split` subgroups a row
// pair: the layout product() runs and pick_split counts.
uint block_rows(uint split) { return 2u * (gl_NumSubgroups / split); }

// The FFN's slices: TASK_COLS-column pieces of the hidden vector (the w2
// columns one load of a Q4_0 unit's low or high nibbles covers), as many
// a task as spread them over every workgroup, at most MAX_TASK_COLS (the
// shared slice, ffn below). The host checks that hidden is a multiple of
// TASK_COLS.
#define TASK_COLS 16u
#define MAX_TASK_COLS 256u
uint task_cols() {
  uint pieces = pc.hidden / TASK_COLS;
  return TASK_COLS * min((pieces + gl_NumWorkGroups.x - 1u) / gl_NumWorkGroups.x, MAX_TASK_COLS / TASK_COLS);
}

// The split of product `kind` (subgroups per row pair) that takes the
// fewest rounds of loads one after the other in a lane: the workgroup's
// passes (blocks / workgroups, rounded up) times a row's chunks per part
// (UNROLL units a lane), plus PASS_COST half rounds a pass (its sums,
// epilogue and, split, its workgroup barriers). Every loop of a product
// waits for its loads, so those rounds are its latency; with a pass of a
// workgroup as the unit, a split that leaves part of the grid without a
// block, or gives some workgroups one block more than others, shows in
// the count. Only splits that divide the workgroup's subgroups (none
// idle) are tried; ties go to the smaller split. The FFN's w1/w3 rows
// are counted per task: its slice's row pairs on one workgroup.
#ifndef PASS_COST
#define PASS_COST 1u // a tuning knob (LLAMA_WIDE_DEFINES)
#endif
uint pick_split(uint kind) {
  bool ffn = kind == SRC_W13;
  uint rows = ffn ? 2u * task_cols() : product_rows(kind), groups = ffn ? 1u : gl_NumWorkGroups.x;
  uint units = pc.dim / UNIT_COLS; // every product here reads a dim vector
  uint best = 1u, best_cost = 0xffffffffu;
  for (uint s = 1u; s <= gl_NumSubgroups; s++) {
    if (gl_NumSubgroups % s != 0u) continue;
    uint per_block = block_rows(s), blocks = (rows + per_block - 1u) / per_block;
    uint passes = (blocks + groups - 1u) / groups;
    uint step = gl_SubgroupSize * s * UNROLL, chunks = (units + step - 1u) / step;
    uint cost = 2u * passes * chunks + PASS_COST * passes; // in half rounds
    if (cost < best_cost) {
      best = s;
      best_cost = cost;
    }
  }
  return best;
}

// Each product's split, from the host or pick_split, once per dispatch.
shared uint split_of[3];

void choose_splits() {
  uint k = gl_LocalInvocationIndex;
  if (k < 3u) {
    split_of[k] = pc.split != 0u ? clamp(pc.split, 1u, gl_NumSubgroups) : pick_split(k);
  }
  barrier();
}

shape product_shape(uint kind) {
  shape s;
  s.rows = product_rows(kind);
  s.cols = pc.dim;
  s.split = split_of[kind];
  s.per_block = block_rows(s.split);
  return s;
}

// This lane's first chunks of product `kind` of layer `layer` (its
// workgroup's first block, or the FFN's first task), loaded before a grid
// barrier so that the product after it starts on weights already in
// flight.
struct ahead {
  chunk c0, c1;
};

ahead prefetch(uint kind, uint layer) {
  ahead a;
  shape sh = product_shape(kind);
  uint first = kind == SRC_W13 ? gl_WorkGroupID.x * 2u * task_cols() : gl_WorkGroupID.x * sh.per_block;
  uint r = first + 2u * (gl_SubgroupID / sh.split), first_row = layer * sh.rows;
  // Rows past the matrix read its last pair again (not used).
  uint r0 = first_row + min(r, sh.rows - 2u);
  first_chunks(kind, sh.cols, r0, r0 + 1u, gl_SubgroupID % sh.split, sh.split, a.c0, a.c1);
  return a;
}

// Product `kind` (q/k/v or wo) of layer `layer` over the whole grid (see
// the top), its first chunks from prefetch; q/k/v's results are scaled by
// its norm's 1 / RMS, `scale`.
void product(uint kind, uint layer, uint pos, ahead pre, float scale) {
  shape sh = product_shape(kind);
  uint rows = sh.rows, cols = sh.cols, split = sh.split;
  uint in_base = kind == SRC_WO ? layer * (pc.dim_stride / 4u) : 0u; // AttL [layer] or xs4
  uint pairs_per_pass = gl_NumSubgroups / split, part = gl_SubgroupID % split;
  uint per_block = sh.per_block, blocks = (rows + per_block - 1u) / per_block;
  bool lead = part == 0u;
  float keep_v = 0.0;
  uint first_row = layer * rows;
  for (uint b = gl_WorkGroupID.x; b < blocks; b += gl_NumWorkGroups.x) {
    uint r = b * per_block + 2u * (gl_SubgroupID / split);
    bool mine = r < rows && gl_SubgroupID < pairs_per_pass * split;
    vec4 in_v = lead && mine ? pair_inputs(kind, layer, r, pos) : vec4(0.0);
    vec2 d = vec2(0.0);
    if (mine && b == gl_WorkGroupID.x) // rows is even: r + 1 < rows
      d = pair_dot_from(kind, kind, in_base, cols, first_row + r, first_row + r + 1u, part, split, pre.c0, pre.c1);
    else if (mine)
      d = pair_dot(kind, kind, in_base, cols, first_row + r, first_row + r + 1u, part, split);
    d = pair_sum(d, split, lead && mine);
    if (lead && mine) epilogue(kind, layer, r, kind == SRC_QKV ? d * scale : d, in_v, pos, keep_v);
  }
  if (kind == SRC_WO) {
    float s = workgroup_sum(keep_v); // only the pairs' first lanes hold parts
    if (gl_LocalInvocationIndex == 0u) sum_sq[sum_slot(layer, 1u) + gl_WorkGroupID.x] = s;
  }
}

// A task's slice of the hidden vector, silu(w1 xn) * w3 xn, in xs4
// (MAX_TASK_COLS / 4 vec4s).
#define slice4 xs4

// TASK_COLS columns of a row of w2 from column c, loaded (W2_PIECE_UNITS
// units, and a quantized unit's scale).
#define W2_PIECE_UNITS (UNIT_COLS >= TASK_COLS ? 1u : TASK_COLS / UNIT_COLS)
struct w2_piece {
  WEIGHT_TYPE w[W2_PIECE_UNITS][UNIT_WORDS];
  float s;
};

w2_piece load_w2_piece(uint base, uint units, uint c) {
  w2_piece p;
  uint j = c / UNIT_COLS;
  [[unroll]] for (uint k = 0u; k < W2_PIECE_UNITS; k++)
    [[unroll]] for (uint e = 0u; e < UNIT_WORDS; e++) p.w[k][e] = ww2[base + (j + k) * UNIT_WORDS + e];
#if WEIGHT_QUANT
  p.s = scale_value(ww2[base + scale_element(j, units)][scale_component(j)], j);
#else
  p.s = 1.0;
#endif
  return p;
}

// The piece loaded from column c . the slice's values from its column t.
float w2_piece_dot(w2_piece p, uint c, uint t) {
  float d = 0.0;
#if WEIGHTS_Q4_0
  // A unit's low nibbles are its columns 0-15, its high ones 16-31.
  bool high = c % 32u != 0u;
  [[unroll]] for (uint i = 0u; i < 4u; i++)
    d = fma_dot(high ? quant_values(p.w[0], i + 4u) : quant_values(p.w[0], i), slice4[t / 4u + i], d);
#elif WEIGHTS_Q8_0
  [[unroll]] for (uint i = 0u; i < 4u; i++) d = fma_dot(quant_values(p.w[0], i), slice4[t / 4u + i], d);
#else
  [[unroll]] for (uint k = 0u; k < W2_PIECE_UNITS; k++)
    [[unroll]] for (uint i = 0u; i < UNIT_VEC4; i++) d += dot(unit_vec4(p.w[k], i), slice4[t / 4u + k * UNIT_VEC4 + i]);
#endif
  return d * p.s;
}

// Rows of w2 a lane loads before it sums them (a tuning knob).
#ifndef W2_ROWS
#define W2_ROWS 4u
#endif

// Layer `layer`'s FFN (see the top): task t makes the slice of the hidden
// vector from column t * task_cols() (its row pairs of w1/w3, the way
// product() takes a block's) into slice4, then adds w2's columns of the
// slice times it into x (every row, one float atomic each). Its first
// chunks from prefetch.
void ffn(uint layer, ahead pre) {
  uint tc = task_cols(), tasks = (pc.hidden + tc - 1u) / tc;
  uint split = split_of[SRC_W13], pairs_per_pass = gl_NumSubgroups / split, part = gl_SubgroupID % split;
  bool lead = part == 0u;
  float part_sq = 0.0;
  uint first_sq = sum_slot(layer, 1u);
  for (uint i = gl_LocalInvocationIndex; i < gl_NumWorkGroups.x; i += WG) part_sq += sum_sq[first_sq + i];
  float scale = rms_scale(workgroup_sum(part_sq), pc.dim);
  uint in_base = (layer * 2u + 1u) * (pc.dim_stride / 4u), first_row = layer * 2u * pc.hidden;
  uint w2_units = pc.hidden / UNIT_COLS, w2_words = row_words(pc.hidden), x_at = x_place(layer + 1u);
  for (uint t = gl_WorkGroupID.x; t < tasks; t += gl_NumWorkGroups.x) {
    uint c0 = t * tc, n = min(tc, pc.hidden - c0);
    for (uint p = 0u; p < n; p += pairs_per_pass) {
      uint k = p + gl_SubgroupID / split, r = first_row + 2u * (c0 + k);
      bool mine = k < n && gl_SubgroupID < pairs_per_pass * split;
      vec2 d = vec2(0.0);
      if (mine && t == gl_WorkGroupID.x && p == 0u)
        d = pair_dot_from(SRC_W13, SRC_W13, in_base, pc.dim, r, r + 1u, part, split, pre.c0, pre.c1);
      else if (mine)
        d = pair_dot(SRC_W13, SRC_W13, in_base, pc.dim, r, r + 1u, part, split);
      d = pair_sum(d, split, lead && mine) * scale;
      if (lead && mine && subgroupElect()) slice4[k / 4u][k % 4u] = d.x * (1.0 / (1.0 + exp(-d.x))) * d.y;
    }
    barrier();
    for (uint r0 = gl_LocalInvocationIndex; r0 < pc.dim; r0 += W2_ROWS * WG) {
      float v[W2_ROWS];
      [[unroll]] for (uint u = 0u; u < W2_ROWS; u++) v[u] = 0.0;
      for (uint q = 0u; q < n; q += TASK_COLS) {
        w2_piece pieces[W2_ROWS];
        [[unroll]] for (uint u = 0u; u < W2_ROWS; u++) {
          uint r = min(r0 + u * WG, pc.dim - 1u); // past the end: row dim - 1 again, not added
          pieces[u] = load_w2_piece((layer * pc.dim + r) * w2_words, w2_units, c0 + q);
        }
        [[unroll]] for (uint u = 0u; u < W2_ROWS; u++) v[u] += w2_piece_dot(pieces[u], c0 + q, q);
      }
      [[unroll]] for (uint u = 0u; u < W2_ROWS; u++)
        if (r0 + u * WG < pc.dim) atomicAdd(resid[x_at + r0 + u * WG], v[u]);
    }
    barrier(); // the next task rewrites slice4
  }
}

// After the last layer: the classifier's input, x * the final gains in its
// unit order, and the parts of its sum of squares (one a workgroup).
void write_output() {
  uint at = x_place(pc.layers);
  float ss = 0.0;
  for (uint r = gl_WorkGroupID.x * WG + gl_LocalInvocationIndex; r < pc.dim; r += gl_NumWorkGroups.x * WG) {
    float v = resid[at + r];
    ss += v * v;
    xn_out[unit_index(r, pc.dim, pc.out_vec4)] = v * rms_final[r];
  }
  float s = workgroup_sum(ss);
  if (gl_LocalInvocationIndex == 0u) sum_sq_out[gl_WorkGroupID.x] = s;
}

void main() {
  uint pos = step.pos, splits = pos / pc.split_len + 1u, tasks = pc.n_heads * splits;
  uint target = 0u;
  MARK(0u, 0u);
  MARK(0u, 1u);
  choose_splits();
  // A dispatch of no layers meets at one barrier: the host's probe of how
  // many workgroups the device runs at once (gpu_forward.c).
  if (pc.layers == 0u) grid_barrier(target);
  ahead pre = prefetch(SRC_QKV, 0u);
  // A device that ends a shader's loops early leaves this step wrong:
  // lavapipe ends every loop of an invocation once that invocation's loops
  // have run 65535 passes in all, silently (each loop still runs its first
  // pass). A loop of two passes at the end of each layer, which such a
  // device no longer finishes, and the layers' count tell the host (Failed
  // = 2); on a GPU they cost a few instructions a layer.
  uint layers_run = 0u;
  bool cut = false;
  for (uint l = 0u; l < pc.layers; l++) {
    product(SRC_QKV, l, pos, pre, stage_qkv_input(l));
    grid_barrier(target);
    for (uint k = gl_WorkGroupID.x; k < tasks; k += gl_NumWorkGroups.x) attend(k / splits, k % splits, splits, l, pos);
    arrive(target);
    pre = prefetch(SRC_WO, l);
    wait_all(target);
    product(SRC_WO, l, pos, pre, 1.0);
    arrive(target);
    pre = prefetch(SRC_W13, l);
    wait_all(target);
    ffn(l, pre);
    arrive(target);
    if (l + 1u < pc.layers) pre = prefetch(SRC_QKV, l + 1u);
    wait_all(target);
    uint ran = 0u;
    for (uint i = 0u; i < 2u * min(pc.layers, 1u); i++) ran++; // not a constant count: a loop to every compiler
    cut = cut || ran != 2u;
    layers_run++;
  }
  if (pc.layers > 0u) write_output();
  if (cut || layers_run != pc.layers) failed_host = 2u;
  // The last workgroup out (no other polls again) resets the barrier for
  // the next dispatch.
  barrier();
  MARK(target / gl_NumWorkGroups.x + 1u, 0u);
  MARK(target / gl_NumWorkGroups.x + 1u, 1u);
  if (gl_LocalInvocationIndex == 0u && atomicAdd(sync.exited, 1u) == gl_NumWorkGroups.x - 1u) {
    sync.arrived = 0u;
    sync.exited = 0u;
  }
}
