// gguf.c: reading and checking GGUF files (see gguf.h).
#define _POSIX_C_SOURCE 200809L
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// ggml's types: name, elements per block, bytes per block (ggml.c's
// type_traits). Ids that ggml retired have no entry (block 0).
typedef struct ggml_type_info {
  const char *name;
  uint32_t block, bytes;
} ggml_type_info;

static const ggml_type_info k_ggml_types[GGML_TYPE_LIMIT] = {
    [0] = {"f32", 1, 4},         [1] = {"f16", 1, 2},         [2] = {"q4_0", 32, 18},      [3] = {"q4_1", 32, 20},
    [6] = {"q5_0", 32, 22},      [7] = {"q5_1", 32, 24},      [8] = {"q8_0", 32, 34},      [9] = {"q8_1", 32, 36},
    [10] = {"q2_k", 256, 84},    [11] = {"q3_k", 256, 110},   [12] = {"q4_k", 256, 144},   [13] = {"q5_k", 256, 176},
    [14] = {"q6_k", 256, 210},   [15] = {"q8_k", 256, 292},   [16] = {"iq2_xxs", 256, 66}, [17] = {"iq2_xs", 256, 74},
    [18] = {"iq3_xxs", 256, 98}, [19] = {"iq1_s", 256, 50},   [20] = {"iq4_nl", 32, 18},   [21] = {"iq3_s", 256, 110},
    [22] = {"iq2_s", 256, 82},   [23] = {"iq4_xs", 256, 136}, [24] = {"i8", 1, 1},         [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},        [27] = {"i64", 1, 8},        [28] = {"f64", 1, 8},        [29] = {"iq1_m", 256, 56},
    [30] = {"bf16", 1, 2},       [34] = {"tq1_0", 256, 54},   [35] = {"tq2_0", 256, 66},   [39] = {"mxfp4", 32, 17},
};

static const char *const k_value_type_names[GGUF_TYPE_COUNT] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                                "int32",  "float32", "bool",   "string", "array",
                                                                "uint64", "int64",   "float64"};
static const uint8_t k_value_type_bytes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(gguf_value_type type) {
  return (unsigned)type < GGUF_TYPE_COUNT ? k_value_type_names[type] : "unknown";
}

const char *ggml_type_name(uint32_t type) {
  return type < GGML_TYPE_LIMIT && k_ggml_types[type].name ? k_ggml_types[type].name : "unknown";
}

