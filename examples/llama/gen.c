// gen.c: writing synthetic checkpoints and tokenizers.
#define _POSIX_C_SOURCE 200809L // statvfs
#include "gen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "rng.h"

llama_config llama_gen_stories15m(void) {
  llama_config c = {.dim = 288,
                    .hidden_dim = 768,
                    .n_layers = 6,
                    .n_heads = 6,
                    .n_kv_heads = 6,
                    .vocab_size = 32000,
                    .seq_len = 256,
                    .shared_classifier = true};
  return c;
}

// Bytes free to an unprivileged writer on the file system that `path`
// (a file to be created) would be on. -1 when that cannot be told.
static int free_bytes_for(const char *path, uint64_t *out) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == path)
    snprintf(dir, sizeof dir, "/");
  else if ((size_t)(slash - path) < sizeof dir)
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  else
    return -1;
  struct statvfs fs;
  if (statvfs(dir, &fs) != 0) return -1;
  *out = (uint64_t)fs.f_bavail * (uint64_t)fs.f_frsize;
  return 0;
}

// Writes `count` floats drawn as offset + std * N(0,1) (std 0: constant),
// through a small buffer so a large tensor needs no large allocation.
static int write_floats(FILE *f, llama_rng *rng, uint64_t count, float offset, float std) {
  float chunk[4096];
  while (count > 0) {
    size_t n = count < 4096 ? (size_t)count : 4096;
    for (size_t i = 0; i < n; i++) chunk[i] = std == 0.0f ? offset : offset + std * (float)llama_rng_normal(rng);
    if (fwrite(chunk, sizeof(float), n, f) != n) return -1;
    count -= n;
  }
  return 0;
}

int llama_gen_write_checkpoint(const char *path, const llama_config *c, uint64_t seed, float std, llama_error *err) {
  int32_t header[7] = {c->dim,     c->hidden_dim, c->n_layers,
                       c->n_heads, c->n_kv_heads, c->shared_classifier ? c->vocab_size : -c->vocab_size,
                       c->seq_len};
  llama_config checked;
  uint64_t expected_bytes;
  // The same validation the reader applies, so we never write a file we
  // would refuse to read.
  if (llama_config_from_header(header, path, &checked, &expected_bytes, err)) return -1;
  // A legal header can describe petabytes: refuse what the file system
  // cannot hold before writing any of it.
  uint64_t room;
  if (free_bytes_for(path, &room) == 0 && expected_bytes > room)
    return llama_error_set(err, "'%s' would take %llu bytes; its file system has %llu free", path,
                           (unsigned long long)expected_bytes, (unsigned long long)room);
  FILE *f = fopen(path, "wb");
  if (!f) return llama_error_set(err, "cannot create '%s': %s", path, strerror(errno));
  llama_rng rng;
  llama_rng_seed(&rng, seed);
  uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
  uint64_t layers = (uint64_t)c->n_layers, vocab = (uint64_t)c->vocab_size;
  uint64_t kv_dim = llama_kv_dim(&checked);
  // Tensor order of the legacy format; `offset` 1 marks the RMS weights.
  struct {
    uint64_t count;
    float offset, std;
  } tensors[] = {
      {vocab * dim, 0, std},                                    // token embedding
      {layers * dim, 1, std},                                   // rms_att
      {layers * dim * dim, 0, std},                             // wq
      {layers * kv_dim * dim, 0, std},                          // wk
      {layers * kv_dim * dim, 0, std},                          // wv
      {layers * dim * dim, 0, std},                             // wo
      {layers * dim, 1, std},                                   // rms_ffn
      {layers * hidden * dim, 0, std},                          // w1
      {layers * dim * hidden, 0, std},                          // w2
      {layers * hidden * dim, 0, std},                          // w3
      {dim, 1, std},                                            // rms_final
      {(uint64_t)c->seq_len * llama_head_size(&checked), 0, 0}, // unused RoPE tables
      {c->shared_classifier ? 0 : vocab * dim, 0, std},         // classifier
  };
  int rc = fwrite(header, sizeof header, 1, f) == 1 ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < sizeof tensors / sizeof tensors[0]; i++)
    rc = write_floats(f, &rng, tensors[i].count, tensors[i].offset, tensors[i].std);
  if (fclose(f) != 0) rc = -1;
  if (rc) return llama_error_set(err, "writing '%s' failed: %s", path, strerror(errno));
  return 0;
}

#define MAX_MISSES 256

// Open-addressing set of pieces, so synthetic words stay unique.
typedef struct piece_set {
  uint32_t *slots; // index + 1 into pieces; 0 = empty
  uint32_t mask;
  char **pieces;
} piece_set;

// strdup is POSIX, not C11.
static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}

