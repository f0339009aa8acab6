// tokenizer.c: loading, BPE encoding and decoding of llama2.c tokenizers.
#include "tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "input.h"

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

// The lookup index and byte tables, once the pieces are in.
static void finish_tokenizer(llama_tokenizer *t) {
  for (int32_t i = 0; i < t->vocab_size; i++) {
    t->sorted[i].piece = t->pieces[i];
    t->sorted[i].id = i;
  }
  qsort(t->sorted, (size_t)t->vocab_size, sizeof *t->sorted, compare_pieces);
  for (int b = 0; b < 256; b++) {
    t->byte_pieces[b][0] = (char)b;
    t->byte_pieces[b][1] = '\0';
    char piece[8];
    snprintf(piece, sizeof piece, "<0x%02X>", b);
    int32_t id = llama_tokenizer_lookup(t, piece);
    // llama2.c's encode() assumes the byte pieces at 3..258.
    t->byte_ids[b] = id >= 0 ? id : (b + 3 < t->vocab_size ? b + 3 : 0);
  }
}

int llama_tokenizer_load(const char *path, int32_t vocab_size, llama_tokenizer *out, llama_error *err) {
  memset(out, 0, sizeof *out);
  if (vocab_size < 259)
    return llama_error_set(err, "tokenizer '%s': vocab size %d has no room for the 256 byte pieces", path,
                           (int)vocab_size);
  FILE *f = llama_open_input(path, "tokenizer", err);
  if (!f) return -1;
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
  }
  t->bos_id = 1;
  t->eos_id = 2;
  t->add_bos = true;
  finish_tokenizer(t);
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
      for (size_t i = 0; i < len; i++) tokens[n++] = t->byte_ids[(unsigned char)buf[i]];
    }
    len = 0;
  }
  return n;
}

// A candidate merge: the pieces at nodes left and right (adjacent when it
// was made, each at the version it had then) form piece `id`.
typedef struct merge_candidate {
  float score;
  int32_t left, right, id;
  uint32_t left_version, right_version;
} merge_candidate;

// Which candidate merges first: the higher score, then the leftmost pair
// (nodes keep their original index, so index order is text order).
static bool merges_before(const merge_candidate *a, const merge_candidate *b) {
  return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct merge_state {
  const llama_tokenizer *t;
  char *buf;
  size_t buf_size;
  int32_t *tokens, *next, *prev;
  uint32_t *version;
  merge_candidate *heap;
  size_t heap_count;
} merge_state;

static void heap_push(merge_state *m, merge_candidate c) {
  size_t i = m->heap_count++;
  while (i > 0 && merges_before(&c, &m->heap[(i - 1) / 2])) {
    m->heap[i] = m->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  m->heap[i] = c;
}

static merge_candidate heap_pop(merge_state *m) {
  merge_candidate top = m->heap[0], last = m->heap[--m->heap_count];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= m->heap_count) break;
    if (child + 1 < m->heap_count && merges_before(&m->heap[child + 1], &m->heap[child])) child++;
    if (!merges_before(&m->heap[child], &last)) break;
    m->heap[i] = m->heap[child];
    i = child;
  }
  if (m->heap_count > 0) m->heap[i] = last;
  return top;
}

// Queues the pair (left, its next node) if it forms a piece that scores
// above -1e10 (the quadratic form's starting best, so such pieces, and NaN
// scores, never merge there either).
static void consider_pair(merge_state *m, int32_t left) {
  int32_t right = left < 0 ? -1 : m->next[left];
  if (right < 0) return;
  const char *a = m->t->pieces[m->tokens[left]], *b = m->t->pieces[m->tokens[right]];
  size_t la = strlen(a), lb = strlen(b);
  if (la + lb >= m->buf_size) return; // longer than any piece
  memcpy(m->buf, a, la);
  memcpy(m->buf + la, b, lb + 1);
  int32_t id = llama_tokenizer_lookup(m->t, m->buf);
  if (id < 0 || !(m->t->scores[id] > -1e10f)) return;
  heap_push(m, (merge_candidate){m->t->scores[id], left, right, id, m->version[left], m->version[right]});
}

