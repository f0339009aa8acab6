// test_gguf.c: GGUF files, without a GPU.
//   llama_test_gguf roundtrip   llama2.c -> GGUF (each type) -> back: weights are
//                               the type's own rounding of the originals, F32
//                               logits and tokens identical to the llama2.c file's,
//                               GGUF -> GGUF byte-identical
//   llama_test_gguf tokenizer   a llama2.c tokenizer written into GGUF and read back
//                               encodes and decodes as the original; other models refused
//   llama_test_gguf hostile     crafted and truncated files: each refused with a
//                               message naming the key, tensor or type
//   llama_test_gguf corpus DIR  writes the fuzz_gguf seed corpus into DIR
//   llama_test_gguf real DIR    DIR/stories260K.bin + DIR/tokenizer.bin: converted,
//                               prompt encoded and decoded on the CPU reference,
//                               tokens equal to the llama2.c file's (exit 77 where
//                               the files are absent)
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cpu_forward.h"
#include "gen.h"
#include "gguf.h"
#include "gguf_write.h"
#include "half.h"
#include "tokenizer.h"

#include "llama_check.h"

// Greedy CPU decoding from BOS through `prompt`: the tokens after it.
static int decode(const llama_checkpoint *ck, const int32_t *prompt, int32_t prompt_count, int32_t steps, int32_t *out,
                  float *logits_out) {
  llama_cpu *cpu;
  llama_error err;
  if (llama_cpu_create(ck, 1, &cpu, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    failures++;
    return 0;
  }
  int32_t token = prompt[0], n = 0;
  for (int32_t pos = 0; pos < steps && pos < ck->config.seq_len; pos++) {
    const float *logits = llama_cpu_forward(cpu, token, pos);
    if (logits_out) memcpy(logits_out + (size_t)pos * ck->config.vocab_size, logits, ck->config.vocab_size * 4u);
    int32_t next = pos + 1 < prompt_count ? prompt[pos + 1] : llama_argmax(logits, ck->config.vocab_size);
    if (pos + 1 >= prompt_count) out[n++] = next;
    token = next;
  }
  llama_cpu_destroy(cpu);
  return n;
}

// Every matrix of `got` (dequantized from a GGUF file) against `type`'s
// rounding of the original float32 weights, element by element.
static void check_weights(const llama_checkpoint *orig, const llama_checkpoint *got, llama_weight_type type) {
  const llama_config *c = &orig->config;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, kv = llama_kv_dim(c), L = (uint64_t)c->n_layers;
  struct {
    const char *name;
    const float *a, *b;
    uint64_t rows, cols;
  } m[] = {{"embedding", orig->w.token_embedding, got->w.token_embedding, (uint64_t)c->vocab_size, dim},
           {"wq", orig->w.wq, got->w.wq, L * dim, dim},
           {"wk", orig->w.wk, got->w.wk, L * kv, dim},
           {"wv", orig->w.wv, got->w.wv, L * kv, dim},
           {"wo", orig->w.wo, got->w.wo, L * dim, dim},
           {"w1", orig->w.w1, got->w.w1, L * hidden, dim},
           {"w2", orig->w.w2, got->w.w2, L * dim, hidden},
           {"w3", orig->w.w3, got->w.w3, L * hidden, dim},
           {"wcls", orig->w.wcls, got->w.wcls, (uint64_t)c->vocab_size, dim},
           {"rms_att", orig->w.rms_att, got->w.rms_att, L, dim},
           {"rms_ffn", orig->w.rms_ffn, got->w.rms_ffn, L, dim},
           {"rms_final", orig->w.rms_final, got->w.rms_final, 1, dim}};
  uint8_t *block = malloc(hidden * 4 + dim * 4);
  float *expect = malloc((hidden + dim) * sizeof(float));
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    llama_weight_type t = i >= 9 ? LLAMA_WEIGHTS_F32 : type; // gains stay f32
    uint64_t bad = 0;
    double err2 = 0, ref2 = 0;
    for (uint64_t r = 0; r < m[i].rows; r++) {
      const float *a = m[i].a + r * m[i].cols, *b = m[i].b + r * m[i].cols;
      llama_quantize_row(t, a, m[i].cols, block);
      llama_dequantize_row(t, block, m[i].cols, expect);
      for (uint64_t j = 0; j < m[i].cols; j++) {
        if (memcmp(&expect[j], &b[j], 4) != 0) bad++;
        err2 += (double)(a[j] - b[j]) * (a[j] - b[j]);
        ref2 += (double)a[j] * a[j];
      }
    }
    double rel = sqrt(err2 / (ref2 > 0 ? ref2 : 1));
    // How far each type may move the weights (relative L2): half an ulp
    // of f16 / bf16, half a step of 127 or 8 levels per block.
    double bound = t == LLAMA_WEIGHTS_F32    ? 0
                   : t == LLAMA_WEIGHTS_F16  ? 1e-3
                   : t == LLAMA_WEIGHTS_BF16 ? 5e-3
                   : t == LLAMA_WEIGHTS_Q8_0 ? 1e-2
                                             : 0.15;
    CHECK(bad == 0, "%s %s: %llu elements differ from the type's rounding", llama_weight_type_name(type), m[i].name,
          (unsigned long long)bad);
    CHECK(rel <= bound, "%s %s: relative L2 %.3g from the originals > %.3g", llama_weight_type_name(type), m[i].name,
          rel, bound);
  }
  free(block);
  free(expect);
}

