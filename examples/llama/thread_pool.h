// thread_pool.h: a fixed set of worker threads for splitting loops.
//
// The CPU reference decoder splits each matvec's rows (and attention's
// heads) over threads. Starting threads per matvec would cost more than the
// matvec at small shapes, so workers live as long as the pool and wait on a
// condition variable between jobs.
//
// Thread safety: one thread drives a pool (llama_pool_run is not reentrant).
#ifndef LLAMA_THREAD_POOL_H
#define LLAMA_THREAD_POOL_H

#include <stdint.h>

#include "error.h"

typedef struct llama_pool llama_pool;

// Runs items [begin, end) of a job.
typedef void (*llama_pool_fn)(void *ctx, uint32_t begin, uint32_t end);

// `threads` counts the calling thread: 1 starts no worker.
int llama_pool_create(uint32_t threads, llama_pool **out_pool, llama_error *err);

// Splits [0, count) into one contiguous range per thread, runs them, and
// returns when all are done. The calling thread runs the first range.
void llama_pool_run(llama_pool *pool, uint32_t count, llama_pool_fn fn, void *ctx);

uint32_t llama_pool_threads(const llama_pool *pool);

// Stops and joins the workers. NULL is accepted.
void llama_pool_destroy(llama_pool *pool);

#endif
