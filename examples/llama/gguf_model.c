// gguf_model.c: the `llama` architecture of a GGUF file as a llama_checkpoint.
//
// Keys and tensors as llama.cpp writes them (its llama-arch.cpp): the
// llama.* hyperparameters, token_embd, blk.N.{attn_norm, attn_q, attn_k,
// attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm
// and output (absent: the classifier is the embedding). A matrix's dims are
// (columns, rows): attn_q is [dim, dim], ffn_down [hidden, dim], token_embd
// [dim, vocab]. ffn_gate is llama2.c's w1, ffn_up w3, ffn_down w2.
//
// RoPE: for the `llama` architecture llama.cpp rotates adjacent pairs
// (x[2i], x[2i+1]) of each head (LLAMA_ROPE_TYPE_NORM), the pairing of
// Meta's original checkpoints and of llama2.c's run.c. Hugging Face
// checkpoints rotate the halves (x[i], x[i + head_size/2]) instead, and
// llama.cpp's convert_hf_to_gguf.py permutes their attn_q/attn_k rows back
// to the original order (LlamaModel.permute), as llama2.c's export.py does
// for its own format. So a GGUF `llama` file and a llama2.c checkpoint
// share one convention: rows are copied as they are in both directions,
// and the decoder's RoPE applies unchanged.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "gguf.h"

#define LLAMA_RMS_EPS 1e-5f // what the CPU reference and the kernels compute with

static int weight_type_of(uint32_t ggml_type, llama_weight_type *out) {
  switch (ggml_type) {
  case GGML_TYPE_F32: *out = LLAMA_WEIGHTS_F32; return 0;
  case GGML_TYPE_F16: *out = LLAMA_WEIGHTS_F16; return 0;
  case GGML_TYPE_BF16: *out = LLAMA_WEIGHTS_BF16; return 0;
  case GGML_TYPE_Q8_0: *out = LLAMA_WEIGHTS_Q8_0; return 0;
  case GGML_TYPE_Q4_0: *out = LLAMA_WEIGHTS_Q4_0; return 0;
  default: return -1;
  }
}

// The tensor `name`, of shape [cols] (rows 0) or [cols, rows], in a type the
// decoder takes.
static int find_tensor(const gguf_file *f, const char *name, uint64_t cols, uint64_t rows, llama_tensor *out,
                       llama_error *err) {
  const gguf_tensor *t = gguf_find_tensor(f, name);
  if (!t) return llama_error_set(err, "gguf '%s': missing tensor '%s'", f->name, name);
  if (weight_type_of(t->type, &out->type))
    return llama_error_set(err,
                           "gguf '%s': tensor '%s' has type %s; the decoder takes f32, f16, bf16, q8_0 and q4_0 "
                           "(K-quants and IQ types are not supported)",
                           f->name, name, ggml_type_name(t->type));
  uint32_t want_dims = rows ? 2 : 1;
  if (t->n_dims != want_dims || t->dims[0] != cols || (rows && t->dims[1] != rows)) {
    char shape[96];
    int n = snprintf(shape, sizeof shape, "[%llu", (unsigned long long)t->dims[0]);
    for (uint32_t d = 1; d < t->n_dims && n > 0 && (size_t)n < sizeof shape; d++)
      n += snprintf(shape + n, sizeof shape - (size_t)n, ", %llu", (unsigned long long)t->dims[d]);
    if (n > 0 && (size_t)n < sizeof shape) snprintf(shape + n, sizeof shape - (size_t)n, "]");
    if (rows)
      return llama_error_set(err, "gguf '%s': tensor '%s' has shape %s, expected [%llu, %llu]", f->name, name, shape,
                             (unsigned long long)cols, (unsigned long long)rows);
    return llama_error_set(err, "gguf '%s': tensor '%s' has shape %s, expected [%llu]", f->name, name, shape,
                           (unsigned long long)cols);
  }
  out->data = t->data;
  return 0;
}

