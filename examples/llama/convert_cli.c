// convert_cli.c: `gpubatch llama-convert` (llama2.c checkpoint -> GGUF) and
// `gpubatch llama --model F --info` (what a model file holds).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "gguf.h"
#include "gguf_write.h"
#include "llama_cli.h"
#include "tokenizer.h"

static void convert_usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s IN -o OUT.gguf --type f32|f16|bf16|q8_0|q4_0 [--tokenizer tokenizer.bin]\n"
          "Writes the llama2.c checkpoint (or GGUF file) IN as a GGUF file of the llama\n"
          "architecture, as llama.cpp names its keys and tensors: matrices in --type\n"
          "(q8_0, q4_0: blocks of 32 with an f16 scale; dim and hidden must be multiples\n"
          "of 32), RMS gains in f32. --tokenizer adds a llama2.c tokenizer.bin as\n"
          "tokenizer.ggml.* (model \"llama\"); a GGUF input keeps its own unless given one.\n",
          prog);
}

int gpb_llama_convert_main(int argc, char **argv) {
  const char *prog = argc > 0 ? argv[0] : "llama-convert";
  const char *in = NULL, *out = NULL, *type_name = NULL, *tokenizer = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      convert_usage(stdout, prog);
      return 0;
    }
    if (a[0] != '-') {
      if (in) {
        fprintf(stderr, "llama-convert: one input file, got '%s' and '%s'\n", in, a);
        return 2;
      }
      in = a;
      continue;
    }
    if (!v) {
      fprintf(stderr, "llama-convert: unknown option or missing value: %s\n", a);
      convert_usage(stderr, prog);
      return 2;
    }
    i++;
    if (!strcmp(a, "-o") || !strcmp(a, "--output"))
      out = v;
    else if (!strcmp(a, "--type"))
      type_name = v;
    else if (!strcmp(a, "--tokenizer"))
      tokenizer = v;
    else {
      fprintf(stderr, "llama-convert: unknown option %s\n", a);
      convert_usage(stderr, prog);
      return 2;
    }
  }
  llama_weight_type type;
  if (!in || !out || !type_name) {
    fprintf(stderr, "llama-convert: IN, -o OUT.gguf and --type are required\n");
    convert_usage(stderr, prog);
    return 2;
  }
  if (llama_weight_type_from_name(type_name, &type)) {
    fprintf(stderr, "llama-convert: --type expects f32, f16, bf16, q8_0 or q4_0, got '%s'\n", type_name);
    return 2;
  }
  llama_error err = {{0}};
  llama_checkpoint ck = {0};
  llama_tokenizer tok = {0};
  bool have_tok = false;
  int rc = 1;
  if (llama_model_load(in, LLAMA_LOAD_DEQUANTIZE, &ck, &err)) goto done;
  if (tokenizer) {
    if (llama_tokenizer_load(tokenizer, ck.config.vocab_size, &tok, &err)) goto done;
    have_tok = true;
  } else if (ck.gguf) {
    int found = llama_tokenizer_from_gguf(ck.gguf, ck.config.vocab_size, &tok, &err);
    if (found < 0) goto done;
    have_tok = found == 0;
  }
  if (llama_gguf_write(out, &ck, type, have_tok ? &tok : NULL, &err)) goto done;
  printf("wrote %s (%s, %d layers, dim %d, vocab %d%s)\n", out, llama_weight_type_name(type), ck.config.n_layers,
         ck.config.dim, ck.config.vocab_size, have_tok ? ", with tokenizer" : "");
  rc = 0;
done:
  if (rc) fprintf(stderr, "llama-convert: %s\n", err.msg);
  llama_tokenizer_free(&tok);
  llama_checkpoint_free(&ck);
  return rc;
}

static const char *shape_text(const gguf_tensor *t, char *buf, size_t size) {
  int n = snprintf(buf, size, "[%llu", (unsigned long long)t->dims[0]);
  for (uint32_t d = 1; d < t->n_dims && n > 0 && (size_t)n < size; d++)
    n += snprintf(buf + n, size - (size_t)n, ", %llu", (unsigned long long)t->dims[d]);
  if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, "]");
  return buf;
}