static void roundtrip_config(const llama_config *config, const char *tag) {
  llama_error err;
  char bin[64], path[64], again[64];
  snprintf(bin, sizeof bin, "rt_%s.bin", tag);
  CHECK(llama_gen_write_checkpoint(bin, config, 5, 0.2f, &err) == 0, "%s", err.msg);
  llama_checkpoint orig;
  if (llama_checkpoint_load(bin, &orig, &err)) {
    CHECK(0, "%s", err.msg);
    return;
  }
  int32_t prompt[] = {1, 7, 9}, want[40], got[40];
  float *want_logits = malloc((size_t)40 * config->vocab_size * 4),
        *got_logits = malloc((size_t)40 * config->vocab_size * 4);
  int32_t n_want = decode(&orig, prompt, 3, 40, want, want_logits);
  for (int t = 0; t < LLAMA_WEIGHT_TYPES; t++) {
    snprintf(path, sizeof path, "rt_%s_%s.gguf", tag, llama_weight_type_name((llama_weight_type)t));
    CHECK(llama_gguf_write(path, &orig, (llama_weight_type)t, NULL, &err) == 0, "%s", err.msg);
    llama_checkpoint ck;
    if (llama_model_load(path, LLAMA_LOAD_DEQUANTIZE, &ck, &err)) {
      CHECK(0, "%s: %s", path, err.msg);
      continue;
    }
    CHECK(ck.gguf != NULL, "%s: not read as GGUF", path);
    const llama_config *a = &orig.config, *b = &ck.config;
    CHECK(a->dim == b->dim && a->hidden_dim == b->hidden_dim && a->n_layers == b->n_layers &&
              a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->vocab_size == b->vocab_size &&
              a->seq_len == b->seq_len && a->shared_classifier == b->shared_classifier && b->rope_theta == 10000.0f,
          "%s: config differs", path);
    CHECK(llama_checkpoint_weight_type(&ck) == (llama_weight_type)t, "%s: weights read as %s", path,
          llama_weight_type_name(llama_checkpoint_weight_type(&ck)));
    check_weights(&orig, &ck, (llama_weight_type)t);
    int32_t n_got = decode(&ck, prompt, 3, 40, got, got_logits);
    if (t == LLAMA_WEIGHTS_F32) {
      CHECK(n_got == n_want && memcmp(got, want, (size_t)n_want * 4) == 0, "%s: tokens differ from the llama2.c file's",
            path);
      CHECK(memcmp(got_logits, want_logits, (size_t)40 * config->vocab_size * 4) == 0,
            "%s: logits differ from the llama2.c file's", path);
      // GGUF in, GGUF out: the same bytes.
      snprintf(again, sizeof again, "rt_%s_again.gguf", tag);
      CHECK(llama_gguf_write(again, &ck, LLAMA_WEIGHTS_F32, NULL, &err) == 0, "%s", err.msg);
      CHECK(files_equal(path, again), "%s: GGUF -> GGUF changed the bytes", again);
    }
    printf("%s: %s ok, tokens:", tag, path);
    for (int32_t i = 0; i < n_got && i < 12; i++) printf(" %d", got[i]);
    printf("\n");
    llama_checkpoint_free(&ck);
    // The GPU path's load: gains only, the matrices left in the mapping.
    if (llama_model_load(path, 0, &ck, &err) == 0) {
      CHECK(ck.w.wq == NULL && ck.w.rms_final != NULL && ck.src.layers[LLAMA_W2].data != NULL,
            "%s: the load without dequantizing made float32 matrices", path);
      CHECK(memcmp(ck.w.rms_final, orig.w.rms_final, (size_t)config->dim * 4) == 0, "%s: rms_final differs", path);
      llama_checkpoint_free(&ck);
    } else {
      CHECK(0, "%s", err.msg);
    }
  }
  free(want_logits);
  free(got_logits);
  llama_checkpoint_free(&orig);
}

