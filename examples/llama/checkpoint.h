// checkpoint.h: a llama2.c "legacy" (version 0) checkpoint in host memory.
//
// Format (little-endian; see run.c of llama2.c): a header of 7 int32
//   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
// (a negative vocab_size means the classifier is stored separately at the
// end), then float32 tensors covering all layers, in the order of
// llama_weights below. The reader validates the header and insists that
// the file size equals what the header implies, so a truncated or foreign
// file is refused with a message instead of being read out of bounds.
//
// Ownership: llama_checkpoint_load allocates one float array holding every
// tensor; the llama_weights pointers point into it. llama_checkpoint_free
// releases it. Not thread-safe to load/free; reading weights is.
#ifndef LLAMA_CHECKPOINT_H
#define LLAMA_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "quant.h"

#define LLAMA_HEADER_BYTES 28u
#define LLAMA_BOS 1u

typedef struct llama_config {
  int32_t dim;        // transformer width
  int32_t hidden_dim; // FFN width
  int32_t n_layers;
  int32_t n_heads;
  int32_t n_kv_heads;     // < n_heads means grouped-query attention
  int32_t vocab_size;     // always positive here; see shared_classifier
  int32_t seq_len;        // longest sequence (KV cache length)
  bool shared_classifier; // classifier == token embedding (header vocab > 0)
  float rope_theta;       // RoPE base frequency; 0 means llama2.c's 10000
} llama_config;

// Derived sizes, in elements.
static inline uint32_t llama_head_size(const llama_config *c) { return (uint32_t)(c->dim / c->n_heads); }
static inline uint32_t llama_kv_dim(const llama_config *c) { return (uint32_t)(c->dim / c->n_heads * c->n_kv_heads); }

// Pointers into the checkpoint's float array; every per-layer tensor holds
// all layers back to back (layer l of wq starts at wq + l * dim * dim).
typedef struct llama_weights {
  const float *token_embedding; // vocab x dim
  const float *rms_att;         // layers x dim
  const float *wq;              // layers x dim x dim
  const float *wk;              // layers x kv_dim x dim
  const float *wv;              // layers x kv_dim x dim
  const float *wo;              // layers x dim x dim
  const float *rms_ffn;         // layers x dim
  const float *w1;              // layers x hidden x dim
  const float *w2;              // layers x dim x hidden
  const float *w3;              // layers x hidden x dim
  const float *rms_final;       // dim
  const float *wcls;            // vocab x dim (== token_embedding when shared)
} llama_weights;

// A matrix as its file holds it: rows of `cols` elements in `type`'s
// blocks (quant.h), row after row. Points into the checkpoint's floats
// (llama2.c) or into the GGUF file's mapping.
typedef struct llama_tensor {
  llama_weight_type type;
  const void *data;
} llama_tensor;

// The matrices of a layer, in llama2.c's names (GGUF: attn_q, attn_k,
// attn_v, attn_output, ffn_gate, ffn_down, ffn_up).
enum { LLAMA_WQ, LLAMA_WK, LLAMA_WV, LLAMA_WO, LLAMA_W1, LLAMA_W2, LLAMA_W3, LLAMA_LAYER_MATRICES };

typedef struct llama_sources {
  llama_tensor token_embedding, wcls; // wcls == token_embedding when shared
  llama_tensor *layers;               // [layer * LLAMA_LAYER_MATRICES + matrix]
} llama_sources;

struct gguf_file;

typedef struct llama_checkpoint {
  llama_config config;
  // float32 weights for the CPU reference. From a GGUF file loaded without
  // LLAMA_LOAD_DEQUANTIZE, only the RMS gains are set (the matrices NULL).
  llama_weights w;
  float *data;            // llama2.c: everything after the header
  uint64_t data_floats;   // its length
  llama_sources src;      // the matrices in their file's types, for the GPU
  struct gguf_file *gguf; // the mapped GGUF file, when loaded from one
} llama_checkpoint;

// Checks the 7 header values and computes the file size they imply.
// Returns 0 and fills `out_config` / `out_file_bytes`, or -1 with a message
// naming the bad field. `name` is used in messages.
int llama_config_from_header(const int32_t header[7], const char *name, llama_config *out_config,
                             uint64_t *out_file_bytes, llama_error *err);

// Number of floats after the header for `config`.
uint64_t llama_config_data_floats(const llama_config *config);

// Reads and validates `path`. On failure *out is zeroed and nothing leaks.
int llama_checkpoint_load(const char *path, llama_checkpoint *out, llama_error *err);

// GGUF: also dequantize every matrix to float32 (the CPU reference's
// weights, as many bytes as a float32 model); without it only the RMS gains
// are converted and the matrices stay in the mapped file.
#define LLAMA_LOAD_DEQUANTIZE 1u
// Loads a llama2.c checkpoint or a GGUF file (gguf_model.c), told apart by
// the file's first bytes. For llama2.c files `flags` changes nothing.
int llama_model_load(const char *path, unsigned flags, llama_checkpoint *out, llama_error *err);
// The GGUF part of llama_model_load, on an open file that `out` then owns
// (closed by llama_checkpoint_free, or here on failure).
int llama_model_from_gguf(struct gguf_file *file, unsigned flags, llama_checkpoint *out, llama_error *err);

// The type of most of the model's bytes (the layers' wq), for reports.
llama_weight_type llama_checkpoint_weight_type(const llama_checkpoint *checkpoint);

// Points `w` at the float32 tensors in `data` (llama2.c's order), and the
// sources at them as F32. 0, or -1 when out of memory.
int llama_checkpoint_map(llama_checkpoint *checkpoint, llama_error *err);

void llama_checkpoint_free(llama_checkpoint *checkpoint);

// Rounds every weight matrix (token embedding, attention and FFN matrices,
// classifier) to the nearest IEEE half, in place; RMS gains stay float32.
// Only for float32 sources (llama2.c files, F32 GGUF files dequantized).
// The CPU reference then computes with the values the GPU decoder holds
// with f16 weights (llama_gpu_options.weights).
void llama_checkpoint_round_f16(llama_checkpoint *checkpoint);

#endif
