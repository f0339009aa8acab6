// test_cpu.c: the llama example's host-only parts.
//   llama_test_cpu reference       generator determinism, header arithmetic,
//                                  CPU forward identical for 1 and 3 threads
//   llama_test_cpu bad-checkpoint  truncated, padded and garbage files, FIFOs and
//                                  directories refused with messages that name the cause
//   llama_test_cpu gen-bounds      llama-gen: a 2^20-piece tokenizer in bounded time,
//                                  a checkpoint larger than the disk refused
//   llama_test_cpu tokenizer       encode/decode round trip, merges, byte fallback
//   llama_test_cpu tokenizer-merges  merge order equal to llama2.c's quadratic loop
//                                  on random and real text; a 1 MB prompt
//   llama_test_cpu half            float <-> IEEE half conversions (every half,
//                                  ties to even, overflow, subnormals, NaN) and
//                                  rounding a checkpoint's matrices, not its gains
//   llama_test_cpu plan-choice     the plan auto picks by shape, type and device
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "cpu_forward.h"
#include "gen.h"
#include "gpu_forward.h"
#include "half.h"
#include "tokenizer.h"

#include "llama_check.h"

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
  // A FIFO with no writer would block a plain open forever; a directory is
  // no checkpoint either. Both are refused at once, as are tokenizers there.
  remove("fifo.bin");
  CHECK(mkfifo("fifo.bin", 0600) == 0, "mkfifo: %s", strerror(errno));
  expect_refused("fifo.bin", "is a FIFO");
  llama_tokenizer tok;
  CHECK(llama_tokenizer_load("fifo.bin", 600, &tok, &err) != 0 && strstr(err.msg, "is a FIFO"), "tokenizer: %s",
        err.msg);
  remove("fifo.bin");
  expect_refused(".", "is a directory");

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

// llama2.c's encode() merge loop as it is written there: rescan every pair,
// merge the best (the leftmost of equals), repeat. Quadratic; the reference
// the tokenizer's heap-based merging must equal.
static int32_t reference_merge(const llama_tokenizer *t, int32_t *tokens, int32_t n) {
  char *buf = malloc((size_t)t->max_token_length * 2 + 8);
  for (;;) {
    float best_score = -1e10f;
    int32_t best_id = -1, best_at = -1;
    for (int32_t i = 0; i + 1 < n; i++) {
      sprintf(buf, "%s%s", t->pieces[tokens[i]], t->pieces[tokens[i + 1]]);
      int32_t id = llama_tokenizer_lookup(t, buf);
      if (id >= 0 && t->scores[id] > best_score) {
        best_score = t->scores[id];
        best_id = id;
        best_at = i;
      }
    }
    if (best_at < 0) break;
    tokens[best_at] = best_id;
    memmove(&tokens[best_at + 1], &tokens[best_at + 2], (size_t)(n - best_at - 2) * sizeof(int32_t));
    n--;
  }
  free(buf);
  return n;
}

// The reference's tokens for `text`: encode with merges made impossible
// (every piece scored at -1e10 or below, which never merges), then the
// reference merge on the result.
static int32_t reference_encode(llama_tokenizer *t, const char *text, int32_t **out) {
  float *scores = t->scores;
  float *none = malloc((size_t)t->vocab_size * sizeof(float));
  for (int32_t i = 0; i < t->vocab_size; i++) none[i] = -1e10f;
  t->scores = none;
  int32_t n = 0;
  llama_error err;
  CHECK(llama_tokenizer_encode(t, text, true, out, &n, &err) == 0, "%s", err.msg);
  t->scores = scores;
  free(none);
  return *out ? reference_merge(t, *out, n) : 0;
}

