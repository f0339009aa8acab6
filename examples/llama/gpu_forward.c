// gpu_forward.c: recording the decode step as gpubatch dispatches.
//
// Per layer, each depending on the previous one:
//   1 llama_attention  x = x_mid + FFN partials (layer 0: emb[token]),
//                      rmsnorm, q/k/v + RoPE, k/v into the cache, attention
//                      split over positions, wo per (head, split): "slots"
//   2 llama_ffn        x_mid = x + softmax-weighted slots, rmsnorm, w1/w3,
//                      SwiGLU, w2 split over its input: "FFN partials"
// then llama_classifier_argmax (x = x_mid + partials, final rmsnorm,
// logits, best logit per workgroup): 2 * n_layers + 1 dispatches, plus one
// readback of the per-workgroup bests, whose argmax is the token.
//
// A dependent dispatch costs a barrier on the GPU (~2.5 us on an H100) and
// its recording on the host (~2 us), more than most of these kernels take,
// hence the fusion: wo and w2 are split over their inputs ("split-K") and
// the next kernel's workgroups add the partial vectors themselves (see
// kernels/llama_common.glsl).
//
// Recording a dispatch costs host time per argument, so tensors used
// together share a buffer: wq/wk/wv as one wqkv (per layer: q rows, k rows,
// v rows), w1/w3 interleaved by row as w13, and one KV cache buffer.
//
// That is the FUSED plan, shaped for steps that are bound by their chain of
// dispatches (stories15M: 61 MB of weights, 13 dispatches). Where the
// weights' bytes dominate, its few workgroups per layer cannot keep the
// GPU's memory busy, and the WIDE plan (kernels/llama_wide.glsl) runs each
// matrix-vector product as its own dispatch over many workgroups:
//   llama_wide_embed       x = emb[token] (or the GPU's argmax token)
// per layer:
//   llama_wide_qkv         rmsnorm, q/k/v, RoPE, k/v into the cache
//   llama_wide_attention   (head, split of positions): m, l, acc slots;
//                          each head's last workgroup merges them: att
//   llama_wide_wo          x += wo att
//   llama_wide_w13         rmsnorm, hb = silu(w1 xb) * w3 xb
//   llama_wide_w2          x += w2 hb
// then llama_wide_classifier (final rmsnorm, logits, best per workgroup):
// The kernel that writes x also writes xn = x * the next norm's gains and
// its workgroups' parts of the sum of squares (sum_sq); the norm's reader
// scales its row results by 1 / RMS (kernels/llama_wide.glsl).
// 5 * n_layers + 2 dispatches. Both plans read float32 weights or IEEE
// halves (f16: half the bytes; arithmetic stays float32); the wide plan
// also bfloat16, Q8_0 and Q4_0 (GGUF files), dequantized inside its
// products (quant.h: the GPU layout of their blocks).
//
// The PERSISTENT plan runs the same work as the wide plan with every layer
// in one dispatch (kernels/llama_wide_layers.comp), between the wide
// plan's embedding and classifier dispatches: 3 dispatches a step. Its
// workgroups, all resident at once, meet at a grid barrier where the wide
// plan would end one dispatch and start the next.
// Weights reach the GPU through the stream's staging path in pieces of at
// most PACK_CHUNK bytes, packed from the mapped file (upload_rows).
#define _POSIX_C_SOURCE 200809L // sysconf
#include "gpu_forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_forward.h" // llama_rope_table
#include "half.h"
#include "thread_pool.h"

// Kernels that read weights, per weight type: [f32, f16].
static const uint32_t k_attention_f32[] =
#include "llama_attention_f32.inc"
    ;
static const uint32_t k_attention_f16[] =
#include "llama_attention_f16.inc"
    ;
static const uint32_t k_ffn_f32[] =
#include "llama_ffn_f32.inc"
    ;
static const uint32_t k_ffn_f16[] =
#include "llama_ffn_f16.inc"
    ;
static const uint32_t k_classifier_f32[] =
#include "llama_classifier_argmax_f32.inc"
    ;
static const uint32_t k_classifier_f16[] =
#include "llama_classifier_argmax_f16.inc"
    ;
static const uint32_t k_wide_attention_spirv[] =
#include "llama_wide_attention.inc"
    ;
static const uint32_t k_wide_embed_f32[] =
#include "llama_wide_embed_f32.inc"
    ;
static const uint32_t k_wide_embed_f16[] =
#include "llama_wide_embed_f16.inc"
    ;
static const uint32_t k_wide_embed_bf16[] =
#include "llama_wide_embed_bf16.inc"
    ;
static const uint32_t k_wide_embed_q8_0[] =
#include "llama_wide_embed_q8_0.inc"
    ;
static const uint32_t k_wide_embed_q4_0[] =
#include "llama_wide_embed_q4_0.inc"
    ;
static const uint32_t k_wide_qkv_f32[] =
#include "llama_wide_qkv_f32.inc"
    ;
static const uint32_t k_wide_qkv_f16[] =
#include "llama_wide_qkv_f16.inc"
    ;
static const uint32_t k_wide_qkv_bf16[] =
#include "llama_wide_qkv_bf16.inc"
    ;
static const uint32_t k_wide_qkv_q8_0[] =
#include "llama_wide_qkv_q8_0.inc"
    ;
static const uint32_t k_wide_qkv_q4_0[] =
#include "llama_wide_qkv_q4_0.inc"
    ;
static const uint32_t k_wide_wo_f32[] =
#include "llama_wide_wo_f32.inc"
    ;
static const uint32_t k_wide_wo_f16[] =
#include "llama_wide_wo_f16.inc"
    ;
static const uint32_t k_wide_wo_bf16[] =
#include "llama_wide_wo_bf16.inc"
    ;
static const uint32_t k_wide_wo_q8_0[] =
#include "llama_wide_wo_q8_0.inc"
    ;
static const uint32_t k_wide_wo_q4_0[] =
#include "llama_wide_wo_q4_0.inc"
    ;
static const uint32_t k_wide_w13_f32[] =
#include "llama_wide_w13_f32.inc"
    ;
static const uint32_t k_wide_w13_f16[] =
#include "llama_wide_w13_f16.inc"
    ;
static const uint32_t k_wide_w13_bf16[] =
#include "llama_wide_w13_bf16.inc"
    ;
static const uint32_t k_wide_w13_q8_0[] =
#include "llama_wide_w13_q8_0.inc"
    ;
static const uint32_t k_wide_w13_q4_0[] =
#include "llama_wide_w13_q4_0.inc"
    ;
static const uint32_t k_wide_w2_f32[] =
#include "llama_wide_w2_f32.inc"
    ;
static const uint32_t k_wide_w2_f16[] =
#include "llama_wide_w2_f16.inc"
    ;
static const uint32_t k_wide_w2_bf16[] =
#include "llama_wide_w2_bf16.inc"
    ;
static const uint32_t k_wide_w2_q8_0[] =
#include "llama_wide_w2_q8_0.inc"
    ;
static const uint32_t k_wide_w2_q4_0[] =
#include "llama_wide_w2_q4_0.inc"
    ;
static const uint32_t k_wide_classifier_f32[] =
#include "llama_wide_classifier_f32.inc"
    ;
static const uint32_t k_wide_classifier_f16[] =
#include "llama_wide_classifier_f16.inc"
    ;
static const uint32_t k_wide_classifier_bf16[] =
#include "llama_wide_classifier_bf16.inc"
    ;
static const uint32_t k_wide_classifier_q8_0[] =
#include "llama_wide_classifier_q8_0.inc"
    ;
static const uint32_t k_wide_classifier_q4_0[] =
#include "llama_wide_classifier_q4_0.inc"
    ;
static const uint32_t k_wide_layers_f32[] =
#include "llama_wide_layers_f32.inc"
    ;
static const uint32_t k_wide_layers_f16[] =
#include "llama_wide_layers_f16.inc"
    ;
static const uint32_t k_wide_layers_bf16[] =
#include "llama_wide_layers_bf16.inc"
    ;
static const uint32_t k_wide_layers_q8_0[] =
#include "llama_wide_layers_q8_0.inc"
    ;
static const uint32_t k_wide_layers_q4_0[] =
#include "llama_wide_layers_q4_0.inc"
    ;
static const uint32_t k_wide_layers_clock_f32[] =
#include "llama_wide_layers_clock_f32.inc"
    ;
static const uint32_t k_wide_layers_clock_f16[] =
#include "llama_wide_layers_clock_f16.inc"
    ;
static const uint32_t k_wide_layers_clock_bf16[] =
#include "llama_wide_layers_clock_bf16.inc"
    ;
static const uint32_t k_wide_layers_clock_q8_0[] =
#include "llama_wide_layers_clock_q8_0.inc"
    ;
static const uint32_t k_wide_layers_clock_q4_0[] =
#include "llama_wide_layers_clock_q4_0.inc"
    ;
static const uint32_t k_wide_layers_idot_q8_0[] =
#include "llama_wide_layers_idot_q8_0.inc"
    ;
static const uint32_t k_wide_layers_idot_q4_0[] =
#include "llama_wide_layers_idot_q4_0.inc"
    ;
static const uint32_t k_wide_layers_idot_clock_q8_0[] =
#include "llama_wide_layers_idot_clock_q8_0.inc"
    ;
static const uint32_t k_wide_layers_idot_clock_q4_0[] =
#include "llama_wide_layers_idot_clock_q4_0.inc"
    ;

typedef struct spirv_words {
  const uint32_t *words;
  size_t bytes;
} spirv_words;
#define SPIRV(a)                                                                                                       \
  { a, sizeof a }
static const spirv_words k_fused_spirv[2][3] = {{SPIRV(k_attention_f32), SPIRV(k_ffn_f32), SPIRV(k_classifier_f32)},
                                                {SPIRV(k_attention_f16), SPIRV(k_ffn_f16), SPIRV(k_classifier_f16)}};
enum { WIDE_EMBED, WIDE_QKV, WIDE_ATTENTION, WIDE_WO, WIDE_W13, WIDE_W2, WIDE_CLASSIFIER, WIDE_KERNELS };
static const char *const k_wide_names[WIDE_KERNELS] = {"llama_wide_embed",     "llama_wide_qkv", "llama_wide_attention",
                                                       "llama_wide_wo",        "llama_wide_w13", "llama_wide_w2",
                                                       "llama_wide_classifier"};
// Per weight type (llama_weight_type order), per kind; attention reads no weights.
static const spirv_words k_wide_spirv[LLAMA_WEIGHT_TYPES][WIDE_KERNELS] = {
    {SPIRV(k_wide_embed_f32), SPIRV(k_wide_qkv_f32), SPIRV(k_wide_attention_spirv), SPIRV(k_wide_wo_f32),
     SPIRV(k_wide_w13_f32), SPIRV(k_wide_w2_f32), SPIRV(k_wide_classifier_f32)},
    {SPIRV(k_wide_embed_f16), SPIRV(k_wide_qkv_f16), SPIRV(k_wide_attention_spirv), SPIRV(k_wide_wo_f16),
     SPIRV(k_wide_w13_f16), SPIRV(k_wide_w2_f16), SPIRV(k_wide_classifier_f16)},
    {SPIRV(k_wide_embed_bf16), SPIRV(k_wide_qkv_bf16), SPIRV(k_wide_attention_spirv), SPIRV(k_wide_wo_bf16),
     SPIRV(k_wide_w13_bf16), SPIRV(k_wide_w2_bf16), SPIRV(k_wide_classifier_bf16)},
    {SPIRV(k_wide_embed_q8_0), SPIRV(k_wide_qkv_q8_0), SPIRV(k_wide_attention_spirv), SPIRV(k_wide_wo_q8_0),
     SPIRV(k_wide_w13_q8_0), SPIRV(k_wide_w2_q8_0), SPIRV(k_wide_classifier_q8_0)},
    {SPIRV(k_wide_embed_q4_0), SPIRV(k_wide_qkv_q4_0), SPIRV(k_wide_attention_spirv), SPIRV(k_wide_wo_q4_0),
     SPIRV(k_wide_w13_q4_0), SPIRV(k_wide_w2_q4_0), SPIRV(k_wide_classifier_q4_0)},
};
// The persistent plan's layers, per weight type.
static const spirv_words k_layers_spirv[LLAMA_WEIGHT_TYPES] = {SPIRV(k_wide_layers_f32), SPIRV(k_wide_layers_f16),
                                                               SPIRV(k_wide_layers_bf16), SPIRV(k_wide_layers_q8_0),
                                                               SPIRV(k_wide_layers_q4_0)};