const char *gguf_str_printable(gguf_str s, char *buf, size_t buf_size) {
  size_t o = 0;
  for (uint64_t i = 0; i < s.len && o + 5 < buf_size; i++) {
    if (i == 64) {
      o += (size_t)snprintf(buf + o, buf_size - o, "...");
      break;
    }
    unsigned char c = (unsigned char)s.data[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      buf[o++] = (char)c;
    else
      o += (size_t)snprintf(buf + o, buf_size - o, "\\x%02x", c);
  }
  buf[o < buf_size ? o : buf_size - 1] = '\0';
  return buf;
}

bool gguf_str_eq(gguf_str s, const char *text) {
  size_t n = strlen(text);
  return s.len == n && memcmp(s.data, text, n) == 0;
}

// A bounds-checked reader over the file's bytes.
typedef struct reader {
  const gguf_file *f;
  const uint8_t *p;
  uint64_t left;
  llama_error *err;
} reader;

static uint64_t offset_of(const reader *c) { return (uint64_t)(c->p - c->f->base); }

static int need(reader *c, uint64_t bytes, const char *what) {
  if (bytes > c->left)
    return llama_error_set(c->err, "gguf '%s': %s needs %llu bytes at offset %llu, the file ends %llu bytes later",
                           c->f->name, what, (unsigned long long)bytes, (unsigned long long)offset_of(c),
                           (unsigned long long)c->left);
  return 0;
}

static uint64_t load_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int read_u32(reader *c, uint32_t *out, const char *what) {
  if (need(c, 4, what)) return -1;
  *out = (uint32_t)load_le(c->p, 4);
  c->p += 4;
  c->left -= 4;
  return 0;
}

static int read_u64(reader *c, uint64_t *out, const char *what) {
  if (need(c, 8, what)) return -1;
  *out = load_le(c->p, 8);
  c->p += 8;
  c->left -= 8;
  return 0;
}

static int skip(reader *c, uint64_t bytes, const char *what) {
  if (need(c, bytes, what)) return -1;
  c->p += bytes;
  c->left -= bytes;
  return 0;
}

static int read_str(reader *c, gguf_str *out, const char *what) {
  uint64_t len;
  if (read_u64(c, &len, what)) return -1;
  if (len > c->left)
    return llama_error_set(c->err,
                           "gguf '%s': %s is a string of %llu bytes at offset %llu, longer than the %llu bytes "
                           "left in the file",
                           c->f->name, what, (unsigned long long)len, (unsigned long long)offset_of(c),
                           (unsigned long long)c->left);
  out->data = (const char *)c->p;
  out->len = len;
  return skip(c, len, what);
}

// Skips a value of `type` (not an array) after checking it fits.
static int skip_value(reader *c, gguf_value_type type, const char *what) {
  if (type == GGUF_TYPE_STRING) {
    gguf_str s;
    return read_str(c, &s, what);
  }
  return skip(c, k_value_type_bytes[type], what);
}

static int read_kv(reader *c, uint64_t index, gguf_kv *kv) {
  char what[256], key[160];
  snprintf(what, sizeof what, "the key of metadata entry %llu", (unsigned long long)index);
  if (read_str(c, &kv->key, what)) return -1;
  gguf_str_printable(kv->key, key, sizeof key);
  snprintf(what, sizeof what, "the type of key '%s'", key);
  uint32_t type;
  if (read_u32(c, &type, what)) return -1;
  if (type >= GGUF_TYPE_COUNT)
    return llama_error_set(c->err, "gguf '%s': key '%s' has value type %u, which GGUF does not define", c->f->name, key,
                           type);
  kv->type = (gguf_value_type)type;
  kv->array_type = kv->type;
  kv->count = 1;
  snprintf(what, sizeof what, "the value of key '%s'", key);
  if (kv->type != GGUF_TYPE_ARRAY) {
    kv->value = c->p;
    return skip_value(c, kv->type, what);
  }
  uint32_t elem;
  if (read_u32(c, &elem, what) || read_u64(c, &kv->count, what)) return -1;
  if (elem >= GGUF_TYPE_COUNT || elem == GGUF_TYPE_ARRAY)
    return llama_error_set(c->err, "gguf '%s': key '%s' is an array of %s%u, which this reader does not take",
                           c->f->name, key, elem == GGUF_TYPE_ARRAY ? "arrays, type " : "undefined type ", elem);
  kv->array_type = (gguf_value_type)elem;
  kv->value = c->p;
  // Every element takes at least one byte (a string at least 8): a count
  // beyond the bytes left is refused before anything walks it.
  uint64_t min_bytes = elem == GGUF_TYPE_STRING ? 8 : k_value_type_bytes[elem];
  if (kv->count > c->left / min_bytes)
    return llama_error_set(
        c->err, "gguf '%s': key '%s' is an array of %llu %s, more than the %llu bytes left in the file hold",
        c->f->name, key, (unsigned long long)kv->count, gguf_type_name(kv->array_type), (unsigned long long)c->left);
  if (elem != GGUF_TYPE_STRING) return skip(c, kv->count * min_bytes, what);
  for (uint64_t i = 0; i < kv->count; i++) {
    snprintf(what, sizeof what, "string %llu of key '%s'", (unsigned long long)i, key);
    if (skip_value(c, GGUF_TYPE_STRING, what)) return -1;
  }
  return 0;
}

static int read_tensor_info(reader *c, uint64_t index, gguf_tensor *t) {
  char what[256], name[160];
  snprintf(what, sizeof what, "the name of tensor %llu", (unsigned long long)index);
  if (read_str(c, &t->name, what)) return -1;
  gguf_str_printable(t->name, name, sizeof name);
  snprintf(what, sizeof what, "the info of tensor '%s'", name);
  if (read_u32(c, &t->n_dims, what)) return -1;
  if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
    return llama_error_set(c->err, "gguf '%s': tensor '%s' has %u dimensions, not 1..%d", c->f->name, name, t->n_dims,
                           GGUF_MAX_DIMS);
  t->elements = 1;
  for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
    t->dims[d] = 1;
    if (d < t->n_dims && read_u64(c, &t->dims[d], what)) return -1;
    // Below 2^62 elements in all, so that bytes (at most 8 per element)
    // cannot overflow.
    if (t->dims[d] == 0 || t->dims[d] > (UINT64_C(1) << 62) / t->elements)
      return llama_error_set(c->err, "gguf '%s': tensor '%s' dimension %u is %llu (zero, or the product overflows)",
                             c->f->name, name, d, (unsigned long long)t->dims[d]);
    t->elements *= t->dims[d];
  }
  if (read_u32(c, &t->type, what) || read_u64(c, &t->offset, what)) return -1;
  if (t->type >= GGML_TYPE_LIMIT || k_ggml_types[t->type].block == 0)
    return llama_error_set(c->err, "gguf '%s': tensor '%s' has ggml type %u, which this reader does not know",
                           c->f->name, name, t->type);
  const ggml_type_info *info = &k_ggml_types[t->type];
  if (t->dims[0] % info->block != 0)
    return llama_error_set(c->err, "gguf '%s': tensor '%s' (%s) has rows of %llu elements, not whole blocks of %u",
                           c->f->name, name, info->name, (unsigned long long)t->dims[0], info->block);
  t->bytes = t->elements / info->block * info->bytes;
  return 0;
}

