// gguf_write.h: writing a model as a GGUF file of the `llama` architecture
// (`gpubatch llama-convert`).
//
// The keys and tensor names are llama.cpp's (see gguf_model.c, which reads
// them back): general.*, llama.*, and with a tokenizer tokenizer.ggml.*
// (model "llama": tokens with ' ' as U+2581, scores, token types, BOS 1,
// EOS 2, add_bos_token). Matrices are written in `type` (quantized as
// ggml's reference quantizers do, quant.c), RMS gains in f32. Rows are
// copied in their order: llama2.c and GGUF `llama` files share one RoPE
// pairing (gguf_model.c says why). Q8_0 and Q4_0 need every matrix's
// columns (dim, hidden) to be a multiple of 32.
#ifndef LLAMA_GGUF_WRITE_H
#define LLAMA_GGUF_WRITE_H

#include "checkpoint.h"
#include "error.h"
#include "tokenizer.h"

// `ck` needs float32 weights (a llama2.c checkpoint, or a GGUF file loaded
// with LLAMA_LOAD_DEQUANTIZE); `tokenizer` may be NULL.
int llama_gguf_write(const char *path, const llama_checkpoint *ck, llama_weight_type type,
                     const llama_tokenizer *tokenizer, llama_error *err);

#endif
