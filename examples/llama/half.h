// half.h: IEEE 754 binary16 conversions for weights stored in half.
//
// The GPU decoder stores f16 weights as these bits and the CPU reference
// rounds its weights through them, so both compute with the same values.
// Rounding is to nearest, ties to even, as the GPU's own conversions do;
// overflow gives infinity, NaN stays NaN (quiet).
#ifndef LLAMA_HALF_H
#define LLAMA_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint16_t llama_f32_to_f16(float value) {
  uint32_t f;
  memcpy(&f, &value, sizeof f);
  uint32_t sign = (f >> 16) & 0x8000u, exp = (f >> 23) & 0xffu, mant = f & 0x7fffffu;
  if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u); // too large: infinity
  if (e <= 0) {                                   // subnormal half, or zero
    if (e < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1u), mid = 1u << (shift - 1u);
    half += (uint32_t)(rest > mid) | ((uint32_t)(rest == mid) & half & 1u);
    return (uint16_t)(sign | half);
  }
  // Rounding without a branch: random weights would mispredict half the time
  // (a 1.1B model's conversion took 9 s that way). A carry into the exponent
  // is right.
  uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rest = mant & 0x1fffu;
  half += (uint32_t)(rest > 0x1000u) | ((uint32_t)(rest == 0x1000u) & half & 1u);
  return (uint16_t)(sign | half);
}

static inline float llama_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, f;
  if (exp == 0x1fu) {
    f = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    f = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    f = sign;
  } else { // subnormal: normalize
    exp = 127 - 15 + 1;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      exp--;
    }
    f = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float value;
  memcpy(&value, &f, sizeof value);
  return value;
}

#endif