// Merges the best-scoring adjacent pair until no pair forms a piece (ties:
// the leftmost pair), as llama2.c's encode() does by rescanning every pair
// after each merge. That rescan is quadratic in the text's length (a 100 KB
// prompt took tens of seconds); here the pairs wait in a heap over a linked
// list of the pieces, as in SentencePiece, and a pair whose pieces changed
// since it was queued is dropped when it comes up: O(n log n).
static int32_t merge_pairs(const llama_tokenizer *t, char *buf, size_t buf_size, int32_t *tokens, int32_t n,
                           llama_error *err) {
  if (n < 2) return n;
  merge_state m = {.t = t, .buf = buf, .buf_size = buf_size, .tokens = tokens};
  m.next = malloc((size_t)n * sizeof(int32_t));
  m.prev = malloc((size_t)n * sizeof(int32_t));
  m.version = calloc((size_t)n, sizeof(uint32_t));
  m.heap = malloc((size_t)n * 3 * sizeof(merge_candidate)); // n - 1 pairs, then at most 2 per merge
  int32_t count = n;
  if (!m.next || !m.prev || !m.version || !m.heap) {
    count = llama_error_set(err, "tokenizer: out of memory merging %d pieces", (int)n);
  } else {
    for (int32_t i = 0; i < n; i++) {
      m.next[i] = i + 1 < n ? i + 1 : -1;
      m.prev[i] = i - 1;
    }
    for (int32_t i = 0; i + 1 < n; i++) consider_pair(&m, i);
    while (m.heap_count > 0) {
      merge_candidate c = heap_pop(&m);
      if (m.next[c.left] != c.right || m.version[c.left] != c.left_version || m.version[c.right] != c.right_version)
        continue; // a piece of this pair merged with another since
      tokens[c.left] = c.id;
      m.version[c.left]++;
      m.version[c.right]++; // gone: no queued pair with it applies any more
      m.next[c.left] = m.next[c.right];
      if (m.next[c.right] >= 0) m.prev[m.next[c.right]] = c.left;
      count--;
      consider_pair(&m, m.prev[c.left]);
      consider_pair(&m, c.left);
    }
    // The surviving pieces, in order, to the front of `tokens`.
    int32_t out = 0;
    for (int32_t i = 0; i >= 0; i = m.next[i]) tokens[out++] = tokens[i];
  }
  free(m.next);
  free(m.prev);
  free(m.version);
  free(m.heap);
  return count;
}