// The same, marking the device clock at its barriers (phase_times).
static const spirv_words k_layers_clock_spirv[LLAMA_WEIGHT_TYPES] = {
    SPIRV(k_wide_layers_clock_f32), SPIRV(k_wide_layers_clock_f16), SPIRV(k_wide_layers_clock_bf16),
    SPIRV(k_wide_layers_clock_q8_0), SPIRV(k_wide_layers_clock_q4_0)};
// Quantized types with integer dot products ([clock][type - Q8_0]).
static const spirv_words k_layers_idot_spirv[2][2] = {
    {SPIRV(k_wide_layers_idot_q8_0), SPIRV(k_wide_layers_idot_q4_0)},
    {SPIRV(k_wide_layers_idot_clock_q8_0), SPIRV(k_wide_layers_idot_clock_q4_0)}};
// The longest product input the integer-dot kernels stage in shared
// memory (MAX_STAGE_COLS in llama_wide_dot.glsl).
#define MAX_STAGE_COLS 6144u

// Kernel geometry and limits, as in the GLSL sources.
#define WORKGROUP_SIZE 256u
#define MAX_DIM 4096u                // MAX_DIM4 in llama_common.glsl
#define MAX_HEAD_SIZE 256u           // MAX_HS4 in llama_attention.comp
#define MIN_SUBGROUP_SIZE 4u         // llama_reduce.glsl
#define MAX_SLOTS 1024u              // n_heads * slot_stride, llama_ffn.comp
#define DEFAULT_FFN_ROWS 16u         // hidden rows per FFN workgroup
#define DEFAULT_CLASSIFIER_ROWS 128u // vocabulary rows per classifier workgroup (a multiple of its BATCH, 4)
#define MAX_CLASSIFIER_ROWS 4096u
#define DEFAULT_SPLIT 64u        // positions per attention workgroup
#define MAX_SPLIT WORKGROUP_SIZE // one position per invocation
#define NO_INDEX 0xffffffffu
// The wide plan (kernels/llama_wide.glsl).
// n_heads * slot_stride: keeps the merge of a head's slots (its attention's
// last workgroup) short; longer sequences get longer splits. (1024, splits
// of 64 at the TinyLlama-1.1B shape: on the H100 Q4_0 and Q8_0 +0.6% tok/s,
// f16 -2%; not taken.)
#define WIDE_MAX_SLOTS 512u
// Rows per workgroup of the layer products: a pair per subgroup on NVIDIA
// (8 subgroups of 32; llama_wide.glsl); two pairs for float32 layers, whose
// 32-byte units make fewer rows per subgroup too few loads for their
// bytes (an H200, TinyLlama-1.1B-like: 545 tok/s against 506).
#define WIDE_DEFAULT_ROWS 16u
#define WIDE_DEFAULT_ROWS_F32 32u
#define WIDE_DEFAULT_CLASSIFIER_ROWS 64u
#define WIDE_DEFAULT_SPLIT 64u
// The persistent plan (kernels/llama_wide_layers.comp): its workgroups per
// grid barrier's polls before it gives up (seconds on an H100).
#define PERSISTENT_SPIN_LIMIT (1u << 22)
// The default workgroups per SM, tried in turn when the model loads (a
// workgroup's registers decide how many fit: an H100 ran 3 per SM of the
// 72-register F16 and Q4_0 kernels, not 2 of the F32 one), and the polls
// of each try's barrier.
static const uint32_t k_persistent_per_unit[] = {3, 2, 1};
#define PERSISTENT_PROBE_SPIN (1u << 16)

// Push-constant blocks; each must match its kernel's size exactly (checked).
typedef struct attention_params {
  uint32_t dim, kv_dim, head_size, seq_len, layer, first_layer, kv_mul, split_len, slot_stride, ffn_parts, best_count;
} attention_params;
typedef struct ffn_params {
  uint32_t dim, hidden, layer, rows_per_group, n_heads, head_size, kv_dim, kv_mul, seq_len, split_len, slot_stride;
} ffn_params;
typedef struct classifier_params {
  uint32_t dim, vocab, ffn_parts, rows_per_group;
} classifier_params;
typedef struct wide_params {
  uint32_t rows, cols, layer, rows_per_group, dim, kv_dim, head_size, seq_len, n_heads, kv_mul, split_len, slot_stride,
      best_count, parts, out_vec4, gain_base, split;
} wide_params;

typedef struct persistent_params {
  uint32_t dim, hidden, kv_dim, head_size, seq_len, n_heads, kv_mul, split_len, slot_stride, layers, out_vec4,
      part_stride, spin_limit, split, dim_stride, hidden_stride;
} persistent_params;
// Floats per place of a persistent per-layer vector: 256-byte boundaries
// (kernels/llama_wide_layers.comp says why).
static uint64_t place_floats(uint64_t n) { return (n + 63) & ~63ull; }

enum { ARGS_ATTENTION = 13, ARGS_FFN = 10, ARGS_CLASSIFIER = 8 };
#define ARGS_PER_LAYER (ARGS_ATTENTION + ARGS_FFN)
// Wide: embed 8, then per layer qkv 7, attention 6, wo 6, w13 4, w2 6, then the classifier 7.
enum { WIDE_ARGS_EMBED = 8, WIDE_ARGS_PER_LAYER = 29, WIDE_ARGS_CLASSIFIER = 7 };
enum { PERSISTENT_ARGS = 22 }; // its layers' dispatch, between the wide embed and classifier

struct llama_gpu {
  gpb_device *device;
  gpb_stream *stream;
  llama_config config;
  llama_plan plan; // FUSED or WIDE
  bool f16;        // fused: matrices stored as IEEE halves
  // Wide: the storage type of each kernel's matrix (quant.h), indexed like
  // wide[] (the attention's entry unused); fused: all F32 or all F16.
  llama_weight_type types[WIDE_KERNELS];
  llama_pool *load_pool; // packs (converts, repacks) weights while they load
  gpb_kernel *attention, *ffn, *classifier;
  gpb_kernel *wide[WIDE_KERNELS];
  // Weights, all layers per buffer.
  gpb_buffer *emb, *rms_att, *wqkv, *wo, *rms_ffn, *w13, *w2, *rms_final, *wcls, *rope;
  // State: the residual stream at a layer's input (x) and after its
  // attention (x_mid), q, the attention's slots, the FFN's partial vectors,
  // two steps' logits, the classifier workgroups' bests (for the next
  // step's token on the GPU), and the step's (pos, token).
  gpb_buffer *kv, *x, *x_mid, *q, *slots, *ffn_parts, *logits, *best, *step;
  gpb_buffer *hb; // wide: the FFN's hidden vector
  // Wide: x * the next norm's gains, the parts of its sum of squares, the
  // attention's merged output and its per-head counters (zeroed once).
  gpb_buffer *xn, *sum_sq, *att, *att_done;
  gpb_buffer *step_dev; // wide: the step's (pos, token), copied by the embedding kernel
  // Persistent: its layers' kernel; per-layer vectors (resid, xn_layers,
  // sum_sq_layers, q_layers, att_layers, hb_layers: see
  // kernels/llama_wide_layers.comp), the grid barrier's counters (sync)
  // and the flag a barrier that gave up sets (sync_failed, mapped).
  gpb_kernel *layers;
  gpb_buffer *resid, *xn_layers, *sum_sq_layers, *q_layers, *att_layers, *hb_layers, *sync, *sync_failed;
  volatile uint32_t *failed_mapped;
  // phase_times: the layers' clock marks (an extra argument), [events][groups][2] uvec2.
  bool phase_times;
  bool int_dot; // the layers kernel's products are integer dot products
  gpb_buffer *phase_clock;
  uint32_t persistent_groups;
  persistent_params persistent_pc;
  // The bests again, where the host reads them: best_read (a private
  // buffer, read back by a copy) or, ahead and record-ahead,
  // best_shared[pos % 2] (mapped).
  gpb_buffer *best_read, *best_shared[2];
  // Record-ahead: each step's (pos, token), written by the host through the
  // mapped step_shared[pos % 2], which the step's kernels read in place of
  // `step` (step_args: every dispatch's Step argument); prepared = the
  // prepared step's pos + 1 (0: none).
  gpb_buffer *step_shared[2];
  uint32_t *step_mapped[2];
  gpb_arg **step_args;
  uint32_t step_arg_count;
  uint32_t prepared;
  bool replay, ahead, record_ahead;
  uint32_t split_len;   // positions per attention workgroup (fused: PAST)
  uint32_t slot_stride; // attention slots per head: the most splits (+ 1 fused)
  uint32_t wide_rows;   // rows per workgroup of the wide layer products
  uint32_t wide_groups; // at most this many workgroups per layer product (0: no cap)
  uint32_t wide_split;  // subgroups per row pair of the layer products (0: per product)
  uint32_t ffn_rows, ffn_groups, classifier_rows, classifier_groups;
  // The step, filled in once; only the attention grid (and, ahead, the
  // host's copy of the bests) changes between steps.
  gpb_dispatch *dispatches;
  uint32_t dispatch_count;
  // Per dispatch: its layer (n_layers: none) and kernel name, for errors;
  // the attention dispatches, whose grid follows the position.
  uint32_t *dispatch_layer;
  const char **dispatch_name;
  uint32_t *attention_dispatch;
  gpb_arg *args;
  gpb_arg *best_out_arg; // the classifier's BestOut argument
  // Replay: the step captured once per attention grid (fused: past splits;
  // wide: splits - 1) and, ahead, per best_shared buffer:
  // programs[grid * 2 + parity].
  gpb_program **programs;
  uint32_t program_count;
  attention_params *attention_pc;
  ffn_params *ffn_pc;
  classifier_params classifier_pc;
  wide_params *wide_pc; // per dispatch
  uint32_t *best_host;  // (float bits, index) per classifier workgroup
};

static int create_kernel(llama_gpu *g, const char *name, spirv_words spirv, uint32_t push_bytes, gpb_kernel **out,
                         llama_error *err) {
  gpb_kernel_desc desc = {.name = name, .spirv = spirv.words, .spirv_bytes = spirv.bytes};
  gpb_status st = gpb_kernel_create(g->device, &desc, out);
  if (st) return llama_error_gpb(err, st, name);
  gpb_kernel_info info;
  if ((st = gpb_kernel_get_info(*out, &info))) return llama_error_gpb(err, st, name);
  if (info.push_constant_bytes != push_bytes)
    return llama_error_set(err, "kernel '%s': push constants are %u bytes, the host fills %u", name,
                           info.push_constant_bytes, push_bytes);
  return 0;
}

// A buffer of `count` elements of `elem_bytes` each.
static int create_buffer_of(llama_gpu *g, const gpb_device_info *info, const char *name, uint64_t count,
                            uint32_t elem_bytes, gpb_buffer **out, llama_error *err) {
  uint64_t bytes = count * elem_bytes;
  if (bytes > info->max_storage_buffer_range)
    return llama_error_set(err,
                           "buffer '%s' needs %llu bytes, more than the device's storage "
                           "buffer range of %llu",
                           name, (unsigned long long)bytes, (unsigned long long)info->max_storage_buffer_range);
  gpb_status st = gpb_buffer_create(g->device, bytes, GPB_MEMORY_PRIVATE, out);
  if (st) return llama_error_gpb(err, st, name);
  return 0;
}

static int create_buffer(llama_gpu *g, const gpb_device_info *info, const char *name, uint64_t floats, gpb_buffer **out,
                         llama_error *err) {
  return create_buffer_of(g, info, name, floats, sizeof(float), out, err);
}

static int copy_in(llama_gpu *g, const char *name, const float *data, uint64_t floats, gpb_buffer *dst,
                   uint64_t dst_float, llama_error *err) {
  gpb_status st = gpb_stream_copy_to_device(g->stream, data, dst, dst_float * sizeof(float), floats * sizeof(float));
  return st ? llama_error_gpb(err, st, name) : 0;
}

static int upload(llama_gpu *g, const gpb_device_info *info, const char *name, const float *data, uint64_t floats,
                  gpb_buffer **out, llama_error *err) {
  if (create_buffer(g, info, name, floats, out, err)) return -1;
  return copy_in(g, name, data, floats, *out, 0, err);
}

// Where a weight buffer's rows come from: the rows of up to 3 tensors one
// after the other (wqkv: wq, wk, wv), or interleaved row by row (w13: w1,
// w3), all of `cols` columns.
typedef struct row_map {
  const llama_tensor *parts[3];
  uint64_t rows[3];
  uint32_t count;
  bool interleave;
} row_map;

