// Behaviour every backend must show, written once and run per backend
// (ctest: test_conformance on the default Vulkan device with the
// validation layer, test_conformance_fake with GPB_BACKEND=fake on the
// fake backend: the program's library registers both): results, and the core's batching, barrier, staging and
// lifetime decisions as the counters report them, which do not depend on
// the backend.
#include "fake/fake_fixture.h"

#define N 256u

static bool on_fake(void) {
  const char *b = getenv("GPB_BACKEND");
  return b && strcmp(b, "fake") == 0;
}

static gpb_device *open_device(void) {
  if (!on_fake()) return fixture_open();
  gpb_fake_device *f;
  return fake_open(&f);
}

static void close_device(gpb_device *dev) {
  if (on_fake())
    fake_close(dev);
  else
    fixture_close(dev);
}

static gpb_counters counters(gpb_stream *s) {
  gpb_counters c = {0};
  CHECK_OK(gpb_stream_get_counters(s, &c));
  return c;
}

// A dependent chain: one batch, a barrier before each dependent command,
// submitted once by the readback, the right values.
static void test_dependent_chain_one_batch(void) {
  gpb_device *dev = open_device();
  if (!dev) return;
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 1000));
  for (int i = 0; i < 20; i++) CHECK_OK(dispatch_add_one(s, add, x, 0, N));
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  bool ok = true;
  for (uint32_t i = 0; i < N; i++) ok = ok && back[i] == 1000 + i + 20;
  CHECK(ok);
  gpb_counters c = counters(s);
  CHECK_EQ(c.submits, 1);
  CHECK_EQ(c.flush_readback, 1);
  CHECK_EQ(c.dispatches, 21);
  CHECK_EQ(c.barriers, 21); // before each add_one and the readback
  CHECK_EQ(c.barriers_elided, 0);
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_destroy(s));
  close_device(dev);
}

// Independent dispatches on disjoint ranges need no barrier.
static void test_independent_dispatches_no_barrier(void) {
  gpb_device *dev = open_device();
  if (!dev) return;
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 8 * 4 * 64, GPB_MEMORY_PRIVATE, &x));
  for (uint32_t i = 0; i < 8; i++) CHECK_OK(dispatch_fill(s, fill, x, i * 256ull, 64, i * 64));
  gpb_counters c = counters(s);
  CHECK_EQ(c.barriers, 0);
  CHECK_EQ(c.barriers_elided, 7);
  CHECK_EQ(c.submits, 0);
  uint32_t back[8 * 64];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  bool ok = true;
  for (uint32_t i = 0; i < 8 * 64; i++) ok = ok && back[i] == i;
  CHECK(ok);
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_destroy(s));
  close_device(dev);
}

// Uploads larger than a staging buffer go in pieces through a bounded pool
// and arrive intact; small ones go inline.
static void test_uploads_inline_and_staged(void) {
  gpb_device *dev = open_device();
  if (!dev) return;
  gpb_stream *s = NULL;
  CHECK_OK(
      gpb_stream_create(dev, &(gpb_stream_options){.staging_buffer_bytes = 64 * 1024, .staging_max_buffers = 2}, &s));
  static uint32_t host[64 * 1024], back[64 * 1024];
  for (uint32_t i = 0; i < 64 * 1024; i++) host[i] = i * 7u;
  gpb_buffer *big = NULL, *small = NULL;
  CHECK_OK(gpb_buffer_create(dev, sizeof host, GPB_MEMORY_PRIVATE, &big));
  CHECK_OK(gpb_buffer_create(dev, 1024, GPB_MEMORY_PRIVATE, &small));
  CHECK_OK(gpb_stream_copy_to_device(s, host, small, 0, 1024));
  CHECK_OK(gpb_stream_copy_to_device(s, host, big, 0, sizeof host));
  CHECK_OK(gpb_stream_copy_to_host(s, big, 0, back, sizeof back));
  CHECK(memcmp(back, host, sizeof host) == 0);
  CHECK_OK(gpb_stream_copy_to_host(s, small, 0, back, 1024));
  CHECK(memcmp(back, host, 1024) == 0);
  gpb_counters c = counters(s);
  CHECK_EQ(c.inline_bytes, 1024);
  CHECK_EQ(c.staging_bytes, sizeof host);
  CHECK_EQ(c.flush_staging, 1); // the third piece waited for the first two
  CHECK_EQ(c.staging_waits, 1);
  CHECK_OK(gpb_buffer_free(big));
  CHECK_OK(gpb_buffer_free(small));
  CHECK_OK(gpb_stream_destroy(s));
  close_device(dev);
}