static void test_roundtrip(void) {
  // Stories-like (shared classifier), grouped-query attention with a
  // separate classifier; q8_0/q4_0 need multiples of 32.
  llama_config stories = {.dim = 96,
                          .hidden_dim = 256,
                          .n_layers = 2,
                          .n_heads = 6,
                          .n_kv_heads = 6,
                          .vocab_size = 300,
                          .seq_len = 48,
                          .shared_classifier = true};
  llama_config gqa = {.dim = 64,
                      .hidden_dim = 160,
                      .n_layers = 2,
                      .n_heads = 4,
                      .n_kv_heads = 2,
                      .vocab_size = 320,
                      .seq_len = 48,
                      .shared_classifier = false};
  roundtrip_config(&stories, "stories");
  roundtrip_config(&gqa, "gqa");
  // Blocks of 32 need dims that are multiples of 32: refused by name.
  llama_config odd = {.dim = 48,
                      .hidden_dim = 100,
                      .n_layers = 1,
                      .n_heads = 6,
                      .n_kv_heads = 3,
                      .vocab_size = 300,
                      .seq_len = 8,
                      .shared_classifier = true};
  llama_error err = {{0}};
  CHECK(llama_gen_write_checkpoint("rt_odd.bin", &odd, 1, 0.1f, &err) == 0, "%s", err.msg);
  llama_checkpoint ck;
  if (llama_checkpoint_load("rt_odd.bin", &ck, &err) == 0) {
    CHECK(llama_gguf_write("rt_odd.gguf", &ck, LLAMA_WEIGHTS_Q8_0, NULL, &err) != 0 &&
              strstr(err.msg, "q8_0 needs dim 48 and hidden 100 to be multiples of its 32-element blocks"),
          "odd dims: '%s'", err.msg);
    llama_checkpoint_free(&ck);
  }
}

// The tokenizer through GGUF encodes and decodes as the original.
static void check_same_tokenizer(const llama_tokenizer *a, const llama_tokenizer *b, const char *const *texts,
                                 size_t count) {
  for (size_t i = 0; i < count; i++) {
    int32_t *ta, *tb, na, nb;
    llama_error err;
    CHECK(llama_tokenizer_encode(a, texts[i], true, &ta, &na, &err) == 0, "%s", err.msg);
    CHECK(llama_tokenizer_encode(b, texts[i], b->add_bos, &tb, &nb, &err) == 0, "%s", err.msg);
    CHECK(na == nb && memcmp(ta, tb, (size_t)na * 4) == 0, "'%s' encodes differently through GGUF", texts[i]);
    free(ta);
    free(tb);
  }
  for (int32_t id = 3; id < a->vocab_size; id++) { // not <unk>, BOS, EOS (GGUF names them plainly)
    const char *da = llama_tokenizer_decode(a, 5, id), *db = llama_tokenizer_decode(b, 5, id);
    CHECK(!strcmp(da, db), "token %d decodes as '%s', through GGUF '%s'", (int)id, da, db);
    CHECK(!strcmp(llama_tokenizer_decode(a, 1, id), llama_tokenizer_decode(b, 1, id)), "token %d after BOS", (int)id);
  }
  CHECK(b->bos_id == 1 && b->eos_id == 2 && b->add_bos, "bos %d eos %d", (int)b->bos_id, (int)b->eos_id);
}

static void test_tokenizer(void) {
  llama_error err = {{0}};
  llama_config c = {.dim = 32,
                    .hidden_dim = 64,
                    .n_layers = 1,
                    .n_heads = 2,
                    .n_kv_heads = 1,
                    .vocab_size = 400,
                    .seq_len = 8,
                    .shared_classifier = true};
  CHECK(llama_gen_write_checkpoint("tok_model.bin", &c, 1, 0.1f, &err) == 0, "%s", err.msg);
  CHECK(llama_gen_write_tokenizer("tok.bin", c.vocab_size, 3, &err) == 0, "%s", err.msg);
  llama_checkpoint ck;
  llama_tokenizer orig, back;
  if (llama_checkpoint_load("tok_model.bin", &ck, &err) || llama_tokenizer_load("tok.bin", c.vocab_size, &orig, &err)) {
    CHECK(0, "%s", err.msg);
    return;
  }
  CHECK(llama_gguf_write("tok_model.gguf", &ck, LLAMA_WEIGHTS_Q4_0, &orig, &err) == 0, "%s", err.msg);
  llama_checkpoint_free(&ck);
  if (llama_model_load("tok_model.gguf", 0, &ck, &err)) {
    CHECK(0, "%s", err.msg);
    llama_tokenizer_free(&orig);
    return;
  }
  CHECK(llama_tokenizer_from_gguf(ck.gguf, c.vocab_size, &back, &err) == 0, "%s", err.msg);
  // The pieces are stored with U+2581 for spaces, as SentencePiece's are.
  const gguf_kv *tokens = gguf_find(ck.gguf, "tokenizer.ggml.tokens");
  int spaced = 0;
  const uint8_t *cursor;
  for (uint64_t i = 0; tokens && i < tokens->count; i++) {
    gguf_str s = i == 0 ? gguf_array_str_first(tokens, &cursor) : gguf_array_str_next(&cursor);
    CHECK(memchr(s.data, ' ', (size_t)s.len) == NULL, "piece %llu keeps a ' '", (unsigned long long)i);
    spaced += s.len >= 3 && memcmp(s.data, "\xe2\x96\x81", 3) == 0;
  }
  CHECK(spaced > 0, "no piece starts with U+2581");
  const char *texts[] = {"",
                         "a",
                         "hello world",
                         "  two  spaces",
                         "caf\xc3\xa9 \xe2\x82\xac 1+1=2\n\tz",
                         "the quick brown fox jumps over the lazy dog"};
  check_same_tokenizer(&orig, &back, texts, sizeof texts / sizeof texts[0]);
  llama_tokenizer_free(&back);
  // The wrong vocabulary size is named.
  CHECK(llama_tokenizer_from_gguf(ck.gguf, c.vocab_size + 1, &back, &err) < 0 &&
            strstr(err.msg, "key 'tokenizer.ggml.tokens' has 400 entries, the model's vocabulary 401"),
        "'%s'", err.msg);
  llama_checkpoint_free(&ck);
  llama_tokenizer_free(&orig);
}

