// gpu_forward.c: recording the decode step as gpubatch dispatches.
//
// Per layer, each depending on the previous one:
//   1 llama_qkv             rmsnorm + q/k/v + RoPE, k/v into the cache
//                           (layer 0: input = emb[token], also stored as x)
//   2 llama_attention       (head, position split) workgroups, merged in-kernel
//   3 llama_matvec_residual x += wo att
//   4 llama_ffn_up          rmsnorm + w1/w3 + SwiGLU
//   5 llama_matvec_residual x += w2 hb
// then llama_classifier_argmax (final rmsnorm, logits, argmax): no copy
// starts the step, 5 * n_layers + 1 dispatches, plus the token readback.
//
// Recording a dispatch costs host time per argument, so tensors used
// together share a buffer: wq/wk/wv as one wqkv (per layer: q rows, k rows,
// v rows), w1/w3 interleaved by row as w13, and one KV cache buffer.
#include "gpu_forward.h"

#include <stdlib.h>
#include <string.h>

#include "cpu_forward.h" // llama_rope_table

static const uint32_t k_qkv_spirv[] =
#include "llama_qkv.inc"
    ;
static const uint32_t k_attention_spirv[] =
#include "llama_attention.inc"
    ;
static const uint32_t k_matvec_residual_spirv[] =
#include "llama_matvec_residual.inc"
    ;
static const uint32_t k_ffn_up_spirv[] =
#include "llama_ffn_up.inc"
    ;
static const uint32_t k_classifier_spirv[] =
#include "llama_classifier_argmax.inc"
    ;

// Kernel geometry, as in the GLSL sources.
#define DEFAULT_ROWS_PER_GROUP 8u // one subgroup per row on NVIDIA (8 x 32)
#define CLASSIFIER_ROWS_PER_GROUP 64u
#define WORKGROUP_SIZE 256u
#define ATTENTION_MAX_HEAD_SIZE 256u
#define ATTENTION_DEFAULT_SPLIT 32u
#define ATTENTION_MAX_SPLITS 256u // the merge's shared array
#define ARGMAX_STATE_HEADER 16u   // done_count, token, 2 reserved

// Push-constant blocks; each must match its kernel's size exactly (checked).
typedef struct qkv_params {
  uint32_t dim, kv_dim, head_size, seq_len, layer, pos, token, from_embedding, pairs_per_group;
} qkv_params;
typedef struct attention_params {
  uint32_t head_size, kv_dim, seq_len, layer, pos, kv_mul, split_len, max_splits;
} attention_params;
typedef struct matvec_residual_params {
  uint32_t n, rows, layer, rows_per_group;
} matvec_residual_params;
typedef struct ffn_up_params {
  uint32_t dim, hidden, layer, rows_per_group;
} ffn_up_params;
typedef struct classifier_params {
  uint32_t dim, vocab;
} classifier_params;

enum { ARGS_QKV = 7, ARGS_ATTENTION = 5, ARGS_MATVEC = 3, ARGS_FFN = 4, ARGS_CLASSIFIER = 5 };
#define ARGS_PER_LAYER (ARGS_QKV + ARGS_ATTENTION + 2 * ARGS_MATVEC + ARGS_FFN)

struct llama_gpu {
  gpb_device *device;
  gpb_stream *stream;
  llama_config config;
  gpb_kernel *qkv, *attention, *matvec_residual, *ffn_up, *classifier;
  // Weights, all layers per buffer.
  gpb_buffer *emb, *rms_att, *wqkv, *wo, *rms_ffn, *w13, *w2, *rms_final, *wcls, *rope;
  // State.
  gpb_buffer *kv, *x, *q, *att, *hb, *logits, *argmax_state;
  gpb_buffer *split_done, *splits; // attention's per-head merge state
  uint32_t split_len;
  uint32_t rows_per_group; // matvec rows (qkv: row pairs) per workgroup
  // The step, recorded once; only pos and token change between steps.
  gpb_dispatch *dispatches;
  uint32_t dispatch_count;
  gpb_arg *args;
  qkv_params *qkv_pc;
  attention_params *attention_pc;
  matvec_residual_params *wo_pc, *w2_pc;
  ffn_up_params *ffn_pc;
  classifier_params classifier_pc;
};

