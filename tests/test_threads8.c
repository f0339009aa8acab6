// Eight threads, each with a stream of its own, all eight also recording on
// the shared default stream: dispatches, uploads, device copies, readbacks,
// shared-buffer maps, frees, stream and device syncs, kernels created and
// destroyed, programs captured and replayed on both streams, all at once.
// Every result is checked. The CI runs it under ThreadSanitizer (label
// `thread`); it must report nothing.
//
// A thread's buffers move between its two streams; each move waits with
// gpb_stream_wait_stream, as the API asks. Other threads' work on the
// default stream interleaves freely with it.
#include <pthread.h>

#include "gpu_fixture.h"

#define THREADS 8
#define ROUNDS 30
#define N 256u

typedef struct common {
  gpb_device *dev;
  gpb_kernel *add, *axpy;
  gpb_buffer *ones; // N words of 1, read by every thread's axpy, never written
  pthread_barrier_t start;
} common;

typedef struct worker {
  common *c;
  int id;
  gpb_stream *own;
  uint64_t dispatches; // dispatches recorded, counting each program's on replay
  int errors;
} worker;

#define W_OK(w, expr)                                                                                                  \
  do {                                                                                                                 \
    gpb_status st_ = (expr);                                                                                           \
    if (st_ != GPB_OK) {                                                                                               \
      fprintf(stderr, "thread %d: %s:%d: %s: %s: %s\n", (w)->id, __FILE__, __LINE__, #expr, gpb_status_name(st_),      \
              gpb_last_error());                                                                                       \
      (w)->errors++;                                                                                                   \
    }                                                                                                                  \
  } while (0)