static int read_config(const gguf_file *f, llama_config *c, bool shared, llama_error *err) {
  gguf_str arch = {0};
  if (gguf_get_str(f, "general.architecture", false, &arch, err)) return -1;
  if (!gguf_str_eq(arch, "llama")) {
    char name[160];
    return llama_error_set(err, "gguf '%s': architecture '%s' is not supported (only 'llama')", f->name,
                           gguf_str_printable(arch, name, sizeof name));
  }
  uint32_t dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, context = 0, rope_dims = 0, vocab_key = 0;
  if (gguf_get_u32(f, "llama.embedding_length", false, &dim, err) ||
      gguf_get_u32(f, "llama.feed_forward_length", false, &hidden, err) ||
      gguf_get_u32(f, "llama.block_count", false, &layers, err) ||
      gguf_get_u32(f, "llama.attention.head_count", false, &heads, err) ||
      gguf_get_u32(f, "llama.context_length", false, &context, err))
    return -1;
  kv_heads = heads;
  float eps = LLAMA_RMS_EPS, theta = 10000.0f;
  if (gguf_get_u32(f, "llama.attention.head_count_kv", true, &kv_heads, err) ||
      gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", true, &eps, err) ||
      gguf_get_f32(f, "llama.rope.freq_base", true, &theta, err) ||
      gguf_get_u32(f, "llama.vocab_size", true, &vocab_key, err))
    return -1;
  const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
  if (!emb) return llama_error_set(err, "gguf '%s': missing tensor 'token_embd.weight'", f->name);
  if (emb->n_dims != 2 || emb->dims[1] > INT32_MAX)
    return llama_error_set(err, "gguf '%s': tensor 'token_embd.weight' is not a [dim, vocab] matrix", f->name);
  uint64_t vocab = emb->dims[1];
  if (vocab_key && vocab_key != vocab)
    return llama_error_set(err, "gguf '%s': key 'llama.vocab_size' is %u, tensor 'token_embd.weight' has %llu rows",
                           f->name, vocab_key, (unsigned long long)vocab);
  // The llama2.c header's checks, with its messages' field names.
  int32_t header[7];
  uint32_t values[7] = {dim, hidden, layers, heads, kv_heads, (uint32_t)vocab, context};
  for (int i = 0; i < 7; i++) header[i] = values[i] > INT32_MAX ? -1 : (int32_t)values[i];
  if (!shared) header[5] = -header[5];
  uint64_t ignored;
  if (llama_config_from_header(header, f->name, c, &ignored, err)) return -1;
  uint32_t head_size = dim / heads;
  if (gguf_get_u32(f, "llama.rope.dimension_count", true, &rope_dims, err)) return -1;
  if (rope_dims && rope_dims != head_size)
    return llama_error_set(err,
                           "gguf '%s': key 'llama.rope.dimension_count' is %u; the decoder rotates whole heads (%u)",
                           f->name, rope_dims, head_size);
  if (!(fabsf(eps - LLAMA_RMS_EPS) <= 1e-3f * LLAMA_RMS_EPS))
    return llama_error_set(err,
                           "gguf '%s': key 'llama.attention.layer_norm_rms_epsilon' is %g; the decoder's kernels "
                           "use 1e-5",
                           f->name, (double)eps);
  if (!(theta > 0.0f && theta < 1e30f))
    return llama_error_set(err, "gguf '%s': key 'llama.rope.freq_base' is %g", f->name, (double)theta);
  c->rope_theta = theta;
  if (gguf_find(f, "llama.rope.scaling.type") || gguf_find_tensor(f, "rope_freqs.weight"))
    return llama_error_set(err, "gguf '%s': RoPE scaling (llama.rope.scaling.type, rope_freqs) is not supported",
                           f->name);
  return 0;
}

static int dequantize_into(const llama_tensor *t, uint64_t rows, uint64_t cols, float *dst) {
  const uint8_t *src = t->data;
  uint64_t row_bytes = llama_row_bytes(t->type, cols);
  for (uint64_t r = 0; r < rows; r++) llama_dequantize_row(t->type, src + r * row_bytes, cols, dst + r * cols);
  return 0;
}

static const char *const k_layer_names[LLAMA_LAYER_MATRICES] = {"attn_q",   "attn_k",   "attn_v", "attn_output",
                                                                "ffn_gate", "ffn_down", "ffn_up"};