// ---- crafted files ----

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s) {
  put_u64(b, strlen(s));
  put(b, s, strlen(s));
}
static void key(buf *b, const char *k, uint32_t type) {
  put_str(b, k);
  put_u32(b, type);
}

// What a crafted tiny model (dim 32, hidden 32, 1 layer, 2 heads over 1 kv
// head, vocab 8, context 8, all f32) gets wrong.
typedef struct spec {
  uint32_t version;
  const char *arch, *tokenizer_model;
  uint32_t alignment; // 0: no key
  bool alignment_u64, dup_key, eps_1e6, block_count_string, no_block_count, bad_value_type, nested_array;
  bool huge_array, huge_string, tokens_short;
  const char *skip, *dup, *reshape; // tensors: left out, twice, [32, 32]
  const char *retype;               // tensor given type `type`
  uint32_t type;
  const char *move; // tensor whose offset is moved by `by`
  uint64_t by;
  const char *dims5, *dims_zero, *dims_overflow;
} spec;

typedef struct crafted_tensor {
  char name[48];
  uint64_t cols, rows;
} crafted_tensor;

static size_t crafted_tensors(crafted_tensor *t) {
  static const struct {
    const char *name;
    uint64_t cols, rows;
  } list[] = {
      {"token_embd.weight", 32, 8},      {"blk.0.attn_norm.weight", 32, 0}, {"blk.0.attn_q.weight", 32, 32},
      {"blk.0.attn_k.weight", 32, 16},   {"blk.0.attn_v.weight", 32, 16},   {"blk.0.attn_output.weight", 32, 32},
      {"blk.0.ffn_norm.weight", 32, 0},  {"blk.0.ffn_gate.weight", 32, 32}, {"blk.0.ffn_up.weight", 32, 32},
      {"blk.0.ffn_down.weight", 32, 32}, {"output_norm.weight", 32, 0}};
  size_t n = sizeof list / sizeof list[0];
  for (size_t i = 0; i < n; i++) {
    snprintf(t[i].name, sizeof t[i].name, "%s", list[i].name);
    t[i].cols = list[i].cols;
    t[i].rows = list[i].rows;
  }
  return n;
}