// `expr` is refused: its handle is no longer live.
#define W_INVALID_HANDLE(w, expr)                                                                                      \
  do {                                                                                                                 \
    gpb_status st_ = (expr);                                                                                           \
    if (st_ != GPB_ERROR_INVALID_HANDLE) {                                                                             \
      fprintf(stderr, "thread %d: %s:%d: %s: %s, expected GPB_ERROR_INVALID_HANDLE\n", (w)->id, __FILE__, __LINE__,    \
              #expr, gpb_status_name(st_));                                                                            \
      (w)->errors++;                                                                                                   \
    }                                                                                                                  \
  } while (0)

// Moves a thread's work from stream *cur to `next`, ordered.
static void switch_stream(worker *w, gpb_stream **cur, gpb_stream *next) {
  if (*cur == next) return;
  W_OK(w, gpb_stream_wait_stream(next, *cur));
  *cur = next;
}

// A device sync meets the other threads' streams as they are; one that is
// capturing a program refuses to sync (gpubatch/program.h), which the
// device sync reports after syncing the rest. Anything else is an error.
static void device_sync(worker *w) {
  gpb_status st = gpb_device_sync(w->c->dev);
  if (st == GPB_ERROR_FAILED_PRECONDITION && strstr(gpb_last_error(), "capturing")) return;
  W_OK(w, st);
}

static void expect_words(worker *w, const uint32_t *got, const uint32_t *want, const char *what, int round) {
  for (uint32_t i = 0; i < N; i++) {
    if (got[i] != want[i]) {
      fprintf(stderr, "thread %d round %d: %s word %u is %u, expected %u\n", w->id, round, what, i, got[i], want[i]);
      w->errors++;
      return;
    }
  }
}

// A program on the thread's own stream, replayed there and on the default
// stream: x += 2 per replay.
static void program_round(worker *w, int round) {
  gpb_stream *def = gpb_device_default_stream(w->c->dev);
  gpb_buffer *x = NULL;
  W_OK(w, gpb_buffer_create(w->c->dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  uint32_t host[N], want[N];
  for (uint32_t i = 0; i < N; i++) host[i] = want[i] = (uint32_t)w->id * 7 + i;
  W_OK(w, gpb_stream_copy_to_device(w->own, host, x, 0, sizeof host));
  gpb_program *p = NULL;
  W_OK(w, gpb_stream_begin_capture(w->own));
  W_OK(w, dispatch_add_one(w->own, w->c->add, x, 0, N));
  W_OK(w, dispatch_add_one(w->own, w->c->add, x, 0, N));
  W_OK(w, gpb_stream_end_capture(w->own, &p));
  gpb_stream *cur = w->own;
  for (int r = 0; r < 4; r++) {
    switch_stream(w, &cur, r % 2 ? def : w->own);
    W_OK(w, gpb_stream_replay(cur, p));
    w->dispatches += 2;
    for (uint32_t i = 0; i < N; i++) want[i] += 2;
  }
  W_OK(w, gpb_stream_copy_to_host(cur, x, 0, host, sizeof host));
  expect_words(w, host, want, "program buffer", round);
  W_OK(w, gpb_program_destroy(p));
  W_INVALID_HANDLE(w, gpb_stream_replay(w->own, p));
  W_OK(w, gpb_buffer_free(x));
}

static void *work(void *arg) {
  worker *w = arg;
  common *c = w->c;
  gpb_stream *def = gpb_device_default_stream(c->dev);
  pthread_barrier_wait(&c->start);
  for (int r = 0; r < ROUNDS; r++) {
    gpb_memory_kind kind = (r + w->id) % 2 ? GPB_MEMORY_SHARED : GPB_MEMORY_PRIVATE;
    gpb_buffer *a = NULL, *b = NULL;
    W_OK(w, gpb_buffer_create(c->dev, 4 * N, kind, &a));
    W_OK(w, gpb_buffer_create(c->dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
    if (!a || !b) break;
    uint32_t host[N], want[N];
    for (uint32_t i = 0; i < N; i++) host[i] = want[i] = (uint32_t)(w->id * 100000 + r * 1000) + i;
    gpb_stream *cur = r % 2 ? w->own : def;
    // A staged upload half the time: 1 KiB fits inline, so split it oddly.
    if (r % 3 == 0) {
      W_OK(w, gpb_stream_copy_to_device(cur, host, a, 0, 4 * N - 2));
      W_OK(w, gpb_stream_copy_to_device(cur, (uint8_t *)host + 4 * N - 2, a, 4 * N - 2, 2));
    } else {
      W_OK(w, gpb_stream_copy_to_device(cur, host, a, 0, sizeof host));
    }
    for (int j = 0; j < 9; j++) {
      switch_stream(w, &cur, (r + j) % 3 == 0 ? def : w->own);
      switch (j % 3) {
      case 0:
        W_OK(w, dispatch_add_one(cur, c->add, a, 0, N));
        w->dispatches++;
        for (uint32_t i = 0; i < N; i++) want[i] += 1;
        break;
      case 1:
        W_OK(w, dispatch_axpy(cur, c->axpy, c->ones, 0, a, 0, N, (uint32_t)w->id + 1));
        w->dispatches++;
        for (uint32_t i = 0; i < N; i++) want[i] += (uint32_t)w->id + 1;
        break;
      default: // a -> b, b += 1, b -> a
        W_OK(w, gpb_stream_copy_buffer(cur, a, 0, b, 0, 4 * N));
        W_OK(w, dispatch_add_one(cur, c->add, b, 0, N));
        W_OK(w, gpb_stream_copy_buffer(cur, b, 0, a, 0, 4 * N));
        w->dispatches++;
        for (uint32_t i = 0; i < N; i++) want[i] += 1;
        break;
      }
    }
    if (r % 4 == 1) W_OK(w, gpb_stream_sync(cur));
    if (r % 5 == w->id % 5) device_sync(w);
    if (r % 2 == 0) W_OK(w, gpb_stream_flush(cur));
    W_OK(w, gpb_buffer_free(b)); // pending work may use it: free waits
    // Freed handles stay refused while other threads create objects in the
    // freed slots (the handle table, under TSan).
    W_INVALID_HANDLE(w, gpb_buffer_free(b));
    W_INVALID_HANDLE(w, dispatch_add_one(cur, c->add, b, 0, N));
    W_OK(w, gpb_stream_copy_to_host(cur, a, 0, host, sizeof host));
    expect_words(w, host, want, "buffer", r);
    if (kind == GPB_MEMORY_SHARED) {
      uint32_t *p = NULL;
      W_OK(w, gpb_buffer_map(a, GPB_HOST_READ | GPB_HOST_WRITE, (void **)&p));
      if (p) {
        expect_words(w, p, want, "mapped buffer", r);
        p[0] = 42; // a host write, then GPU work on another stream reads it
        want[0] = 42;
        switch_stream(w, &cur, cur == def ? w->own : def);
        W_OK(w, dispatch_add_one(cur, c->add, a, 0, 1));
        w->dispatches++;
        want[0] += 1;
        W_OK(w, gpb_stream_copy_to_host(cur, a, 0, host, sizeof host));
        expect_words(w, host, want, "buffer after a host write", r);
      }
    }
    W_OK(w, gpb_buffer_free(a));
    // Kernels made and destroyed while other threads dispatch the same
    // pipeline (the device's pipeline cache).
    if (r % 4 == 3) {
      gpb_kernel_desc desc = {.name = "add_one_local", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
      gpb_kernel *k = NULL;
      W_OK(w, gpb_kernel_create(c->dev, &desc, &k));
      gpb_buffer *x = NULL;
      W_OK(w, gpb_buffer_create(c->dev, 4 * N, GPB_MEMORY_SHARED, &x));
      if (k && x) {
        W_OK(w, dispatch_add_one(w->own, k, x, 0, N));
        w->dispatches++;
      }
      W_OK(w, gpb_kernel_destroy(k)); // waits for the dispatch
      W_INVALID_HANDLE(w, dispatch_add_one(w->own, k, x, 0, N));
      W_OK(w, gpb_buffer_free(x));
    }
    if (r % 6 == 5) program_round(w, r);
  }
  return NULL;
}

static void *destroy_stream(void *arg) {
  worker *w = arg;
  W_OK(w, gpb_stream_destroy(w->own));
  return NULL;
}

static void test_eight_threads_own_and_default_streams(void) {
  common c = {0};
  c.dev = fixture_open();
  if (!c.dev) return;
  c.add = FIXTURE_KERNEL(c.dev, add_one);
  c.axpy = FIXTURE_KERNEL(c.dev, axpy);
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_PRIVATE, &c.ones));
  uint32_t ones[N];
  for (uint32_t i = 0; i < N; i++) ones[i] = 1;
  gpb_stream *def = gpb_device_default_stream(c.dev);
  CHECK_OK(gpb_stream_copy_to_device(def, ones, c.ones, 0, sizeof ones));
  CHECK_OK(gpb_stream_sync(def)); // every stream may read it from now on
  CHECK_OK(gpb_stream_reset_counters(def));
  pthread_barrier_init(&c.start, NULL, THREADS);
  worker w[THREADS];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){.c = &c, .id = i};
    CHECK_OK(gpb_stream_create(c.dev, &(gpb_stream_options){.max_batch_dispatches = (uint32_t)(4 + i)}, &w[i].own));
  }
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, work, &w[i]);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&c.start);
  // Every dispatch was counted once, on one of the streams.
  uint64_t expected = 0, counted = 0;
  gpb_counters counters;
  for (int i = 0; i < THREADS; i++) {
    CHECK_EQ(w[i].errors, 0);
    expected += w[i].dispatches;
    CHECK_OK(gpb_stream_get_counters(w[i].own, &counters));
    counted += counters.dispatches;
  }
  CHECK_OK(gpb_stream_get_counters(def, &counters));
  counted += counters.dispatches;
  CHECK_EQ(counted, expected);
  printf("%d threads x %d rounds: %llu dispatches, all results as expected\n", THREADS, ROUNDS,
         (unsigned long long)expected);
  // Streams destroyed from several threads at once.
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, destroy_stream, &w[i]);
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    CHECK_EQ(w[i].errors, 0);
  }
  fixture_close(c.dev);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_eight_threads_own_and_default_streams)};
  return RUN_TESTS(tests);
}