static int load_tensors(const gguf_file *f, unsigned flags, llama_checkpoint *ck, llama_error *err) {
  const llama_config *c = &ck->config;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, kv_dim = llama_kv_dim(c);
  uint64_t layers = (uint64_t)c->n_layers, vocab = (uint64_t)c->vocab_size;
  uint64_t shape[LLAMA_LAYER_MATRICES][2] = {{dim, dim},    {dim, kv_dim}, {dim, kv_dim}, {dim, dim},
                                             {dim, hidden}, {hidden, dim}, {dim, hidden}};
  bool all = flags & LLAMA_LOAD_DEQUANTIZE;
  // All of llama2.c's layout (the CPU reference's), or only the gains. The
  // layout's unused RoPE tables (seq_len rows) are left out: the context
  // length is no tensor's size, so the file's bytes do not bound it.
  llama_config no_rope = *c;
  no_rope.seq_len = 0;
  ck->data_floats = all ? llama_config_data_floats(&no_rope) : 2 * layers * dim + dim;
  ck->data = calloc((size_t)ck->data_floats, sizeof(float));
  ck->src.layers = calloc((size_t)layers * LLAMA_LAYER_MATRICES, sizeof(llama_tensor));
  if (!ck->data || !ck->src.layers)
    return llama_error_set(err, "gguf '%s': out of memory for %llu bytes of float32 weights", f->name,
                           (unsigned long long)ck->data_floats * 4);
  llama_weights *w = &ck->w;
  if (all) { // (the sources it points at the float32 copies are set to the file's below)
    int32_t seq_len = ck->config.seq_len;
    ck->config.seq_len = 0; // the layout without its RoPE tables
    int rc = llama_checkpoint_map(ck, err);
    ck->config.seq_len = seq_len;
    if (rc) return -1;
  } else {
    w->rms_att = ck->data;
    w->rms_ffn = ck->data + layers * dim;
    w->rms_final = ck->data + 2 * layers * dim;
  }
  llama_tensor t;
  char name[96];
  if (find_tensor(f, "token_embd.weight", dim, vocab, &ck->src.token_embedding, err) ||
      find_tensor(f, "output_norm.weight", dim, 0, &t, err))
    return -1;
  dequantize_into(&t, 1, dim, (float *)w->rms_final);
  ck->src.wcls = ck->src.token_embedding;
  if (!c->shared_classifier && find_tensor(f, "output.weight", dim, vocab, &ck->src.wcls, err)) return -1;
  for (uint64_t l = 0; l < layers; l++) {
    snprintf(name, sizeof name, "blk.%llu.attn_norm.weight", (unsigned long long)l);
    if (find_tensor(f, name, dim, 0, &t, err)) return -1;
    dequantize_into(&t, 1, dim, (float *)w->rms_att + l * dim);
    snprintf(name, sizeof name, "blk.%llu.ffn_norm.weight", (unsigned long long)l);
    if (find_tensor(f, name, dim, 0, &t, err)) return -1;
    dequantize_into(&t, 1, dim, (float *)w->rms_ffn + l * dim);
    for (int m = 0; m < LLAMA_LAYER_MATRICES; m++) {
      snprintf(name, sizeof name, "blk.%llu.%s.weight", (unsigned long long)l, k_layer_names[m]);
      if (find_tensor(f, name, shape[m][0], shape[m][1], &ck->src.layers[l * LLAMA_LAYER_MATRICES + m], err)) return -1;
    }
  }
  if (!all) return 0;
  // The float32 copies, in llama2.c's order (per-layer tensors back to back).
  dequantize_into(&ck->src.token_embedding, vocab, dim, (float *)w->token_embedding);
  if (!c->shared_classifier) dequantize_into(&ck->src.wcls, vocab, dim, (float *)w->wcls);
  const float *bases[LLAMA_LAYER_MATRICES] = {w->wq, w->wk, w->wv, w->wo, w->w1, w->w2, w->w3};
  for (uint64_t l = 0; l < layers; l++) {
    for (int m = 0; m < LLAMA_LAYER_MATRICES; m++) {
      uint64_t cols = shape[m][0], rows = shape[m][1];
      dequantize_into(&ck->src.layers[l * LLAMA_LAYER_MATRICES + m], rows, cols, (float *)bases[m] + l * rows * cols);
    }
  }
  return 0;
}

int llama_model_from_gguf(gguf_file *file, unsigned flags, llama_checkpoint *out, llama_error *err) {
  memset(out, 0, sizeof *out);
  out->gguf = file;
  bool shared = gguf_find_tensor(file, "output.weight") == NULL;
  if (read_config(file, &out->config, shared, err) || load_tensors(file, flags, out, err)) {
    llama_checkpoint_free(out);
    return -1;
  }
  return 0;
}

int llama_model_load(const char *path, unsigned flags, llama_checkpoint *out, llama_error *err) {
  if (!gguf_is_gguf(path)) return llama_checkpoint_load(path, out, err);
  memset(out, 0, sizeof *out);
  gguf_file *file = malloc(sizeof *file);
  if (!file) return llama_error_set(err, "gguf '%s': out of memory", path);
  if (gguf_open(path, file, err)) {
    free(file);
    return -1;
  }
  return llama_model_from_gguf(file, flags, out, err);
}