static const uint8_t *map_row(const row_map *m, uint64_t cols, uint64_t r, llama_weight_type *type) {
  uint32_t p = 0;
  if (m->interleave) {
    p = (uint32_t)(r % m->count);
    r /= m->count;
  } else {
    while (p + 1 < m->count && r >= m->rows[p]) r -= m->rows[p++];
  }
  *type = m->parts[p]->type;
  return (const uint8_t *)m->parts[p]->data + r * llama_row_bytes(*type, cols);
}

typedef struct pack_job {
  const row_map *map;
  llama_weight_type gpu_type;
  uint64_t cols, first_row, gpu_row_bytes;
  uint8_t *dst;
} pack_job;

static void pack_rows(void *ctx, uint32_t begin, uint32_t end) {
  const pack_job *job = ctx;
  for (uint32_t i = begin; i < end; i++) {
    llama_weight_type src_type;
    const uint8_t *src = map_row(job->map, job->cols, job->first_row + i, &src_type);
    llama_pack_row(job->gpu_type, src_type, src, job->cols, job->dst + (uint64_t)i * job->gpu_row_bytes);
  }
}

// Rows of a weight buffer, from the map's tensors to the GPU layout of
// `gpu_type` (quant.h), into `dst` from row `dst_row`: packed on the load's
// threads in pieces of at most PACK_CHUNK bytes (the stream copies each
// piece before the call returns, so one piece of host memory serves all,
// whatever the model's size). Converting a 1.1B model on one thread takes
// seconds, in which the idle GPU lowers its clocks: the first steps then run
// slowly.
#define PACK_CHUNK (32u << 20)
static int upload_rows(llama_gpu *g, const char *name, const row_map *map, llama_weight_type gpu_type, uint64_t cols,
                       uint64_t rows, gpb_buffer *dst, uint64_t dst_row, llama_error *err) {
  uint64_t row_bytes = llama_gpu_row_bytes(gpu_type, cols);
  uint64_t chunk_rows = PACK_CHUNK / row_bytes ? PACK_CHUNK / row_bytes : 1;
  if (chunk_rows > rows) chunk_rows = rows;
  uint8_t *piece = malloc((size_t)(chunk_rows * row_bytes));
  if (!piece) return llama_error_set(err, "out of memory packing '%s'", name);
  int rc = 0;
  for (uint64_t done = 0; rc == 0 && done < rows; done += chunk_rows) {
    uint64_t n = rows - done < chunk_rows ? rows - done : chunk_rows;
    pack_job job = {map, gpu_type, cols, done, row_bytes, piece};
    llama_pool_run(g->load_pool, (uint32_t)n, pack_rows, &job);
    gpb_status st = gpb_stream_copy_to_device(g->stream, piece, dst, (dst_row + done) * row_bytes, n * row_bytes);
    if (st) rc = llama_error_gpb(err, st, name);
  }
  free(piece);
  return rc;
}

static int create_weights(llama_gpu *g, const gpb_device_info *info, const char *name, llama_weight_type type,
                          uint64_t rows, uint64_t cols, gpb_buffer **out, llama_error *err) {
  return create_buffer_of(g, info, name, rows, (uint32_t)llama_gpu_row_bytes(type, cols), out, err);
}

// A single-tensor matrix (embedding, classifier).
static int upload_matrix(llama_gpu *g, const gpb_device_info *info, const char *name, const llama_tensor *t,
                         llama_weight_type type, uint64_t rows, uint64_t cols, gpb_buffer **out, llama_error *err) {
  row_map map = {{t}, {rows}, 1, false};
  if (create_weights(g, info, name, type, rows, cols, out, err)) return -1;
  return upload_rows(g, name, &map, type, cols, rows, *out, 0, err);
}

// A per-layer matrix, all layers in one buffer: layer l's rows from its
// tensors `matrices` (row_map: one after the other, or interleaved).
static int upload_layers(llama_gpu *g, const llama_checkpoint *ck, const gpb_device_info *info, const char *name,
                         llama_weight_type type, const int *matrices, const uint64_t *rows, uint32_t count,
                         bool interleave, uint64_t cols, gpb_buffer **out, llama_error *err) {
  uint64_t per_layer = 0;
  for (uint32_t i = 0; i < count; i++) per_layer += rows[i];
  if (create_weights(g, info, name, type, (uint64_t)ck->config.n_layers * per_layer, cols, out, err)) return -1;
  for (uint64_t l = 0; l < (uint64_t)ck->config.n_layers; l++) {
    row_map map = {.count = count, .interleave = interleave};
    for (uint32_t i = 0; i < count; i++) {
      map.parts[i] = &ck->src.layers[l * LLAMA_LAYER_MATRICES + (uint64_t)matrices[i]];
      map.rows[i] = rows[i];
    }
    if (upload_rows(g, name, &map, type, cols, per_layer, *out, l * per_layer, err)) return -1;
  }
  return 0;
}

// wqkv[l] = wq[l] rows, wk[l] rows, wv[l] rows; w13[l][r] = w1[l] row r,
// then w3[l] row r (interleaved).
static int upload_weights(llama_gpu *g, const llama_checkpoint *ck, const gpb_device_info *info, llama_error *err) {
  const llama_config *c = &ck->config;
  const llama_weights *w = &ck->w;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, kv_dim = llama_kv_dim(c);
  uint64_t layers = (uint64_t)c->n_layers, vocab = (uint64_t)c->vocab_size;
  const int qkv[] = {LLAMA_WQ, LLAMA_WK, LLAMA_WV}, w13[] = {LLAMA_W1, LLAMA_W3}, wo[] = {LLAMA_WO}, w2[] = {LLAMA_W2};
  const uint64_t qkv_rows[] = {dim, kv_dim, kv_dim}, w13_rows[] = {hidden, hidden}, dim_rows[] = {dim};
  float *rope = llama_rope_table(c);
  if (!rope) return llama_error_set(err, "out of memory for the RoPE table");
  int rc = upload_matrix(g, info, "token_embedding", &ck->src.token_embedding, g->types[WIDE_EMBED], vocab, dim,
                         &g->emb, err) ||
           upload(g, info, "rms_att", w->rms_att, layers * dim, &g->rms_att, err) ||
           upload_layers(g, ck, info, "wqkv", g->types[WIDE_QKV], qkv, qkv_rows, 3, false, dim, &g->wqkv, err) ||
           upload_layers(g, ck, info, "wo", g->types[WIDE_WO], wo, dim_rows, 1, false, dim, &g->wo, err) ||
           upload(g, info, "rms_ffn", w->rms_ffn, layers * dim, &g->rms_ffn, err) ||
           upload_layers(g, ck, info, "w13", g->types[WIDE_W13], w13, w13_rows, 2, true, dim, &g->w13, err) ||
           upload_layers(g, ck, info, "w2", g->types[WIDE_W2], w2, dim_rows, 1, false, hidden, &g->w2, err) ||
           upload(g, info, "rms_final", w->rms_final, dim, &g->rms_final, err) ||
           upload(g, info, "rope", rope, (uint64_t)c->seq_len * llama_head_size(c), &g->rope, err);
  free(rope);
  if (rc) return -1;
  if (c->shared_classifier) {
    g->wcls = g->emb;
    return 0;
  }
  return upload_matrix(g, info, "wcls", &ck->src.wcls, g->types[WIDE_CLASSIFIER], vocab, dim, &g->wcls, err) ? -1 : 0;
}

static uint32_t groups_for(uint32_t items, uint32_t per_group) { return (items + per_group - 1) / per_group; }

// PAST attention workgroups at `pos`: splits of the positions before it.
static uint32_t past_splits(uint32_t pos, uint32_t split_len) { return groups_for(pos, split_len); }

// Attention splits of the wide plan: positions 0..pos in splits of split_len.
static uint32_t wide_splits(uint32_t pos, uint32_t split_len) { return pos / split_len + 1; }

// Attention slots per head the longest sequence needs: fused, the PAST
// splits before its last position plus one for the V workgroup; wide, the
// splits of all its positions.
static uint32_t slots_per_head(const llama_config *c, llama_plan plan, uint32_t split_len) {
  uint32_t last = (uint32_t)c->seq_len - 1;
  return plan != LLAMA_PLAN_FUSED ? wide_splits(last, split_len) : past_splits(last, split_len) + 1;
}

// The layers kernel's clock events (llama_wide_layers.comp, Clock): the
// start, then the end of each of a layer's 5 phases.
static uint64_t phase_events(uint32_t layers) { return 5 * (uint64_t)layers + 1; }
// The 32-bit words of a step's clock marks: per event and workgroup, two
// 64-bit clocks (arrival, release).
static uint64_t phase_mark_words(uint32_t layers, uint32_t groups) { return phase_events(layers) * groups * 4; }

// The persistent plan's per-layer vectors (kernels/llama_wide_layers.comp
// says what each holds), its grid barrier's counters, zeroed once (each
// dispatch leaves them at 0), and the host-visible flag of a barrier that
// gave up.
static int create_persistent_state(llama_gpu *g, const gpb_device_info *info, llama_error *err) {
  const llama_config *c = &g->config;
  uint64_t dim = place_floats((uint64_t)c->dim), hidden = place_floats((uint64_t)c->hidden_dim);
  uint64_t layers = (uint64_t)c->n_layers, part_stride = place_floats(g->persistent_groups);
  if (create_buffer(g, info, "resid", (2 * layers + 1) * dim, &g->resid, err) ||
      create_buffer(g, info, "xn_layers", layers * 2 * dim, &g->xn_layers, err) ||
      create_buffer(g, info, "sum_sq_layers", layers * 2 * part_stride, &g->sum_sq_layers, err) ||
      create_buffer(g, info, "q_layers", layers * dim, &g->q_layers, err) ||
      create_buffer(g, info, "att_layers", layers * dim, &g->att_layers, err) ||
      create_buffer(g, info, "hb_layers", layers * hidden, &g->hb_layers, err) ||
      create_buffer(g, info, "grid_sync", 4, &g->sync, err))
    return -1;
  const float zeros[4] = {0};
  if (copy_in(g, "grid_sync", zeros, 4, g->sync, 0, err)) return -1;
  gpb_status st = gpb_buffer_create(g->device, 4 * sizeof(uint32_t), GPB_MEMORY_SHARED, &g->sync_failed);
  void *mapped = NULL;
  if (!st) st = gpb_buffer_map(g->sync_failed, GPB_HOST_WRITE, &mapped);
  if (st) return llama_error_gpb(err, st, "grid_sync_failed");
  memset(mapped, 0, 4 * sizeof(uint32_t));
  g->failed_mapped = mapped;
  if (g->phase_times &&
      create_buffer(g, info, "phase_clock", phase_mark_words((uint32_t)g->config.n_layers, g->persistent_groups),
                    &g->phase_clock, err))
    return -1;
  return 0;
}

