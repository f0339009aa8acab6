// gen_cli.c: the command line of the checkpoint generator.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "llama_cli.h"

static void gen_usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s -o FILE [--shape stories15M] [--dim N] [--hidden N] [--layers N]\n"
          "       [--heads N] [--kv-heads N] [--vocab N] [--seq-len N] [--seed S] [--std X]\n"
          "       [--separate-classifier] [--tokenizer-out FILE]\n"
          "Writes a llama2.c legacy checkpoint with random weights: matrices N(0, std^2)\n"
          "(std defaults to 0.1), RMS weights 1 + std*N(0,1). The shape starts from\n"
          "stories15M (dim 288, hidden 768, 6 layers, 6 heads, 6 kv heads, vocab 32000,\n"
          "seq_len 256); each option overrides one field (--heads alone also sets\n"
          "--kv-heads). --separate-classifier stores the classifier after the weights\n"
          "(negative vocab_size in the header). --tokenizer-out also writes a synthetic\n"
          "tokenizer of the same vocab size (at least 286).\n",
          prog);
}

// Parses a whole decimal integer in [min, max].
static int parse_long(const char *flag, const char *text, long long min, long long max, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "llama-gen: %s expects an integer in %lld..%lld, got '%s'\n", flag, min, max, text);
    return -1;
  }
  *out = v;
  return 0;
}

int gpb_llama_gen_main(int argc, char **argv) {
  const char *prog = argc > 0 ? argv[0] : "llama-gen";
  llama_config config = llama_gen_stories15m();
  const char *out_path = NULL, *tokenizer_path = NULL;
  unsigned long long seed = 1;
  float std = 0.1f;
  int kv_heads_given = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    long long n;
    int32_t *field = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      gen_usage(stdout, prog);
      return 0;
    } else if (!strcmp(a, "--separate-classifier")) {
      config.shared_classifier = false;
      continue;
    }
    if (!v) {
      fprintf(stderr, "llama-gen: unknown option or missing value: %s\n", a);
      gen_usage(stderr, prog);
      return 2;
    }
    i++;
    if (!strcmp(a, "-o"))
      out_path = v;
    else if (!strcmp(a, "--tokenizer-out"))
      tokenizer_path = v;
    else if (!strcmp(a, "--shape")) {
      if (strcmp(v, "stories15M") != 0) {
        fprintf(stderr, "llama-gen: unknown shape '%s' (known: stories15M)\n", v);
        return 2;
      }
      config = llama_gen_stories15m();
    } else if (!strcmp(a, "--seed")) {
      char *end;
      errno = 0;
      seed = strtoull(v, &end, 0);
      if (errno || *end != '\0' || end == v) {
        fprintf(stderr, "llama-gen: bad --seed '%s'\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--std")) {
      char *end;
      std = strtof(v, &end);
      if (*end != '\0' || end == v || !(std >= 0.0f && std < 100.0f)) {
        fprintf(stderr, "llama-gen: bad --std '%s'\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--dim"))
      field = &config.dim;
    else if (!strcmp(a, "--hidden"))
      field = &config.hidden_dim;
    else if (!strcmp(a, "--layers"))
      field = &config.n_layers;
    else if (!strcmp(a, "--heads"))
      field = &config.n_heads;
    else if (!strcmp(a, "--kv-heads"))
      field = &config.n_kv_heads, kv_heads_given = 1;
    else if (!strcmp(a, "--vocab"))
      field = &config.vocab_size;
    else if (!strcmp(a, "--seq-len"))
      field = &config.seq_len;
    else {
      fprintf(stderr, "llama-gen: unknown option %s\n", a);
      gen_usage(stderr, prog);
      return 2;
    }
    if (field) {
      if (parse_long(a, v, 1, 1 << 22, &n)) return 2;
      *field = (int32_t)n;
      if (field == &config.n_heads && !kv_heads_given) config.n_kv_heads = (int32_t)n;
    }
  }
  if (!out_path) {
    fprintf(stderr, "llama-gen: -o FILE is required\n");
    gen_usage(stderr, prog);
    return 2;
  }
  llama_error err;
  if (llama_gen_write_checkpoint(out_path, &config, seed, std, &err)) {
    fprintf(stderr, "llama-gen: %s\n", err.msg);
    return 1;
  }
  if (tokenizer_path && llama_gen_write_tokenizer(tokenizer_path, config.vocab_size, seed, &err)) {
    fprintf(stderr, "llama-gen: %s\n", err.msg);
    return 1;
  }
  printf("wrote %s: dim %d, hidden %d, layers %d, heads %d, kv heads %d, vocab %d, seq_len %d, "
         "%s classifier, seed %llu, std %g\n",
         out_path, config.dim, config.hidden_dim, config.n_layers, config.n_heads, config.n_kv_heads, config.vocab_size,
         config.seq_len, config.shared_classifier ? "shared" : "separate", seed, (double)std);
  if (tokenizer_path) printf("wrote %s: %d pieces\n", tokenizer_path, config.vocab_size);
  return 0;
}