int llama_tokenizer_encode(const llama_tokenizer *t, const char *text, bool bos, int32_t **out_tokens,
                           int32_t *out_count, llama_error *err) {
  *out_tokens = NULL;
  *out_count = 0;
  size_t text_len = strlen(text);
  if (text_len > (size_t)INT32_MAX / 4)
    return llama_error_set(err, "tokenizer: a text of %zu bytes is too long to encode", text_len);
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
  if (bos) tokens[n++] = t->bos_id;
  if (text[0] != '\0') {
    // SentencePiece adds a leading space so the first word matches the
    // pieces of words that follow a space.
    int32_t prefix = llama_tokenizer_lookup(t, " ");
    if (prefix >= 0) tokens[n++] = prefix;
  }
  n = encode_code_points(t, text, buf, tokens, n);
  n = merge_pairs(t, buf, buf_size, tokens, n, err);
  free(buf);
  if (n < 0) {
    free(tokens);
    return -1;
  }
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
  if (prev == t->bos_id && piece[0] == ' ') piece++;
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

// A GGUF piece with each U+2581 turned into ' ', NUL-terminated.
static char *piece_from_gguf(gguf_str s) {
  char *out = malloc((size_t)s.len + 1);
  if (!out) return NULL;
  size_t n = 0;
  for (uint64_t i = 0; i < s.len; i++) {
    if (i + 2 < s.len && (unsigned char)s.data[i] == 0xe2 && (unsigned char)s.data[i + 1] == 0x96 &&
        (unsigned char)s.data[i + 2] == 0x81) {
      out[n++] = ' ';
      i += 2;
    } else if (s.data[i] == '\0') {
      out[n++] = ' '; // a NUL would cut the piece short in the C strings here
    } else {
      out[n++] = s.data[i];
    }
  }
  out[n] = '\0';
  return out;
}

static int gguf_vocab_array(const gguf_file *f, const char *key, gguf_value_type type, int32_t vocab,
                            const gguf_kv **out, llama_error *err) {
  if (gguf_get_array(f, key, type, out, err)) return -1;
  if ((*out)->count != (uint64_t)vocab)
    return llama_error_set(err, "gguf '%s': key '%s' has %llu entries, the model's vocabulary %d", f->name, key,
                           (unsigned long long)(*out)->count, (int)vocab);
  return 0;
}

static int token_id(const gguf_file *f, const char *key, int32_t fallback, int32_t vocab, int32_t *out,
                    llama_error *err) {
  uint32_t id = (uint32_t)fallback;
  if (gguf_get_u32(f, key, true, &id, err)) return -1;
  if (id >= (uint32_t)vocab)
    return llama_error_set(err, "gguf '%s': key '%s' is %u, outside the vocabulary of %d", f->name, key, id,
                           (int)vocab);
  *out = (int32_t)id;
  return 0;
}

int llama_tokenizer_from_gguf(const gguf_file *f, int32_t vocab, llama_tokenizer *out, llama_error *err) {
  memset(out, 0, sizeof *out);
  gguf_str model = {0};
  if (!gguf_find(f, "tokenizer.ggml.model")) return 1;
  if (gguf_get_str(f, "tokenizer.ggml.model", false, &model, err)) return -1;
  if (!gguf_str_eq(model, "llama")) {
    char name[160];
    return llama_error_set(err,
                           "gguf '%s': tokenizer model '%s' is not supported (only 'llama', SentencePiece); "
                           "give token ids with --prompt-ids",
                           f->name, gguf_str_printable(model, name, sizeof name));
  }
  // token_type is checked, not used: llama.cpp's SentencePiece encoder
  // merges into any piece, whatever its type, as llama2.c's does.
  const gguf_kv *tokens, *scores, *types;
  if (gguf_vocab_array(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, vocab, &tokens, err) ||
      gguf_vocab_array(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, vocab, &scores, err) ||
      (gguf_find(f, "tokenizer.ggml.token_type") &&
       gguf_vocab_array(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, vocab, &types, err)))
    return -1;
  llama_tokenizer *t = out;
  t->vocab_size = vocab;
  t->pieces = calloc((size_t)vocab, sizeof(char *));
  t->scores = calloc((size_t)vocab, sizeof(float));
  t->sorted = calloc((size_t)vocab, sizeof(llama_piece_index));
  if (!t->pieces || !t->scores || !t->sorted) {
    llama_tokenizer_free(t);
    return llama_error_set(err, "gguf '%s': out of memory for the vocabulary", f->name);
  }
  const uint8_t *cursor;
  for (int32_t i = 0; i < vocab; i++) {
    gguf_str s = i == 0 ? gguf_array_str_first(tokens, &cursor) : gguf_array_str_next(&cursor);
    if (!(t->pieces[i] = piece_from_gguf(s))) {
      llama_tokenizer_free(t);
      return llama_error_set(err, "gguf '%s': out of memory for the vocabulary", f->name);
    }
    size_t len = strlen(t->pieces[i]);
    if (len > LLAMA_MAX_PIECE_BYTES) {
      llama_tokenizer_free(t);
      return llama_error_set(err, "gguf '%s': token %d of key 'tokenizer.ggml.tokens' is %zu bytes long (at most %d)",
                             f->name, (int)i, len, LLAMA_MAX_PIECE_BYTES);
    }
    if ((int32_t)len > t->max_token_length) t->max_token_length = (int32_t)len;
    memcpy(&t->scores[i], scores->value + 4 * (size_t)i, 4); // little-endian hosts only, as the whole decoder
  }
  bool add_bos = true;
  if (token_id(f, "tokenizer.ggml.bos_token_id", 1, vocab, &t->bos_id, err) ||
      token_id(f, "tokenizer.ggml.eos_token_id", 2, vocab, &t->eos_id, err) ||
      gguf_get_bool(f, "tokenizer.ggml.add_bos_token", true, &add_bos, err)) {
    llama_tokenizer_free(t);
    return -1;
  }
  t->add_bos = add_bos;
  finish_tokenizer(t);
  return 0;
}