static int create_state(llama_gpu *g, const gpb_device_info *info, llama_error *err) {
  const llama_config *c = &g->config;
  uint64_t dim = (uint64_t)c->dim, heads = (uint64_t)c->n_heads;
  uint64_t cache = 2 * (uint64_t)c->n_layers * (uint64_t)c->seq_len * llama_kv_dim(c);
  uint64_t slot_count = heads * g->slot_stride;
  // Fused: (m, l), then y per slot; wide: (m, l, -, -), then acc per slot.
  bool wide = g->plan != LLAMA_PLAN_FUSED;
  uint64_t slot_floats =
      wide ? slot_count * (4 + llama_head_size(c)) : ((2 * slot_count + 3) & ~3ull) + slot_count * dim;
  if (create_buffer(g, info, "kv_cache", cache, &g->kv, err) || create_buffer(g, info, "x", dim, &g->x, err) ||
      create_buffer(g, info, "x_mid", dim, &g->x_mid, err) || create_buffer(g, info, "q", dim, &g->q, err) ||
      create_buffer(g, info, "attention_slots", slot_floats, &g->slots, err) ||
      create_buffer(g, info, "ffn_parts", wide ? 4 : (uint64_t)g->ffn_groups * dim, &g->ffn_parts, err) ||
      create_buffer(g, info, "hb", wide ? (uint64_t)c->hidden_dim : 4, &g->hb, err) ||
      create_buffer(g, info, "step_dev", 4, &g->step_dev, err) ||
      create_buffer(g, info, "logits", 2ull * (uint64_t)c->vocab_size, &g->logits, err) ||
      create_buffer(g, info, "best", 2ull * g->classifier_groups, &g->best, err) ||
      create_buffer(g, info, "best_read", 2ull * g->classifier_groups, &g->best_read, err) ||
      create_buffer(g, info, "step", 4, &g->step, err))
    return -1;
  if (wide) {
    // sum_sq: one part per workgroup of the wo and w2 dispatches, which
    // take a row pair each at least (persistent: of the layers' dispatch).
    uint32_t parts = groups_for((uint32_t)dim, 2);
    if (g->plan == LLAMA_PLAN_PERSISTENT && g->persistent_groups > parts) parts = g->persistent_groups;
    if (create_buffer(g, info, "xn", dim, &g->xn, err) || create_buffer(g, info, "sum_sq", parts, &g->sum_sq, err) ||
        create_buffer(g, info, "att", dim, &g->att, err) ||
        create_buffer_of(g, info, "att_done", heads, sizeof(uint32_t), &g->att_done, err))
      return -1;
    float *zeros = calloc(heads, sizeof(float)); // all bits 0: the counters' 0 too
    if (!zeros) return llama_error_set(err, "out of memory");
    int rc = copy_in(g, "att_done", zeros, heads, g->att_done, 0, err);
    free(zeros);
    if (rc) return -1;
  }
  if (g->plan == LLAMA_PLAN_PERSISTENT && create_persistent_state(g, info, err)) return -1;
  for (int i = 0; (g->ahead || g->record_ahead) && i < 2; i++) {
    gpb_status st = gpb_buffer_create(g->device, 2ull * g->classifier_groups * sizeof(uint32_t), GPB_MEMORY_SHARED,
                                      &g->best_shared[i]);
    if (st) return llama_error_gpb(err, st, "best_shared");
  }
  for (int i = 0; g->record_ahead && i < 2; i++) {
    gpb_status st = gpb_buffer_create(g->device, 2 * sizeof(uint32_t), GPB_MEMORY_SHARED, &g->step_shared[i]);
    if (st) return llama_error_gpb(err, st, "step_shared");
  }
  return 0;
}

static void set_dispatch(gpb_dispatch *d, gpb_kernel *k, uint32_t groups, const gpb_arg *args, uint32_t arg_count,
                         const void *pc, uint32_t pc_bytes) {
  *d = (gpb_dispatch){.kernel = k,
                      .groups = {groups, 1, 1},
                      .args = args,
                      .arg_count = arg_count,
                      .push_constants = pc,
                      .push_constant_bytes = pc_bytes};
}

// Whole-buffer arguments: offset 0 needs no alignment, size 0 means all.
static void put_args(gpb_arg *args, gpb_buffer *const *buffers, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) args[i] = (gpb_arg){.buffer = buffers[i], .offset = 0, .size = 0};
}

// Fills the fused plan's dispatch list once; llama_gpu_step only patches
// the attention grid and the buffers that alternate between steps.
static void record_fused_plan(llama_gpu *g) {
  const llama_config *c = &g->config;
  uint32_t dim = (uint32_t)c->dim, hidden = (uint32_t)c->hidden_dim, heads = (uint32_t)c->n_heads;
  uint32_t kv_dim = llama_kv_dim(c), head_size = llama_head_size(c), seq_len = (uint32_t)c->seq_len;
  uint32_t kv_mul = (uint32_t)(c->n_heads / c->n_kv_heads);
  gpb_dispatch *d = g->dispatches;
  gpb_arg *a = g->args;
  for (uint32_t l = 0; l < (uint32_t)c->n_layers; l++) {
    g->attention_pc[l] = (attention_params){dim,
                                            kv_dim,
                                            head_size,
                                            seq_len,
                                            l,
                                            l == 0 ? 1u : 0u,
                                            kv_mul,
                                            g->split_len,
                                            g->slot_stride,
                                            l == 0 ? 0u : g->ffn_groups,
                                            g->classifier_groups};
    gpb_buffer *attention_args[ARGS_ATTENTION] = {g->x_mid, g->emb, g->ffn_parts, g->rms_att, g->wqkv, g->wo,  g->rope,
                                                  g->kv,    g->q,   g->x,         g->slots,   g->step, g->best};
    put_args(a, attention_args, ARGS_ATTENTION);
    g->attention_dispatch[l] = (uint32_t)(d - g->dispatches);
    g->dispatch_layer[d - g->dispatches] = l;
    g->dispatch_name[d - g->dispatches] = "attention";
    set_dispatch(d++, g->attention, heads, a, ARGS_ATTENTION, &g->attention_pc[l], sizeof(attention_params));
    a += ARGS_ATTENTION;

    g->ffn_pc[l] = (ffn_params){dim,    hidden, l,       g->ffn_rows,  heads,         head_size,
                                kv_dim, kv_mul, seq_len, g->split_len, g->slot_stride};
    gpb_buffer *ffn_args[ARGS_FFN] = {g->x,   g->slots, g->q,     g->kv,        g->rms_ffn,
                                      g->w13, g->w2,    g->x_mid, g->ffn_parts, g->step};
    put_args(a, ffn_args, ARGS_FFN);
    g->dispatch_layer[d - g->dispatches] = l;
    g->dispatch_name[d - g->dispatches] = "ffn";
    set_dispatch(d++, g->ffn, g->ffn_groups, a, ARGS_FFN, &g->ffn_pc[l], sizeof(ffn_params));
    a += ARGS_FFN;
  }
  g->classifier_pc = (classifier_params){dim, (uint32_t)c->vocab_size, g->ffn_groups, g->classifier_rows};
  gpb_buffer *classifier_args[ARGS_CLASSIFIER] = {g->x_mid,  g->ffn_parts, g->rms_final, g->wcls,
                                                  g->logits, g->best,      g->step,      g->best_read};
  put_args(a, classifier_args, ARGS_CLASSIFIER);
  g->best_out_arg = &a[ARGS_CLASSIFIER - 1];
  g->dispatch_layer[d - g->dispatches] = (uint32_t)c->n_layers;
  g->dispatch_name[d - g->dispatches] = "classifier_argmax";
  set_dispatch(d++, g->classifier, g->classifier_groups, a, ARGS_CLASSIFIER, &g->classifier_pc,
               sizeof(classifier_params));
  g->dispatch_count = (uint32_t)(d - g->dispatches);
}

// Where the wide plan's next dispatch, its arguments and push constants go.
typedef struct wide_cursor {
  gpb_dispatch *d;
  gpb_arg *a;
  wide_params *pc;
} wide_cursor;

// How a wide dispatch meets its neighbours: the parts of the sum of
// squares it adds up (its input's norm), the kind that reads its output
// vector (whose unit order it writes), and where the gains of the norm it
// prepares start.
typedef struct wide_link {
  uint32_t parts;
  int reader;
  uint32_t gain_base;
} wide_link;

// vec4s per unit of a wide kernel's weight type (llama_wide.glsl's
// UNIT_VEC4): the unit order of the vectors it reads.
static uint32_t unit_vec4(const llama_gpu *g, int kind) {
  llama_weight_type t = g->types[kind];
  return t == LLAMA_WEIGHTS_Q4_0 ? 8u : t == LLAMA_WEIGHTS_Q8_0 ? 4u : 2u;
}

// Subgroups per row pair of a product (split-K, llama_wide_matvec.comp):
// doubled while the product's row pairs leave the GPU short of
// WIDE_SUBGROUPS subgroups (an H100: 132 SMs of 32 resident subgroups;
// w2, wo and q/k/v at 1-2K rows) and each part keeps a run of 32 units
// (a subgroup's width on NVIDIA) of each row.
#define WIDE_SUBGROUPS 4096u
#define WIDE_MAX_SPLIT 8u
static uint32_t wide_split(const llama_gpu *g, int kind, uint32_t rows, uint32_t cols) {
  // The classifier's workgroups are counted once (classifier_groups; a
  // vocabulary's rows are many anyway).
  if (kind == WIDE_EMBED || kind == WIDE_ATTENTION || kind == WIDE_CLASSIFIER) return 1;
  if (g->wide_split) return g->wide_split;
  uint32_t units = cols / (4 * unit_vec4(g, kind)), pairs = (rows + 1) / 2, split = 1;
  while (2 * split <= WIDE_MAX_SPLIT && 2 * split * 32 <= units && pairs * split < WIDE_SUBGROUPS) split *= 2;
  return split;
}

// One wide dispatch of `kind`: `rows` rows (of layer `layer`'s matrix) of
// `cols` columns, `per_group` rows per workgroup. Returns its workgroups.
static uint32_t wide_dispatch(llama_gpu *g, wide_cursor *at, const wide_params *base, int kind, uint32_t layer,
                              uint32_t rows, uint32_t cols, uint32_t per_group, wide_link link,
                              gpb_buffer *const *buffers, uint32_t count) {
  put_args(at->a, buffers, count);
  *at->pc = *base;
  at->pc->rows = rows;
  at->pc->cols = cols;
  at->pc->layer = layer;
  // A pass of a workgroup takes per_group / split rows (llama_wide_matvec.comp).
  uint32_t split = wide_split(g, kind, rows, cols);
  if (split > 1) per_group = per_group / split < 2 ? 2 : (per_group / split) & ~1u; // row pairs stay whole
  at->pc->rows_per_group = per_group;
  at->pc->split = split;
  at->pc->parts = link.parts;
  at->pc->out_vec4 = unit_vec4(g, link.reader);
  at->pc->gain_base = link.gain_base;
  uint32_t i = (uint32_t)(at->d - g->dispatches);
  bool per_layer = kind != WIDE_EMBED && kind != WIDE_CLASSIFIER;
  g->dispatch_layer[i] = per_layer ? layer : (uint32_t)g->config.n_layers;
  g->dispatch_name[i] = k_wide_names[kind];
  if (kind == WIDE_ATTENTION) g->attention_dispatch[layer] = i;
  uint32_t groups = groups_for(rows, per_group);
  bool loops = kind == WIDE_QKV || kind == WIDE_WO || kind == WIDE_W13 || kind == WIDE_W2;
  if (loops && g->wide_groups && groups > g->wide_groups) groups = g->wide_groups;
  set_dispatch(at->d++, g->wide[kind], groups, at->a, count, at->pc++, sizeof(wide_params));
  at->a += count;
  return groups;
}

// The push constants every wide dispatch shares.
static wide_params wide_base(const llama_gpu *g) {
  const llama_config *c = &g->config;
  return (wide_params){.dim = (uint32_t)c->dim,
                       .kv_dim = llama_kv_dim(c),
                       .head_size = llama_head_size(c),
                       .seq_len = (uint32_t)c->seq_len,
                       .n_heads = (uint32_t)c->n_heads,
                       .kv_mul = (uint32_t)(c->n_heads / c->n_kv_heads),
                       .split_len = g->split_len,
                       .slot_stride = g->slot_stride,
                       .best_count = g->classifier_groups};
}

// The wide plan's dispatch list (see the top of this file).
static void record_wide_plan(llama_gpu *g) {
  const llama_config *c = &g->config;
  uint32_t dim = (uint32_t)c->dim, hidden = (uint32_t)c->hidden_dim, heads = (uint32_t)c->n_heads;
  uint32_t kv_dim = llama_kv_dim(c), rows = g->wide_rows;
  wide_params base = wide_base(g);
  wide_cursor at = {g->dispatches, g->args, g->wide_pc};
#define ARGS(...)                                                                                                      \
  (gpb_buffer *[]){__VA_ARGS__}, (uint32_t)(sizeof((gpb_buffer *[]){__VA_ARGS__}) / sizeof(gpb_buffer *))
  // Only the embedding kernel reads `step` (record-ahead: host memory); it
  // copies the values to step_dev for the others.
  gpb_buffer *step = g->step_dev;
  uint32_t parts = wide_dispatch(g, &at, &base, WIDE_EMBED, 0, 1, dim, 1, (wide_link){0, WIDE_QKV, 0},
                                 ARGS(g->emb, g->x, g->step, g->best, step, g->rms_att, g->xn, g->sum_sq));
  for (uint32_t l = 0; l < (uint32_t)c->n_layers; l++) {
    bool last = l + 1 == (uint32_t)c->n_layers;
    wide_dispatch(g, &at, &base, WIDE_QKV, l, dim + 2 * kv_dim, dim, rows, (wide_link){parts, WIDE_QKV, 0},
                  ARGS(g->xn, g->wqkv, g->sum_sq, g->rope, g->kv, g->q, step));
    wide_dispatch(g, &at, &base, WIDE_ATTENTION, l, heads, dim, 1, (wide_link){0, WIDE_WO, 0},
                  ARGS(g->q, g->kv, g->slots, step, g->att, g->att_done));
    parts = wide_dispatch(g, &at, &base, WIDE_WO, l, dim, dim, rows, (wide_link){0, WIDE_W13, l * dim},
                          ARGS(g->att, g->wo, g->x, g->rms_ffn, g->xn, g->sum_sq));
    wide_dispatch(g, &at, &base, WIDE_W13, l, 2 * hidden, dim, rows, (wide_link){parts, WIDE_W2, 0},
                  ARGS(g->xn, g->w13, g->sum_sq, g->hb));
    parts = wide_dispatch(g, &at, &base, WIDE_W2, l, dim, hidden, rows,
                          (wide_link){0, last ? WIDE_CLASSIFIER : WIDE_QKV, last ? 0 : (l + 1) * dim},
                          ARGS(g->hb, g->w2, g->x, last ? g->rms_final : g->rms_att, g->xn, g->sum_sq));
  }
  wide_dispatch(g, &at, &base, WIDE_CLASSIFIER, 0, (uint32_t)c->vocab_size, dim, g->classifier_rows,
                (wide_link){parts, WIDE_CLASSIFIER, 0},
                ARGS(g->xn, g->wcls, g->sum_sq, g->logits, g->best, step, g->best_read));
#undef ARGS
  g->best_out_arg = at.a - 1;
  g->dispatch_count = (uint32_t)(at.d - g->dispatches);
}

