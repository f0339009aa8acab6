// checkpoint.c: reading and validating llama2.c legacy checkpoints.
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "half.h"
#include "input.h"

// Bounds that keep every size computation below far from uint64 overflow
// (the largest product, layers * dim * dim, stays under 2^50) while
// accepting every published Llama 2 shape.
#define LLAMA_MAX_DIM (1 << 16)
#define LLAMA_MAX_LAYERS 1024
#define LLAMA_MAX_VOCAB (1 << 22)
#define LLAMA_MAX_SEQ (1 << 20)

uint64_t llama_config_data_floats(const llama_config *c) {
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
  uint64_t layers = (uint64_t)c->n_layers, vocab = (uint64_t)c->vocab_size;
  uint64_t kv_dim = llama_kv_dim(c), head_size = llama_head_size(c);
  uint64_t n = vocab * dim;                        // token embedding
  n += layers * dim;                               // rms_att
  n += layers * dim * dim * 2;                     // wq, wo
  n += layers * kv_dim * dim * 2;                  // wk, wv
  n += layers * dim;                               // rms_ffn
  n += layers * hidden * dim * 3;                  // w1, w2, w3
  n += dim;                                        // rms_final
  n += (uint64_t)c->seq_len * (head_size / 2) * 2; // unused RoPE tables
  if (!c->shared_classifier) n += vocab * dim;     // wcls
  return n;
}

static int check_range(const char *name, const char *field, int32_t value, int32_t max, llama_error *err) {
  if (value <= 0 || value > max)
    return llama_error_set(err,
                           "checkpoint '%s': header field %s = %d is outside 1..%d "
                           "(not a llama2.c legacy checkpoint?)",
                           name, field, (int)value, (int)max);
  return 0;
}

int llama_config_from_header(const int32_t h[7], const char *name, llama_config *out, uint64_t *out_file_bytes,
                             llama_error *err) {
  memset(out, 0, sizeof *out);
  // vocab_size may be negative (separate classifier); INT32_MIN has no abs.
  int32_t vocab = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -h[5] : h[5]);
  if (check_range(name, "dim", h[0], LLAMA_MAX_DIM, err) ||
      check_range(name, "hidden_dim", h[1], LLAMA_MAX_DIM * 4, err) ||
      check_range(name, "n_layers", h[2], LLAMA_MAX_LAYERS, err) ||
      check_range(name, "n_heads", h[3], LLAMA_MAX_DIM, err) ||
      check_range(name, "n_kv_heads", h[4], LLAMA_MAX_DIM, err) ||
      check_range(name, "|vocab_size|", vocab, LLAMA_MAX_VOCAB, err) ||
      check_range(name, "seq_len", h[6], LLAMA_MAX_SEQ, err))
    return -1;
  if (h[0] % h[3] != 0)
    return llama_error_set(err, "checkpoint '%s': dim %d is not a multiple of n_heads %d", name, (int)h[0], (int)h[3]);
  if (h[4] > h[3] || h[3] % h[4] != 0)
    return llama_error_set(err, "checkpoint '%s': n_heads %d is not a multiple of n_kv_heads %d", name, (int)h[3],
                           (int)h[4]);
  if ((h[0] / h[3]) % 2 != 0)
    return llama_error_set(err, "checkpoint '%s': head size %d is odd; RoPE rotates pairs", name, (int)(h[0] / h[3]));
  if (vocab < 3)
    return llama_error_set(err, "checkpoint '%s': vocab_size %d leaves no room for BOS/EOS", name, (int)vocab);
  out->dim = h[0];
  out->hidden_dim = h[1];
  out->n_layers = h[2];
  out->n_heads = h[3];
  out->n_kv_heads = h[4];
  out->vocab_size = vocab;
  out->seq_len = h[6];
  out->shared_classifier = h[5] > 0;
  *out_file_bytes = LLAMA_HEADER_BYTES + 4 * llama_config_data_floats(out);
  return 0;
}

static void map_weights(llama_checkpoint *ck) {
  const llama_config *c = &ck->config;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
  uint64_t layers = (uint64_t)c->n_layers, kv_dim = llama_kv_dim(c);
  const float *p = ck->data;
  llama_weights *w = &ck->w;
  w->token_embedding = p, p += (uint64_t)c->vocab_size * dim;
  w->rms_att = p, p += layers * dim;
  w->wq = p, p += layers * dim * dim;
  w->wk = p, p += layers * kv_dim * dim;
  w->wv = p, p += layers * kv_dim * dim;
  w->wo = p, p += layers * dim * dim;
  w->rms_ffn = p, p += layers * dim;
  w->w1 = p, p += layers * hidden * dim;
  w->w2 = p, p += layers * dim * hidden;
  w->w3 = p, p += layers * hidden * dim;
  w->rms_final = p, p += dim;
  p += (uint64_t)c->seq_len * llama_head_size(c); // two unused RoPE tables
  w->wcls = c->shared_classifier ? w->token_embedding : p;
}