// Checks the data section: every tensor inside it, aligned, names unique.
static int check_tensors(gguf_file *f, llama_error *err) {
  uint64_t data_size = f->size - f->data_offset;
  for (uint64_t i = 0; i < f->tensor_count; i++) {
    gguf_tensor *t = &f->tensors[i];
    char name[160];
    gguf_str_printable(t->name, name, sizeof name);
    if (t->offset % f->alignment != 0)
      return llama_error_set(err,
                             "gguf '%s': tensor '%s' starts at data offset %llu, not a multiple of the alignment %u",
                             f->name, name, (unsigned long long)t->offset, f->alignment);
    if (t->offset > data_size || t->bytes > data_size - t->offset)
      return llama_error_set(err,
                             "gguf '%s': tensor '%s' (%llu bytes at data offset %llu) ends past the file's %llu "
                             "bytes of data",
                             f->name, name, (unsigned long long)t->bytes, (unsigned long long)t->offset,
                             (unsigned long long)data_size);
    t->data = f->base + f->data_offset + t->offset;
  }
  return 0;
}

static int compare_str(gguf_str a, gguf_str b) {
  int c = memcmp(a.data, b.data, (size_t)(a.len < b.len ? a.len : b.len));
  return c ? c : (a.len > b.len) - (a.len < b.len);
}

// qsort passes no context to its comparison, so each name is sorted
// together with its index.
typedef struct sort_entry {
  gguf_str s;
  uint64_t index;
} sort_entry;

static int compare_entries(const void *a, const void *b) {
  return compare_str(((const sort_entry *)a)->s, ((const sort_entry *)b)->s);
}

// Sorts the `count` names (strings at `stride` bytes apart from `first`)
// into *out (indices); -1 naming the first duplicate.
static int sort_names(const gguf_file *f, const void *first, size_t stride, uint64_t count, const char *what,
                      uint64_t **out, llama_error *err) {
  sort_entry *entries = malloc((count ? (size_t)count : 1) * sizeof *entries);
  *out = malloc((count ? (size_t)count : 1) * sizeof **out);
  if (!entries || !*out) {
    free(entries);
    return llama_error_set(err, "gguf '%s': out of memory sorting %llu names", f->name, (unsigned long long)count);
  }
  for (uint64_t i = 0; i < count; i++) {
    memcpy(&entries[i].s, (const uint8_t *)first + i * stride, sizeof(gguf_str));
    entries[i].index = i;
  }
  qsort(entries, (size_t)count, sizeof *entries, compare_entries);
  int rc = 0;
  for (uint64_t i = 0; i < count; i++) {
    (*out)[i] = entries[i].index;
    if (rc == 0 && i > 0 && compare_str(entries[i - 1].s, entries[i].s) == 0) {
      char name[160];
      rc = llama_error_set(err, "gguf '%s': %s '%s' appears twice", f->name, what,
                           gguf_str_printable(entries[i].s, name, sizeof name));
    }
  }
  free(entries);
  return rc;
}

static int read_alignment(gguf_file *f, llama_error *err) {
  f->alignment = GGUF_DEFAULT_ALIGNMENT;
  const gguf_kv *kv = gguf_find(f, "general.alignment");
  if (!kv) return 0;
  if (kv->type != GGUF_TYPE_UINT32)
    return llama_error_set(err, "gguf '%s': key 'general.alignment' is %s, not uint32", f->name,
                           gguf_type_name(kv->type));
  uint32_t a = (uint32_t)load_le(kv->value, 4);
  if (a == 0 || (a & (a - 1)) != 0)
    return llama_error_set(err, "gguf '%s': key 'general.alignment' is %u, not a power of two", f->name, a);
  f->alignment = a;
  return 0;
}