static int create_kernel(llama_gpu *g, const char *name, const uint32_t *words, size_t bytes, uint32_t push_bytes,
                         gpb_kernel **out, llama_error *err) {
  gpb_kernel_desc desc = {.name = name, .spirv = words, .spirv_bytes = bytes};
  gpb_status st = gpb_kernel_create(g->device, &desc, out);
  if (st) return llama_error_gpb(err, st, name);
  gpb_kernel_info info;
  if ((st = gpb_kernel_get_info(*out, &info))) return llama_error_gpb(err, st, name);
  if (info.push_constant_bytes != push_bytes)
    return llama_error_set(err, "kernel '%s': push constants are %u bytes, the host fills %u", name,
                           info.push_constant_bytes, push_bytes);
  return 0;
}

static int create_buffer(llama_gpu *g, const gpb_device_info *info, const char *name, uint64_t floats, gpb_buffer **out,
                         llama_error *err) {
  uint64_t bytes = floats * sizeof(float);
  if (bytes > info->max_storage_buffer_range)
    return llama_error_set(err,
                           "buffer '%s' needs %llu bytes, more than the device's storage "
                           "buffer range of %llu",
                           name, (unsigned long long)bytes, (unsigned long long)info->max_storage_buffer_range);
  gpb_status st = gpb_buffer_create(g->device, bytes, GPB_MEMORY_PRIVATE, out);
  if (st) return llama_error_gpb(err, st, name);
  return 0;
}

static int upload(llama_gpu *g, const gpb_device_info *info, const char *name, const float *data, uint64_t floats,
                  gpb_buffer **out, llama_error *err) {
  if (create_buffer(g, info, name, floats, out, err)) return -1;
  gpb_status st = gpb_stream_copy_to_device(g->stream, data, *out, 0, floats * sizeof(float));
  if (st) return llama_error_gpb(err, st, name);
  return 0;
}

static int copy_in(llama_gpu *g, const char *name, const float *data, uint64_t floats, gpb_buffer *dst,
                   uint64_t dst_float, llama_error *err) {
  gpb_status st = gpb_stream_copy_to_device(g->stream, data, dst, dst_float * sizeof(float), floats * sizeof(float));
  return st ? llama_error_gpb(err, st, name) : 0;
}

// wqkv[l] = wq[l] rows, wk[l] rows, wv[l] rows: three copies per layer.
static int upload_wqkv(llama_gpu *g, const llama_checkpoint *ck, const gpb_device_info *info, llama_error *err) {
  const llama_config *c = &ck->config;
  uint64_t dim = (uint64_t)c->dim, kv_dim = llama_kv_dim(c);
  uint64_t per_layer = (dim + 2 * kv_dim) * dim;
  if (create_buffer(g, info, "wqkv", (uint64_t)c->n_layers * per_layer, &g->wqkv, err)) return -1;
  for (uint64_t l = 0; l < (uint64_t)c->n_layers; l++) {
    uint64_t at = l * per_layer;
    if (copy_in(g, "wqkv", ck->w.wq + l * dim * dim, dim * dim, g->wqkv, at, err) ||
        copy_in(g, "wqkv", ck->w.wk + l * kv_dim * dim, kv_dim * dim, g->wqkv, at + dim * dim, err) ||
        copy_in(g, "wqkv", ck->w.wv + l * kv_dim * dim, kv_dim * dim, g->wqkv, at + (dim + kv_dim) * dim, err))
      return -1;
  }
  return 0;
}

// w13[l][r] = w1[l] row r, then w3[l] row r: interleaved one layer at a time.
static int upload_w13(llama_gpu *g, const llama_checkpoint *ck, const gpb_device_info *info, llama_error *err) {
  const llama_config *c = &ck->config;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
  uint64_t per_layer = 2 * hidden * dim;
  if (create_buffer(g, info, "w13", (uint64_t)c->n_layers * per_layer, &g->w13, err)) return -1;
  float *layer = malloc((size_t)per_layer * sizeof(float));
  if (!layer) return llama_error_set(err, "out of memory interleaving w1 and w3");
  int rc = 0;
  for (uint64_t l = 0; rc == 0 && l < (uint64_t)c->n_layers; l++) {
    for (uint64_t r = 0; r < hidden; r++) {
      memcpy(layer + 2 * r * dim, ck->w.w1 + (l * hidden + r) * dim, dim * sizeof(float));
      memcpy(layer + (2 * r + 1) * dim, ck->w.w3 + (l * hidden + r) * dim, dim * sizeof(float));
    }
    rc = copy_in(g, "w13", layer, per_layer, g->w13, l * per_layer, err);
  }
  free(layer);
  return rc;
}

