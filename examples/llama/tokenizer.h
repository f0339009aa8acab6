// tokenizer.h: the llama2.c tokenizer.bin (SentencePiece BPE pieces).
//
// Format: int32 max_token_length, then per token: float32 score, int32
// length, that many bytes. Encoding follows llama2.c's encode(): BOS,
// a dummy-prefix " ", UTF-8 code points looked up (unknown ones fall back to
// the byte pieces at ids 3..258), then repeated merging of the adjacent pair
// whose concatenation is the highest-scoring piece.
//
// Ownership: load allocates, llama_tokenizer_free releases. A loaded
// tokenizer is read-only and may be shared between threads.
#ifndef LLAMA_TOKENIZER_H
#define LLAMA_TOKENIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef struct llama_piece_index {
  const char *piece;
  int32_t id;
} llama_piece_index;

typedef struct llama_tokenizer {
  int32_t vocab_size;
  int32_t max_token_length;
  char **pieces; // NUL-terminated
  float *scores;
  llama_piece_index *sorted; // by piece, for bsearch
  char byte_pieces[256][2];  // "<0xHH>" decodes to byte HH
  int32_t byte_ids[256];     // the id of "<0xHH>" (llama2.c files: HH + 3)
  int32_t bos_id, eos_id;    // 1 and 2 in llama2.c files
  bool add_bos;              // whether a prompt starts with BOS
} llama_tokenizer;

// Reads `path`, which must hold exactly `vocab_size` pieces (the model's).
int llama_tokenizer_load(const char *path, int32_t vocab_size, llama_tokenizer *out, llama_error *err);

struct gguf_file;
// The vocabulary of a GGUF file (tokenizer.ggml.*): model "llama"
// (SentencePiece) only, tokens, scores and token_type arrays of
// `vocab_size` entries, bos/eos ids, add_bos_token. Pieces have U+2581
// ("\xe2\x96\x81", SentencePiece's space) turned into ' ' as llama2.c's
// tokenizer.bin does, so encoding and decoding are the same code. Returns
// 1 (and *out zeroed) when the file has no tokenizer.ggml.model key.
int llama_tokenizer_from_gguf(const struct gguf_file *file, int32_t vocab_size, llama_tokenizer *out, llama_error *err);
void llama_tokenizer_free(llama_tokenizer *t);

// Id of `piece`, or -1.
int32_t llama_tokenizer_lookup(const llama_tokenizer *t, const char *piece);

// Encodes `text` (BOS first when `bos`; t->add_bos says what the
// vocabulary wants). *out_tokens is malloc'd; the caller
// frees it.
int llama_tokenizer_encode(const llama_tokenizer *t, const char *text, bool bos, int32_t **out_tokens,
                           int32_t *out_count, llama_error *err);

// The text of `token` following `prev`: a leading space is dropped after
// BOS, byte pieces become their byte. Never NULL; points into `t`.
const char *llama_tokenizer_decode(const llama_tokenizer *t, int32_t prev, int32_t token);

// Whether a decoded piece is worth printing (llama2.c's safe_printf: skips
// lone control bytes that could garble a terminal).
bool llama_piece_printable(const char *piece);

#endif