// The GGUF file's own view: every tensor with its type and bytes, and the
// totals per type; then what the decoder makes of it.
static void print_gguf(const gguf_file *f) {
  printf("format: GGUF version %u, %llu keys, %llu tensors, alignment %u, data at offset %llu of %llu bytes\n",
         f->version, (unsigned long long)f->kv_count, (unsigned long long)f->tensor_count, f->alignment,
         (unsigned long long)f->data_offset, (unsigned long long)f->size);
  gguf_str arch = {0};
  char text[160], shape[96];
  if (gguf_get_str(f, "general.architecture", true, &arch, NULL) == 0 && arch.data)
    printf("architecture: %s\n", gguf_str_printable(arch, text, sizeof text));
  uint64_t bytes_of[GGML_TYPE_LIMIT] = {0}, count_of[GGML_TYPE_LIMIT] = {0};
  for (uint64_t i = 0; i < f->tensor_count; i++) {
    const gguf_tensor *t = &f->tensors[i];
    printf("  tensor %-28s %-6s %-14s %llu bytes\n", gguf_str_printable(t->name, text, sizeof text),
           ggml_type_name(t->type), shape_text(t, shape, sizeof shape), (unsigned long long)t->bytes);
    bytes_of[t->type] += t->bytes;
    count_of[t->type]++;
  }
  printf("tensor bytes by type:");
  for (uint32_t t = 0; t < GGML_TYPE_LIMIT; t++)
    if (count_of[t])
      printf(" %s %llu (%llu tensors)", ggml_type_name(t), (unsigned long long)bytes_of[t],
             (unsigned long long)count_of[t]);
  printf("\n");
}

int gpb_llama_info(const char *path, const char *tokenizer_path) {
  llama_error err = {{0}};
  llama_checkpoint ck = {0};
  llama_tokenizer tok = {0};
  int rc = 1;
  if (llama_model_load(path, 0, &ck, &err)) {
    // A GGUF file the decoder refuses still shows what it holds.
    gguf_file f;
    llama_error ignored;
    if (gguf_is_gguf(path) && gguf_open(path, &f, &ignored) == 0) {
      print_gguf(&f);
      gguf_close(&f);
    }
    goto done;
  }
  const llama_config *c = &ck.config;
  if (ck.gguf)
    print_gguf(ck.gguf);
  else
    printf("format: llama2.c checkpoint (float32), %llu bytes of weights\n", (unsigned long long)ck.data_floats * 4);
  printf("model: llama, dim %d, hidden %d, layers %d, heads %d, kv heads %d (head size %u), vocab %d, "
         "context %d, rope base %g, classifier %s\n",
         c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, llama_head_size(c), c->vocab_size, c->seq_len,
         (double)(c->rope_theta > 0 ? c->rope_theta : 10000.0f),
         c->shared_classifier ? "tied to the embedding" : "separate");
  printf("matrices: embedding %s, layers %s, classifier %s\n", llama_weight_type_name(ck.src.token_embedding.type),
         llama_weight_type_name(llama_checkpoint_weight_type(&ck)), llama_weight_type_name(ck.src.wcls.type));
  int found = 1;
  if (tokenizer_path) {
    found = llama_tokenizer_load(tokenizer_path, c->vocab_size, &tok, &err);
  } else if (ck.gguf) {
    found = llama_tokenizer_from_gguf(ck.gguf, c->vocab_size, &tok, &err);
  }
  if (found < 0)
    printf("tokenizer: refused: %s\n", err.msg);
  else if (found > 0)
    printf("tokenizer: none (give --tokenizer, or token ids with --prompt-ids)\n");
  else
    printf("tokenizer: %s%s, %d pieces, BOS %d, EOS %d, add BOS %s\n", tokenizer_path ? "llama2.c " : "",
           tokenizer_path ? tokenizer_path : "llama (SentencePiece) from the file", tok.vocab_size, tok.bos_id,
           tok.eos_id, tok.add_bos ? "yes" : "no");
  rc = 0;
done:
  if (rc) fprintf(stderr, "llama: %s\n", err.msg);
  llama_tokenizer_free(&tok);
  llama_checkpoint_free(&ck);
  return rc;
}