static int upload_weights(llama_gpu *g, const llama_checkpoint *ck, const gpb_device_info *info, llama_error *err) {
  const llama_config *c = &ck->config;
  const llama_weights *w = &ck->w;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
  uint64_t layers = (uint64_t)c->n_layers, vocab = (uint64_t)c->vocab_size;
  float *rope = llama_rope_table(c);
  if (!rope) return llama_error_set(err, "out of memory for the RoPE table");
  int rc = upload(g, info, "token_embedding", w->token_embedding, vocab * dim, &g->emb, err) ||
           upload(g, info, "rms_att", w->rms_att, layers * dim, &g->rms_att, err) || upload_wqkv(g, ck, info, err) ||
           upload(g, info, "wo", w->wo, layers * dim * dim, &g->wo, err) ||
           upload(g, info, "rms_ffn", w->rms_ffn, layers * dim, &g->rms_ffn, err) || upload_w13(g, ck, info, err) ||
           upload(g, info, "w2", w->w2, layers * dim * hidden, &g->w2, err) ||
           upload(g, info, "rms_final", w->rms_final, dim, &g->rms_final, err) ||
           upload(g, info, "rope", rope, (uint64_t)c->seq_len * llama_head_size(c), &g->rope, err);
  free(rope);
  if (rc) return -1;
  if (c->shared_classifier) {
    g->wcls = g->emb;
    return 0;
  }
  return upload(g, info, "wcls", w->wcls, vocab * dim, &g->wcls, err) ? -1 : 0;
}

static uint32_t groups_for(uint32_t items, uint32_t per_group) { return (items + per_group - 1) / per_group; }