int llama_checkpoint_map(llama_checkpoint *ck, llama_error *err) {
  map_weights(ck);
  const llama_config *c = &ck->config;
  const llama_weights *w = &ck->w;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, kv_dim = llama_kv_dim(c);
  free(ck->src.layers);
  ck->src.layers = calloc((size_t)c->n_layers * LLAMA_LAYER_MATRICES, sizeof(llama_tensor));
  if (!ck->src.layers) return llama_error_set(err, "out of memory for the tensor table");
  ck->src.token_embedding = (llama_tensor){LLAMA_WEIGHTS_F32, w->token_embedding};
  ck->src.wcls = (llama_tensor){LLAMA_WEIGHTS_F32, w->wcls};
  for (uint64_t l = 0; l < (uint64_t)c->n_layers; l++) {
    llama_tensor *t = ck->src.layers + l * LLAMA_LAYER_MATRICES;
    t[LLAMA_WQ] = (llama_tensor){LLAMA_WEIGHTS_F32, w->wq + l * dim * dim};
    t[LLAMA_WK] = (llama_tensor){LLAMA_WEIGHTS_F32, w->wk + l * kv_dim * dim};
    t[LLAMA_WV] = (llama_tensor){LLAMA_WEIGHTS_F32, w->wv + l * kv_dim * dim};
    t[LLAMA_WO] = (llama_tensor){LLAMA_WEIGHTS_F32, w->wo + l * dim * dim};
    t[LLAMA_W1] = (llama_tensor){LLAMA_WEIGHTS_F32, w->w1 + l * hidden * dim};
    t[LLAMA_W2] = (llama_tensor){LLAMA_WEIGHTS_F32, w->w2 + l * dim * hidden};
    t[LLAMA_W3] = (llama_tensor){LLAMA_WEIGHTS_F32, w->w3 + l * hidden * dim};
  }
  return 0;
}

llama_weight_type llama_checkpoint_weight_type(const llama_checkpoint *ck) {
  return ck->src.layers ? ck->src.layers[LLAMA_WQ].type : LLAMA_WEIGHTS_F32;
}

int llama_checkpoint_load(const char *path, llama_checkpoint *out, llama_error *err) {
  memset(out, 0, sizeof *out);
  FILE *f = llama_open_input(path, "checkpoint", err);
  if (!f) return -1;
  int rc = -1;
  float *data = NULL;
  // The file size first, so a short file is reported as such.
  if (fseek(f, 0, SEEK_END) != 0) {
    llama_error_set(err, "checkpoint '%s': cannot seek: %s", path, strerror(errno));
    goto done;
  }
  long size_long = ftell(f);
  if (size_long < 0 || fseek(f, 0, SEEK_SET) != 0) {
    llama_error_set(err, "checkpoint '%s': cannot size the file: %s", path, strerror(errno));
    goto done;
  }
  uint64_t file_bytes = (uint64_t)size_long;
  if (file_bytes < LLAMA_HEADER_BYTES) {
    llama_error_set(err, "checkpoint '%s': file has %llu bytes, less than the %u-byte header", path,
                    (unsigned long long)file_bytes, LLAMA_HEADER_BYTES);
    goto done;
  }
  int32_t header[7];
  if (fread(header, sizeof header, 1, f) != 1) {
    llama_error_set(err, "checkpoint '%s': cannot read the header", path);
    goto done;
  }
  llama_config config;
  uint64_t expected_bytes;
  if (llama_config_from_header(header, path, &config, &expected_bytes, err)) goto done;
  if (expected_bytes != file_bytes) {
    llama_error_set(err,
                    "checkpoint '%s': header (dim %d, hidden %d, layers %d, heads %d, kv heads %d, "
                    "vocab %d, seq_len %d, %s classifier) implies %llu bytes, file has %llu",
                    path, config.dim, config.hidden_dim, config.n_layers, config.n_heads, config.n_kv_heads,
                    config.vocab_size, config.seq_len, config.shared_classifier ? "shared" : "separate",
                    (unsigned long long)expected_bytes, (unsigned long long)file_bytes);
    goto done;
  }
  uint64_t floats = llama_config_data_floats(&config);
  data = malloc((size_t)floats * sizeof(float));
  if (!data) {
    llama_error_set(err, "checkpoint '%s': out of memory for %llu bytes of weights", path,
                    (unsigned long long)(floats * 4));
    goto done;
  }
  if (fread(data, sizeof(float), (size_t)floats, f) != (size_t)floats) {
    llama_error_set(err, "checkpoint '%s': read failed after the header", path);
    goto done;
  }
  out->config = config;
  out->data = data;
  out->data_floats = floats;
  data = NULL;
  if (llama_checkpoint_map(out, err)) {
    llama_checkpoint_free(out);
    goto done;
  }
  rc = 0;
done:
  free(data);
  fclose(f);
  return rc;
}

void llama_checkpoint_free(llama_checkpoint *checkpoint) {
  if (!checkpoint) return;
  free(checkpoint->data);
  free(checkpoint->src.layers);
  if (checkpoint->gguf) {
    gguf_close(checkpoint->gguf);
    free(checkpoint->gguf);
  }
  memset(checkpoint, 0, sizeof *checkpoint);
}

void llama_checkpoint_round_f16(llama_checkpoint *ck) {
  const llama_config *c = &ck->config;
  const llama_weights *w = &ck->w;
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, layers = (uint64_t)c->n_layers;
  uint64_t kv_dim = llama_kv_dim(c), vocab = (uint64_t)c->vocab_size;
  struct {
    const float *at;
    uint64_t count;
  } matrices[] = {{w->token_embedding, vocab * dim}, {w->wq, layers * dim * dim},    {w->wk, layers * kv_dim * dim},
                  {w->wv, layers * kv_dim * dim},    {w->wo, layers * dim * dim},    {w->w1, layers * hidden * dim},
                  {w->w2, layers * dim * hidden},    {w->w3, layers * hidden * dim}, {w->wcls, vocab * dim}};
  size_t count = sizeof matrices / sizeof matrices[0] - (c->shared_classifier ? 1 : 0); // wcls once
  for (size_t m = 0; m < count; m++) {
    float *p = ck->data + (matrices[m].at - ck->data);
    for (uint64_t i = 0; i < matrices[m].count; i++) p[i] = llama_f16_to_f32(llama_f32_to_f16(p[i]));
  }
}