// Random text over a few words of the vocabulary, spaces, and bytes that are
// no piece (so byte fallback and multi-byte code points appear too).
static char *random_text(const llama_tokenizer *t, size_t bytes, uint64_t seed) {
  char *text = malloc(bytes + 1);
  size_t at = 0;
  static const char *extra[] = {" ", "  ", "\xc3\xa9", "\xe2\x82\xac", "\t", "x", "qq"};
  while (at < bytes) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t r = (uint32_t)(seed >> 33);
    const char *piece = r % 3 == 0 ? extra[r / 3 % 7] : t->pieces[259 + r / 3 % (uint32_t)(t->vocab_size - 259)];
    size_t len = strlen(piece);
    if (at + len > bytes) break;
    memcpy(text + at, piece, len);
    at += len;
  }
  text[at] = '\0';
  return text;
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool same_encoding(llama_tokenizer *t, const char *text, const char *what) {
  int32_t *ids = NULL, *ref = NULL, n = 0;
  llama_error err;
  CHECK(llama_tokenizer_encode(t, text, true, &ids, &n, &err) == 0, "%s", err.msg);
  int32_t ref_n = reference_encode(t, text, &ref);
  bool same = ids && ref && n == ref_n && !memcmp(ids, ref, (size_t)n * sizeof(int32_t));
  CHECK(same, "%s: %d tokens, the reference %d", what, n, ref_n);
  free(ids);
  free(ref);
  return same;
}

// Encoding equals llama2.c's merge order on random and real text, and a
// 1 MB prompt encodes in linearithmic time (the quadratic loop took 14-38 s
// for 100 KB).
static void test_tokenizer_merges(void) {
  llama_error err;
  CHECK(llama_gen_write_tokenizer("tok_merge.bin", 2000, 11, &err) == 0, "%s", err.msg);
  llama_tokenizer t;
  if (llama_tokenizer_load("tok_merge.bin", 2000, &t, &err)) {
    CHECK(0, "load: %s", err.msg);
    return;
  }
  int same = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    char *text = random_text(&t, 64 + seed * 40, seed);
    same += same_encoding(&t, text, "random text");
    free(text);
  }
  printf("synthetic tokenizer: %d of 40 random texts encode as the reference\n", same);
  char *big = random_text(&t, 1 << 20, 99);
  int32_t *ids = NULL, n = 0;
  double t0 = seconds();
  CHECK(llama_tokenizer_encode(&t, big, true, &ids, &n, &err) == 0, "%s", err.msg);
  double took = seconds() - t0;
  printf("1 MB prompt: %d tokens in %.3f s\n", n, took);
  // A bound on the complexity, not a benchmark: the quadratic merge takes
  // hours for 1 MB; this takes 0.7 s here, 3 s in the sanitizers' build.
  CHECK(took < 30.0, "a 1 MB prompt took %.1f s", took);
  CHECK(n > 1000 && n < (1 << 20), "%d tokens for 1 MB", n);
  free(ids);
  free(big);
  llama_tokenizer_free(&t);

  // The Llama 2 tokenizer, where the build found it (LLAMA_TOKENIZER_BIN:
  // the project's test data beside a checkout, absent from a user's clone).
  const char *real = getenv("LLAMA_TOKENIZER_BIN");
  if (!real || !*real || llama_tokenizer_load(real, 32000, &t, &err)) {
    printf("SKIP the Llama 2 tokenizer part: %s\n", real && *real ? err.msg : "LLAMA_TOKENIZER_BIN is not set");
    return;
  }
  const char *texts[] = {"Once upon a time, there was a little girl named Lily. She loved to play outside.",
                         "The quick brown fox jumps over the lazy dog; \xc3\xa9t\xc3\xa9 \xe2\x82\xac 1234567890!",
                         "   leading spaces, tabs\tand\nnewlines, unicode \xe4\xb8\xad\xe6\x96\x87 and emoji "
                         "\xf0\x9f\x98\x80"};
  same = 0;
  for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) same += same_encoding(&t, texts[k], texts[k]);
  for (uint64_t seed = 1; seed <= 10; seed++) {
    char *text = random_text(&t, 2000, seed);
    same += same_encoding(&t, text, "random text, real tokenizer");
    free(text);
  }
  printf("real tokenizer: %d of 13 texts encode as the reference\n", same);
  llama_tokenizer_free(&t);
}