static int create_state(llama_gpu *g, const gpb_device_info *info, llama_error *err) {
  const llama_config *c = &g->config;
  uint64_t cache = 2 * (uint64_t)c->n_layers * (uint64_t)c->seq_len * llama_kv_dim(c);
  uint32_t classifier_groups = groups_for((uint32_t)c->vocab_size, CLASSIFIER_ROWS_PER_GROUP);
  uint64_t state_floats = ARGMAX_STATE_HEADER / 4 + 2ull * classifier_groups;
  uint64_t max_splits = groups_for((uint32_t)c->seq_len, g->split_len);
  uint64_t split_floats = (uint64_t)c->n_heads * max_splits * (llama_head_size(c) + 2);
  if (create_buffer(g, info, "kv_cache", cache, &g->kv, err) ||
      create_buffer(g, info, "x", (uint64_t)c->dim, &g->x, err) ||
      create_buffer(g, info, "q", (uint64_t)c->dim, &g->q, err) ||
      create_buffer(g, info, "att", (uint64_t)c->dim, &g->att, err) ||
      create_buffer(g, info, "hb", (uint64_t)c->hidden_dim, &g->hb, err) ||
      create_buffer(g, info, "logits", (uint64_t)c->vocab_size, &g->logits, err) ||
      create_buffer(g, info, "argmax_state", state_floats, &g->argmax_state, err) ||
      create_buffer(g, info, "attention_split_done", (uint64_t)c->n_heads, &g->split_done, err) ||
      create_buffer(g, info, "attention_splits", split_floats, &g->splits, err))
    return -1;
  // The last-workgroup merges (argmax, attention splits) count from zero.
  uint64_t zero_floats = state_floats > (uint64_t)c->n_heads ? state_floats : (uint64_t)c->n_heads;
  uint32_t *zeros = calloc(zero_floats, 4);
  if (!zeros) return llama_error_set(err, "out of memory");
  gpb_status st = gpb_stream_copy_to_device(g->stream, zeros, g->argmax_state, 0, state_floats * 4);
  if (!st) st = gpb_stream_copy_to_device(g->stream, zeros, g->split_done, 0, (uint64_t)c->n_heads * 4);
  free(zeros);
  return st ? llama_error_gpb(err, st, "zeroing the merge counters") : 0;
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

// Fills the dispatch list once; llama_gpu_step only patches pos and token.
static void record_plan(llama_gpu *g) {
  const llama_config *c = &g->config;
  uint32_t dim = (uint32_t)c->dim, hidden = (uint32_t)c->hidden_dim;
  uint32_t kv_dim = llama_kv_dim(c), head_size = llama_head_size(c);
  uint32_t seq_len = (uint32_t)c->seq_len;
  uint32_t rows = g->rows_per_group;
  uint32_t qkv_groups = groups_for((dim + 2 * kv_dim) / 2, rows);
  gpb_dispatch *d = g->dispatches;
  gpb_arg *a = g->args;
  for (uint32_t l = 0; l < (uint32_t)c->n_layers; l++) {
    uint32_t first = l == 0 ? 1u : 0u;
    g->qkv_pc[l] = (qkv_params){dim, kv_dim, head_size, seq_len, l, 0, 0, first, rows};
    gpb_buffer *qkv_args[ARGS_QKV] = {g->x, g->emb, g->rms_att, g->wqkv, g->rope, g->q, g->kv};
    put_args(a, qkv_args, ARGS_QKV);
    set_dispatch(d++, g->qkv, qkv_groups, a, ARGS_QKV, &g->qkv_pc[l], sizeof(qkv_params));
    a += ARGS_QKV;

    g->attention_pc[l] = (attention_params){head_size,
                                            kv_dim,
                                            seq_len,
                                            l,
                                            0,
                                            (uint32_t)(c->n_heads / c->n_kv_heads),
                                            g->split_len,
                                            groups_for(seq_len, g->split_len)};
    gpb_buffer *attention_args[ARGS_ATTENTION] = {g->q, g->kv, g->att, g->split_done, g->splits};
    put_args(a, attention_args, ARGS_ATTENTION);
    set_dispatch(d++, g->attention, (uint32_t)c->n_heads, a, ARGS_ATTENTION, &g->attention_pc[l],
                 sizeof(attention_params));
    a += ARGS_ATTENTION;

    g->wo_pc[l] = (matvec_residual_params){dim, dim, l, rows};
    gpb_buffer *wo_args[ARGS_MATVEC] = {g->att, g->wo, g->x};
    put_args(a, wo_args, ARGS_MATVEC);
    set_dispatch(d++, g->matvec_residual, groups_for(dim, rows), a, ARGS_MATVEC, &g->wo_pc[l],
                 sizeof(matvec_residual_params));
    a += ARGS_MATVEC;

    g->ffn_pc[l] = (ffn_up_params){dim, hidden, l, rows};
    gpb_buffer *ffn_args[ARGS_FFN] = {g->x, g->rms_ffn, g->w13, g->hb};
    put_args(a, ffn_args, ARGS_FFN);
    set_dispatch(d++, g->ffn_up, groups_for(hidden, rows), a, ARGS_FFN, &g->ffn_pc[l], sizeof(ffn_up_params));
    a += ARGS_FFN;

    g->w2_pc[l] = (matvec_residual_params){hidden, dim, l, rows};
    gpb_buffer *w2_args[ARGS_MATVEC] = {g->hb, g->w2, g->x};
    put_args(a, w2_args, ARGS_MATVEC);
    set_dispatch(d++, g->matvec_residual, groups_for(dim, rows), a, ARGS_MATVEC, &g->w2_pc[l],
                 sizeof(matvec_residual_params));
    a += ARGS_MATVEC;
  }
  g->classifier_pc = (classifier_params){dim, (uint32_t)c->vocab_size};
  gpb_buffer *classifier_args[ARGS_CLASSIFIER] = {g->x, g->rms_final, g->wcls, g->logits, g->argmax_state};
  put_args(a, classifier_args, ARGS_CLASSIFIER);
  set_dispatch(d++, g->classifier, groups_for((uint32_t)c->vocab_size, CLASSIFIER_ROWS_PER_GROUP), a, ARGS_CLASSIFIER,
               &g->classifier_pc, sizeof(classifier_params));
  g->dispatch_count = (uint32_t)(d - g->dispatches);
}

// What the kernels cannot handle, checked before any allocation.
static int check_limits(const llama_config *c, const gpb_device_info *info, uint32_t split_len, uint32_t rows_per_group,
                        llama_error *err) {
  if (c->dim % 4 != 0 || c->hidden_dim % 4 != 0)
    return llama_error_set(err,
                           "dim %d and hidden %d must be multiples of 4 (the kernels read "
                           "vec4)",
                           c->dim, c->hidden_dim);
  if (llama_head_size(c) > ATTENTION_MAX_HEAD_SIZE)
    return llama_error_set(err, "head size %u exceeds the attention kernel's %u", llama_head_size(c),
                           ATTENTION_MAX_HEAD_SIZE);
  if (rows_per_group == 0 || rows_per_group > WORKGROUP_SIZE)
    return llama_error_set(err, "rows per workgroup %u is outside 1..%u", rows_per_group, WORKGROUP_SIZE);
  if (split_len == 0 || split_len > WORKGROUP_SIZE)
    return llama_error_set(err, "attention split %u is outside 1..%u", split_len, WORKGROUP_SIZE);
  uint32_t most_groups = groups_for((uint32_t)c->vocab_size, CLASSIFIER_ROWS_PER_GROUP);
  uint32_t hidden_groups = groups_for((uint32_t)c->hidden_dim, rows_per_group);
  if (hidden_groups > most_groups) most_groups = hidden_groups;
  if (most_groups > info->max_workgroup_count[0])
    return llama_error_set(err, "%u workgroups exceed the device's limit of %u", most_groups,
                           info->max_workgroup_count[0]);
  uint32_t max_splits = groups_for((uint32_t)c->seq_len, split_len);
  uint32_t split_limit =
      info->max_workgroup_count[1] < ATTENTION_MAX_SPLITS ? info->max_workgroup_count[1] : ATTENTION_MAX_SPLITS;
  if (max_splits > split_limit)
    return llama_error_set(err,
                           "seq_len %d in attention splits of %u positions needs %u splits, "
                           "more than %u; use a longer split",
                           c->seq_len, split_len, max_splits, split_limit);
  if (info->max_workgroup_size[0] < WORKGROUP_SIZE || info->max_workgroup_invocations < WORKGROUP_SIZE)
    return llama_error_set(err, "the kernels need %u-invocation workgroups", WORKGROUP_SIZE);
  return 0;
}

int llama_gpu_create(gpb_device *device, const llama_checkpoint *ck, const llama_gpu_options *options, llama_gpu **out,
                     llama_error *err) {
  *out = NULL;
  const llama_config *c = &ck->config;
  // By default 32 positions per workgroup, longer where seq_len would need
  // more splits than the merge holds.
  uint32_t split_len = groups_for((uint32_t)c->seq_len, ATTENTION_MAX_SPLITS);
  if (split_len < ATTENTION_DEFAULT_SPLIT) split_len = ATTENTION_DEFAULT_SPLIT;
  if (options && options->attention_split) split_len = options->attention_split;
  gpb_device_info info;
  gpb_status st = gpb_device_query(device, &info);
  if (st) return llama_error_gpb(err, st, "querying the device");
  uint32_t rows_per_group = options && options->rows_per_group ? options->rows_per_group : DEFAULT_ROWS_PER_GROUP;
  if (check_limits(c, &info, split_len, rows_per_group, err)) return -1;

  llama_gpu *g = calloc(1, sizeof *g);
  if (!g) return llama_error_set(err, "out of memory");
  g->device = device;
  g->config = *c;
  g->split_len = split_len;
  g->rows_per_group = rows_per_group;
  uint32_t layers = (uint32_t)c->n_layers;
  g->dispatches = calloc(5u * layers + 1, sizeof(gpb_dispatch));
  g->args = calloc((size_t)ARGS_PER_LAYER * layers + ARGS_CLASSIFIER, sizeof(gpb_arg));
  g->qkv_pc = calloc(layers, sizeof(qkv_params));
  g->attention_pc = calloc(layers, sizeof(attention_params));
  g->wo_pc = calloc(layers, sizeof(matvec_residual_params));
  g->w2_pc = calloc(layers, sizeof(matvec_residual_params));
  g->ffn_pc = calloc(layers, sizeof(ffn_up_params));
  if (!g->dispatches || !g->args || !g->qkv_pc || !g->attention_pc || !g->wo_pc || !g->w2_pc || !g->ffn_pc) {
    llama_gpu_destroy(g);
    return llama_error_set(err, "out of memory");
  }
  gpb_stream_options stream_options = {.mode = options ? options->mode : GPB_MODE_DEFAULT,
                                       .max_batch_dispatches = options ? options->max_batch_dispatches : 0};
  if ((st = gpb_stream_create(device, &stream_options, &g->stream))) {
    llama_gpu_destroy(g);
    return llama_error_gpb(err, st, "creating the decoder's stream");
  }
  if (create_kernel(g, "llama_qkv", k_qkv_spirv, sizeof k_qkv_spirv, sizeof(qkv_params), &g->qkv, err) ||
      create_kernel(g, "llama_attention", k_attention_spirv, sizeof k_attention_spirv, sizeof(attention_params),
                    &g->attention, err) ||
      create_kernel(g, "llama_matvec_residual", k_matvec_residual_spirv, sizeof k_matvec_residual_spirv,
                    sizeof(matvec_residual_params), &g->matvec_residual, err) ||
      create_kernel(g, "llama_ffn_up", k_ffn_up_spirv, sizeof k_ffn_up_spirv, sizeof(ffn_up_params), &g->ffn_up, err) ||
      create_kernel(g, "llama_classifier_argmax", k_classifier_spirv, sizeof k_classifier_spirv,
                    sizeof(classifier_params), &g->classifier, err) ||
      upload_weights(g, ck, &info, err) || create_state(g, &info, err)) {
    llama_gpu_destroy(g);
    return -1;
  }
  record_plan(g);
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
  // Work still pending is finished by gpb_buffer_free/stream destroy.
  gpb_stream_destroy(g->stream);
  gpb_buffer *buffers[] = {g->emb, g->rms_att,   g->wqkv,   g->wo,           g->rms_ffn,    g->w13,
                           g->w2,  g->rms_final, g->rope,   g->kv,           g->x,          g->q,
                           g->att, g->hb,        g->logits, g->argmax_state, g->split_done, g->splits};
  for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) gpb_buffer_free(buffers[i]);
  if (g->wcls != g->emb) gpb_buffer_free(g->wcls);
  gpb_kernel *kernels[] = {g->qkv, g->attention, g->matvec_residual, g->ffn_up, g->classifier};
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) gpb_kernel_destroy(kernels[i]);
  free(g->dispatches);
  free(g->args);
  free(g->qkv_pc);
  free(g->attention_pc);
  free(g->wo_pc);
  free(g->w2_pc);
  free(g->ffn_pc);
  free(g);
}

