// cpu_forward.h: the reference decode step on the CPU, after llama2.c run.c.
//
// llama_cpu_forward(token, pos) computes exactly what run.c's forward()
// does (see the checkpoint reference): float32 throughout, the same
// operation order per output element, so the GPU decoder is checked against
// it. Matvec rows and attention heads are split over an optional thread
// pool; every output element is computed by one thread in a fixed order, so
// results are bit-identical for any thread count.
//
// Ownership: llama_cpu borrows the checkpoint (which must outlive it) and
// owns its activations and KV cache. One thread drives one llama_cpu.
#ifndef LLAMA_CPU_FORWARD_H
#define LLAMA_CPU_FORWARD_H

#include <stdint.h>

#include "checkpoint.h"
#include "error.h"

typedef struct llama_cpu llama_cpu;

int llama_cpu_create(const llama_checkpoint *checkpoint, uint32_t threads, llama_cpu **out, llama_error *err);
void llama_cpu_destroy(llama_cpu *cpu);

// One decode step: `token` at position `pos` (0 <= pos < seq_len, and every
// earlier position already run). Returns the vocab_size logits, owned by
// `cpu` and overwritten by the next call.
const float *llama_cpu_forward(llama_cpu *cpu, int32_t token, int32_t pos);

// Greedy sampling: the index of the largest value, the lowest such index on
// ties; NaNs never win. -1 when every value is NaN.
int32_t llama_argmax(const float *values, int32_t count);

// The RoPE rotation table shared with the GPU decoder, so both rotate by
// bit-identical angles: for pos < seq_len and pair p < head_size/2,
// table[(pos * head_size/2 + p) * 2 + 0/1] = cos/sin(pos * theta^(-2p/head_size)),
// theta the config's rope_theta (llama2.c: 10000),
// evaluated with run.c's float expression. malloc'd; the caller frees it.
float *llama_rope_table(const llama_config *config);

#endif
