// gguf_write.c: a llama_checkpoint as a GGUF file (see gguf_write.h).
#include "gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

#define ALIGNMENT 32u

// llama.cpp's general.file_type (enum llama_ftype) per weight type.
static const uint32_t k_file_type[LLAMA_WEIGHT_TYPES] = {0, 1, 32, 7, 2};
static const uint32_t k_ggml_type[LLAMA_WEIGHT_TYPES] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                                                         GGML_TYPE_Q4_0};

typedef struct writer {
  FILE *f;
  const char *path;
  uint64_t offset;
} writer;

static void put(writer *w, const void *data, size_t bytes) {
  if (bytes && fwrite(data, 1, bytes, w->f) != bytes) return; // ferror is checked at the end
  w->offset += bytes;
}

static void put_u32(writer *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(w, b, 4);
}

static void put_u64(writer *w, uint64_t v) {
  put_u32(w, (uint32_t)v);
  put_u32(w, (uint32_t)(v >> 32));
}

static void put_f32(writer *w, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_u32(w, bits);
}

static void put_str(writer *w, const char *s, size_t len) {
  put_u64(w, len);
  put(w, s, len);
}

static void put_key(writer *w, const char *key, gguf_value_type type) {
  put_str(w, key, strlen(key));
  put_u32(w, type);
}

static void kv_u32(writer *w, const char *key, uint32_t v) {
  put_key(w, key, GGUF_TYPE_UINT32);
  put_u32(w, v);
}

static void kv_f32(writer *w, const char *key, float v) {
  put_key(w, key, GGUF_TYPE_FLOAT32);
  put_f32(w, v);
}

static void kv_str(writer *w, const char *key, const char *v) {
  put_key(w, key, GGUF_TYPE_STRING);
  put_str(w, v, strlen(v));
}

static void kv_bool(writer *w, const char *key, bool v) {
  put_key(w, key, GGUF_TYPE_BOOL);
  uint8_t b = v ? 1 : 0;
  put(w, &b, 1);
}

static void pad(writer *w) {
  static const uint8_t zeros[ALIGNMENT];
  put(w, zeros, (ALIGNMENT - w->offset % ALIGNMENT) % ALIGNMENT);
}

// A tensor to write: float32 rows (or a gain vector: rows 1, dims 1).
typedef struct out_tensor {
  char name[64];
  const float *data;
  uint64_t cols, rows;
  llama_weight_type type;
  uint64_t offset; // in the data section
} out_tensor;

static uint64_t tensor_bytes(const out_tensor *t) { return t->rows * llama_row_bytes(t->type, t->cols); }

// The piece as GGUF holds it: ' ' as U+2581; llama2.c's "\n<s>\n" and
// "\n</s>\n" as "<s>" and "</s>".
static size_t gguf_piece(const char *piece, char *out) {
  if (!strcmp(piece, "\n<s>\n") || !strcmp(piece, "\n</s>\n")) {
    size_t n = strlen(piece) - 2;
    memcpy(out, piece + 1, n);
    return n;
  }
  size_t n = 0;
  for (const char *p = piece; *p; p++) {
    if (*p == ' ') {
      memcpy(out + n, "\xe2\x96\x81", 3);
      n += 3;
    } else {
      out[n++] = *p;
    }
  }
  return n;
}

// SentencePiece token types: 1 normal, 2 unknown, 3 control, 6 byte.
static int32_t token_type(const llama_tokenizer *t, int32_t id) {
  const char *p = t->pieces[id];
  if (id == 0 && !strcmp(p, "<unk>")) return 2;
  if (id == t->bos_id || id == t->eos_id) return 3;
  if (strlen(p) == 6 && !strncmp(p, "<0x", 3) && p[5] == '>') return 6;
  return 1;
}