// The layers kernel's push constants for `groups` workgroups.
static persistent_params layers_pc(const llama_gpu *g, uint32_t groups) {
  const llama_config *c = &g->config;
  uint32_t dim = (uint32_t)c->dim, hidden = (uint32_t)c->hidden_dim, kv_dim = llama_kv_dim(c);
  return (persistent_params){.dim = dim,
                             .hidden = hidden,
                             .kv_dim = kv_dim,
                             .head_size = llama_head_size(c),
                             .seq_len = (uint32_t)c->seq_len,
                             .n_heads = (uint32_t)c->n_heads,
                             .kv_mul = (uint32_t)(c->n_heads / c->n_kv_heads),
                             .split_len = g->split_len,
                             .slot_stride = g->slot_stride,
                             .layers = (uint32_t)c->n_layers,
                             .out_vec4 = unit_vec4(g, WIDE_CLASSIFIER),
                             .part_stride = (uint32_t)place_floats(groups),
                             .spin_limit = PERSISTENT_SPIN_LIMIT,
                             // 0: the kernel picks each product's split
                             // from its own grid (pick_split).
                             .split = g->wide_split,
                             .dim_stride = (uint32_t)place_floats(dim),
                             .hidden_stride = (uint32_t)place_floats(hidden)};
}

// The layers kernel's argument count: PERSISTENT_ARGS, and the clock marks' buffer with phase_times.
static uint32_t layers_arg_count(const llama_gpu *g) { return PERSISTENT_ARGS + (g->phase_clock ? 1u : 0u); }

// The layers kernel's arguments, in its binding order.
static void layers_args(const llama_gpu *g, gpb_arg *args) {
  gpb_buffer *buffers[PERSISTENT_ARGS] = {
      g->step_dev,   g->resid,     g->xn_layers, g->sum_sq_layers, g->q_layers, g->kv,         g->slots, g->att_done,
      g->att_layers, g->hb_layers, g->rope,      g->rms_att,       g->rms_ffn,  g->rms_final,  g->wqkv,  g->wo,
      g->w13,        g->w2,        g->xn,        g->sum_sq,        g->sync,     g->sync_failed};
  put_args(args, buffers, PERSISTENT_ARGS);
  if (g->phase_clock) put_args(args + PERSISTENT_ARGS, &g->phase_clock, 1);
}

// How many of the persistent kernel's workgroups the device runs at once:
// the first of `candidates` whose dispatch of no layers (one grid barrier,
// PERSISTENT_PROBE_SPIN polls at most) completes, into
// g->persistent_groups. The buffers were sized for the first.
static int probe_persistent_groups(llama_gpu *g, const uint32_t *candidates, uint32_t count, llama_error *err) {
  persistent_params pc = layers_pc(g, candidates[0]);
  pc.layers = 0;
  pc.spin_limit = PERSISTENT_PROBE_SPIN;
  gpb_arg args[PERSISTENT_ARGS + 1];
  layers_args(g, args);
  for (uint32_t i = 0; i < count; i++) {
    gpb_dispatch d;
    set_dispatch(&d, g->layers, candidates[i], args, layers_arg_count(g), &pc, sizeof pc);
    uint32_t sync[3] = {0};
    gpb_status st = gpb_stream_dispatch(g->stream, &d);
    if (!st) st = gpb_stream_copy_to_host(g->stream, g->sync, 0, sync, sizeof sync);
    if (st) return llama_error_gpb(err, st, "probing the persistent plan's workgroups");
    if (!sync[2]) {
      g->persistent_groups = candidates[i];
      return 0;
    }
    // Gave up: every workgroup still ran to its end (arrived and exited are
    // back to 0); the flags go back to 0 for the next try.
    const float zeros[3] = {0};
    if (copy_in(g, "grid_sync", zeros, 3, g->sync, 0, err)) return -1;
    g->failed_mapped[0] = 0;
  }
  return llama_error_set(err,
                         "the device did not run %u of the persistent plan's workgroups at once (its grid barrier "
                         "gave up)%s: use --plan wide",
                         candidates[count - 1], count > 1 ? ", nor more" : "");
}

// The persistent plan's dispatch list: the wide plan's embedding kernel
// (writing into the layers' first slots), the layers' kernel, the wide
// plan's classifier.
static void record_persistent_plan(llama_gpu *g) {
  const llama_config *c = &g->config;
  uint32_t dim = (uint32_t)c->dim, layers = (uint32_t)c->n_layers;
  wide_params base = wide_base(g);
  wide_cursor at = {g->dispatches, g->args, g->wide_pc};
  gpb_buffer *step = g->step_dev;
  gpb_buffer *embed_args[] = {g->emb, g->resid, g->step, g->best, step, g->rms_att, g->xn_layers, g->sum_sq_layers};
  wide_dispatch(g, &at, &base, WIDE_EMBED, 0, 1, dim, 1, (wide_link){0, WIDE_QKV, 0}, embed_args, WIDE_ARGS_EMBED);
  g->persistent_pc = layers_pc(g, g->persistent_groups);
  layers_args(g, at.a);
  uint32_t i = (uint32_t)(at.d - g->dispatches);
  g->dispatch_layer[i] = layers;
  g->dispatch_name[i] = "llama_wide_layers";
  set_dispatch(at.d++, g->layers, g->persistent_groups, at.a, layers_arg_count(g), &g->persistent_pc,
               sizeof(persistent_params));
  at.a += layers_arg_count(g);
  gpb_buffer *classifier_args[] = {g->xn, g->wcls, g->sum_sq, g->logits, g->best, step, g->best_read};
  wide_dispatch(g, &at, &base, WIDE_CLASSIFIER, 0, (uint32_t)c->vocab_size, dim, g->classifier_rows,
                (wide_link){g->persistent_groups, WIDE_CLASSIFIER, 0}, classifier_args, WIDE_ARGS_CLASSIFIER);
  g->best_out_arg = at.a - 1;
  g->dispatch_count = (uint32_t)(at.d - g->dispatches);
}

// The limits both plans share: the attention split, its slots (at most
// `max_slots` over all heads, which `whose` holds), and the largest grid,
// `most_groups` wide and a row per slot plus `extra_rows` high.
static int check_splits_and_grid(const llama_config *c, const gpb_device_info *info, llama_plan plan,
                                 uint32_t split_len, uint32_t max_slots, const char *whose, uint32_t most_groups,
                                 uint32_t extra_rows, llama_error *err) {
  if (split_len == 0 || split_len > MAX_SPLIT)
    return llama_error_set(err, "attention split %u is outside 1..%u", split_len, MAX_SPLIT);
  uint32_t slot_stride = slots_per_head(c, plan, split_len);
  if ((uint64_t)c->n_heads * slot_stride > max_slots)
    return llama_error_set(err,
                           "%d heads x %u attention slots (seq_len %d in splits of %u) exceed %s %u; use a longer "
                           "split",
                           c->n_heads, slot_stride, c->seq_len, split_len, whose, max_slots);
  uint32_t high = slot_stride + extra_rows;
  if (most_groups > info->max_workgroup_count[0] || high > info->max_workgroup_count[1])
    return llama_error_set(err, "%u x %u workgroups exceed the device's limits of %u x %u", most_groups, high,
                           info->max_workgroup_count[0], info->max_workgroup_count[1]);
  return 0;
}

// What the fused kernels cannot handle, checked before any allocation.
static int check_fused_limits(const llama_config *c, const gpb_device_info *info, uint32_t split_len, uint32_t ffn_rows,
                              uint32_t classifier_rows, llama_error *err) {
  uint32_t head_size = llama_head_size(c);
  if (c->dim % 4 != 0 || c->hidden_dim % 4 != 0 || head_size % 4 != 0)
    return llama_error_set(err, "dim %d, hidden %d and head size %u must be multiples of 4 (the kernels read vec4)",
                           c->dim, c->hidden_dim, head_size);
  if ((uint32_t)c->dim > MAX_DIM)
    return llama_error_set(err,
                           "dim %d exceeds the fused kernels' %u (their shared input vector); the wide plan "
                           "takes it",
                           c->dim, MAX_DIM);
  if (head_size > MAX_HEAD_SIZE)
    return llama_error_set(err, "head size %u exceeds the attention kernel's %u", head_size, MAX_HEAD_SIZE);
  if (ffn_rows == 0 || ffn_rows > WORKGROUP_SIZE || ffn_rows % 4 != 0)
    return llama_error_set(err, "FFN rows per workgroup %u must be a multiple of 4 in 4..%u", ffn_rows, WORKGROUP_SIZE);
  if (classifier_rows == 0 || classifier_rows > MAX_CLASSIFIER_ROWS || classifier_rows % 4 != 0)
    return llama_error_set(err, "classifier rows per workgroup %u must be a multiple of 4 in 4..%u", classifier_rows,
                           MAX_CLASSIFIER_ROWS);
  uint32_t most_groups = groups_for((uint32_t)c->vocab_size, classifier_rows);
  uint32_t ffn_groups = groups_for((uint32_t)c->hidden_dim, ffn_rows);
  if (ffn_groups > most_groups) most_groups = ffn_groups;
  if ((uint32_t)c->n_heads > most_groups) most_groups = (uint32_t)c->n_heads;
  // The fused attention kernel's grid has a row per slot and two more.
  return check_splits_and_grid(c, info, LLAMA_PLAN_FUSED, split_len, MAX_SLOTS, "the FFN kernel's", most_groups, 2,
                               err);
}

// What the wide kernels cannot handle, checked before any allocation.
static int check_wide_limits(const llama_config *c, const gpb_device_info *info, uint32_t split_len, uint32_t rows,
                             uint32_t classifier_rows, llama_error *err) {
  uint32_t head_size = llama_head_size(c);
  if (c->dim % 8 != 0 || c->hidden_dim % 8 != 0 || head_size % 4 != 0)
    return llama_error_set(err,
                           "the wide plan needs dim %d and hidden %d multiples of 8, head size %u a multiple of 4 "
                           "(its kernels read 8 weights at a time)",
                           c->dim, c->hidden_dim, head_size);
  if (head_size > MAX_HEAD_SIZE)
    return llama_error_set(err, "head size %u exceeds the attention kernel's %u", head_size, MAX_HEAD_SIZE);
  if (rows < 2 || rows > WORKGROUP_SIZE || rows % 2 != 0)
    return llama_error_set(err, "wide rows per workgroup %u must be even, in 2..%u", rows, WORKGROUP_SIZE);
  if (classifier_rows == 0 || classifier_rows > WORKGROUP_SIZE)
    return llama_error_set(err, "wide classifier rows per workgroup %u must be in 1..%u", classifier_rows,
                           WORKGROUP_SIZE);
  uint32_t most_groups = groups_for((uint32_t)c->vocab_size, classifier_rows);
  uint32_t product_groups = groups_for(2u * (uint32_t)c->hidden_dim, rows);
  if (product_groups > most_groups) most_groups = product_groups;
  return check_splits_and_grid(c, info, LLAMA_PLAN_WIDE, split_len, WIDE_MAX_SLOTS, "the wide plan's", most_groups, 0,
                               err);
}

