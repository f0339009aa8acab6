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
// (a task per head and split of positions), wo (x += wo att), w13 (hb),
// w2 (x += w2 hb). Each product's rows go out in blocks of one pass of a
// workgroup (a row pair per `split` subgroups, llama_wide_matvec.comp),
// block b to workgroup b % groups.
//
// Memory between phases: every vector a phase writes for a later one has
// its own place per layer (x after each half layer, xn, q, att, hb, the
// parts of the sums of squares), written once per dispatch before any
// workgroup reads it. A workgroup's first read of an address therefore
// misses its (incoherent) L1 cache and reads what the writer made visible
// before the barrier, so those vectors are read through the cache, not as
// coherent memory (each place starts on a 256-byte boundary, pc.dim_stride
// and pc.hidden_stride: no cache line holds two); the attention's slots and
// counters, rewritten every layer, are coherent.
//
// The grid barrier needs every workgroup resident: the host launches as
// many as a dispatch of no layers (one barrier) showed the device runs at
// once when the model loaded (gpu_forward.c). Should some not be, a
// barrier gives up after pc.spin_limit polls and sets Failed, which the
// host reports, rather than hang the GPU.
#extension GL_GOOGLE_include_directive : require

#define WIDE_OWN_PARAMS 1
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
  uint dim_stride;    // floats per place of a dim vector: dim rounded up to 64
  uint hidden_stride; // the same for hidden
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
// x at each half layer: [2 layers + 1][dim_stride], 0 the embedding
// kernel's, 2l + 1 after layer l's attention, 2l + 2 after its FFN.
layout(std430, set = 0, binding = 1) buffer Resid { float resid[]; };
// x * the next norm's gains, [layers][2][dim_stride / 4]: layer l's q/k/v input (0;
// layer 0's from the embedding kernel) and w13 input (1), in this type's
// unit order.
layout(std430, set = 0, binding = 2) buffer XnL { vec4 xnl4[]; };
// Per workgroup, parts of the sums of squares of those vectors,
// [layers][2][part_stride]; [0][0] has the embedding kernel's one part.
layout(std430, set = 0, binding = 3) buffer SumSqL { float sum_sq[]; };
layout(std430, set = 0, binding = 4) buffer QL { vec4 ql4[]; }; // [layers][dim_stride / 4]
layout(std430, set = 0, binding = 5) buffer KV { vec4 kv4[]; }; // [layer][k, v][seq_len][kv_dim4]
layout(std430, set = 0, binding = 6) coherent buffer Slots { vec4 slots[]; };
layout(std430, set = 0, binding = 7) coherent buffer Done { uint done[]; };
layout(std430, set = 0, binding = 8) buffer AttL { vec4 attl4[]; }; // [layers][dim_stride / 4], wo's unit order
layout(std430, set = 0, binding = 9) buffer HbL { vec4 hbl4[]; }; // [layers][hidden_stride / 4], w2's unit order
layout(std430, set = 0, binding = 10) readonly buffer Rope { vec2 rope[]; };
layout(std430, set = 0, binding = 11) readonly buffer RmsAtt { float rms_att[]; };
layout(std430, set = 0, binding = 12) readonly buffer RmsFfn { float rms_ffn[]; };
layout(std430, set = 0, binding = 13) readonly buffer RmsFinal { float rms_final[]; };
layout(std430, set = 0, binding = 14) readonly buffer Wqkv { WEIGHT_TYPE wqkv[]; };
layout(std430, set = 0, binding = 15) readonly buffer Wo { WEIGHT_TYPE wwo[]; };
layout(std430, set = 0, binding = 16) readonly buffer W13 { WEIGHT_TYPE ww13[]; };
layout(std430, set = 0, binding = 17) readonly buffer W2 { WEIGHT_TYPE ww2[]; };
// The classifier's input: the last layer's x * final gains in its unit
// order, and the parts of its sum of squares.
layout(std430, set = 0, binding = 18) writeonly buffer XnOut { float xn_out[]; };
layout(std430, set = 0, binding = 19) writeonly buffer SumSqOut { float sum_sq_out[]; };
// The grid barrier: arrivals and exits of this dispatch (the last workgroup
// out sets both back to 0), and whether a barrier gave up (for good).
layout(std430, set = 0, binding = 20) coherent volatile buffer Sync {
  uint arrived;
  uint exited;
  uint failed;
} sync;
layout(std430, set = 0, binding = 21) writeonly buffer Failed { uint failed_host; }; // host-visible
#if PHASE_CLOCK
// The build that times its phases (--phase-times): per event e and
// workgroup g, [2 (e * groups + g)] the device clock when the workgroup
// arrived at e (its work and its writes done) and [+ 1] when it left e.
// Event 0 is the start, 5 l + k + 1 the end of phase k (q/k/v,
// attention, wo, w13, w2) of layer l; the last has no barrier (arrival
// and departure are its end).
layout(std430, set = 0, binding = 22) writeonly buffer Clock { uvec2 clock_marks[]; };
void mark(uint e, uint which) {
  if (gl_LocalInvocationIndex == 0u && e <= 5u * pc.layers)
    clock_marks[2u * (e * gl_NumWorkGroups.x + gl_WorkGroupID.x) + which] = clockRealtime2x32EXT();
}
#define MARK(e, which) mark(e, which)
#else
#define MARK(e, which) // the plain build's SPIR-V has no trace of the marks
#endif