static float bits_float(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// llama-gen stays bounded: a tokenizer of a million pieces is made in
// seconds (retrying duplicate joins once took minutes), every piece unique;
// a legal header that describes more bytes than the disk holds is refused
// before a byte is written.
static void test_gen_bounds(void) {
  llama_error err;
  double t0 = seconds();
  CHECK(llama_gen_write_tokenizer("big_tok.bin", 1 << 20, 3, &err) == 0, "%s", err.msg);
  double took = seconds() - t0;
  printf("2^20-piece tokenizer in %.2f s\n", took);
  CHECK(took < 60.0, "took %.1f s", took); // a bound on the work, not a benchmark
  llama_tokenizer t;
  if (llama_tokenizer_load("big_tok.bin", 1 << 20, &t, &err) == 0) {
    int dup = 0;
    for (int32_t i = 0; i < t.vocab_size; i += 97) dup += llama_tokenizer_lookup(&t, t.pieces[i]) != i;
    CHECK(dup == 0, "%d sampled pieces are not unique", dup);
    llama_tokenizer_free(&t);
  } else {
    CHECK(0, "%s", err.msg);
  }
  remove("big_tok.bin");
  llama_config huge = {.dim = 8192,
                       .hidden_dim = 262144,
                       .n_layers = 1024,
                       .n_heads = 64,
                       .n_kv_heads = 64,
                       .vocab_size = 32000,
                       .seq_len = 16,
                       .shared_classifier = true}; // ~26 TB
  remove("huge.bin");
  CHECK(llama_gen_write_checkpoint("huge.bin", &huge, 1, 0.1f, &err) != 0 && strstr(err.msg, "free"), "%s", err.msg);
  CHECK(file_size("huge.bin") < 0, "huge.bin was created");
}

static void test_half(void) {
  // Every half that is not NaN survives half -> float -> half; NaNs stay NaN.
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    float f = llama_f16_to_f32((uint16_t)h);
    bool nan_half = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
    if (nan_half ? !isnan(f) || !isnan(llama_f16_to_f32(llama_f32_to_f16(f))) : llama_f32_to_f16(f) != h) bad++;
  }
  CHECK(bad == 0, "%d halves do not round-trip", bad);
  CHECK(llama_f16_to_f32(0x3c00) == 1.0f && llama_f16_to_f32(0xc000) == -2.0f, "1 and -2");
  CHECK(llama_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest subnormal");
  CHECK(llama_f16_to_f32(0x7bff) == 65504.0f, "largest half");
  // Halfway between two halves goes to the even one; just past halfway, up.
  // 1 + 2^-11 lies between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01).
  CHECK(llama_f32_to_f16(1.0f + ldexpf(1.0f, -11)) == 0x3c00, "tie to even (down)");
  CHECK(llama_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)) == 0x3c02, "tie to even (up)");
  CHECK(llama_f32_to_f16(nextafterf(1.0f + ldexpf(1.0f, -11), 2.0f)) == 0x3c01, "past the tie");
  CHECK(llama_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000, "half the smallest subnormal: tie to zero");
  CHECK(llama_f32_to_f16(nextafterf(ldexpf(1.0f, -25), 1.0f)) == 0x0001, "past it: the smallest subnormal");
  CHECK(llama_f32_to_f16(ldexpf(3.0f, -25)) == 0x0002, "subnormal tie to even");
  CHECK(llama_f32_to_f16(65520.0f) == 0x7c00 && llama_f32_to_f16(-1e9f) == 0xfc00, "overflow to infinity");
  CHECK(llama_f32_to_f16(65519.0f) == 0x7bff, "just below overflow");
  CHECK(llama_f32_to_f16(bits_float(0x7f800000u)) == 0x7c00, "infinity");
  CHECK(isnan(llama_f16_to_f32(llama_f32_to_f16(bits_float(0x7fc00001u)))), "NaN");
  CHECK(llama_f32_to_f16(-0.0f) == 0x8000, "negative zero");
  // Random floats in the weights' range: within half an ulp of half.
  llama_error err;
  llama_config c = small_config(false);
  CHECK(llama_gen_write_checkpoint("half.bin", &c, 9, 0.1f, &err) == 0, "%s", err.msg);
  llama_checkpoint a, b;
  if (llama_checkpoint_load("half.bin", &a, &err) || llama_checkpoint_load("half.bin", &b, &err)) {
    CHECK(0, "%s", err.msg);
    return;
  }
  llama_checkpoint_round_f16(&b);
  int worse = 0, unchanged = 0;
  for (uint64_t i = 0; i < (uint64_t)c.vocab_size * c.dim; i++) { // the embedding, a matrix
    float x = a.w.token_embedding[i], r = b.w.token_embedding[i];
    if (llama_f32_to_f16(r) != llama_f32_to_f16(x) || llama_f16_to_f32(llama_f32_to_f16(r)) != r) worse++;
    if (fabsf(r - x) > fabsf(x) * ldexpf(1.0f, -11) + ldexpf(1.0f, -25)) worse++;
    unchanged += r == x;
  }
  CHECK(worse == 0, "%d embedding values not rounded to their nearest half", worse);
  CHECK(unchanged < c.vocab_size * c.dim / 100, "%d of %d embedding values unchanged: not rounded?", unchanged,
        c.vocab_size * c.dim);
  CHECK(!memcmp(a.w.rms_att, b.w.rms_att, (size_t)c.n_layers * c.dim * sizeof(float)) &&
            !memcmp(a.w.rms_ffn, b.w.rms_ffn, (size_t)c.n_layers * c.dim * sizeof(float)) &&
            !memcmp(a.w.rms_final, b.w.rms_final, (size_t)c.dim * sizeof(float)),
        "RMS gains must stay float32");
  CHECK(b.w.wcls[0] != a.w.wcls[0] || b.w.w2[0] != a.w.w2[0], "separate classifier and w2 rounded");
  llama_checkpoint_free(&a);
  llama_checkpoint_free(&b);
}

