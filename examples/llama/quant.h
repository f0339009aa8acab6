// quant.h: the weight types of GGUF files and how their blocks are laid out,
// on disk and on the GPU.
//
// On disk (ggml's ggml-common.h, block_q8_0 / block_q4_0):
//   F32, F16, BF16  one element each (4, 2, 2 bytes), little-endian
//   Q8_0  blocks of 32: f16 scale d, then 32 int8 q; value q * d (34 bytes)
//   Q4_0  blocks of 32: f16 scale d, then 16 bytes; byte j holds element j in
//         its low nibble and element j + 16 in its high one; value (q - 8) * d
//         (18 bytes)
// Rows are whole blocks: a row's columns are a multiple of the block size.
//
// On the GPU (the wide plan's kernels, llama_wide.glsl) every row starts on
// a 16-byte boundary and is read in uvec4 loads. F32/F16/BF16 rows are the
// file's rows unchanged. A 34- or 18-byte block cannot be read with aligned
// 16-byte loads (nor even 4-byte ones: a block's quants start at byte 2), so
// Q8_0 and Q4_0 rows are repacked at load: the row's quants first, back to
// back (32 or 16 bytes per block: uvec4 loads, no shifts across words), then
// the row's f16 scales, back to back, padded to 16 bytes. Bytes per row stay
// what the file holds, plus at most 14 of padding (none once the row has a
// multiple of 256 columns), and a row is still one contiguous stretch of
// memory for the DRAM.
//
// The CPU reference dequantizes the same blocks to float32 (value exactly
// q * float(d)), so GPU and CPU compute with identical weights.
#ifndef LLAMA_QUANT_H
#define LLAMA_QUANT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum llama_weight_type {
  LLAMA_WEIGHTS_F32 = 0,
  LLAMA_WEIGHTS_F16,
  LLAMA_WEIGHTS_BF16,
  LLAMA_WEIGHTS_Q8_0,
  LLAMA_WEIGHTS_Q4_0,
  LLAMA_WEIGHT_TYPES
} llama_weight_type;

#define LLAMA_QBLOCK 32u // elements per Q8_0 / Q4_0 block

// "f32", "f16", "bf16", "q8_0", "q4_0"; and the reverse (0, or -1 for
// another name).
const char *llama_weight_type_name(llama_weight_type type);
int llama_weight_type_from_name(const char *name, llama_weight_type *out);

// Elements per block (1 or 32) and bytes per block in a file.
uint32_t llama_type_block(llama_weight_type type);
uint32_t llama_type_block_bytes(llama_weight_type type);
// Bytes of a row of `cols` elements (cols a multiple of the block): in a
// file, and in the GPU layout above.
uint64_t llama_row_bytes(llama_weight_type type, uint64_t cols);
uint64_t llama_gpu_row_bytes(llama_weight_type type, uint64_t cols);

// One row of `cols` elements from the file's form to float32.
void llama_dequantize_row(llama_weight_type type, const void *src, uint64_t cols, float *dst);
// One row of float32 to the file's form, as ggml's reference quantizers
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref) and conversions do.
void llama_quantize_row(llama_weight_type type, const float *src, uint64_t cols, void *dst);
// One row from the file's form to the GPU layout of the same type, or
// from F32 to the GPU layout of F16 (the llama2.c path's --weights f16).
void llama_pack_row(llama_weight_type gpu_type, llama_weight_type src_type, const void *src, uint64_t cols, void *dst);

// bfloat16: the upper half of a float32, rounded to nearest even.
uint16_t llama_f32_to_bf16(float value);
float llama_bf16_to_f32(uint16_t value);

#endif
