// gen.h: synthetic llama2.c checkpoints and tokenizers with random weights.
//
// Random weights give the decoder real work with no model download. With
// std 0.1 greedy decoding wanders through many tokens (std 0.02 collapses to
// one repeated token, which would hide bugs). Files are written in the exact
// formats checkpoint.h and tokenizer.h read.
#ifndef LLAMA_GEN_H
#define LLAMA_GEN_H

#include <stdint.h>

#include "checkpoint.h"
#include "error.h"

// The stories15M shape of llama2.c (a 60,816,028-byte file).
llama_config llama_gen_stories15m(void);

// Writes a checkpoint of shape `config` (config->shared_classifier picks
// the header's sign of vocab_size). Matrices and the embedding are
// N(0, std^2), RMS weights 1 + std * N(0, 1); same seed, same file.
int llama_gen_write_checkpoint(const char *path, const llama_config *config, uint64_t seed, float std,
                               llama_error *err);

// Writes a tokenizer of `vocab_size` pieces: 0 "<unk>", 1 "\n<s>\n" (BOS),
// 2 "\n</s>\n" (EOS), 3..258 the byte pieces "<0x00>".."<0xFF>", then " "
// and "a".."z", then synthetic words, each the concatenation of two earlier
// pieces, scored so that earlier merges win (as BPE vocabularies are).
// vocab_size must be at least 286.
int llama_gen_write_tokenizer(const char *path, int32_t vocab_size, uint64_t seed, llama_error *err);

#endif