static bool is(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static buf craft(const spec *s) {
  buf b = {0};
  crafted_tensor t[16];
  size_t n = crafted_tensors(t);
  uint64_t kv = 8 + (s->alignment ? 1 : 0) + (s->dup_key ? 1 : 0) + (s->tokenizer_model ? 3 : 0) +
                (s->bad_value_type || s->nested_array || s->huge_array ? 1 : 0) - (s->no_block_count ? 1 : 0);
  size_t tensor_count = n - (s->skip ? 1 : 0) + (s->dup ? 1 : 0);
  put(&b, "GGUF", 4);
  put_u32(&b, s->version ? s->version : 3);
  put_u64(&b, tensor_count);
  put_u64(&b, kv);
  key(&b, "general.architecture", GGUF_TYPE_STRING);
  put_str(&b, s->arch ? s->arch : "llama");
  if (s->alignment) {
    key(&b, "general.alignment", s->alignment_u64 ? GGUF_TYPE_UINT64 : GGUF_TYPE_UINT32);
    if (s->alignment_u64)
      put_u64(&b, s->alignment);
    else
      put_u32(&b, s->alignment);
  }
  key(&b, "llama.context_length", GGUF_TYPE_UINT32);
  put_u32(&b, 8);
  key(&b, "llama.embedding_length", GGUF_TYPE_UINT32);
  put_u32(&b, 32);
  if (!s->no_block_count) {
    if (s->block_count_string) {
      key(&b, "llama.block_count", GGUF_TYPE_STRING);
      put_str(&b, "1");
    } else {
      key(&b, "llama.block_count", GGUF_TYPE_UINT32);
      put_u32(&b, 1);
    }
  }
  if (s->dup_key) {
    key(&b, "llama.block_count", GGUF_TYPE_UINT32);
    put_u32(&b, 1);
  }
  key(&b, "llama.feed_forward_length", GGUF_TYPE_UINT64);
  put_u64(&b, 32);
  key(&b, "llama.attention.head_count", GGUF_TYPE_UINT32);
  put_u32(&b, 2);
  key(&b, "llama.attention.head_count_kv", GGUF_TYPE_UINT16);
  uint16_t one = 1;
  put(&b, &one, 2);
  key(&b, "llama.attention.layer_norm_rms_epsilon", GGUF_TYPE_FLOAT32);
  float eps = s->eps_1e6 ? 1e-6f : 1e-5f;
  put(&b, &eps, 4);
  if (s->bad_value_type) {
    key(&b, "general.odd", 13);
    put_u32(&b, 0);
  }
  if (s->nested_array) {
    key(&b, "general.nested", GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u64(&b, 1);
  }
  if (s->huge_array) {
    key(&b, "general.huge", GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_FLOAT32);
    put_u64(&b, UINT64_C(1) << 62);
  }
  if (s->tokenizer_model) {
    key(&b, "tokenizer.ggml.model", GGUF_TYPE_STRING);
    put_str(&b, s->tokenizer_model);
    uint32_t count = s->tokens_short ? 7 : 8;
    key(&b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, count);
    const char *pieces[] = {"<unk>",
                            "<s>",
                            "</s>",
                            "\xe2\x96\x81"
                            "a",
                            "b",
                            "c",
                            "d",
                            "<0x0A>"};
    for (uint32_t i = 0; i < count; i++) {
      if (s->huge_string && i == 3)
        put_u64(&b, UINT64_C(1) << 40); // then the file ends
      else
        put_str(&b, pieces[i]);
    }
    key(&b, "tokenizer.ggml.scores", GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_FLOAT32);
    put_u64(&b, count);
    for (uint32_t i = 0; i < count; i++) {
      float score = -(float)i;
      put(&b, &score, 4);
    }
  }
  uint32_t align = s->alignment && !s->alignment_u64 ? s->alignment : 32;
  if (align == 0 || (align & (align - 1))) align = 32;
  uint64_t offset = 0;
  for (size_t i = 0; i < n + (s->dup ? 1 : 0); i++) {
    const crafted_tensor *ti = &t[i < n ? i : 2];
    if (i >= n && !is(ti->name, s->dup)) continue;
    if (is(ti->name, s->skip)) continue;
    put_str(&b, ti->name);
    uint64_t rows = is(ti->name, s->reshape) ? 32 : ti->rows;
    if (is(ti->name, s->dims5)) {
      put_u32(&b, 5);
      for (int d = 0; d < 5; d++) put_u64(&b, 1);
    } else if (is(ti->name, s->dims_overflow)) {
      put_u32(&b, 3);
      put_u64(&b, 32);
      put_u64(&b, UINT64_C(1) << 40);
      put_u64(&b, UINT64_C(1) << 40);
    } else {
      put_u32(&b, rows ? 2 : 1);
      put_u64(&b, is(ti->name, s->dims_zero) ? 0 : ti->cols);
      if (rows) put_u64(&b, rows);
    }
    put_u32(&b, is(ti->name, s->retype) ? s->type : GGML_TYPE_F32);
    put_u64(&b, offset + (is(ti->name, s->move) ? s->by : 0));
    offset += (ti->cols * (rows ? rows : 1) * 4 + align - 1) / align * align;
  }
  while (b.n % align) put(&b, "", 1);
  size_t data = b.n;
  for (uint64_t i = 0; i < offset; i++) put(&b, "\0", 1);
  // Gains of 1 (the data is otherwise zero).
  (void)data;
  return b;
}

// Parses and loads bytes as llama_model_load would; returns the rc and
// leaves the message in err.
static int load_bytes(const uint8_t *data, size_t n, llama_error *err) {
  gguf_file *f = malloc(sizeof *f);
  if (gguf_parse(data, n, "crafted", f, err)) {
    free(f);
    return -1;
  }
  llama_checkpoint ck;
  if (llama_model_from_gguf(f, LLAMA_LOAD_DEQUANTIZE, &ck, err)) return -1;
  llama_tokenizer tok;
  int rc = llama_tokenizer_from_gguf(ck.gguf, ck.config.vocab_size, &tok, err);
  if (rc == 0) llama_tokenizer_free(&tok);
  llama_checkpoint_free(&ck);
  return rc < 0 ? -1 : 0;
}

static void expect(const char *what, const spec *s, const char *message) {
  buf b = craft(s);
  llama_error err = {{0}};
  int rc = load_bytes(b.p, b.n, &err);
  if (!message) {
    CHECK(rc == 0, "%s: refused: %s", what, err.msg);
  } else {
    CHECK(rc != 0, "%s: accepted", what);
    CHECK(strstr(err.msg, message) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, message);
    if (rc) printf("%-24s refused: %s\n", what, err.msg);
  }
  free(b.p);
}

static void patched(const char *what, size_t at, const void *bytes, size_t n, const char *message) {
  spec s = {0};
  buf b = craft(&s);
  memcpy(b.p + at, bytes, n);
  llama_error err = {{0}};
  int rc = load_bytes(b.p, b.n, &err);
  CHECK(rc != 0 && strstr(err.msg, message), "%s: rc %d, message '%s' lacks '%s'", what, rc, err.msg, message);
  if (rc) printf("%-24s refused: %s\n", what, err.msg);
  free(b.p);
}

static void test_hostile(void) {
  spec ok = {0};
  expect("valid", &ok, NULL);
  spec tok = {.tokenizer_model = "llama"};
  expect("valid with tokenizer", &tok, NULL);
  expect("version 2", &(spec){.version = 2}, NULL);
  expect("alignment 64", &(spec){.alignment = 64}, NULL);
  patched("bad magic", 0, "GGUG", 4, "no GGUF magic");
  expect("version 1", &(spec){.version = 1}, "version 1 (32-bit counts) is not supported");
  expect("version 4", &(spec){.version = 4}, "unknown version 4");
  expect("big-endian", &(spec){.version = 0x03000000u}, "a big-endian file?");
  uint64_t huge = UINT64_C(1) << 60;
  patched("tensor count", 8, &huge, 8, "tensors cannot fit");
  patched("metadata count", 16, &huge, 8, "metadata entries cannot fit");
  patched("key length", 24, &huge, 8, "is a string of 1152921504606846976 bytes at offset 32, longer than");
  expect("huge array", &(spec){.huge_array = true}, "key 'general.huge' is an array of 4611686018427387904 float32");
  expect("string past end", &(spec){.tokenizer_model = "llama", .huge_string = true},
         "string 3 of key 'tokenizer.ggml.tokens' is a string of 1099511627776 bytes");
  expect("value type 13", &(spec){.bad_value_type = true}, "key 'general.odd' has value type 13");
  expect("nested array", &(spec){.nested_array = true}, "key 'general.nested' is an array of arrays");
  expect("duplicate key", &(spec){.dup_key = true}, "key 'llama.block_count' appears twice");
  expect("alignment 0", &(spec){.alignment = 0x30}, "key 'general.alignment' is 48, not a power of two");
  expect("alignment u64", &(spec){.alignment = 32, .alignment_u64 = true}, "'general.alignment' is uint64, not uint32");
  expect("5 dims", &(spec){.dims5 = "blk.0.attn_q.weight"}, "tensor 'blk.0.attn_q.weight' has 5 dimensions");
  expect("dim 0", &(spec){.dims_zero = "output_norm.weight"}, "tensor 'output_norm.weight' dimension 0 is 0");
  expect("dims overflow", &(spec){.dims_overflow = "blk.0.attn_v.weight"},
         "tensor 'blk.0.attn_v.weight' dimension 2 is 1099511627776 (zero, or the product overflows)");
  expect("unknown type", &(spec){.retype = "blk.0.attn_q.weight", .type = 99}, "ggml type 99, which this reader");
  expect("retired type", &(spec){.retype = "blk.0.attn_q.weight", .type = 4}, "ggml type 4, which this reader");
  expect("k-quant rows", &(spec){.retype = "blk.0.attn_q.weight", .type = 14},
         "tensor 'blk.0.attn_q.weight' (q6_k) has rows of 32 elements, not whole blocks of 256");
  expect("type i32", &(spec){.retype = "blk.0.ffn_up.weight", .type = 26},
         "tensor 'blk.0.ffn_up.weight' has type i32; the decoder takes f32, f16, bf16, q8_0 and q4_0");
  expect("offset past end", &(spec){.move = "output_norm.weight", .by = UINT64_C(1) << 40},
         "tensor 'output_norm.weight' (128 bytes at data offset 1099511653632) ends past the file's 25984 bytes");
  expect("offset near 2^64", &(spec){.move = "output_norm.weight", .by = UINT64_MAX - 31 - 25856},
         "tensor 'output_norm.weight' (128 bytes at data offset 18446744073709551584) ends past");
  expect("misaligned", &(spec){.move = "blk.0.attn_k.weight", .by = 4},
         "tensor 'blk.0.attn_k.weight' starts at data offset 5252, not a multiple of the alignment 32");
  expect("duplicate tensor", &(spec){.dup = "blk.0.attn_q.weight"}, "tensor 'blk.0.attn_q.weight' appears twice");
  expect("missing tensor", &(spec){.skip = "blk.0.ffn_up.weight"}, "missing tensor 'blk.0.ffn_up.weight'");
  expect("shape mismatch", &(spec){.reshape = "blk.0.attn_k.weight"},
         "tensor 'blk.0.attn_k.weight' has shape [32, 32], expected [32, 16]");
  expect("architecture", &(spec){.arch = "qwen2"}, "architecture 'qwen2' is not supported (only 'llama')");
  expect("missing key", &(spec){.no_block_count = true}, "missing key 'llama.block_count'");
  expect("key type", &(spec){.block_count_string = true}, "key 'llama.block_count' is string, not an integer");
  expect("rms epsilon", &(spec){.eps_1e6 = true}, "'llama.attention.layer_norm_rms_epsilon' is 1e-06");
  expect("tokenizer model", &(spec){.tokenizer_model = "gpt2"}, "tokenizer model 'gpt2' is not supported");
  expect("tokens short", &(spec){.tokenizer_model = "llama", .tokens_short = true},
         "key 'tokenizer.ggml.tokens' has 7 entries, the model's vocabulary 8");

  // Truncated at every byte of the header, metadata and tensor infos, and
  // at the last byte of every tensor: each refused, none read past the end
  // (ASan) or allocates more than the file allows.
  buf b = craft(&tok);
  gguf_file f;
  llama_error err;
  CHECK(gguf_parse(b.p, b.n, "crafted", &f, &err) == 0, "%s", err.msg);
  uint64_t data_offset = f.data_offset;
  uint64_t ends[16];
  uint64_t tensor_count = f.tensor_count;
  for (uint64_t i = 0; i < tensor_count && i < 16; i++)
    ends[i] = f.data_offset + f.tensors[i].offset + f.tensors[i].bytes;
  gguf_close(&f);
  int refused = 0;
  for (size_t n = 0; n < data_offset; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b.p, n);
    refused += load_bytes(copy, n, &err) != 0;
    free(copy);
  }
  CHECK(refused == (int)data_offset, "%d of %llu header prefixes refused", refused, (unsigned long long)data_offset);
  for (uint64_t i = 0; i < tensor_count && i < 16; i++) {
    uint8_t *copy = malloc((size_t)ends[i]);
    memcpy(copy, b.p, (size_t)ends[i] - 1);
    CHECK(load_bytes(copy, (size_t)ends[i] - 1, &err) != 0 && strstr(err.msg, "ends past"), "cut in tensor %llu: '%s'",
          (unsigned long long)i, err.msg);
    free(copy);
  }
  printf("truncated: %llu header prefixes and %llu tensor ends refused; e.g. %s\n", (unsigned long long)data_offset,
         (unsigned long long)tensor_count, err.msg);
  // The file path too: a truncated file on disk, an empty one.
  FILE *out = fopen("cut.gguf", "wb");
  fwrite(b.p, 1, (size_t)data_offset - 3, out);
  fclose(out);
  llama_checkpoint ck;
  CHECK(llama_model_load("cut.gguf", 0, &ck, &err) != 0 && strstr(err.msg, "gguf 'cut.gguf'"), "'%s'", err.msg);
  out = fopen("empty.gguf", "wb");
  fclose(out);
  CHECK(llama_model_load("empty.gguf", 0, &ck, &err) != 0, "an empty file was accepted");
  printf("empty file refused: %s\n", err.msg);
  free(b.p);
}

static void test_real(const char *dir) {
  char model[512], tokenizer[512];
  snprintf(model, sizeof model, "%s/stories260K.bin", dir);
  snprintf(tokenizer, sizeof tokenizer, "%s/tokenizer.bin", dir);
  FILE *probe_m = fopen(model, "rb"), *probe_t = fopen(tokenizer, "rb");
  if (!probe_m || !probe_t) {
    printf("SKIP: %s or %s is absent\n", model, tokenizer);
    if (probe_m) fclose(probe_m);
    if (probe_t) fclose(probe_t);
    exit(77);
  }
  fclose(probe_m);
  fclose(probe_t);
  llama_error err;
  llama_checkpoint ck, gg;
  llama_tokenizer tok, gtok;
  if (llama_checkpoint_load(model, &ck, &err) || llama_tokenizer_load(tokenizer, 32000, &tok, &err)) {
    CHECK(0, "%s", err.msg);
    return;
  }
  // stories260K has its own 512-piece vocabulary; the 32000-piece Llama 2
  // tokenizer goes through GGUF beside a model of its size.
  printf("stories260K: dim %d, hidden %d, layers %d, heads %d, kv heads %d, vocab %d\n", ck.config.dim,
         ck.config.hidden_dim, ck.config.n_layers, ck.config.n_heads, ck.config.n_kv_heads, ck.config.vocab_size);
  CHECK(llama_gguf_write("real_f32.gguf", &ck, LLAMA_WEIGHTS_F32, NULL, &err) == 0, "%s", err.msg);
  CHECK(llama_gguf_write("real_q8.gguf", &ck, LLAMA_WEIGHTS_Q8_0, NULL, &err) != 0 && strstr(err.msg, "multiples"),
        "q8_0 of hidden %d: '%s'", ck.config.hidden_dim, err.msg);
  if (llama_model_load("real_f32.gguf", LLAMA_LOAD_DEQUANTIZE, &gg, &err)) {
    CHECK(0, "%s", err.msg);
  } else {
    int32_t prompt[] = {1, 403, 407, 261}, want[200], got[200];
    int32_t nw = decode(&ck, prompt, 4, 200, want, NULL), ng = decode(&gg, prompt, 4, 200, got, NULL);
    CHECK(nw == ng && memcmp(want, got, (size_t)nw * 4) == 0, "stories260K: GGUF tokens differ");
    printf("stories260K through GGUF: %d tokens equal, e.g.", (int)ng);
    for (int i = 0; i < 12 && i < ng; i++) printf(" %d", got[i]);
    printf("\n");
    llama_checkpoint_free(&gg);
  }
  // The Llama 2 tokenizer: a GGUF of a 32000-vocabulary model (random, tiny).
  llama_config c = {.dim = 32,
                    .hidden_dim = 32,
                    .n_layers = 1,
                    .n_heads = 2,
                    .n_kv_heads = 2,
                    .vocab_size = 32000,
                    .seq_len = 8,
                    .shared_classifier = true};
  llama_checkpoint big;
  CHECK(llama_gen_write_checkpoint("real_vocab.bin", &c, 1, 0.1f, &err) == 0, "%s", err.msg);
  if (llama_checkpoint_load("real_vocab.bin", &big, &err) == 0) {
    CHECK(llama_gguf_write("real_vocab.gguf", &big, LLAMA_WEIGHTS_Q4_0, &tok, &err) == 0, "%s", err.msg);
    llama_checkpoint_free(&big);
    if (llama_model_load("real_vocab.gguf", 0, &big, &err) == 0) {
      CHECK(llama_tokenizer_from_gguf(big.gguf, 32000, &gtok, &err) == 0, "%s", err.msg);
      const char *texts[] = {"Once upon a time, there was a little girl named Lily.",
                             "\xe4\xbd\xa0\xe5\xa5\xbd, caf\xc3\xa9! 3.14159 \xf0\x9f\x98\x80\n  indented",
                             " leading space", "<s> is text here"};
      check_same_tokenizer(&tok, &gtok, texts, sizeof texts / sizeof texts[0]);
      int32_t *ids, n;
      if (llama_tokenizer_encode(&gtok, texts[0], true, &ids, &n, &err) == 0) {
        printf("'%s' ->", texts[0]);
        for (int32_t i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
        free(ids);
      }
      llama_tokenizer_free(&gtok);
      llama_checkpoint_free(&big);
    } else {
      CHECK(0, "%s", err.msg);
    }
  }
  llama_tokenizer_free(&tok);
  llama_checkpoint_free(&ck);
}

// Small valid files of every kind the reader takes, for fuzzing to mutate.
static void write_corpus(const char *dir) {
  char path[512];
  spec variants[] = {{0}, {.tokenizer_model = "llama"}, {.version = 2, .alignment = 64}};
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    buf b = craft(&variants[i]);
    snprintf(path, sizeof path, "%s/crafted-%zu.gguf", dir, i);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b.p, 1, b.n, f) == b.n, "writing %s", path);
    if (f) fclose(f);
    free(b.p);
  }
  llama_error err;
  for (int shared = 0; shared < 2; shared++) {
    llama_config c = {.dim = 32,
                      .hidden_dim = 32,
                      .n_layers = 1,
                      .n_heads = 2,
                      .n_kv_heads = 1,
                      .vocab_size = 8,
                      .seq_len = 8,
                      .shared_classifier = shared};
    llama_checkpoint ck;
    CHECK(llama_gen_write_checkpoint("corpus.bin", &c, 1, 0.1f, &err) == 0, "%s", err.msg);
    if (llama_checkpoint_load("corpus.bin", &ck, &err)) continue;
    for (int t = 0; t < LLAMA_WEIGHT_TYPES; t++) {
      snprintf(path, sizeof path, "%s/tiny-%s-%s.gguf", dir, shared ? "shared" : "separate",
               llama_weight_type_name((llama_weight_type)t));
      CHECK(llama_gguf_write(path, &ck, (llama_weight_type)t, NULL, &err) == 0, "%s", err.msg);
    }
    llama_checkpoint_free(&ck);
  }
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "";
  if (!strcmp(which, "roundtrip"))
    test_roundtrip();
  else if (!strcmp(which, "tokenizer"))
    test_tokenizer();
  else if (!strcmp(which, "hostile"))
    test_hostile();
  else if (!strcmp(which, "corpus") && argc > 2)
    write_corpus(argv[2]);
  else if (!strcmp(which, "real") && argc > 2)
    test_real(argv[2]);
  else {
    fprintf(stderr, "usage: %s roundtrip|tokenizer|hostile|corpus DIR|real DIR\n", argv[0]);
    return 2;
  }
  return check_report();
}