static void write_tokenizer(writer *w, const llama_tokenizer *t, char *buf) {
  kv_str(w, "tokenizer.ggml.model", "llama");
  put_key(w, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
  put_u32(w, GGUF_TYPE_STRING);
  put_u64(w, (uint64_t)t->vocab_size);
  for (int32_t i = 0; i < t->vocab_size; i++) put_str(w, buf, gguf_piece(t->pieces[i], buf));
  put_key(w, "tokenizer.ggml.scores", GGUF_TYPE_ARRAY);
  put_u32(w, GGUF_TYPE_FLOAT32);
  put_u64(w, (uint64_t)t->vocab_size);
  for (int32_t i = 0; i < t->vocab_size; i++) put_f32(w, t->scores[i]);
  put_key(w, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
  put_u32(w, GGUF_TYPE_INT32);
  put_u64(w, (uint64_t)t->vocab_size);
  for (int32_t i = 0; i < t->vocab_size; i++) put_u32(w, (uint32_t)token_type(t, i));
  kv_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos_id);
  kv_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos_id);
  kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
  kv_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos);
  kv_bool(w, "tokenizer.ggml.add_eos_token", false);
}

#define KV_MODEL 14    // general.* and llama.* keys written below
#define KV_TOKENIZER 9 // tokenizer.ggml.* keys

static void write_header(writer *w, const llama_checkpoint *ck, llama_weight_type type, const llama_tokenizer *tok,
                         const out_tensor *tensors, uint64_t count, char *buf) {
  const llama_config *c = &ck->config;
  put(w, GGUF_MAGIC, 4);
  put_u32(w, 3);
  put_u64(w, count);
  put_u64(w, KV_MODEL + (tok ? KV_TOKENIZER : 0));
  kv_str(w, "general.architecture", "llama");
  kv_str(w, "general.name", "llama2.c checkpoint");
  kv_u32(w, "general.file_type", k_file_type[type]);
  kv_u32(w, "general.alignment", ALIGNMENT);
  kv_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size);
  kv_u32(w, "llama.context_length", (uint32_t)c->seq_len);
  kv_u32(w, "llama.embedding_length", (uint32_t)c->dim);
  kv_u32(w, "llama.block_count", (uint32_t)c->n_layers);
  kv_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
  kv_u32(w, "llama.rope.dimension_count", llama_head_size(c));
  kv_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
  kv_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
  kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  kv_f32(w, "llama.rope.freq_base", c->rope_theta > 0 ? c->rope_theta : 10000.0f);
  if (tok) write_tokenizer(w, tok, buf);
  for (uint64_t i = 0; i < count; i++) {
    const out_tensor *t = &tensors[i];
    put_str(w, t->name, strlen(t->name));
    put_u32(w, t->rows > 1 ? 2 : 1);
    put_u64(w, t->cols);
    if (t->rows > 1) put_u64(w, t->rows);
    put_u32(w, k_ggml_type[t->type]);
    put_u64(w, t->offset);
  }
  pad(w);
}

static int write_data(writer *w, const out_tensor *t, uint8_t *row, llama_error *err) {
  uint64_t row_bytes = llama_row_bytes(t->type, t->cols);
  for (uint64_t r = 0; r < t->rows; r++) {
    llama_quantize_row(t->type, t->data + r * t->cols, t->cols, row);
    put(w, row, (size_t)row_bytes);
  }
  pad(w);
  if (ferror(w->f)) return llama_error_set(err, "gguf '%s': write failed: %s", w->path, strerror(errno));
  return 0;
}

