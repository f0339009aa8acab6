// quant.c: block layouts of the weight types (see quant.h).
#include "quant.h"

#include <math.h>
#include <string.h>

#include "half.h"

static const char *const k_type_names[LLAMA_WEIGHT_TYPES] = {"f32", "f16", "bf16", "q8_0", "q4_0"};

const char *llama_weight_type_name(llama_weight_type type) {
  return (unsigned)type < LLAMA_WEIGHT_TYPES ? k_type_names[type] : "?";
}

int llama_weight_type_from_name(const char *name, llama_weight_type *out) {
  for (int t = 0; t < LLAMA_WEIGHT_TYPES; t++) {
    if (strcmp(name, k_type_names[t]) == 0) {
      *out = (llama_weight_type)t;
      return 0;
    }
  }
  return -1;
}

uint32_t llama_type_block(llama_weight_type type) {
  return type == LLAMA_WEIGHTS_Q8_0 || type == LLAMA_WEIGHTS_Q4_0 ? LLAMA_QBLOCK : 1u;
}

uint32_t llama_type_block_bytes(llama_weight_type type) {
  switch (type) {
  case LLAMA_WEIGHTS_F32: return 4;
  case LLAMA_WEIGHTS_F16:
  case LLAMA_WEIGHTS_BF16: return 2;
  case LLAMA_WEIGHTS_Q8_0: return 2 + 32;
  case LLAMA_WEIGHTS_Q4_0: return 2 + 16;
  default: return 0;
  }
}

uint64_t llama_row_bytes(llama_weight_type type, uint64_t cols) {
  return cols / llama_type_block(type) * llama_type_block_bytes(type);
}

uint64_t llama_gpu_row_bytes(llama_weight_type type, uint64_t cols) {
  if (type != LLAMA_WEIGHTS_Q8_0 && type != LLAMA_WEIGHTS_Q4_0) return llama_row_bytes(type, cols);
  uint64_t blocks = cols / LLAMA_QBLOCK;
  uint64_t quants = blocks * (type == LLAMA_WEIGHTS_Q8_0 ? 32u : 16u);
  return quants + ((blocks * 2 + 15) & ~15ull);
}

uint16_t llama_f32_to_bf16(float value) {
  uint32_t u;
  memcpy(&u, &value, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64u); // NaN stays NaN, quiet
  return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

float llama_bf16_to_f32(uint16_t value) {
  uint32_t u = (uint32_t)value << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void store_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

void llama_dequantize_row(llama_weight_type type, const void *src, uint64_t cols, float *dst) {
  const uint8_t *s = src;
  switch (type) {
  case LLAMA_WEIGHTS_F32: memcpy(dst, src, (size_t)cols * 4); break;
  case LLAMA_WEIGHTS_F16:
    for (uint64_t i = 0; i < cols; i++) dst[i] = llama_f16_to_f32(load_u16(s + 2 * i));
    break;
  case LLAMA_WEIGHTS_BF16:
    for (uint64_t i = 0; i < cols; i++) dst[i] = llama_bf16_to_f32(load_u16(s + 2 * i));
    break;
  case LLAMA_WEIGHTS_Q8_0:
    for (uint64_t b = 0; b < cols / 32; b++, s += 34) {
      float d = llama_f16_to_f32(load_u16(s));
      for (int j = 0; j < 32; j++) dst[b * 32 + j] = (float)(int8_t)s[2 + j] * d;
    }
    break;
  case LLAMA_WEIGHTS_Q4_0:
    for (uint64_t b = 0; b < cols / 32; b++, s += 18) {
      float d = llama_f16_to_f32(load_u16(s));
      for (int j = 0; j < 16; j++) {
        dst[b * 32 + j] = (float)((s[2 + j] & 0x0f) - 8) * d;
        dst[b * 32 + j + 16] = (float)((s[2 + j] >> 4) - 8) * d;
      }
    }
    break;
  default: break;
  }
}

// (int8_t)(v + 8.5f) clamped to 15 as ggml does, defined for every float.
static uint8_t q4_level(float scaled) {
  float v = scaled + 8.5f;
  if (!(v >= 0.0f)) return 0;
  return v >= 15.0f ? 15 : (uint8_t)v;
}

void llama_quantize_row(llama_weight_type type, const float *src, uint64_t cols, void *dst) {
  uint8_t *o = dst;
  switch (type) {
  case LLAMA_WEIGHTS_F32: memcpy(dst, src, (size_t)cols * 4); break;
  case LLAMA_WEIGHTS_F16:
    for (uint64_t i = 0; i < cols; i++) store_u16(o + 2 * i, llama_f32_to_f16(src[i]));
    break;
  case LLAMA_WEIGHTS_BF16:
    for (uint64_t i = 0; i < cols; i++) store_u16(o + 2 * i, llama_f32_to_bf16(src[i]));
    break;
  case LLAMA_WEIGHTS_Q8_0:
    for (uint64_t b = 0; b < cols / 32; b++, o += 34) {
      const float *x = src + b * 32;
      float amax = 0.0f;
      for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
      float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      store_u16(o, llama_f32_to_f16(d));
      for (int j = 0; j < 32; j++) o[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
    break;
  case LLAMA_WEIGHTS_Q4_0:
    for (uint64_t b = 0; b < cols / 32; b++, o += 18) {
      const float *x = src + b * 32;
      float amax = 0.0f, max = 0.0f; // the value of largest magnitude, with its sign
      for (int j = 0; j < 32; j++) {
        if (amax < fabsf(x[j])) {
          amax = fabsf(x[j]);
          max = x[j];
        }
      }
      float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      store_u16(o, llama_f32_to_f16(d));
      for (int j = 0; j < 16; j++) o[2 + j] = (uint8_t)(q4_level(x[j] * id) | (q4_level(x[16 + j] * id) << 4));
    }
    break;
  default: break;
  }
}

void llama_pack_row(llama_weight_type gpu_type, llama_weight_type src_type, const void *src, uint64_t cols, void *dst) {
  const uint8_t *s = src;
  uint8_t *o = dst;
  if (gpu_type == LLAMA_WEIGHTS_F16 && src_type == LLAMA_WEIGHTS_F32) {
    for (uint64_t i = 0; i < cols; i++) {
      float v;
      memcpy(&v, s + 4 * i, sizeof v);
      store_u16(o + 2 * i, llama_f32_to_f16(v));
    }
    return;
  }
  if (gpu_type != LLAMA_WEIGHTS_Q8_0 && gpu_type != LLAMA_WEIGHTS_Q4_0) {
    memcpy(dst, src, (size_t)llama_row_bytes(gpu_type, cols));
    return;
  }
  uint64_t blocks = cols / LLAMA_QBLOCK, block_bytes = llama_type_block_bytes(gpu_type), quant_bytes = block_bytes - 2;
  uint8_t *scales = o + blocks * quant_bytes;
  for (uint64_t b = 0; b < blocks; b++) {
    memcpy(scales + 2 * b, s + b * block_bytes, 2);
    memcpy(o + b * quant_bytes, s + b * block_bytes + 2, (size_t)quant_bytes);
  }
  uint64_t end = llama_gpu_row_bytes(gpu_type, cols);
  memset(scales + 2 * blocks, 0, (size_t)(end - (uint64_t)(scales + 2 * blocks - o)));
}