// DEFAULT_SPLIT positions per attention workgroup, longer where the slot
// table would overflow.
static uint32_t default_split(const llama_config *c, llama_plan plan) {
  bool wide = plan != LLAMA_PLAN_FUSED;
  uint32_t split = wide ? WIDE_DEFAULT_SPLIT : DEFAULT_SPLIT;
  for (; split < MAX_SPLIT; split *= 2) {
    uint64_t slots = slots_per_head(c, plan, split);
    if ((uint64_t)c->n_heads * slots <= (wide ? WIDE_MAX_SLOTS : MAX_SLOTS)) break;
  }
  return split;
}

const char *llama_plan_name(llama_plan plan) {
  return plan == LLAMA_PLAN_FUSED        ? "fused"
         : plan == LLAMA_PLAN_WIDE       ? "wide"
         : plan == LLAMA_PLAN_PERSISTENT ? "persistent"
                                         : "auto";
}

int llama_plan_from_name(const char *name, llama_plan *out) {
  for (llama_plan p = LLAMA_PLAN_AUTO; p <= LLAMA_PLAN_PERSISTENT; p++) {
    if (strcmp(name, llama_plan_name(p)) == 0) {
      *out = p;
      return 0;
    }
  }
  return -1;
}

// The fused plan's few workgroups per layer cannot stream large matrices
// at the memory's rate; the wide plan's extra dispatches (5 per layer
// instead of 2, ~2.3 us each on an H100) cost less than that once a
// layer's weights pass AUTO_WIDE_LAYER_BYTES (see bench/results/history.md, plan
// choice), or its width passes what the fused kernels take. The fused
// kernels read f32 and f16 only: other types always go wide. Where the
// wide plan would run, the persistent plan (its products in one dispatch)
// ran faster on the H100 at every shape and type measured (stories42M to
// TinyLlama-1.1B, f32 to Q4_0: +9-39%; BENCHMARKS.md), so auto takes it
// wherever it can run: a device that reports its compute units (its grid
// barrier's workgroups are probed there) and every layer matrix of one type.
#define AUTO_WIDE_LAYER_BYTES (4ull << 20)
llama_plan llama_auto_plan(const llama_config *c, llama_weight_type weights, bool persistent_ok) {
  llama_plan wide = persistent_ok ? LLAMA_PLAN_PERSISTENT : LLAMA_PLAN_WIDE;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
  uint64_t layer_weights = (2 * dim + 2 * llama_kv_dim(c)) * dim + 3 * dim * hidden;
  uint64_t bytes = layer_weights * (weights == LLAMA_WEIGHTS_F32 ? 4 : 2);
  bool wide_fits = dim % 8 == 0 && hidden % 8 == 0;
  if (!wide_fits) return LLAMA_PLAN_FUSED; // whose own limits then say what it cannot take
  if (dim > MAX_DIM || weights > LLAMA_WEIGHTS_F16) return wide;
  return bytes > AUTO_WIDE_LAYER_BYTES ? wide : LLAMA_PLAN_FUSED;
}

// The persistent plan's layers kernel: with integer dot products where
// llama_gpu_create chose them (g->int_dot), else the float dot products.
static int create_layers_kernel(llama_gpu *g, llama_error *err) {
  llama_weight_type t = g->types[WIDE_QKV];
  spirv_words w = g->int_dot ? k_layers_idot_spirv[g->phase_times][t == LLAMA_WEIGHTS_Q4_0]
                             : (g->phase_times ? k_layers_clock_spirv : k_layers_spirv)[t];
  return create_kernel(g, "llama_wide_layers", w, sizeof(persistent_params), &g->layers, err);
}

static int create_kernels(llama_gpu *g, llama_error *err) {
  if (g->plan != LLAMA_PLAN_FUSED) {
    bool persistent = g->plan == LLAMA_PLAN_PERSISTENT;
    for (int k = 0; k < WIDE_KERNELS; k++) {
      if (persistent && k != WIDE_EMBED && k != WIDE_CLASSIFIER) continue; // in its layers' kernel
      if (create_kernel(g, k_wide_names[k], k_wide_spirv[g->types[k]][k], sizeof(wide_params), &g->wide[k], err))
        return -1;
    }
    return persistent ? create_layers_kernel(g, err) : 0;
  }
  return create_kernel(g, "llama_attention", k_fused_spirv[g->f16][0], sizeof(attention_params), &g->attention, err) ||
                 create_kernel(g, "llama_ffn", k_fused_spirv[g->f16][1], sizeof(ffn_params), &g->ffn, err) ||
                 create_kernel(g, "llama_classifier_argmax", k_fused_spirv[g->f16][2], sizeof(classifier_params),
                               &g->classifier, err)
             ? -1
             : 0;
}

// The type one kernel's matrix is stored in: the type its tensors have in
// the file (every layer's alike), float32 converted to f16 when asked.
static int kind_type(const llama_checkpoint *ck, llama_weight_type convert, const char *kernel, const int *matrices,
                     int count, llama_weight_type *out, llama_error *err) {
  static const char *const names[LLAMA_LAYER_MATRICES] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
  llama_weight_type type = LLAMA_WEIGHTS_F32;
  for (int32_t l = 0; l < ck->config.n_layers; l++) {
    for (int i = 0; i < count; i++) {
      llama_weight_type t = matrices[i] < 0
                                ? (matrices[i] == -1 ? ck->src.token_embedding.type : ck->src.wcls.type)
                                : ck->src.layers[(size_t)l * LLAMA_LAYER_MATRICES + (size_t)matrices[i]].type;
      if (l == 0 && i == 0) {
        type = t;
      } else if (t != type) {
        return llama_error_set(err,
                               "%s: layer %d %s is %s, other matrices of the kernel %s; the decoder needs one type "
                               "per kernel",
                               kernel, (int)l, matrices[i] < 0 ? "matrix" : names[matrices[i]],
                               llama_weight_type_name(t), llama_weight_type_name(type));
      }
    }
  }
  if (convert == LLAMA_WEIGHTS_F16 && type == LLAMA_WEIGHTS_F32) type = LLAMA_WEIGHTS_F16;
  *out = type;
  return 0;
}

// Every kernel's storage type (g->types), and whether the fused plan can
// take them (all f32 or all f16).
static int resolve_types(const llama_checkpoint *ck, llama_weight_type convert, llama_weight_type types[WIDE_KERNELS],
                         bool *fused_ok, llama_error *err) {
  if (convert != LLAMA_WEIGHTS_F32 && convert != LLAMA_WEIGHTS_F16)
    return llama_error_set(err,
                           "weights %s: the decoder converts float32 matrices to f16 only (other types come "
                           "from a GGUF file)",
                           llama_weight_type_name(convert));
  if (!ck->src.layers) return llama_error_set(err, "the checkpoint has no weights loaded");
  const int emb[] = {-1}, cls[] = {-2}, qkv[] = {LLAMA_WQ, LLAMA_WK, LLAMA_WV}, wo[] = {LLAMA_WO},
            w13[] = {LLAMA_W1, LLAMA_W3}, w2[] = {LLAMA_W2};
  types[WIDE_ATTENTION] = LLAMA_WEIGHTS_F32;
  if (kind_type(ck, convert, "llama_wide_embed", emb, 1, &types[WIDE_EMBED], err) ||
      kind_type(ck, convert, "llama_wide_qkv", qkv, 3, &types[WIDE_QKV], err) ||
      kind_type(ck, convert, "llama_wide_wo", wo, 1, &types[WIDE_WO], err) ||
      kind_type(ck, convert, "llama_wide_w13", w13, 2, &types[WIDE_W13], err) ||
      kind_type(ck, convert, "llama_wide_w2", w2, 1, &types[WIDE_W2], err) ||
      kind_type(ck, convert, "llama_wide_classifier", cls, 1, &types[WIDE_CLASSIFIER], err))
    return -1;
  *fused_ok = types[WIDE_QKV] <= LLAMA_WEIGHTS_F16;
  for (int k = 0; k < WIDE_KERNELS; k++)
    if (k != WIDE_ATTENTION && types[k] != types[WIDE_QKV]) *fused_ok = false;
  return 0;
}

