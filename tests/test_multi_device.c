// Several devices in one process: every device index, plus the first one a
// second time (on a one-device host such as lavapipe in CI, that is how two
// devices exist at once), each opened and driven from its own thread with
// its own streams. Results and counters must be those of the same work run
// alone, and a handle of one device given to a call on another is refused
// with a message that names both. Run under TSan in CI.
#include <pthread.h>

#include "gpu_fixture.h"

#define MAX_DEVICES 9
#define ROUNDS 8
#define CHAIN 12
#define N 1024u

typedef struct worker {
  uint32_t index;
  gpb_device *dev; // opened by the thread, closed by main
  gpb_kernel *k;
  gpb_buffer *x;
  gpb_counters a, b; // of its two streams, after the rounds
  int errors;
  char first_error[512];
} worker;

// Recorded in the worker, not with CHECK: the check counters are not shared
// safely between threads.
static bool worker_ok(worker *w, gpb_status st, const char *what) {
  if (st == GPB_OK) return true;
  if (w->errors++ == 0) snprintf(w->first_error, sizeof w->first_error, "%s: %s", what, gpb_last_error());
  return false;
}

// Stream A: upload, a dependent chain of add_one, a device-to-device copy and
// a readback. Stream B: a captured chain replayed on its own buffer. Both
// every round, interleaved, on the device this thread opened.
static void *work(void *arg) {
  worker *w = arg;
  gpb_device_options opts = {.validation = getenv("GPB_TEST_NO_VALIDATION") == NULL, .on_message = fixture_on_message};
  if (!worker_ok(w, gpb_device_open(w->index, &opts, &w->dev), "open")) return NULL;
  gpb_kernel_desc kd = {.name = "add_one", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  gpb_stream_options so = {.mode = GPB_MODE_BATCHED};
  gpb_stream *a = NULL, *b = NULL;
  gpb_buffer *y = NULL, *z = NULL;
  gpb_program *prog = NULL;
  bool ok = worker_ok(w, gpb_kernel_create(w->dev, &kd, &w->k), "kernel") &&
            worker_ok(w, gpb_stream_create(w->dev, &so, &a), "stream a") &&
            worker_ok(w, gpb_stream_create(w->dev, &so, &b), "stream b") &&
            worker_ok(w, gpb_buffer_create(w->dev, 4 * N, GPB_MEMORY_PRIVATE, &w->x), "buffer x") &&
            worker_ok(w, gpb_buffer_create(w->dev, 4 * N, GPB_MEMORY_PRIVATE, &y), "buffer y") &&
            worker_ok(w, gpb_buffer_create(w->dev, 4 * N, GPB_MEMORY_PRIVATE, &z), "buffer z");
  // Buffers start undefined: z, which only the replays write, starts at zero.
  static const uint32_t zeros[N];
  if (ok) ok = worker_ok(w, gpb_stream_copy_to_device(b, zeros, z, 0, sizeof zeros), "zero z");
  if (ok) ok = worker_ok(w, gpb_stream_begin_capture(b), "capture");
  for (int i = 0; ok && i < CHAIN; i++) ok = worker_ok(w, dispatch_add_one(b, w->k, z, 0, N), "capture dispatch");
  if (ok) ok = worker_ok(w, gpb_stream_end_capture(b, &prog), "end capture");
  if (ok)
    ok = worker_ok(w, gpb_stream_reset_counters(a), "reset a") && worker_ok(w, gpb_stream_reset_counters(b), "reset b");
  uint32_t ha[N], hb[N];
  for (uint32_t r = 0; ok && r < ROUNDS; r++) {
    for (uint32_t i = 0; i < N; i++) ha[i] = r * 1000 + i + w->index;
    ok = worker_ok(w, gpb_stream_copy_to_device(a, ha, w->x, 0, sizeof ha), "upload");
    for (int i = 0; ok && i < CHAIN; i++) ok = worker_ok(w, dispatch_add_one(a, w->k, w->x, 0, N), "dispatch");
    if (ok) ok = worker_ok(w, gpb_stream_replay(b, prog), "replay");
    if (ok) ok = worker_ok(w, gpb_stream_copy_buffer(a, w->x, 0, y, 0, 4 * N), "copy");
    if (ok) ok = worker_ok(w, gpb_stream_copy_to_host(a, y, 0, ha, sizeof ha), "readback a");
    if (ok) ok = worker_ok(w, gpb_stream_copy_to_host(b, z, 0, hb, sizeof hb), "readback b");
    for (uint32_t i = 0; ok && i < N; i++) {
      if (ha[i] != r * 1000 + i + w->index + CHAIN || hb[i] != (r + 1) * CHAIN) {
        snprintf(w->first_error, sizeof w->first_error, "round %u element %u: %u and %u, expected %u and %u", r, i,
                 ha[i], hb[i], r * 1000 + i + w->index + CHAIN, (r + 1) * CHAIN);
        w->errors++;
        ok = false;
      }
    }
  }
  if (ok) ok = worker_ok(w, gpb_stream_get_counters(a, &w->a), "counters a");
  if (ok) ok = worker_ok(w, gpb_stream_get_counters(b, &w->b), "counters b");
  gpb_program_destroy(prog);
  worker_ok(w, gpb_buffer_free(y), "free y");
  worker_ok(w, gpb_buffer_free(z), "free z");
  worker_ok(w, gpb_stream_destroy(a), "destroy a");
  worker_ok(w, gpb_stream_destroy(b), "destroy b");
  return NULL;
}

static void check_worker(const worker *w, const worker *alone) {
  if (w->errors) fprintf(stderr, "device %u: %d errors, first: %s\n", w->index, w->errors, w->first_error);
  CHECK_EQ(w->errors, 0);
  // What the stream did is fixed by the work, not by what else ran.
  CHECK_EQ(w->a.dispatches, ROUNDS * CHAIN);
  CHECK_EQ(w->a.cpu_to_gpu, ROUNDS);
  CHECK_EQ(w->a.gpu_to_gpu, ROUNDS);
  CHECK_EQ(w->a.gpu_to_cpu, ROUNDS);
  CHECK_EQ(w->a.replays, 0);
  CHECK_EQ(w->b.dispatches, ROUNDS * CHAIN);
  CHECK_EQ(w->b.replays, ROUNDS);
  CHECK_EQ(w->b.gpu_to_cpu, ROUNDS);
  CHECK_EQ(w->b.cpu_to_gpu, 0);
  if (alone) {
    CHECK_EQ(w->a.blits, alone->a.blits);
    CHECK_EQ(w->a.barriers, alone->a.barriers);
    CHECK_EQ(w->a.barriers_elided, alone->a.barriers_elided);
    CHECK_EQ(w->a.flushes, alone->a.flushes);
    CHECK_EQ(w->b.barriers, alone->b.barriers);
    CHECK_EQ(w->b.flushes, alone->b.flushes);
  }
}

static void close_worker(worker *w) {
  if (!w->dev) return;
  CHECK_OK(gpb_buffer_free(w->x));
  CHECK_OK(gpb_kernel_destroy(w->k));
  fixture_close(w->dev);
}

// Refusals between devices a and b (both open, neither closed).
static void check_cross_device(worker *a, worker *b) {
  gpb_stream *s = gpb_device_default_stream(a->dev);
  gpb_arg arg = {b->x, 0, 4 * N};
  add_one_params p = {N};
  gpb_dispatch d = {.kernel = a->k,
                    .groups = {N / 64, 1, 1},
                    .args = &arg,
                    .arg_count = 1,
                    .push_constants = &p,
                    .push_constant_bytes = sizeof p};
  char want_buffer[160], want_kernel[160];
  snprintf(want_buffer, sizeof want_buffer, "buffer belongs to device %u (open ", b->index);
  snprintf(want_kernel, sizeof want_kernel, "kernel belongs to device %u (open ", b->index);
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_stream_last_error(s), want_buffer);
  CHECK_MSG(gpb_stream_last_error(s), ", the stream to device ");
  arg.buffer = a->x, d.kernel = b->k;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_stream_last_error(s), want_kernel);
  CHECK_MSG(gpb_stream_last_error(s), ", the stream to device ");
  printf("refused: %s\n", gpb_stream_last_error(s));
  CHECK_STATUS(gpb_stream_copy_buffer(s, a->x, 0, b->x, 0, 16), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_stream_last_error(s), want_buffer);
  CHECK_STATUS(gpb_stream_wait_stream(s, gpb_device_default_stream(b->dev)), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_stream_last_error(s), "the waiter to device ");
  // The refusals leave the stream usable.
  d.kernel = a->k;
  CHECK_OK(gpb_stream_dispatch(s, &d));
  CHECK_OK(gpb_stream_sync(s));
}

