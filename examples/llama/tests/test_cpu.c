// test_cpu.c: the llama example's host-only parts.
//   llama_test_cpu reference       generator determinism, header arithmetic,
//                                  CPU forward identical for 1 and 3 threads
//   llama_test_cpu bad-checkpoint  truncated, padded and garbage files refused
//                                  with messages that name the cause
//   llama_test_cpu tokenizer       encode/decode round trip, merges, byte fallback
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cpu_forward.h"
#include "gen.h"
#include "tokenizer.h"

static int failures;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      failures++;                                                                                                      \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                  \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fprintf(stderr, "\n");                                                                                           \
    }                                                                                                                  \
  } while (0)

static llama_config small_config(bool shared) {
  llama_config c = {.dim = 48,
                    .hidden_dim = 100,
                    .n_layers = 2,
                    .n_heads = 6,
                    .n_kv_heads = 3,
                    .vocab_size = 300,
                    .seq_len = 24,
                    .shared_classifier = shared};
  return c;
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static int files_equal(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    if (ca != cb) same = 0;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

static void test_reference(void) {
  llama_error err;
  // The stories15M header implies the published file size.
  llama_config s15 = llama_gen_stories15m();
  int32_t header[7] = {s15.dim, s15.hidden_dim, s15.n_layers, s15.n_heads, s15.n_kv_heads, s15.vocab_size, s15.seq_len};
  llama_config parsed;
  uint64_t bytes = 0;
  CHECK(llama_config_from_header(header, "s15", &parsed, &bytes, &err) == 0, "%s", err.msg);
  CHECK(bytes == 60816028ull, "stories15M size %llu", (unsigned long long)bytes);
  CHECK(parsed.shared_classifier, "positive vocab means shared");
  header[5] = -header[5];
  CHECK(llama_config_from_header(header, "s15", &parsed, &bytes, &err) == 0, "%s", err.msg);
  CHECK(bytes == 60816028ull + 4ull * 32000 * 288, "separate size %llu", (unsigned long long)bytes);

  // Same seed, same file; other seed, other file.
  llama_config c = small_config(false);
  CHECK(llama_gen_write_checkpoint("ref_a.bin", &c, 42, 0.1f, &err) == 0, "%s", err.msg);
  CHECK(llama_gen_write_checkpoint("ref_b.bin", &c, 42, 0.1f, &err) == 0, "%s", err.msg);
  CHECK(llama_gen_write_checkpoint("ref_c.bin", &c, 43, 0.1f, &err) == 0, "%s", err.msg);
  CHECK(files_equal("ref_a.bin", "ref_b.bin"), "same seed differs");
  CHECK(!files_equal("ref_a.bin", "ref_c.bin"), "other seed same");

  llama_checkpoint ck;
  if (llama_checkpoint_load("ref_a.bin", &ck, &err)) {
    CHECK(0, "load: %s", err.msg);
    return;
  }
  CHECK(!ck.config.shared_classifier && ck.w.wcls != ck.w.token_embedding, "separate classifier");
  CHECK(ck.config.n_kv_heads == 3 && llama_kv_dim(&ck.config) == 24, "kv_dim");
  // RMS weights are near 1, matrices near 0: the layout was read as written.
  CHECK(fabsf(ck.w.rms_final[0] - 1.0f) < 0.6f && fabsf(ck.w.rms_att[5] - 1.0f) < 0.6f, "rms weights %f %f",
        (double)ck.w.rms_final[0], (double)ck.w.rms_att[5]);
  CHECK(fabsf(ck.w.wcls[ck.config.vocab_size * ck.config.dim - 1]) < 0.6f, "last wcls");

  llama_cpu *one = NULL, *three = NULL;
  CHECK(llama_cpu_create(&ck, 1, &one, &err) == 0, "%s", err.msg);
  CHECK(llama_cpu_create(&ck, 3, &three, &err) == 0, "%s", err.msg);
  int32_t token = 1, distinct_seen[300] = {0}, distinct = 0;
  for (int32_t pos = 0; one && three && pos < c.seq_len; pos++) {
    const float *a = llama_cpu_forward(one, token, pos);
    const float *b = llama_cpu_forward(three, token, pos);
    CHECK(memcmp(a, b, (size_t)c.vocab_size * sizeof(float)) == 0, "threads differ at pos %d", pos);
    for (int32_t i = 0; i < c.vocab_size; i++) CHECK(isfinite(a[i]), "logit %d not finite", i);
    token = llama_argmax(a, c.vocab_size);
    if (!distinct_seen[token]++) distinct++;
  }
  // std 0.1 must not collapse to one token (that would hide decoder bugs).
  CHECK(distinct >= 4, "only %d distinct greedy tokens", distinct);
  llama_cpu_destroy(one);
  llama_cpu_destroy(three);
  llama_checkpoint_free(&ck);

  float ties[5] = {1.0f, 3.0f, NAN, 3.0f, -INFINITY};
  CHECK(llama_argmax(ties, 5) == 1, "tie goes to the lowest index");
  float nans[2] = {NAN, NAN};
  CHECK(llama_argmax(nans, 2) == -1, "all NaN");
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f) {
    fwrite(data, 1, n, f);
    fclose(f);
  }
}

// Loading `path` must fail with a message that contains `expect`.
static void expect_refused(const char *path, const char *expect) {
  llama_checkpoint ck;
  llama_error err = {{0}};
  int rc = llama_checkpoint_load(path, &ck, &err);
  CHECK(rc != 0, "%s was accepted", path);
  CHECK(strstr(err.msg, expect) != NULL, "%s: message '%s' lacks '%s'", path, err.msg, expect);
  CHECK(ck.data == NULL, "%s: data left behind", path);
  if (rc == 0)
    llama_checkpoint_free(&ck);
  else
    printf("refused as expected: %s\n", err.msg);
}

static void test_bad_checkpoint(void) {
  llama_error err;
  llama_config c = small_config(true);
  CHECK(llama_gen_write_checkpoint("good.bin", &c, 1, 0.1f, &err) == 0, "%s", err.msg);
  long size = file_size("good.bin");
  unsigned char *data = malloc((size_t)size + 8);
  FILE *f = fopen("good.bin", "rb");
  CHECK(f && data && fread(data, 1, (size_t)size, f) == (size_t)size, "read good.bin");
  if (f) fclose(f);
  if (!data) return;
  memset(data + size, 0, 8);

  llama_checkpoint ck;
  CHECK(llama_checkpoint_load("good.bin", &ck, &err) == 0, "%s", err.msg);
  llama_checkpoint_free(&ck);

  write_bytes("truncated.bin", data, (size_t)size - 4);
  expect_refused("truncated.bin", "file has");
  write_bytes("padded.bin", data, (size_t)size + 8);
  expect_refused("padded.bin", "file has");
  write_bytes("header_only.bin", data, 28);
  expect_refused("header_only.bin", "implies");
  write_bytes("short.bin", data, 10);
  expect_refused("short.bin", "less than the 28-byte header");
  write_bytes("empty.bin", data, 0);
  expect_refused("empty.bin", "less than the 28-byte header");
  expect_refused("does_not_exist.bin", "cannot open");

  // Header fields: garbage, zero, negative, inconsistent.
  struct {
    int index;
    int32_t value;
    const char *expect;
  } fields[] = {
      {0, 0, "dim = 0 is outside"},
      {0, 0x6d6f7266, "dim = "}, // ASCII "from": a text file
      {3, 5, "not a multiple of n_heads"},
      {4, 4, "not a multiple of n_kv_heads"},
      {2, -3, "n_layers = -3 is outside"},
      {5, INT32_MIN, "vocab_size"},
      {6, 0, "seq_len = 0"},
      {3, 48, "head size 1 is odd"},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    unsigned char copy[28];
    memcpy(copy, data, 28);
    memcpy(copy + 4 * fields[i].index, &fields[i].value, 4);
    char name[32];
    snprintf(name, sizeof name, "bad_field_%zu.bin", i);
    FILE *out = fopen(name, "wb");
    if (out) {
      fwrite(copy, 1, 28, out);
      fwrite(data + 28, 1, (size_t)size - 28, out);
      fclose(out);
    }
    expect_refused(name, fields[i].expect);
  }
  // A checkpoint whose header says "separate" but stores none.
  int32_t negative = -c.vocab_size;
  memcpy(data + 20, &negative, 4);
  write_bytes("missing_classifier.bin", data, (size_t)size);
  expect_refused("missing_classifier.bin", "separate classifier) implies");
  free(data);
}

static void test_tokenizer(void) {
  llama_error err;
  CHECK(llama_gen_write_tokenizer("tok.bin", 600, 5, &err) == 0, "%s", err.msg);
  llama_tokenizer t;
  if (llama_tokenizer_load("tok.bin", 600, &t, &err)) {
    CHECK(0, "load: %s", err.msg);
    return;
  }
  llama_tokenizer wrong;
  CHECK(llama_tokenizer_load("tok.bin", 500, &wrong, &err) != 0 && strstr(err.msg, "another vocab size"),
        "vocab mismatch not caught: %s", err.msg);
  CHECK(llama_tokenizer_load("tok.bin", 700, &wrong, &err) != 0 && strstr(err.msg, "ends at piece"),
        "short file not caught: %s", err.msg);
  CHECK(llama_tokenizer_lookup(&t, "<0x41>") == 3 + 0x41, "byte piece ids");
  CHECK(llama_tokenizer_lookup(&t, " ") == 259, "space piece");

  const char *texts[] = {"the quick brown fox", "zz top\tand \xc3\xa9t\xc3\xa9 \xe2\x82\xac", "a"};
  for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
    int32_t *ids = NULL, n = 0;
    CHECK(llama_tokenizer_encode(&t, texts[k], true, &ids, &n, &err) == 0, "%s", err.msg);
    if (!ids) continue;
    CHECK(n >= 2 && ids[0] == 1, "BOS first");
    char decoded[256] = "";
    for (int32_t i = 1; i < n; i++)
      strncat(decoded, llama_tokenizer_decode(&t, ids[i - 1], ids[i]), sizeof decoded - strlen(decoded) - 1);
    // The dummy-prefix space is dropped after BOS, so text comes back exact.
    CHECK(strcmp(decoded, texts[k]) == 0, "round trip '%s' -> '%s'", texts[k], decoded);
    free(ids);
  }
  // Text made of the vocabulary's words must merge: fewer tokens than
  // BOS + prefix + one per character.
  char words[64];
  snprintf(words, sizeof words, "%s%s%s", t.pieces[400], t.pieces[450], t.pieces[599]);
  int32_t *ids = NULL, n = 0;
  CHECK(llama_tokenizer_encode(&t, words, true, &ids, &n, &err) == 0, "%s", err.msg);
  CHECK(n < (int32_t)strlen(words) + 2, "no merges in '%s': %d tokens", words, n);
  printf("'%s': %zu bytes -> %d tokens\n", words, strlen(words), n);
  free(ids);
  llama_tokenizer_free(&t);
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "";
  if (!strcmp(which, "reference"))
    test_reference();
  else if (!strcmp(which, "bad-checkpoint"))
    test_bad_checkpoint();
  else if (!strcmp(which, "tokenizer"))
    test_tokenizer();
  else {
    fprintf(stderr, "usage: %s reference|bad-checkpoint|tokenizer\n", argv[0]);
    return 2;
  }
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("ok\n");
  return failures ? 1 : 0;
}
