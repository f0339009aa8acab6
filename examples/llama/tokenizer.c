// tokenizer.c: loading, BPE encoding and decoding of llama2.c tokenizers.
#include "tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLAMA_MAX_PIECE_BYTES 65536

static int compare_pieces(const void *a, const void *b) {
  return strcmp(((const llama_piece_index *)a)->piece, ((const llama_piece_index *)b)->piece);
}

void llama_tokenizer_free(llama_tokenizer *t) {
  if (!t) return;
  if (t->pieces)
    for (int32_t i = 0; i < t->vocab_size; i++) free(t->pieces[i]);
  free(t->pieces);
  free(t->scores);
  free(t->sorted);
  memset(t, 0, sizeof *t);
}

static int read_pieces(FILE *f, const char *path, llama_tokenizer *t, llama_error *err) {
  for (int32_t i = 0; i < t->vocab_size; i++) {
    int32_t len;
    if (fread(&t->scores[i], 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1)
      return llama_error_set(err, "tokenizer '%s': ends at piece %d of %d (wrong vocab size?)", path, (int)i,
                             (int)t->vocab_size);
    if (len < 0 || len > LLAMA_MAX_PIECE_BYTES)
      return llama_error_set(err, "tokenizer '%s': piece %d has length %d (not a tokenizer.bin?)", path, (int)i,
                             (int)len);
    if (!(t->pieces[i] = malloc((size_t)len + 1))) return llama_error_set(err, "tokenizer '%s': out of memory", path);
    if (fread(t->pieces[i], 1, (size_t)len, f) != (size_t)len)
      return llama_error_set(err, "tokenizer '%s': piece %d is cut short", path, (int)i);
    t->pieces[i][len] = '\0';
  }
  if (fgetc(f) != EOF)
    return llama_error_set(err,
                           "tokenizer '%s': data left after %d pieces; it belongs to a model "
                           "with another vocab size",
                           path, (int)t->vocab_size);
  return 0;
}

int llama_tokenizer_load(const char *path, int32_t vocab_size, llama_tokenizer *out, llama_error *err) {
  memset(out, 0, sizeof *out);
  if (vocab_size < 259)
    return llama_error_set(err, "tokenizer '%s': vocab size %d has no room for the 256 byte pieces", path,
                           (int)vocab_size);
  FILE *f = fopen(path, "rb");
  if (!f) return llama_error_set(err, "tokenizer '%s': cannot open: %s", path, strerror(errno));
  llama_tokenizer *t = out;
  t->vocab_size = vocab_size;
  t->pieces = calloc((size_t)vocab_size, sizeof(char *));
  t->scores = calloc((size_t)vocab_size, sizeof(float));
  t->sorted = calloc((size_t)vocab_size, sizeof(llama_piece_index));
  int rc = -1;
  if (!t->pieces || !t->scores || !t->sorted) {
    llama_error_set(err, "tokenizer '%s': out of memory", path);
  } else if (fread(&t->max_token_length, 4, 1, f) != 1 || t->max_token_length < 0 ||
             t->max_token_length > LLAMA_MAX_PIECE_BYTES) {
    llama_error_set(err, "tokenizer '%s': bad or missing max_token_length", path);
  } else if (read_pieces(f, path, t, err) == 0) {
    rc = 0;
  }
  fclose(f);
  if (rc) {
    llama_tokenizer_free(t);
    return rc;
  }
  for (int32_t i = 0; i < vocab_size; i++) {
    // Merges may build pieces longer than the header claims; trust the data.
    int32_t len = (int32_t)strlen(t->pieces[i]);
    if (len > t->max_token_length) t->max_token_length = len;
    t->sorted[i].piece = t->pieces[i];
    t->sorted[i].id = i;
  }
  qsort(t->sorted, (size_t)vocab_size, sizeof *t->sorted, compare_pieces);
  for (int b = 0; b < 256; b++) {
    t->byte_pieces[b][0] = (char)b;
    t->byte_pieces[b][1] = '\0';
  }
  return 0;
}

int32_t llama_tokenizer_lookup(const llama_tokenizer *t, const char *piece) {
  llama_piece_index key = {piece, 0};
  const llama_piece_index *hit = bsearch(&key, t->sorted, (size_t)t->vocab_size, sizeof key, compare_pieces);
  return hit ? hit->id : -1;
}

// Splits `text` into code points looked up as pieces, bytes as fallback.
static int32_t encode_code_points(const llama_tokenizer *t, const char *text, char *buf, int32_t *tokens, int32_t n) {
  size_t len = 0;
  for (const char *c = text; *c != '\0'; c++) {
    if ((*c & 0xC0) != 0x80) len = 0; // a lead byte starts a new code point
    buf[len++] = *c;
    buf[len] = '\0';
    if ((c[1] & 0xC0) == 0x80 && len < 4) continue; // more continuation bytes follow
    int32_t id = llama_tokenizer_lookup(t, buf);
    if (id >= 0) {
      tokens[n++] = id;
    } else {
      for (size_t i = 0; i < len; i++) tokens[n++] = (int32_t)(unsigned char)buf[i] + 3;
    }
    len = 0;
  }
  return n;
}

// Merges the best-scoring adjacent pair until no pair forms a piece.
static int32_t merge_pairs(const llama_tokenizer *t, char *buf, size_t buf_size, int32_t *tokens, int32_t n) {
  for (;;) {
    float best_score = -1e10f;
    int32_t best_id = -1, best_at = -1;
    for (int32_t i = 0; i + 1 < n; i++) {
      snprintf(buf, buf_size, "%s%s", t->pieces[tokens[i]], t->pieces[tokens[i + 1]]);
      int32_t id = llama_tokenizer_lookup(t, buf);
      if (id >= 0 && t->scores[id] > best_score) {
        best_score = t->scores[id];
        best_id = id;
        best_at = i;
      }
    }
    if (best_at < 0) return n;
    tokens[best_at] = best_id;
    memmove(&tokens[best_at + 1], &tokens[best_at + 2], (size_t)(n - best_at - 2) * sizeof(int32_t));
    n--;
  }
}

int llama_tokenizer_encode(const llama_tokenizer *t, const char *text, bool bos, int32_t **out_tokens,
                           int32_t *out_count, llama_error *err) {
  *out_tokens = NULL;
  *out_count = 0;
  size_t text_len = strlen(text);
  // Worst case: BOS, the dummy prefix, one token per byte.
  int32_t *tokens = malloc((text_len + 2) * sizeof(int32_t));
  size_t buf_size = (size_t)t->max_token_length * 2 + 8;
  char *buf = malloc(buf_size);
  if (!tokens || !buf) {
    free(tokens);
    free(buf);
    return llama_error_set(err, "tokenizer: out of memory encoding %zu bytes", text_len);
  }
  int32_t n = 0;
  if (bos) tokens[n++] = 1;
  if (text[0] != '\0') {
    // SentencePiece adds a leading space so the first word matches the
    // pieces of words that follow a space.
    int32_t prefix = llama_tokenizer_lookup(t, " ");
    if (prefix >= 0) tokens[n++] = prefix;
  }
  n = encode_code_points(t, text, buf, tokens, n);
  n = merge_pairs(t, buf, buf_size, tokens, n);
  free(buf);
  *out_tokens = tokens;
  *out_count = n;
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

const char *llama_tokenizer_decode(const llama_tokenizer *t, int32_t prev, int32_t token) {
  if (token < 0 || token >= t->vocab_size) return "";
  const char *piece = t->pieces[token];
  if (prev == 1 && piece[0] == ' ') piece++;
  // "<0xHH>" is a raw byte.
  if (strlen(piece) == 6 && piece[0] == '<' && piece[1] == '0' && piece[2] == 'x' && piece[5] == '>') {
    int hi = hex_value(piece[3]), lo = hex_value(piece[4]);
    if (hi >= 0 && lo >= 0) return t->byte_pieces[hi * 16 + lo];
  }
  return piece;
}

bool llama_piece_printable(const char *piece) {
  if (piece[0] == '\0') return false;
  if (piece[1] != '\0') return true;
  unsigned char byte = (unsigned char)piece[0];
  return isprint(byte) || isspace(byte);
}