#define SRC_QKV 0u
#define SRC_WO 1u
#define SRC_W13 2u
#define SRC_W2 3u

WEIGHT_TYPE weight_at(uint src, uint i) {
  if (src == SRC_QKV) return wqkv[i];
  if (src == SRC_WO) return wwo[i];
  if (src == SRC_W13) return ww13[i];
  return ww2[i];
}

vec4 input_at(uint src, uint i) {
  if (src == SRC_QKV || src == SRC_W13) return xnl4[i];
  if (src == SRC_WO) return attl4[i];
  return hbl4[i];
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
  } else if (kind == SRC_WO || kind == SRC_W2) {
    uint at = (2u * layer + (kind == SRC_WO ? 0u : 1u)) * pc.dim_stride + r; // r + 1 < dim: dim is even
    bool next_final = kind == SRC_W2 && layer + 1u == pc.layers;
    uint g = kind == SRC_WO ? layer * pc.dim + r : (layer + 1u) * pc.dim + r;
    vec2 gains = kind == SRC_WO  ? vec2(rms_ffn[g], rms_ffn[g + 1u])
                 : next_final ? vec2(rms_final[r], rms_final[r + 1u])
                              : vec2(rms_att[g], rms_att[g + 1u]);
    v = vec4(resid[at], resid[at + 1u], gains);
  }
  return v;
}