static void test_devices_at_once(void) {
  uint32_t count = 0;
  CHECK_OK(gpb_device_count(&count));
  worker workers[MAX_DEVICES] = {0};
  size_t n = 0;
  for (uint32_t i = 0; i < count && n + 1 < MAX_DEVICES; i++) {
    gpb_device_info info;
    if (gpb_device_get_info(i, &info) == GPB_OK && info.usable) workers[n++].index = i;
  }
  if (n == 0) {
    fprintf(stderr, "no usable device\n");
    check_failures++;
    return;
  }
  workers[n++].index = workers[0].index; // the first device, opened a second time
  // The first device alone, for the counters to match.
  worker alone = {.index = workers[0].index};
  work(&alone);
  check_worker(&alone, NULL);
  close_worker(&alone);
  pthread_t threads[MAX_DEVICES];
  for (size_t i = 0; i < n; i++) CHECK_EQ(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
  for (size_t i = 0; i < n; i++) pthread_join(threads[i], NULL);
  for (size_t i = 0; i < n; i++) check_worker(&workers[i], &alone);
  printf("%zu devices at once (%u indices, the first opened twice)\n", n, (unsigned)(n - 1));
  bool all_open = true;
  for (size_t i = 0; i < n; i++) all_open = all_open && workers[i].dev;
  if (all_open) {
    check_cross_device(&workers[0], &workers[n - 1]);
    check_cross_device(&workers[n - 1], &workers[0]);
  }
  for (size_t i = 0; i < n; i++) close_worker(&workers[i]);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_devices_at_once)};
  return RUN_TESTS(tests);
}