// The plan auto picks (llama_auto_plan): fused where a layer's weights are
// few (stories15M), else persistent where the device can run it, else wide;
// types the fused kernels do not read and widths they do not take go wide
// (or persistent); widths the wide kernels do not take stay fused (whose
// limits then refuse them).
static void test_plan_choice(void) {
  llama_config s15 = llama_gen_stories15m(), s42 = s15, odd = s15, huge = s15;
  s42.dim = 512;
  s42.hidden_dim = 1376;
  s42.n_heads = s42.n_kv_heads = 8;
  odd.dim = 292; // not a multiple of 8
  huge.dim = 4104;
  huge.n_heads = huge.n_kv_heads = 36;
  const struct {
    const llama_config *c;
    llama_weight_type w;
    bool persistent_ok;
    llama_plan want;
    const char *what;
  } cases[] = {
      {&s15, LLAMA_WEIGHTS_F32, true, LLAMA_PLAN_FUSED, "stories15M f32 (3.98 MB a layer)"},
      {&s15, LLAMA_WEIGHTS_F16, true, LLAMA_PLAN_FUSED, "stories15M f16"},
      {&s15, LLAMA_WEIGHTS_F32, false, LLAMA_PLAN_FUSED, "stories15M f32 without persistent"},
      {&s42, LLAMA_WEIGHTS_F32, true, LLAMA_PLAN_PERSISTENT, "stories42M f32 (12.6 MB a layer)"},
      {&s42, LLAMA_WEIGHTS_F32, false, LLAMA_PLAN_WIDE, "stories42M f32 without persistent"},
      {&s42, LLAMA_WEIGHTS_F16, true, LLAMA_PLAN_PERSISTENT, "stories42M f16"},
      {&s15, LLAMA_WEIGHTS_Q8_0, true, LLAMA_PLAN_PERSISTENT, "stories15M q8_0 (no fused kernel)"},
      {&s15, LLAMA_WEIGHTS_Q4_0, false, LLAMA_PLAN_WIDE, "stories15M q4_0 without persistent"},
      {&huge, LLAMA_WEIGHTS_F32, true, LLAMA_PLAN_PERSISTENT, "dim 4104 (past the fused kernels)"},
      {&huge, LLAMA_WEIGHTS_F16, false, LLAMA_PLAN_WIDE, "dim 4104 without persistent"},
      {&odd, LLAMA_WEIGHTS_F32, true, LLAMA_PLAN_FUSED, "dim 292 (no wide kernel)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    llama_plan got = llama_auto_plan(cases[i].c, cases[i].w, cases[i].persistent_ok);
    if (got != cases[i].want) {
      fprintf(stderr, "FAIL: auto picks %s for %s, expected %s\n", llama_plan_name(got), cases[i].what,
              llama_plan_name(cases[i].want));
      failures++;
    }
  }
}

// Phase times from clock marks (llama_phase_times_from_marks): 2
// workgroups, 1 layer; workgroup w arrives at event e at t0 + 1000 e +
// 10 w and leaves 5 ticks later. The same marks from a 64-bit clock, from
// a 32-bit one that wraps within the step (lavapipe's), then marks that
// run backwards and a start never written.
static void fill_marks(uint32_t *marks, uint64_t t0, bool clock32) {
  for (uint32_t e = 0; e < 6; e++)
    for (uint32_t w = 0; w < 2; w++)
      for (uint32_t which = 0; which < 2; which++) {
        uint64_t t = t0 + 1000u * e + 10u * w + 5u * which;
        uint32_t *m = marks + 4 * (e * 2 + w) + 2 * which;
        m[0] = (uint32_t)t;
        m[1] = clock32 ? 0 : (uint32_t)(t >> 32);
      }
}

static void test_phase_marks(void) {
  uint32_t marks[6 * 2 * 4];
  struct {
    uint64_t t0;
    bool clock32;
  } clocks[] = {{0x100000064ull, false}, {0xfffff000ull, true}, {0xfffff800ull, true}};
  for (size_t k = 0; k < sizeof clocks / sizeof clocks[0]; k++) {
    fill_marks(marks, clocks[k].t0, clocks[k].clock32);
    llama_phase_times p;
    llama_error err = {0};
    if (llama_phase_times_from_marks(marks, 2, 1, &p, &err)) {
      fprintf(stderr, "FAIL: phase marks from t0 %#llx: %s\n", (unsigned long long)clocks[k].t0, err.msg);
      failures++;
      continue;
    }
    bool good = p.total == 5000.0;
    for (int ph = 0; ph < LLAMA_PHASES; ph++)
      good = good && p.until_last[ph] == 995.0 && p.barrier[ph] == 5.0 && p.busy_mean[ph] == 995.0;
    if (!good) {
      fprintf(stderr, "FAIL: phase marks from t0 %#llx: total %.0f, qkv %.0f / %.0f / %.0f\n",
              (unsigned long long)clocks[k].t0, p.total, p.until_last[0], p.barrier[0], p.busy_mean[0]);
      failures++;
    }
  }
  llama_phase_times p;
  llama_error err = {0};
  fill_marks(marks, 0x100000064ull, false);
  marks[4 * (3 * 2 + 1)] -= 2000; // workgroup 1 arrives at event 3 before it left event 2
  if (!llama_phase_times_from_marks(marks, 2, 1, &p, &err) || !strstr(err.msg, "out of order")) {
    fprintf(stderr, "FAIL: marks that run backwards: %s\n", err.msg);
    failures++;
  }
  fill_marks(marks, 0x100000064ull, false);
  marks[4 * 1 + 2] = marks[4 * 1 + 3] = 0; // workgroup 1's start
  if (!llama_phase_times_from_marks(marks, 2, 1, &p, &err) || !strstr(err.msg, "never written")) {
    fprintf(stderr, "FAIL: a start never written: %s\n", err.msg);
    failures++;
  }
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "";
  if (!strcmp(which, "reference"))
    test_reference();
  else if (!strcmp(which, "bad-checkpoint"))
    test_bad_checkpoint();
  else if (!strcmp(which, "tokenizer"))
    test_tokenizer();
  else if (!strcmp(which, "half"))
    test_half();
  else if (!strcmp(which, "tokenizer-merges"))
    test_tokenizer_merges();
  else if (!strcmp(which, "gen-bounds"))
    test_gen_bounds();
  else if (!strcmp(which, "plan-choice"))
    test_plan_choice();
  else if (!strcmp(which, "phase-marks"))
    test_phase_marks();
  else {
    fprintf(stderr,
            "usage: %s reference|bad-checkpoint|tokenizer|tokenizer-merges|gen-bounds|half|plan-choice|phase-marks\n",
            argv[0]);
    return 2;
  }
  return check_report();
}
