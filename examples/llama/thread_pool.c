// thread_pool.c: condition-variable worker pool.
#define _POSIX_C_SOURCE 200809L
#include "thread_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct llama_pool {
  uint32_t threads; // including the caller
  pthread_t *workers;
  uint32_t started;
  pthread_mutex_t lock;
  pthread_cond_t work_ready; // a new generation of work, or stop
  pthread_cond_t work_done;  // `busy` reached 0
  uint64_t generation;
  uint32_t busy;
  bool stop;
  llama_pool_fn fn;
  void *ctx;
  uint32_t count;
};

typedef struct worker_arg {
  llama_pool *pool;
  uint32_t index; // 1..threads-1; the caller is 0
} worker_arg;

static void range_of(const llama_pool *p, uint32_t index, uint32_t *begin, uint32_t *end) {
  uint64_t count = p->count;
  *begin = (uint32_t)(count * index / p->threads);
  *end = (uint32_t)(count * (index + 1) / p->threads);
}

static void *worker_main(void *arg) {
  llama_pool *p = ((worker_arg *)arg)->pool;
  uint32_t index = ((worker_arg *)arg)->index;
  free(arg);
  uint64_t seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->work_ready, &p->lock);
    if (p->stop) break;
    seen = p->generation;
    uint32_t begin, end;
    range_of(p, index, &begin, &end);
    pthread_mutex_unlock(&p->lock);
    if (begin < end) p->fn(p->ctx, begin, end);
    pthread_mutex_lock(&p->lock);
    if (--p->busy == 0) pthread_cond_signal(&p->work_done);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int llama_pool_create(uint32_t threads, llama_pool **out_pool, llama_error *err) {
  *out_pool = NULL;
  if (threads == 0) threads = 1;
  llama_pool *p = calloc(1, sizeof *p);
  if (!p) return llama_error_set(err, "thread pool: out of memory");
  p->threads = threads;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->work_ready, NULL);
  pthread_cond_init(&p->work_done, NULL);
  if (threads > 1 && !(p->workers = calloc(threads - 1, sizeof(pthread_t)))) {
    llama_pool_destroy(p);
    return llama_error_set(err, "thread pool: out of memory");
  }
  for (uint32_t i = 1; i < threads; i++) {
    worker_arg *arg = malloc(sizeof *arg);
    if (!arg) {
      llama_pool_destroy(p);
      return llama_error_set(err, "thread pool: out of memory");
    }
    arg->pool = p;
    arg->index = i;
    int rc = pthread_create(&p->workers[i - 1], NULL, worker_main, arg);
    if (rc != 0) {
      free(arg);
      llama_pool_destroy(p);
      return llama_error_set(err, "thread pool: cannot start thread %u: %s", i, strerror(rc));
    }
    p->started++;
  }
  *out_pool = p;
  return 0;
}

void llama_pool_run(llama_pool *p, uint32_t count, llama_pool_fn fn, void *ctx) {
  if (p->threads == 1 || count < 2) {
    fn(ctx, 0, count);
    return;
  }
  pthread_mutex_lock(&p->lock);
  p->fn = fn;
  p->ctx = ctx;
  p->count = count;
  p->busy = p->threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->work_ready);
  pthread_mutex_unlock(&p->lock);
  uint32_t begin, end;
  range_of(p, 0, &begin, &end);
  if (begin < end) fn(ctx, begin, end);
  pthread_mutex_lock(&p->lock);
  while (p->busy > 0) pthread_cond_wait(&p->work_done, &p->lock);
  pthread_mutex_unlock(&p->lock);
}

uint32_t llama_pool_threads(const llama_pool *p) { return p->threads; }

void llama_pool_destroy(llama_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_cond_broadcast(&p->work_ready);
  pthread_mutex_unlock(&p->lock);
  for (uint32_t i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
  pthread_cond_destroy(&p->work_done);
  pthread_cond_destroy(&p->work_ready);
  pthread_mutex_destroy(&p->lock);
  free(p->workers);
  free(p);
}