// Row pair (r, r + 1) of layer `layer`'s product `kind`: its results d
// (already / RMS for a norm's input) and pair_inputs in_v. Runs in the
// pair's subgroup; keep_v collects the sum of squares of x (wo, w2).
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
  } else if (kind == SRC_W13) {
    if (subgroupElect()) {
      uint at = layer * pc.hidden_stride + unit_index(r / 2u, pc.hidden, UNIT_VEC4);
      hbl4[at / 4u][at % 4u] = d.x * (1.0 / (1.0 + exp(-d.x))) * d.y; // silu(h1) * h3
    }
  } else if (subgroupElect()) { // WO, W2: x += the product; the next norm's input
    float v0 = in_v.x + d.x, v1 = in_v.y + d.y;
    keep_v += v0 * v0 + v1 * v1;
    uint at = (2u * layer + (kind == SRC_WO ? 1u : 2u)) * pc.dim_stride + r;
    resid[at] = v0;
    resid[at + 1u] = v1;
    if (kind == SRC_W2 && layer + 1u == pc.layers) {
      xn_out[unit_index(r, pc.dim, pc.out_vec4)] = v0 * in_v.z;
      xn_out[unit_index(r + 1u, pc.dim, pc.out_vec4)] = v1 * in_v.w;
    } else {
      // wo: this layer's w13 input; w2: the next layer's q/k/v input.
      uint base = kind == SRC_WO ? (layer * 2u + 1u) * pc.dim_stride : (layer + 1u) * 2u * pc.dim_stride;
      uint a0 = base + unit_index(r, pc.dim, UNIT_VEC4), a1 = base + unit_index(r + 1u, pc.dim, UNIT_VEC4);
      xnl4[a0 / 4u][a0 % 4u] = v0 * in_v.z;
      xnl4[a1 / 4u][a1 % 4u] = v1 * in_v.w;
    }
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

uint product_cols(uint kind) { return kind == SRC_W2 ? pc.hidden : pc.dim; }

// Rows per block (one pass of a workgroup) at `split` subgroups a row
// pair: the layout product() runs and pick_split counts.
uint block_rows(uint split) { return 2u * (gl_NumSubgroups / split); }

// The split of product `kind` (subgroups per row pair) that takes the
// fewest rounds of loads one after the other in a lane: the workgroup's
// passes (blocks / workgroups, rounded up) times a row's chunks per part
// (UNROLL units a lane), plus PASS_COST half rounds a pass (its sums,
// epilogue and, split, its workgroup barriers). Every loop of a product
// waits for its loads, so those rounds are its latency; with a pass of a
// workgroup as the unit, a split that leaves part of the grid without a
// block, or gives some workgroups one block more than others, shows in
// the count. Only splits that divide the workgroup's subgroups (none
// idle) are tried; ties go to the smaller split. At the TinyLlama-1.1B
// shape with Q4_0 on the H100 (264 workgroups of 12 subgroups), w2 (2048
// rows of 176 units) takes 3 subgroups a pair: 256 blocks of 8 rows, 2
// chunks a part, where the earlier power-of-2 rule's 4 took two passes
// of 2 (history: "Splits picked by the kernel").
#ifndef PASS_COST
#define PASS_COST 1u // a tuning knob (LLAMA_WIDE_DEFINES)
#endif
uint pick_split(uint kind) {
  uint rows = product_rows(kind), units = product_cols(kind) / UNIT_COLS;
  uint best = 1u, best_cost = 0xffffffffu;
  for (uint s = 1u; s <= gl_NumSubgroups; s++) {
    if (gl_NumSubgroups % s != 0u) continue;
    uint per_block = block_rows(s), blocks = (rows + per_block - 1u) / per_block;
    uint passes = (blocks + gl_NumWorkGroups.x - 1u) / gl_NumWorkGroups.x;
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
shared uint split_of[4];

void choose_splits() {
  uint k = gl_LocalInvocationIndex;
  if (k < 4u) {
    split_of[k] = pc.split != 0u ? clamp(pc.split, 1u, gl_NumSubgroups) : pick_split(k);
  }
  barrier();
}

shape product_shape(uint kind) {
  shape s;
  s.rows = product_rows(kind);
  s.cols = product_cols(kind);
  s.split = split_of[kind];
  s.per_block = block_rows(s.split);
  return s;
}

// This lane's first chunks of product `kind` of layer `layer` (its
// workgroup's first block), loaded before a grid barrier so that the
// product after it starts on weights already in flight.
struct ahead {
  chunk c0, c1;
};

ahead prefetch(uint kind, uint layer) {
  ahead a;
  shape sh = product_shape(kind);
  uint r = gl_WorkGroupID.x * sh.per_block + 2u * (gl_SubgroupID / sh.split), first_row = layer * sh.rows;
  // Rows past the matrix read its last pair again (not used).
  uint r0 = first_row + min(r, sh.rows - 2u);
  first_chunks(kind, sh.cols, r0, r0 + 1u, gl_SubgroupID % sh.split, sh.split, a.c0, a.c1);
  return a;
}

// Product `kind` of layer `layer` over the whole grid (see the top), its
// first chunks from prefetch.
void product(uint kind, uint layer, uint pos, ahead pre) {
  shape sh = product_shape(kind);
  uint rows = sh.rows, cols = sh.cols, split = sh.split;
  bool norm_input = kind == SRC_QKV || kind == SRC_W13;
  // The norm's parts: layer 0's q/k/v has the embedding kernel's one.
  float part_sq = 0.0;
  if (norm_input) {
    uint parts = kind == SRC_QKV && layer == 0u ? 1u : gl_NumWorkGroups.x;
    uint first = sum_slot(layer, kind == SRC_QKV ? 0u : 1u);
    for (uint i = gl_LocalInvocationIndex; i < parts; i += WG) part_sq += sum_sq[first + i];
  }
  uint dim4 = pc.dim_stride / 4u; // the input's vec4s: XnL [layer][0 or 1], AttL [layer] or HbL [layer]
  uint in_base = kind == SRC_W2 ? layer * (pc.hidden_stride / 4u) : kind == SRC_WO ? layer * dim4
                                                         : (layer * 2u + (kind == SRC_W13 ? 1u : 0u)) * dim4;
#if INT_DOT
  stage_input(kind, in_base, cols);
#endif
  uint pairs_per_pass = gl_NumSubgroups / split, part = gl_SubgroupID % split;
  uint per_block = sh.per_block, blocks = (rows + per_block - 1u) / per_block;
  bool lead = part == 0u;
  bool have_scale = false;
  float scale = 1.0, keep_v = 0.0;
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
    if (norm_input && !have_scale) { // after the first pass's loads: they overlap
      scale = rms_scale(workgroup_sum(part_sq), cols);
      have_scale = true;
    }
    d = pair_sum(d, split, lead && mine);
    if (lead && mine) epilogue(kind, layer, r, norm_input ? d * scale : d, in_v, pos, keep_v);
  }
  if (kind == SRC_WO || kind == SRC_W2) {
    float s = workgroup_sum(keep_v); // only the pairs' first lanes hold parts
    if (gl_LocalInvocationIndex == 0u) {
      if (kind == SRC_W2 && layer + 1u == pc.layers)
        sum_sq_out[gl_WorkGroupID.x] = s;
      else
        sum_sq[sum_slot(kind == SRC_WO ? layer : layer + 1u, kind == SRC_WO ? 1u : 0u) + gl_WorkGroupID.x] = s;
    }
  }
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
    product(SRC_QKV, l, pos, pre);
    grid_barrier(target);
    for (uint k = gl_WorkGroupID.x; k < tasks; k += gl_NumWorkGroups.x) attend(k / splits, k % splits, splits, l, pos);
    arrive(target);
    pre = prefetch(SRC_WO, l);
    wait_all(target);
    product(SRC_WO, l, pos, pre);
    arrive(target);
    pre = prefetch(SRC_W13, l);
    wait_all(target);
    product(SRC_W13, l, pos, pre);
    arrive(target);
    pre = prefetch(SRC_W2, l);
    wait_all(target);
    product(SRC_W2, l, pos, pre);
    if (l + 1u < pc.layers) {
      arrive(target);
      pre = prefetch(SRC_QKV, l + 1u);
      wait_all(target);
    }
    uint ran = 0u;
    for (uint i = 0u; i < 2u * min(pc.layers, 1u); i++) ran++; // not a constant count: a loop to every compiler
    cut = cut || ran != 2u;
    layers_run++;
  }
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