int llama_gpu_step(llama_gpu *g, uint32_t token, uint32_t pos, uint32_t *out_next, llama_error *err) {
  const llama_config *c = &g->config;
  if (token >= (uint32_t)c->vocab_size || pos >= (uint32_t)c->seq_len)
    return llama_error_set(err, "step: token %u or position %u out of range (vocab %d, seq_len %d)", token, pos,
                           c->vocab_size, c->seq_len);
  uint32_t splits = pos / g->split_len + 1;
  for (uint32_t l = 0; l < (uint32_t)c->n_layers; l++) {
    g->qkv_pc[l].pos = pos;
    g->attention_pc[l].pos = pos;
    g->dispatches[5 * l + 1].groups[1] = splits; // attention: (heads, splits)
  }
  g->qkv_pc[0].token = token;
  for (uint32_t i = 0; i < g->dispatch_count; i++) {
    gpb_status st = gpb_stream_dispatch(g->stream, &g->dispatches[i]);
    if (st) {
      static const char *const kinds[5] = {"qkv", "attention", "wo", "ffn_up", "w2"};
      const char *kind = i + 1 == g->dispatch_count ? "classifier_argmax" : kinds[i % 5];
      return llama_error_set(err, "step at pos %u: layer %u %s: %s: %s", pos, i / 5, kind, gpb_status_name(st),
                             gpb_stream_last_error(g->stream));
    }
  }
  uint32_t next = 0;
  gpb_status st = gpb_stream_copy_to_host(g->stream, g->argmax_state, 4, &next, sizeof next);
  if (st)
    return llama_error_set(err, "step at pos %u: reading the token: %s: %s", pos, gpb_status_name(st),
                           gpb_stream_last_error(g->stream));
  if (next >= (uint32_t)c->vocab_size)
    return llama_error_set(err, "step at pos %u: the GPU argmax found no logit that is a number", pos);
  *out_next = next;
  return 0;
}

int llama_gpu_read_logits(llama_gpu *g, float *out, llama_error *err) {
  gpb_status st = gpb_stream_copy_to_host(g->stream, g->logits, 0, out, (uint64_t)g->config.vocab_size * sizeof(float));
  if (st)
    return llama_error_set(err, "reading the logits: %s: %s", gpb_status_name(st), gpb_stream_last_error(g->stream));
  return 0;
}

gpb_stream *llama_gpu_stream(llama_gpu *g) { return g->stream; }

uint32_t llama_gpu_dispatches_per_step(const llama_gpu *g) { return g->dispatch_count; }
