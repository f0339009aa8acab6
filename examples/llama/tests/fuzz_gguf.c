// Fuzz target: arbitrary bytes as a GGUF file.
//
// The reader, the `llama` model on top of it (dequantizing every matrix to
// float32, as the CPU reference's load does) and the tokenizer must return
// an error with a message, or succeed, for any input: never crash, hang,
// read outside the input or allocate more than a small multiple of its
// size (gguf.h says how the counts are bounded). No GPU is involved.
// Built like tests/fuzz's targets: against tests/fuzz/corpus_main.c for the
// ctest replay of the seed corpus (fuzz_gguf_corpus), and with libFuzzer
// where GPB_FUZZ=ON.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "gguf.h"
#include "tokenizer.h"

#define FUZZ_CHECK(cond)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                    \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llama_error err = {{0}};
  gguf_file *f = malloc(sizeof *f);
  FUZZ_CHECK(f != NULL);
  if (gguf_parse(data, size, "fuzz", f, &err)) {
    FUZZ_CHECK(err.msg[0] != '\0');
    free(f);
    return 0;
  }
  // Every tensor lies inside the input.
  for (uint64_t i = 0; i < f->tensor_count; i++) {
    const gguf_tensor *t = &f->tensors[i];
    FUZZ_CHECK(t->data >= data && t->bytes <= size && (uint64_t)(t->data - data) <= size - t->bytes);
  }
  llama_checkpoint ck;
  if (llama_model_from_gguf(f, LLAMA_LOAD_DEQUANTIZE, &ck, &err)) {
    FUZZ_CHECK(err.msg[0] != '\0');
    return 0;
  }
  llama_tokenizer tok;
  int rc = llama_tokenizer_from_gguf(ck.gguf, ck.config.vocab_size, &tok, &err);
  if (rc == 0) {
    int32_t *ids = NULL, n = 0;
    if (llama_tokenizer_encode(&tok, "hello world", tok.add_bos, &ids, &n, &err) == 0)
      for (int32_t i = 0; i < n; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < tok.vocab_size);
    free(ids);
    llama_tokenizer_free(&tok);
  } else if (rc < 0) {
    FUZZ_CHECK(err.msg[0] != '\0');
  }
  llama_checkpoint_free(&ck);
  return 0;
}