static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static int piece_set_insert(piece_set *set, uint32_t index) {
  const char *s = set->pieces[index];
  for (uint32_t i = fnv1a(s) & set->mask;; i = (i + 1) & set->mask) {
    if (set->slots[i] == 0) {
      set->slots[i] = index + 1;
      return 1;
    }
    if (strcmp(set->pieces[set->slots[i] - 1], s) == 0) return 0;
  }
}

static int write_tokenizer_file(const char *path, char **pieces, int32_t vocab, llama_error *err) {
  int32_t max_len = 0;
  for (int32_t i = 0; i < vocab; i++)
    if ((int32_t)strlen(pieces[i]) > max_len) max_len = (int32_t)strlen(pieces[i]);
  FILE *f = fopen(path, "wb");
  if (!f) return llama_error_set(err, "cannot create '%s': %s", path, strerror(errno));
  int ok = fwrite(&max_len, 4, 1, f) == 1;
  for (int32_t i = 0; ok && i < vocab; i++) {
    // Special and byte pieces score 0, single characters low, and words by
    // creation order: earlier words are merged first.
    float score = i < 259 ? 0.0f : -(float)i;
    int32_t len = (int32_t)strlen(pieces[i]);
    ok = fwrite(&score, 4, 1, f) == 1 && fwrite(&len, 4, 1, f) == 1 &&
         fwrite(pieces[i], 1, (size_t)len, f) == (size_t)len;
  }
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : llama_error_set(err, "writing '%s' failed: %s", path, strerror(errno));
}

int llama_gen_write_tokenizer(const char *path, int32_t vocab, uint64_t seed, llama_error *err) {
  const int32_t first_word = 259 + 27; // after the bytes, " " and "a".."z"
  if (vocab < first_word)
    return llama_error_set(err, "tokenizer: vocab_size %d is below the %d fixed pieces", (int)vocab, (int)first_word);
  uint32_t slots = 1;
  while (slots < 2u * (uint32_t)vocab) slots <<= 1;
  piece_set set = {calloc(slots, sizeof(uint32_t)), slots - 1, calloc((size_t)vocab, sizeof(char *))};
  int rc = -1;
  if (!set.slots || !set.pieces) {
    llama_error_set(err, "tokenizer: out of memory");
    goto done;
  }
  static const char *special[3] = {"<unk>", "\n<s>\n", "\n</s>\n"};
  char tmp[64];
  for (int32_t i = 0; i < first_word; i++) {
    if (i < 3)
      snprintf(tmp, sizeof tmp, "%s", special[i]);
    else if (i < 259)
      snprintf(tmp, sizeof tmp, "<0x%02X>", (unsigned)(i - 3));
    else if (i == 259)
      snprintf(tmp, sizeof tmp, " ");
    else
      snprintf(tmp, sizeof tmp, "%c", 'a' + (i - 260));
    if (!(set.pieces[i] = copy_string(tmp))) goto oom;
    piece_set_insert(&set, (uint32_t)i);
  }
  llama_rng rng;
  llama_rng_seed(&rng, seed);
  // Joins repeat, or run long, more often as the vocabulary grows (at 2^20
  // pieces the retries went on for minutes). Once a piece takes MAX_MISSES
  // tries in a row, or all pieces together take 32 tries per piece, every
  // remaining piece is "z" and its index: no join holds a digit, so each is
  // new, and the work stays linear in the vocabulary. (Small vocabularies,
  // such as the tests' 512 to 2000 pieces, reach neither bound and come out
  // as they did before the bounds.)
  uint64_t tries = 0;
  bool numbered = false;
  for (int32_t i = first_word, misses = 0; i < vocab;) {
    // Join two earlier non-special pieces; retry on duplicates or length.
    uint32_t span = (uint32_t)(i - 259);
    const char *a = set.pieces[259 + llama_rng_next(&rng) % span];
    const char *b = set.pieces[260 + llama_rng_next(&rng) % (span - 1)];
    numbered = numbered || misses >= MAX_MISSES || ++tries > 32ull * (uint64_t)vocab;
    if (numbered) {
      snprintf(tmp, sizeof tmp, "z%d", (int)i);
    } else if (strlen(a) + strlen(b) > 12) {
      misses++;
      continue;
    } else {
      snprintf(tmp, sizeof tmp, "%s%s", a, b);
    }
    if (!(set.pieces[i] = copy_string(tmp))) goto oom;
    if (piece_set_insert(&set, (uint32_t)i)) {
      i++;
      misses = 0;
    } else {
      free(set.pieces[i]);
      set.pieces[i] = NULL;
      misses++;
    }
  }
  rc = write_tokenizer_file(path, set.pieces, vocab, err);
  goto done;
oom:
  llama_error_set(err, "tokenizer: out of memory");
done:
  if (set.pieces)
    for (int32_t i = 0; i < vocab; i++) free(set.pieces[i]);
  free(set.pieces);
  free(set.slots);
  return rc;
}