static int parse(gguf_file *f, llama_error *err) {
  reader c = {f, f->base, f->size, err};
  if (f->size < 4 || memcmp(f->base, GGUF_MAGIC, 4) != 0)
    return llama_error_set(err, "gguf '%s': no GGUF magic (the file starts with other bytes)", f->name);
  c.p += 4;
  c.left -= 4;
  if (read_u32(&c, &f->version, "the version")) return -1;
  if (f->version == 1)
    return llama_error_set(err, "gguf '%s': version 1 (32-bit counts) is not supported; convert to version 3", f->name);
  if (f->version != 2 && f->version != 3)
    return llama_error_set(err, "gguf '%s': unknown version %u (this reader takes 2 and 3%s)", f->name, f->version,
                           (f->version & 0xffffu) == 0 ? "; a big-endian file?" : "");
  if (read_u64(&c, &f->tensor_count, "the tensor count") || read_u64(&c, &f->kv_count, "the metadata count")) return -1;
  // A key takes at least 13 bytes (length, one byte, type), a tensor info at
  // least 33: counts beyond what the file holds are refused before the
  // tables are allocated.
  if (f->kv_count > c.left / 13)
    return llama_error_set(err, "gguf '%s': %llu metadata entries cannot fit in the file's %llu bytes", f->name,
                           (unsigned long long)f->kv_count, (unsigned long long)f->size);
  if (f->tensor_count > c.left / 33)
    return llama_error_set(err, "gguf '%s': %llu tensors cannot fit in the file's %llu bytes", f->name,
                           (unsigned long long)f->tensor_count, (unsigned long long)f->size);
  f->kv = calloc(f->kv_count ? (size_t)f->kv_count : 1, sizeof *f->kv);
  f->tensors = calloc(f->tensor_count ? (size_t)f->tensor_count : 1, sizeof *f->tensors);
  if (!f->kv || !f->tensors) return llama_error_set(err, "gguf '%s': out of memory for the tables", f->name);
  for (uint64_t i = 0; i < f->kv_count; i++) {
    if (read_kv(&c, i, &f->kv[i])) return -1;
  }
  if (sort_names(f, &f->kv[0].key, sizeof(gguf_kv), f->kv_count, "key", &f->kv_sorted, err) || read_alignment(f, err))
    return -1;
  for (uint64_t i = 0; i < f->tensor_count; i++)
    if (read_tensor_info(&c, i, &f->tensors[i])) return -1;
  if (sort_names(f, &f->tensors[0].name, sizeof(gguf_tensor), f->tensor_count, "tensor", &f->tensor_sorted, err))
    return -1;
  uint64_t at = offset_of(&c);
  uint64_t pad = (f->alignment - at % f->alignment) % f->alignment;
  if (f->tensor_count > 0 && pad > c.left)
    return llama_error_set(err, "gguf '%s': the file ends in the padding before the tensor data (offset %llu)", f->name,
                           (unsigned long long)at);
  f->data_offset = pad > c.left ? f->size : at + pad;
  return check_tensors(f, err);
}

static void reset(gguf_file *f, const char *name) {
  memset(f, 0, sizeof *f);
  snprintf(f->name, sizeof f->name, "%s", name);
}

int gguf_parse(const void *data, uint64_t size, const char *name, gguf_file *out, llama_error *err) {
  reset(out, name);
  out->base = data;
  out->size = size;
  if (parse(out, err)) {
    gguf_close(out);
    return -1;
  }
  return 0;
}

bool gguf_is_gguf(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  char magic[4];
  bool yes = fread(magic, 1, 4, f) == 4 && memcmp(magic, GGUF_MAGIC, 4) == 0;
  fclose(f);
  return yes;
}

