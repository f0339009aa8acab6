// Threads: distinct streams from distinct threads need no caller locks, and
// one stream shared by several threads stays consistent. Run under TSan in CI.
#include <pthread.h>

#include "gpu_fixture.h"

#define THREADS 4
#define ROUNDS 30
#define N 64u

typedef struct worker {
  gpb_device *dev;
  gpb_kernel *k;
  gpb_stream *stream; // own stream, or the shared default stream
  bool shared;
  int errors;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  for (int r = 0; r < ROUNDS; r++) {
    gpb_buffer *x;
    if (gpb_buffer_create(w->dev, 4 * N, r % 2 ? GPB_MEMORY_SHARED : GPB_MEMORY_PRIVATE, &x) != GPB_OK) {
      w->errors++;
      continue;
    }
    uint32_t host[N];
    for (uint32_t i = 0; i < N; i++) host[i] = (uint32_t)r;
    bool ok = gpb_stream_copy_to_device(w->stream, host, x, 0, sizeof host) == GPB_OK;
    // On the shared stream other threads' commands interleave with ours, but
    // the stream keeps program order per thread for each buffer.
    for (int i = 0; ok && i < 5; i++) ok = dispatch_add_one(w->stream, w->k, x, 0, N) == GPB_OK;
    if (ok && r % 3 == 0) ok = gpb_stream_sync(w->stream) == GPB_OK;
    if (ok) ok = gpb_stream_copy_to_host(w->stream, x, 0, host, sizeof host) == GPB_OK;
    for (uint32_t i = 0; ok && i < N; i++) ok = host[i] == (uint32_t)r + 5;
    if (!ok) {
      fprintf(stderr, "thread round %d: %s\n", r, gpb_last_error());
      w->errors++;
    }
    if (gpb_buffer_free(x) != GPB_OK) w->errors++;
  }
  return NULL;
}

static void run_workers(bool shared) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  worker w[THREADS];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){.dev = dev, .k = k, .shared = shared};
    if (shared)
      w[i].stream = gpb_device_default_stream(dev);
    else
      CHECK_OK(gpb_stream_create(dev, NULL, &w[i].stream));
  }
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, work, &w[i]);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  uint64_t dispatches = 0;
  for (int i = 0; i < THREADS; i++) {
    CHECK_EQ(w[i].errors, 0);
    gpb_counters c;
    CHECK_OK(gpb_stream_get_counters(w[i].stream, &c));
    dispatches += shared ? (i == 0 ? c.dispatches : 0) : c.dispatches;
  }
  CHECK_EQ(dispatches, THREADS * ROUNDS * 5);
  fixture_close(dev);
}

static void test_threads_own_streams(void) { run_workers(false); }
static void test_threads_share_default_stream(void) { run_workers(true); }

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_threads_own_streams), TEST(test_threads_share_default_stream)};
  return RUN_TESTS(tests);
}