int llama_gpu_create(gpb_device *device, const llama_checkpoint *ck, const llama_gpu_options *options, llama_gpu **out,
                     llama_error *err) {
  *out = NULL;
  const llama_config *c = &ck->config;
  llama_weight_type types[WIDE_KERNELS] = {LLAMA_WEIGHTS_F32};
  bool fused_ok = false;
  if (resolve_types(ck, options ? options->weights : LLAMA_WEIGHTS_F32, types, &fused_ok, err)) return -1;
  gpb_device_info info;
  gpb_status st = gpb_device_query(device, &info);
  if (st) return llama_error_gpb(err, st, "querying the device");
  // The persistent kernel reads every layer matrix in one type.
  bool one_layer_type =
      types[WIDE_WO] == types[WIDE_QKV] && types[WIDE_W13] == types[WIDE_QKV] && types[WIDE_W2] == types[WIDE_QKV];
  // The wide plan's own knobs, asked for, keep auto on the wide plan.
  bool wide_knobs = options && (options->wide_rows || options->wide_groups);
  bool persistent_ok = info.compute_units && one_layer_type && !wide_knobs;
  llama_plan plan = options && options->plan != LLAMA_PLAN_AUTO ? options->plan
                    : fused_ok                                  ? llama_auto_plan(c, types[WIDE_QKV], persistent_ok)
                               : llama_auto_plan(c, LLAMA_WEIGHTS_Q8_0, persistent_ok); // wide where it fits
  if (plan == LLAMA_PLAN_PERSISTENT && !one_layer_type)
    return llama_error_set(err,
                           "the persistent plan reads every layer matrix in one type; this model's are %s (q/k/v), "
                           "%s (wo), %s (w1/w3), %s (w2): use --plan wide",
                           llama_weight_type_name(types[WIDE_QKV]), llama_weight_type_name(types[WIDE_WO]),
                           llama_weight_type_name(types[WIDE_W13]), llama_weight_type_name(types[WIDE_W2]));
  if (options && options->phase_times && plan != LLAMA_PLAN_PERSISTENT)
    return llama_error_set(err,
                           "phase times are the persistent plan's (%s plan asked for): use --plan persistent, "
                           "or --trace for the other plans' dispatches",
                           llama_plan_name(plan));
  if (plan == LLAMA_PLAN_FUSED && !fused_ok)
    return llama_error_set(
        err,
        "the fused plan reads f32 or f16 matrices, all of one type; this model's are %s (embedding), "
        "%s (layers), %s (classifier): use --plan wide or persistent (auto picks one)",
        llama_weight_type_name(types[WIDE_EMBED]), llama_weight_type_name(types[WIDE_QKV]),
        llama_weight_type_name(types[WIDE_CLASSIFIER]));
  bool wide = plan != LLAMA_PLAN_FUSED, persistent = plan == LLAMA_PLAN_PERSISTENT;
  uint32_t split_len = options && options->attention_split ? options->attention_split : default_split(c, plan);
  uint32_t ffn_rows = options && options->rows_per_group ? options->rows_per_group : DEFAULT_FFN_ROWS;
  uint32_t classifier_rows = options && options->classifier_rows ? options->classifier_rows
                             : wide                              ? WIDE_DEFAULT_CLASSIFIER_ROWS
                                                                 : DEFAULT_CLASSIFIER_ROWS;
  bool f32_layers = types[WIDE_QKV] == LLAMA_WEIGHTS_F32 && types[WIDE_W13] == LLAMA_WEIGHTS_F32;
  uint32_t wide_rows = options && options->wide_rows ? options->wide_rows
                       : f32_layers                  ? WIDE_DEFAULT_ROWS_F32
                                                     : WIDE_DEFAULT_ROWS;
  // Persistent: the workgroups asked for, else per SM the first count of
  // k_persistent_per_unit the device runs at once (probed once the state
  // exists), else 1.
  uint32_t candidates[sizeof k_persistent_per_unit / sizeof k_persistent_per_unit[0]] = {1}, candidate_count = 1;
  if (options && options->persistent_groups) {
    candidates[0] = options->persistent_groups;
  } else if (info.compute_units) {
    candidate_count = (uint32_t)(sizeof candidates / sizeof candidates[0]);
    for (uint32_t i = 0; i < candidate_count; i++) candidates[i] = info.compute_units * k_persistent_per_unit[i];
  }
  uint32_t persistent_groups = candidates[0];
  if (wide ? check_wide_limits(c, &info, split_len, wide_rows, classifier_rows, err)
           : check_fused_limits(c, &info, split_len, ffn_rows, classifier_rows, err))
    return -1;
  if (info.max_workgroup_size[0] < WORKGROUP_SIZE || info.max_workgroup_invocations < WORKGROUP_SIZE)
    return llama_error_set(err, "the kernels need %u-invocation workgroups", WORKGROUP_SIZE);
  if (info.subgroup_size < MIN_SUBGROUP_SIZE)
    return llama_error_set(err, "'%s' has subgroups of %u invocations; the kernels need at least %u", info.name,
                           info.subgroup_size, MIN_SUBGROUP_SIZE);
  if (options && options->ahead && options->record_ahead)
    return llama_error_set(err, "ahead and record-ahead exclude each other (the GPU or the host picks the token)");
  // Integer dot products (options.int_dot): the persistent plan's Q8_0 and
  // Q4_0 layers, inputs that fit the kernel's staging, a device that has
  // them.
  bool int_dot = options && options->int_dot;
  bool quant_layers = types[WIDE_QKV] == LLAMA_WEIGHTS_Q8_0 || types[WIDE_QKV] == LLAMA_WEIGHTS_Q4_0;
  uint32_t longest = (uint32_t)(c->dim > c->hidden_dim ? c->dim : c->hidden_dim);
  if (int_dot && (!persistent || !quant_layers))
    return llama_error_set(err, "integer dot products are for the persistent plan's Q8_0 and Q4_0 layers (%s plan, %s)",
                           llama_plan_name(plan), llama_weight_type_name(types[WIDE_QKV]));
  if (int_dot && longest > MAX_STAGE_COLS)
    return llama_error_set(err, "integer dot products stage inputs of at most %u columns; the model's longest is %u",
                           MAX_STAGE_COLS, longest);
  if (int_dot && !info.integer_dot_product)
    return llama_error_set(err, "'%s' has no integer dot products (VK_KHR_shader_integer_dot_product)", info.name);
  if (options && options->wide_split > WIDE_MAX_SPLIT)
    return llama_error_set(err, "wide split %u is outside 0..%u", options->wide_split, WIDE_MAX_SPLIT);
  // Where the device does not say how many SMs it has, nothing says which
  // workgroups run at once (lavapipe runs some at once, but its grid
  // barrier then lets workgroups through early: wrong results, no timeout).
  if (persistent && persistent_groups > 1 && !info.compute_units)
    return llama_error_set(err,
                           "%u persistent workgroups: '%s' does not report its compute units, so the persistent plan "
                           "runs 1 workgroup there",
                           persistent_groups, info.name);
  if (persistent && persistent_groups > info.max_workgroup_count[0])
    return llama_error_set(err, "%u persistent workgroups exceed the device's limit of %u", persistent_groups,
                           info.max_workgroup_count[0]);

  llama_gpu *g = calloc(1, sizeof *g);
  if (!g) return llama_error_set(err, "out of memory");
  g->device = device;
  g->config = *c;
  g->plan = plan;
  memcpy(g->types, types, sizeof g->types);
  g->f16 = types[WIDE_QKV] == LLAMA_WEIGHTS_F16;
  g->split_len = split_len;
  g->slot_stride = slots_per_head(c, plan, split_len);
  g->wide_rows = wide_rows;
  g->wide_groups = options ? options->wide_groups : 0;
  g->wide_split = options ? options->wide_split : 0;
  g->persistent_groups = persistent_groups;
  g->phase_times = options && options->phase_times;
  g->int_dot = int_dot;
  g->ffn_rows = ffn_rows;
  g->ffn_groups = groups_for((uint32_t)c->hidden_dim, ffn_rows);
  g->classifier_rows = classifier_rows;
  g->classifier_groups = groups_for((uint32_t)c->vocab_size, classifier_rows);
  g->replay = options && options->replay;
  g->ahead = options && options->ahead;
  g->record_ahead = options && options->record_ahead;
  g->program_count = g->replay ? 2u * g->slot_stride : 0;
  uint32_t layers = (uint32_t)c->n_layers;
  uint32_t dispatches = persistent ? 3 : wide ? 5u * layers + 2 : 2u * layers + 1;
  size_t args = persistent ? (size_t)WIDE_ARGS_EMBED + PERSISTENT_ARGS + 1 + WIDE_ARGS_CLASSIFIER
                : wide     ? (size_t)WIDE_ARGS_PER_LAYER * layers + WIDE_ARGS_EMBED + WIDE_ARGS_CLASSIFIER
                           : (size_t)ARGS_PER_LAYER * layers + ARGS_CLASSIFIER;
  g->dispatches = calloc(dispatches, sizeof(gpb_dispatch));
  g->dispatch_layer = calloc(dispatches, sizeof(uint32_t));
  g->dispatch_name = calloc(dispatches, sizeof(const char *));
  g->attention_dispatch = calloc(layers, sizeof(uint32_t));
  g->step_args = calloc(dispatches, sizeof(gpb_arg *));
  g->args = calloc(args, sizeof(gpb_arg));
  g->attention_pc = calloc(layers, sizeof(attention_params));
  g->ffn_pc = calloc(layers, sizeof(ffn_params));
  g->wide_pc = calloc(dispatches, sizeof(wide_params));
  g->best_host = calloc(2u * g->classifier_groups, sizeof(uint32_t));
  g->programs = calloc(g->program_count + 1, sizeof(gpb_program *));
  if (!g->dispatches || !g->dispatch_layer || !g->dispatch_name || !g->attention_dispatch || !g->step_args ||
      !g->args || !g->attention_pc || !g->ffn_pc || !g->wide_pc || !g->best_host || !g->programs) {
    llama_gpu_destroy(g);
    return llama_error_set(err, "out of memory");
  }
  gpb_stream_options stream_options = {.mode = options ? options->mode : GPB_MODE_DEFAULT,
                                       .max_batch_dispatches = options ? options->max_batch_dispatches : 0};
  if ((st = gpb_stream_create(device, &stream_options, &g->stream))) {
    llama_gpu_destroy(g);
    return llama_error_gpb(err, st, "creating the decoder's stream");
  }
  // A prepared step must not be submitted before its token is written:
  // immediate mode submits every command, a dispatch cap may split a step.
  if (g->record_ahead && (gpb_stream_mode(g->stream) != GPB_MODE_BATCHED || stream_options.max_batch_dispatches)) {
    llama_gpu_destroy(g);
    return llama_error_set(err, "record-ahead needs a batched stream without a dispatch cap");
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  bool packs = false; // anything but float32 copied as it is
  for (int k = 0; k < WIDE_KERNELS; k++) packs = packs || types[k] != LLAMA_WEIGHTS_F32;
  uint32_t load_threads = packs ? (uint32_t)(cores < 1 ? 1 : cores > 16 ? 16 : cores) : 1;
  if (llama_pool_create(load_threads, &g->load_pool, err) || create_kernels(g, err) ||
      upload_weights(g, ck, &info, err) || create_state(g, &info, err)) {
    llama_gpu_destroy(g);
    return -1;
  }
  llama_pool_destroy(g->load_pool);
  g->load_pool = NULL;
  if (persistent && probe_persistent_groups(g, candidates, candidate_count, err)) {
    llama_gpu_destroy(g);
    return -1;
  }
  if (persistent)
    record_persistent_plan(g);
  else if (wide)
    record_wide_plan(g);
  else
    record_fused_plan(g);
  // Every dispatch's Step argument, which record-ahead points at the step's
  // mapped values.
  for (size_t i = 0; i < args; i++)
    if (g->args[i].buffer == g->step) g->step_args[g->step_arg_count++] = &g->args[i];
  // Uploads go out now, so the first step times decoding, not staging.
  if ((st = gpb_stream_sync(g->stream))) {
    llama_gpu_destroy(g);
    return llama_error_gpb(err, st, "uploading the weights");
  }
  *out = g;
  return 0;
}

void llama_gpu_destroy(llama_gpu *g) {
  if (!g) return;
  // Programs hold their buffers and kernels: they go first. Work still
  // pending is finished by gpb_program_destroy, gpb_buffer_free and the
  // stream's destroy.
  for (uint32_t i = 0; g->programs && i < g->program_count; i++) gpb_program_destroy(g->programs[i]);
  gpb_stream_destroy(g->stream);
  gpb_buffer *weights[] = {g->emb, g->rms_att, g->wqkv, g->wo, g->rms_ffn, g->w13, g->w2, g->rms_final, g->rope};
  gpb_buffer *state[] = {
      g->kv,        g->x,        g->x_mid,       g->q,          g->slots,         g->ffn_parts, g->best,
      g->step,      g->logits,   g->best_read,   g->hb,         g->step_dev,      g->xn,        g->sum_sq,
      g->att,       g->att_done, g->resid,       g->xn_layers,  g->sum_sq_layers, g->q_layers,  g->att_layers,
      g->hb_layers, g->sync,     g->sync_failed, g->phase_clock};
  gpb_buffer *mapped[] = {g->best_shared[0], g->best_shared[1], g->step_shared[0], g->step_shared[1]};
  for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) gpb_buffer_free(weights[i]);
  for (size_t i = 0; i < sizeof state / sizeof state[0]; i++) gpb_buffer_free(state[i]);
  for (size_t i = 0; i < sizeof mapped / sizeof mapped[0]; i++) gpb_buffer_free(mapped[i]);
  if (g->wcls != g->emb) gpb_buffer_free(g->wcls);
  gpb_kernel *kernels[] = {g->attention, g->ffn, g->classifier, g->layers};
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) gpb_kernel_destroy(kernels[i]);
  for (int k = 0; k < WIDE_KERNELS; k++) gpb_kernel_destroy(g->wide[k]);
  free(g->step_args);
  free(g->dispatches);
  free(g->dispatch_layer);
  free(g->dispatch_name);
  free(g->attention_dispatch);
  free(g->wide_pc);
  llama_pool_destroy(g->load_pool);
  free(g->args);
  free(g->attention_pc);
  free(g->ffn_pc);
  free(g->best_host);
  free(g->programs);
  free(g);
}

// The token: argmax over the classifier workgroups' bests, which cover
// ascending rows, so the first of equal values has the lowest index.
static uint32_t best_token(const llama_gpu *g) {
  uint32_t token = NO_INDEX;
  float value = 0;
  for (uint32_t i = 0; i < g->classifier_groups; i++) {
    uint32_t bits = g->best_host[2 * i], index = g->best_host[2 * i + 1];
    float v;
    memcpy(&v, &bits, sizeof v);
    if (index == NO_INDEX || isnan(v)) continue;
    if (token == NO_INDEX || v > value) {
      token = index;
      value = v;
    }
  }
  return token;
}

static int step_failed(llama_gpu *g, uint32_t pos, const char *what, gpb_status st, llama_error *err) {
  return llama_error_set(err, "step at pos %u: %s: %s: %s", pos, what, gpb_status_name(st),
                         gpb_stream_last_error(g->stream));
}

// The step's dispatches, recorded afresh (or into a capture).
static int record_step(llama_gpu *g, uint32_t pos, llama_error *err) {
  for (uint32_t i = 0; i < g->dispatch_count; i++) {
    gpb_status st = gpb_stream_dispatch(g->stream, &g->dispatches[i]);
    if (st) {
      char what[64];
      if (g->dispatch_layer[i] < (uint32_t)g->config.n_layers)
        snprintf(what, sizeof what, "layer %u %s", g->dispatch_layer[i], g->dispatch_name[i]);
      else
        snprintf(what, sizeof what, "%s", g->dispatch_name[i]);
      return step_failed(g, pos, what, st, err);
    }
  }
  return 0;
}

// Replay: the program of this grid and BestOut, captured on first use
// (before the step's values are written: a capturing stream takes no host
// copies).
static int step_program(llama_gpu *g, uint32_t pos, uint32_t grid, gpb_program **out, llama_error *err) {
  gpb_program **slot = &g->programs[grid * 2u + (g->ahead || g->record_ahead ? pos % 2u : 0u)];
  if (!*slot) {
    gpb_status st = gpb_stream_begin_capture(g->stream);
    if (st) return step_failed(g, pos, "beginning the capture", st, err);
    int rc = record_step(g, pos, err);
    gpb_program *program = NULL;
    st = gpb_stream_end_capture(g->stream, &program);
    if (rc) {
      gpb_program_destroy(program);
      return -1;
    }
    if (st) return step_failed(g, pos, "ending the capture", st, err);
    *slot = program;
  }
  *out = *slot;
  return 0;
}

