// gguf.h: a reader for GGUF files (llama.cpp's model format), versions 2 and 3.
//
//   gguf_file f;
//   if (gguf_open("model.gguf", &f, &err)) ...      // maps the file
//   uint32_t layers;
//   if (gguf_get_u32(&f, "llama.block_count", &layers, &err)) ...
//   const gguf_tensor *t = gguf_find_tensor(&f, "blk.0.attn_q.weight");
//   ... t->data points into the mapping, t->bytes long ...
//   gguf_close(&f);
//
// Layout (little-endian): "GGUF", uint32 version, uint64 tensor count,
// uint64 metadata count (version 1 had uint32 counts and is refused), the
// metadata (string key, uint32 value type, value), the tensor infos
// (string name, uint32 n_dims, uint64 dims[n_dims] fastest first, uint32
// ggml type, uint64 offset into the data section), then the data section,
// starting at the next multiple of general.alignment (default 32). A string
// is a uint64 length and that many bytes (no NUL); an array a uint32
// element type, a uint64 count and the elements. Version 3 only added
// big-endian files, which this reader refuses (their version reads wrong).
//
// The whole file is checked when it is opened: every count, length, dim,
// offset and size against the bytes that remain and against overflow, keys
// and tensor names unique, tensor types known, tensor data inside the data
// section and aligned. So nothing later reads outside the mapping, and no
// allocation is larger than the file allows (one entry per key and per
// tensor, each of which takes at least 13 bytes of the file). Every failure
// is one message that names the file and the key, tensor or type.
//
// Ownership: gguf_open maps the file read-only (nothing is copied) and
// allocates the key and tensor tables; gguf_close releases both. Strings and
// tensor data point into the mapping and live as long as it. Read-only once
// open: safe to share between threads.
#ifndef LLAMA_GGUF_H
#define LLAMA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32u

typedef enum gguf_value_type {
  GGUF_TYPE_UINT8 = 0,
  GGUF_TYPE_INT8 = 1,
  GGUF_TYPE_UINT16 = 2,
  GGUF_TYPE_INT16 = 3,
  GGUF_TYPE_UINT32 = 4,
  GGUF_TYPE_INT32 = 5,
  GGUF_TYPE_FLOAT32 = 6,
  GGUF_TYPE_BOOL = 7,
  GGUF_TYPE_STRING = 8,
  GGUF_TYPE_ARRAY = 9,
  GGUF_TYPE_UINT64 = 10,
  GGUF_TYPE_INT64 = 11,
  GGUF_TYPE_FLOAT64 = 12,
  GGUF_TYPE_COUNT
} gguf_value_type;

// ggml tensor types (ggml.h's enum ggml_type); the reader knows the block
// size of each, so it can check every tensor's extent, but the decoder
// computes with F32, F16, BF16, Q8_0 and Q4_0 only.
enum {
  GGML_TYPE_F32 = 0,
  GGML_TYPE_F16 = 1,
  GGML_TYPE_Q4_0 = 2,
  GGML_TYPE_Q8_0 = 8,
  GGML_TYPE_BF16 = 30,
  GGML_TYPE_LIMIT = 40 // ids at or above are unknown
};

typedef struct gguf_str {
  const char *data; // into the mapping, not NUL-terminated
  uint64_t len;
} gguf_str;

typedef struct gguf_kv {
  gguf_str key;
  gguf_value_type type;
  // Arrays: the element type and count; scalars and strings: count 1.
  gguf_value_type array_type;
  uint64_t count;
  const uint8_t *value; // the value's bytes (an array's: its first element)
} gguf_kv;

typedef struct gguf_tensor {
  gguf_str name;
  uint32_t n_dims;
  uint64_t dims[GGUF_MAX_DIMS]; // fastest first; 1 past n_dims
  uint32_t type;                // ggml type id
  uint64_t elements, offset, bytes;
  const uint8_t *data;
} gguf_tensor;

typedef struct gguf_file {
  char name[256]; // for messages
  const uint8_t *base;
  uint64_t size;
  bool mapped; // base is an mmap of size bytes (else borrowed memory)
  uint32_t version, alignment;
  uint64_t kv_count, tensor_count, data_offset;
  gguf_kv *kv;
  gguf_tensor *tensors;
  // Indices into kv and tensors sorted by key / name, for lookups and the
  // duplicate check in O(n log n).
  uint64_t *kv_sorted, *tensor_sorted;
} gguf_file;

// Whether the first bytes of `path` are GGUF's magic (false when unreadable).
bool gguf_is_gguf(const char *path);
int gguf_open(const char *path, gguf_file *out, llama_error *err);
// The same checks on bytes in memory, borrowed (they must outlive `out`).
int gguf_parse(const void *data, uint64_t size, const char *name, gguf_file *out, llama_error *err);
void gguf_close(gguf_file *f);

const char *gguf_type_name(gguf_value_type type);
// "q6_k" etc.; "type 99" style text into a static buffer is not needed:
// unknown ids never pass gguf_open.
const char *ggml_type_name(uint32_t type);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

// Typed getters. Absent keys: -1 with "missing key" unless the caller
// passes `optional` (then 0 and *out untouched, *found false if given).
// Integers: any integer type whose value fits; floats: FLOAT32 or FLOAT64.
int gguf_get_u32(const gguf_file *f, const char *key, bool optional, uint32_t *out, llama_error *err);
int gguf_get_f32(const gguf_file *f, const char *key, bool optional, float *out, llama_error *err);
int gguf_get_bool(const gguf_file *f, const char *key, bool optional, bool *out, llama_error *err);
int gguf_get_str(const gguf_file *f, const char *key, bool optional, gguf_str *out, llama_error *err);
// An array of `type` elements; *out is its key entry.
int gguf_get_array(const gguf_file *f, const char *key, gguf_value_type type, const gguf_kv **out, llama_error *err);

// Element i of a STRING array (i < count); walks the array (strings have
// varying lengths): for reading all, use gguf_str_next from the first.
gguf_str gguf_array_str_first(const gguf_kv *kv, const uint8_t **cursor);
gguf_str gguf_array_str_next(const uint8_t **cursor);

// Writes `s` into buf (NUL-terminated, at most 64 characters, bytes outside
// printable ASCII as \xHH) for messages; returns buf.
const char *gguf_str_printable(gguf_str s, char *buf, size_t buf_size);
bool gguf_str_eq(gguf_str s, const char *text);

#endif