// Host access to a shared buffer waits for its GPU writers, and a free
// behind pending work flushes and waits; a cross-stream wait orders two
// streams; a program replays.
static void test_host_access_free_streams_programs(void) {
  gpb_device *dev = open_device();
  if (!dev) return;
  gpb_stream *a = NULL, *b = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &a));
  CHECK_OK(gpb_stream_create(dev, NULL, &b));
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_buffer *sh = NULL, *x = NULL, *y = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_SHARED, &sh));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &y));
  CHECK_OK(dispatch_fill(a, fill, sh, 0, N, 50));
  uint32_t *p = NULL;
  CHECK_OK(gpb_buffer_map(sh, GPB_HOST_READ, (void **)&p));
  if (p) CHECK_EQ(p[10], 60);
  CHECK_EQ(counters(a).flush_readback, 1);

  CHECK_OK(dispatch_fill(a, fill, x, 0, N, 1));
  CHECK_OK(gpb_stream_wait_stream(b, a));
  CHECK_OK(dispatch_fill(b, fill, y, 0, N, 0));
  CHECK_OK(gpb_stream_begin_capture(b));
  CHECK_OK(dispatch_axpy(b, axpy, x, 0, y, 0, N, 3));
  gpb_program *prog = NULL;
  CHECK_OK(gpb_stream_end_capture(b, &prog));
  for (int i = 0; i < 2; i++) CHECK_OK(gpb_stream_replay(b, prog));
  // A buffer that recorded, unsubmitted work only reads: its free submits and waits.
  gpb_buffer *w = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &w));
  CHECK_OK(dispatch_fill(b, fill, w, 0, N, 0));
  CHECK_OK(dispatch_axpy(b, axpy, w, 0, y, 0, N, 1));
  CHECK_OK(gpb_buffer_free(w));
  gpb_counters cb = counters(b);
  CHECK_EQ(cb.flush_free, 1);
  CHECK_EQ(cb.free_syncs, 1);
  CHECK_EQ(cb.replays, 2);
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(b, y, 0, back, sizeof back));
  CHECK_EQ(back[5], 5 + 2 * 3 * (1 + 5) + 5);
  CHECK_OK(gpb_program_destroy(prog));
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_buffer_free(y));
  CHECK_OK(gpb_buffer_free(sh));
  CHECK_OK(gpb_stream_destroy(a));
  CHECK_OK(gpb_stream_destroy(b));
  close_device(dev);
}

// Refusals come from the core, the same on every backend: the message names
// the kernel and the cause, and the stream keeps working.
static void test_refusal_names_kernel(void) {
  gpb_device *dev = open_device();
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  gpb_arg arg = {x, 0, 4 * N};
  axpy_params pc = {N, 1};
  gpb_dispatch d = {.kernel = axpy,
                    .groups = {4, 1, 1},
                    .args = &arg,
                    .arg_count = 1,
                    .push_constants = &pc,
                    .push_constant_bytes = sizeof pc};
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_last_error(), "axpy");
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_buffer_free(x));
  close_device(dev);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_dependent_chain_one_batch), TEST(test_independent_dispatches_no_barrier),
      TEST(test_uploads_inline_and_staged), TEST(test_host_access_free_streams_programs),
      TEST(test_refusal_names_kernel),
  };
  printf("backend: %s\n", on_fake() ? "fake" : "vulkan (default device)");
  return RUN_TESTS(tests);
}