int gguf_open(const char *path, gguf_file *out, llama_error *err) {
  reset(out, path);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return llama_error_set(err, "gguf '%s': cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return llama_error_set(err, "gguf '%s': not a regular file", path);
  }
  if (st.st_size < 4) {
    close(fd);
    return llama_error_set(err, "gguf '%s': the file has %lld bytes, too few for the GGUF magic", path,
                           (long long)st.st_size);
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return llama_error_set(err, "gguf '%s': cannot map the file: %s", path, strerror(errno));
  out->base = map;
  out->size = (uint64_t)st.st_size;
  out->mapped = true;
  if (parse(out, err)) {
    gguf_close(out);
    return -1;
  }
  return 0;
}

void gguf_close(gguf_file *f) {
  if (!f) return;
  if (f->mapped && f->base) munmap((void *)f->base, (size_t)f->size);
  free(f->kv);
  free(f->tensors);
  free(f->kv_sorted);
  free(f->tensor_sorted);
  char name[sizeof f->name];
  memcpy(name, f->name, sizeof name);
  reset(f, name);
}

// Binary search of the sorted names: the index of `name`, or -1.
static int64_t find_sorted(const uint64_t *sorted, uint64_t count, const void *first, size_t stride, const char *name) {
  gguf_str key = {name, strlen(name)};
  uint64_t lo = 0, hi = count;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    gguf_str s;
    memcpy(&s, (const uint8_t *)first + sorted[mid] * stride, sizeof s);
    int c = compare_str(s, key);
    if (c == 0) return (int64_t)sorted[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
  if (!f->kv_sorted) return NULL;
  int64_t i = find_sorted(f->kv_sorted, f->kv_count, &f->kv[0].key, sizeof(gguf_kv), key);
  return i < 0 ? NULL : &f->kv[i];
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
  if (!f->tensor_sorted) return NULL;
  int64_t i = find_sorted(f->tensor_sorted, f->tensor_count, &f->tensors[0].name, sizeof(gguf_tensor), name);
  return i < 0 ? NULL : &f->tensors[i];
}

static int missing(const gguf_file *f, const char *key, bool optional, llama_error *err) {
  return optional ? 1 : llama_error_set(err, "gguf '%s': missing key '%s'", f->name, key);
}

static int wrong_type(const gguf_file *f, const char *key, const gguf_kv *kv, const char *want, llama_error *err) {
  return llama_error_set(err, "gguf '%s': key '%s' is %s%s, not %s", f->name, key,
                         kv->type == GGUF_TYPE_ARRAY ? "an array of " : "", gguf_type_name(kv->array_type), want);
}

int gguf_get_u32(const gguf_file *f, const char *key, bool optional, uint32_t *out, llama_error *err) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv) return missing(f, key, optional, err) > 0 ? 0 : -1;
  int64_t v;
  switch (kv->type) {
  case GGUF_TYPE_UINT8: v = kv->value[0]; break;
  case GGUF_TYPE_INT8: v = (int8_t)kv->value[0]; break;
  case GGUF_TYPE_UINT16: v = (int64_t)load_le(kv->value, 2); break;
  case GGUF_TYPE_INT16: v = (int16_t)load_le(kv->value, 2); break;
  case GGUF_TYPE_UINT32: v = (int64_t)load_le(kv->value, 4); break;
  case GGUF_TYPE_INT32: v = (int32_t)load_le(kv->value, 4); break;
  case GGUF_TYPE_UINT64: {
    uint64_t u = load_le(kv->value, 8);
    v = u > UINT32_MAX ? -1 : (int64_t)u;
    break;
  }
  case GGUF_TYPE_INT64: v = (int64_t)load_le(kv->value, 8); break;
  default: return wrong_type(f, key, kv, "an integer", err);
  }
  if (v < 0 || v > (int64_t)UINT32_MAX)
    return llama_error_set(err, "gguf '%s': key '%s' is out of the range of uint32", f->name, key);
  *out = (uint32_t)v;
  return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, bool optional, float *out, llama_error *err) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv) return missing(f, key, optional, err) > 0 ? 0 : -1;
  if (kv->type == GGUF_TYPE_FLOAT32) {
    uint32_t bits = (uint32_t)load_le(kv->value, 4);
    memcpy(out, &bits, sizeof bits);
  } else if (kv->type == GGUF_TYPE_FLOAT64) {
    uint64_t bits = load_le(kv->value, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    *out = (float)d;
  } else {
    return wrong_type(f, key, kv, "a float", err);
  }
  return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool optional, bool *out, llama_error *err) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv) return missing(f, key, optional, err) > 0 ? 0 : -1;
  if (kv->type != GGUF_TYPE_BOOL) return wrong_type(f, key, kv, "bool", err);
  *out = kv->value[0] != 0;
  return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, bool optional, gguf_str *out, llama_error *err) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv) return missing(f, key, optional, err) > 0 ? 0 : -1;
  if (kv->type != GGUF_TYPE_STRING) return wrong_type(f, key, kv, "string", err);
  out->len = load_le(kv->value, 8);
  out->data = (const char *)kv->value + 8;
  return 0;
}

int gguf_get_array(const gguf_file *f, const char *key, gguf_value_type type, const gguf_kv **out, llama_error *err) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv) return missing(f, key, false, err);
  if (kv->type != GGUF_TYPE_ARRAY || kv->array_type != type) {
    char want[32];
    snprintf(want, sizeof want, "an array of %s", gguf_type_name(type));
    return wrong_type(f, key, kv, want, err);
  }
  *out = kv;
  return 0;
}

gguf_str gguf_array_str_first(const gguf_kv *kv, const uint8_t **cursor) {
  *cursor = kv->value;
  return gguf_array_str_next(cursor);
}

gguf_str gguf_array_str_next(const uint8_t **cursor) {
  gguf_str s = {(const char *)*cursor + 8, load_le(*cursor, 8)};
  *cursor += 8 + s.len;
  return s;
}