// The tensor list, llama.cpp's names, in its order.
static uint64_t list_tensors(const llama_checkpoint *ck, llama_weight_type type, out_tensor *out) {
  const llama_config *c = &ck->config;
  const llama_weights *w = &ck->w;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, kv_dim = llama_kv_dim(c);
  uint64_t vocab = (uint64_t)c->vocab_size, n = 0;
#define ADD(data_, cols_, rows_, type_, ...)                                                                           \
  do {                                                                                                                 \
    snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__);                                                            \
    out[n].data = (data_), out[n].cols = (cols_), out[n].rows = (rows_), out[n].type = (type_);                        \
    n++;                                                                                                               \
  } while (0)
  ADD(w->token_embedding, dim, vocab, type, "token_embd.weight");
  for (uint64_t l = 0; l < (uint64_t)c->n_layers; l++) {
    ADD(w->rms_att + l * dim, dim, 1, LLAMA_WEIGHTS_F32, "blk.%llu.attn_norm.weight", (unsigned long long)l);
    ADD(w->wq + l * dim * dim, dim, dim, type, "blk.%llu.attn_q.weight", (unsigned long long)l);
    ADD(w->wk + l * kv_dim * dim, dim, kv_dim, type, "blk.%llu.attn_k.weight", (unsigned long long)l);
    ADD(w->wv + l * kv_dim * dim, dim, kv_dim, type, "blk.%llu.attn_v.weight", (unsigned long long)l);
    ADD(w->wo + l * dim * dim, dim, dim, type, "blk.%llu.attn_output.weight", (unsigned long long)l);
    ADD(w->rms_ffn + l * dim, dim, 1, LLAMA_WEIGHTS_F32, "blk.%llu.ffn_norm.weight", (unsigned long long)l);
    ADD(w->w1 + l * hidden * dim, dim, hidden, type, "blk.%llu.ffn_gate.weight", (unsigned long long)l);
    ADD(w->w3 + l * hidden * dim, dim, hidden, type, "blk.%llu.ffn_up.weight", (unsigned long long)l);
    ADD(w->w2 + l * dim * hidden, hidden, dim, type, "blk.%llu.ffn_down.weight", (unsigned long long)l);
  }
  ADD(w->rms_final, dim, 1, LLAMA_WEIGHTS_F32, "output_norm.weight");
  if (!c->shared_classifier) ADD(w->wcls, dim, vocab, type, "output.weight");
#undef ADD
  return n;
}

int llama_gguf_write(const char *path, const llama_checkpoint *ck, llama_weight_type type, const llama_tokenizer *tok,
                     llama_error *err) {
  const llama_config *c = &ck->config;
  if (!ck->w.wq) return llama_error_set(err, "gguf '%s': the model's float32 weights are not loaded", path);
  if ((unsigned)type >= LLAMA_WEIGHT_TYPES) return llama_error_set(err, "gguf '%s': unknown weight type", path);
  if (tok && tok->vocab_size != c->vocab_size)
    return llama_error_set(err, "gguf '%s': the tokenizer has %d pieces, the model %d", path, (int)tok->vocab_size,
                           (int)c->vocab_size);
  uint32_t block = llama_type_block(type);
  if (c->dim % (int32_t)block != 0 || c->hidden_dim % (int32_t)block != 0)
    return llama_error_set(err, "gguf '%s': %s needs dim %d and hidden %d to be multiples of its %u-element blocks",
                           path, llama_weight_type_name(type), c->dim, c->hidden_dim, block);
  uint64_t capacity = 9ull * (uint64_t)c->n_layers + 3;
  out_tensor *tensors = calloc((size_t)capacity, sizeof *tensors);
  size_t longest = tok ? (size_t)tok->max_token_length * 3 + 8 : 8;
  uint8_t *row = malloc((size_t)(c->hidden_dim > c->dim ? c->hidden_dim : c->dim) * 4 + longest);
  if (!tensors || !row) {
    free(tensors);
    free(row);
    return llama_error_set(err, "gguf '%s': out of memory", path);
  }
  uint64_t count = list_tensors(ck, type, tensors), offset = 0;
  for (uint64_t i = 0; i < count; i++) {
    tensors[i].offset = offset;
    offset += (tensor_bytes(&tensors[i]) + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
  }
  int rc = 0;
  writer w = {fopen(path, "wb"), path, 0};
  if (!w.f) {
    rc = llama_error_set(err, "gguf '%s': cannot create: %s", path, strerror(errno));
  } else {
    write_header(&w, ck, type, tok, tensors, count, (char *)row);
    uint64_t data_start = w.offset;
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
      if (w.offset - data_start != tensors[i].offset)
        rc = llama_error_set(err, "gguf '%s': tensor '%s' landed at the wrong offset", path, tensors[i].name);
      else
        rc = write_data(&w, &tensors[i], row, err);
    }
    if (fclose(w.f) != 0 && rc == 0) rc = llama_error_set(err, "gguf '%s': write failed: %s", path, strerror(errno));
    if (rc) remove(path);
  }
  free(tensors);
  free(row);
  return rc;
}