static int check_step(const llama_gpu *g, uint32_t token, uint32_t pos, llama_error *err) {
  const llama_config *c = &g->config;
  bool gpu_token = token == LLAMA_GPU_TOKEN_FROM_GPU && pos > 0;
  if ((token >= (uint32_t)c->vocab_size && !gpu_token) || pos >= (uint32_t)c->seq_len)
    return llama_error_set(err, "step: token %u or position %u out of range (vocab %d, seq_len %d)", token, pos,
                           c->vocab_size, c->seq_len);
  return 0;
}

// Records the step at `pos`: its values (pos, token) first, then its
// dispatches afresh or its captured program (captured before the values
// are written: a capturing stream takes no host copies). The values go
// inline into the command stream, or, record-ahead, into the mapped
// step_shared[pos % 2] that the step's kernels read (written now;
// llama_gpu_commit may rewrite the token until the step is submitted).
// On an H100 a step takes ~6 µs less GPU time this way than with a copy of
// the values into device memory and its barrier first.
static int record_or_replay(llama_gpu *g, uint32_t token, uint32_t pos, llama_error *err) {
  // The attention grid: fused (heads, PAST splits + Q, K, V), wide
  // (heads, splits); `grid` numbers the shapes for replay.
  // (Persistent: one grid; its kernel takes the splits from the position.)
  uint32_t grid = g->plan == LLAMA_PLAN_PERSISTENT ? 0
                  : g->plan == LLAMA_PLAN_WIDE     ? wide_splits(pos, g->split_len) - 1
                                                   : past_splits(pos, g->split_len);
  uint32_t attention_groups = grid + (g->plan == LLAMA_PLAN_WIDE ? 1 : 3);
  for (uint32_t l = 0; g->plan != LLAMA_PLAN_PERSISTENT && l < (uint32_t)g->config.n_layers; l++)
    g->dispatches[g->attention_dispatch[l]].groups[1] = attention_groups;
  g->best_out_arg->buffer = g->ahead || g->record_ahead ? g->best_shared[pos % 2u] : g->best_read;
  for (uint32_t i = 0; g->record_ahead && i < g->step_arg_count; i++)
    g->step_args[i]->buffer = g->step_shared[pos % 2u];
  gpb_program *program = NULL;
  if (g->replay && step_program(g, pos, grid, &program, err)) return -1;
  uint32_t values[2] = {pos, token};
  gpb_status st;
  if (g->record_ahead) {
    void *mapped = NULL;
    st = gpb_buffer_map(g->step_shared[pos % 2u], GPB_HOST_WRITE, &mapped); // the step two before is done
    if (st)
      return llama_error_set(err, "step at pos %u: mapping its values: %s: %s", pos, gpb_status_name(st),
                             gpb_last_error());
    memcpy(mapped, values, sizeof values);
    g->step_mapped[pos % 2u] = mapped;
  } else if ((st = gpb_stream_copy_to_device(g->stream, values, g->step, 0, sizeof values))) {
    return step_failed(g, pos, "writing the step's position and token", st, err);
  }
  if (!program) return record_step(g, pos, err);
  if ((st = gpb_stream_replay(g->stream, program))) return step_failed(g, pos, "replaying the step", st, err);
  return 0;
}

int llama_gpu_submit(llama_gpu *g, uint32_t token, uint32_t pos, llama_error *err) {
  if (g->record_ahead) {
    if (check_step(g, token, pos, err) || llama_gpu_prepare(g, pos, err)) return -1;
    return llama_gpu_commit(g, token, pos, err);
  }
  if (check_step(g, token, pos, err) || record_or_replay(g, token, pos, err)) return -1;
  gpb_status st;
  if (g->ahead && (st = gpb_stream_flush(g->stream))) return step_failed(g, pos, "submitting", st, err);
  return 0;
}

int llama_gpu_prepare(llama_gpu *g, uint32_t pos, llama_error *err) {
  if (!g->record_ahead) return llama_error_set(err, "step at pos %u: prepare needs the record-ahead option", pos);
  if (g->prepared)
    return llama_error_set(err, "step at pos %u: the step at pos %u is prepared and not committed", pos,
                           g->prepared - 1);
  if (check_step(g, 0, pos, err) || record_or_replay(g, 0, pos, err)) return -1;
  g->prepared = pos + 1;
  return 0;
}

int llama_gpu_commit(llama_gpu *g, uint32_t token, uint32_t pos, llama_error *err) {
  if (!g->record_ahead || g->prepared != pos + 1)
    return llama_error_set(err, "step at pos %u: not prepared (llama_gpu_prepare first)", pos);
  if (check_step(g, token, pos, err)) return -1;
  memcpy(&g->step_mapped[pos % 2u][1], &token, sizeof token); // before the submit, which makes it visible
  g->prepared = 0;
  gpb_status st = gpb_stream_flush(g->stream);
  if (st) return step_failed(g, pos, "submitting", st, err);
  return 0;
}

int llama_gpu_collect(llama_gpu *g, uint32_t pos, uint32_t *out_next, llama_error *err) {
  uint64_t bytes = (uint64_t)g->classifier_groups * 2 * sizeof(uint32_t);
  gpb_status st;
  if (g->ahead || g->record_ahead) {
    void *mapped = NULL;
    st = gpb_buffer_map(g->best_shared[pos % 2u], GPB_HOST_READ, &mapped);
    if (st)
      return llama_error_set(err, "step at pos %u: reading the token: %s: %s", pos, gpb_status_name(st),
                             gpb_last_error());
    memcpy(g->best_host, mapped, (size_t)bytes);
  } else {
    st = gpb_stream_copy_to_host(g->stream, g->best_read, 0, g->best_host, bytes);
  }
  if (st) return step_failed(g, pos, "reading the token", st, err);
  // Set once and never cleared, so a read that comes late only reports
  // the failure a step later: no wait on the mapping.
  if (g->failed_mapped && g->failed_mapped[0] == 2)
    return llama_error_set(err,
                           "step at pos %u: the device ended the persistent kernel's loops early, so its results "
                           "are wrong (lavapipe runs at most 65535 loop iterations an invocation; its one "
                           "workgroup runs the whole step): use --plan wide",
                           pos);
  if (g->failed_mapped && g->failed_mapped[0])
    return llama_error_set(err,
                           "step at pos %u: the persistent plan's grid barrier gave up: the device did not run its "
                           "%u workgroups at once (fewer with --persistent-groups, or --plan wide)",
                           pos, g->persistent_groups);
  uint32_t next = best_token(g);
  if (next >= (uint32_t)g->config.vocab_size)
    return llama_error_set(err, "step at pos %u: the GPU argmax found no logit that is a number", pos);
  *out_next = next;
  return 0;
}

int llama_gpu_step(llama_gpu *g, uint32_t token, uint32_t pos, uint32_t *out_next, llama_error *err) {
  if (token == LLAMA_GPU_TOKEN_FROM_GPU)
    return llama_error_set(err, "step at pos %u: llama_gpu_step needs the token", pos);
  return llama_gpu_submit(g, token, pos, err) || llama_gpu_collect(g, pos, out_next, err) ? -1 : 0;
}

int llama_gpu_read_logits(llama_gpu *g, uint32_t pos, float *out, llama_error *err) {
  uint64_t vocab_bytes = (uint64_t)g->config.vocab_size * sizeof(float);
  gpb_status st = gpb_stream_copy_to_host(g->stream, g->logits, (pos % 2u) * vocab_bytes, out, vocab_bytes);
  if (st)
    return llama_error_set(err, "reading the logits: %s: %s", gpb_status_name(st), gpb_stream_last_error(g->stream));
  return 0;
}

gpb_stream *llama_gpu_stream(llama_gpu *g) { return g->stream; }

uint32_t llama_gpu_dispatches_per_step(const llama_gpu *g) { return g->dispatch_count; }

llama_plan llama_gpu_plan(const llama_gpu *g) { return g->plan; }

const char *llama_phase_name(int phase) {
  static const char *const names[LLAMA_PHASES] = {"qkv", "attention", "wo", "w13", "w2"};
  return phase >= 0 && phase < LLAMA_PHASES ? names[phase] : "?";
}

// The marks of one step as the layers kernel writes them
// (kernels/llama_wide_layers.comp).
typedef struct mark_clock {
  const uint32_t *marks;
  uint32_t groups;
  bool wraps;    // the clock's high word is 0 in every mark
  uint32_t base; // with wraps: 2^31 ticks before workgroup 0's start
} mark_clock;

// Clock mark `which` (0 arrival, 1 release) of workgroup `group` at event
// e. A clock whose high word stays 0 (lavapipe's: 32 bits of nanoseconds,
// wrapping every 4.3 s) is read as ticks past `base`, so that a wrap
// inside a step (far shorter than 2^31 ticks) still counts forward.
static uint64_t clock_mark(const mark_clock *c, uint64_t e, uint32_t group, int which) {
  const uint32_t *m = c->marks + 4 * (e * c->groups + group) + 2 * which;
  return c->wraps ? (uint32_t)(m[0] - c->base) : m[0] | (uint64_t)m[1] << 32;
}

int llama_phase_times_from_marks(const uint32_t *marks, uint32_t groups, uint32_t layers, llama_phase_times *out,
                                 llama_error *err) {
  if (groups == 0) return llama_error_set(err, "phase times: no workgroups");
  uint64_t events = phase_events(layers), words = phase_mark_words(layers, groups);
  mark_clock c = {marks, groups, true, marks[2] - 0x80000000u};
  bool written = true;
  for (uint64_t i = 0; i < words; i += 2) c.wraps = c.wraps && marks[i + 1] == 0;
  for (uint32_t w = 0; w < groups; w++) written = written && (marks[4 * w + 2] | marks[4 * w + 3]) != 0;
  memset(out, 0, sizeof *out);
  out->groups = groups;
  out->layers = layers;
  uint64_t last_prev_release = 0;
  for (uint32_t w = 0; w < groups; w++) {
    uint64_t r = clock_mark(&c, 0, w, 1);
    if (r > last_prev_release) last_prev_release = r;
  }
  uint64_t start = last_prev_release;
  bool ordered = true;
  for (uint64_t e = 1; e < events; e++) {
    uint64_t last_arrival = 0, last_release = 0;
    double busy = 0;
    for (uint32_t w = 0; w < groups; w++) {
      uint64_t in = clock_mark(&c, e - 1, w, 1), a = clock_mark(&c, e, w, 0), r = clock_mark(&c, e, w, 1);
      ordered = ordered && a >= in && r >= a;
      busy += (double)(a - in);
      if (a > last_arrival) last_arrival = a;
      if (r > last_release) last_release = r;
    }
    int phase = (int)((e - 1) % LLAMA_PHASES);
    out->until_last[phase] += (double)(last_arrival - last_prev_release);
    out->barrier[phase] += (double)(last_release - last_arrival);
    out->busy_mean[phase] += busy / groups;
    last_prev_release = last_release;
  }
  out->total = (double)(last_prev_release - start);
  // A workgroup's marks run forward in time: anything else is a clock that
  // does not (or marks from different steps).
  if (!written) return llama_error_set(err, "phase times: the step's start marks were never written");
  if (!ordered)
    return llama_error_set(err, "phase times: the device clock's marks are out of order (a clock not shared by "
                                "the workgroups?)");
  return 0;
}

int llama_gpu_phase_times(llama_gpu *g, llama_phase_times *out, llama_error *err) {
  if (!g->phase_clock) return llama_error_set(err, "phase times: the decoder was created without them");
  size_t bytes = (size_t)(phase_mark_words((uint32_t)g->config.n_layers, g->persistent_groups) * sizeof(uint32_t));
  uint32_t *marks = malloc(bytes);
  if (!marks) return llama_error_set(err, "phase times: out of memory (%zu bytes)", bytes);
  gpb_status st = gpb_stream_copy_to_host(g->stream, g->phase_clock, 0, marks, bytes);
  int rc = st ? llama_error_gpb(err, st, "reading the phase clock marks")
              : llama_phase_times_from_marks(marks, g->persistent_groups, (uint32_t)g->config.n_layers, out, err);
  free(marks);
  return rc;
}

uint32_t llama_gpu_persistent_groups(const llama_gpu *g) {
  return g->plan == LLAMA_PLAN_PERSISTENT ? g->persistent_groups : 0;
}

llama_weight_type llama_gpu_weights(const llama_gpu *g) { return g->types[WIDE_QKV]; }

bool llama_gpu_int_dot(const llama_gpu *g) { return g->int_dot; }
