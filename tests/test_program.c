// Programs: record once, replay many (gpubatch/program.h).
#include "core/internal.h"
#include "gpu_fixture.h"

#define N 256u

static gpb_stream *new_stream(gpb_device *dev) {
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(dev, &(gpb_stream_options){.max_batch_dispatches = UINT32_MAX}, &s));
  return s;
}

static void upload_values(gpb_stream *s, gpb_buffer *b, uint32_t value) {
  uint32_t host[N];
  for (uint32_t i = 0; i < N; i++) host[i] = value;
  CHECK_OK(gpb_stream_copy_to_device(s, host, b, 0, sizeof host));
}

static void test_replay_runs_the_captured_work(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  upload_values(s, x, 0);
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(gpb_stream_begin_capture(s));
  for (int i = 0; i < 3; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  gpb_program *p = NULL;
  CHECK_OK(gpb_stream_end_capture(s, &p));
  CHECK_EQ(gpb_program_dispatch_count(p), 3);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.dispatches, 0); // capturing runs nothing
  for (int r = 0; r < 5; r++) CHECK_OK(gpb_stream_replay(s, p));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.replays, 5);
  CHECK_EQ(c.dispatches, 15);
  CHECK_EQ(c.submits, 0);  // replays batch like other commands
  CHECK_EQ(c.barriers, 4); // each replay rewrites what the previous wrote
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 15);
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.submits, 1);
  CHECK_OK(gpb_program_destroy(p));
  fixture_close(dev);
}

// Values that change per replay come from buffers updated before each replay,
// and replays interleave with ordinary work in program order.
static void test_per_replay_values_and_interleaving(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev);
  gpb_kernel *axpy = FIXTURE_KERNEL(dev, axpy), *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x, *y, *y2;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &y));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &y2));
  upload_values(s, y, 0);
  CHECK_OK(gpb_stream_begin_capture(s));
  CHECK_OK(dispatch_axpy(s, axpy, x, 0, y, 0, N, 3)); // y += 3x
  CHECK_OK(gpb_stream_copy_buffer(s, y, 0, y2, 0, 4 * N));
  gpb_program *p;
  CHECK_OK(gpb_stream_end_capture(s, &p));
  uint32_t expect = 0;
  for (uint32_t r = 1; r <= 6; r++) {
    upload_values(s, x, r); // inline upload, ordered before the replay
    CHECK_OK(gpb_stream_replay(s, p));
    expect += 3 * r;
    if (r % 2 == 0) {
      CHECK_OK(dispatch_add_one(s, k, y, 0, N)); // ordinary work between replays
      expect += 1;
    }
  }
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, y, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], expect);
  CHECK_OK(gpb_stream_copy_to_host(s, y2, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], expect - 1); // copied before the last add_one
  // Replay on another stream of the device.
  gpb_stream *other = new_stream(dev);
  CHECK_OK(gpb_stream_wait_stream(other, s));
  upload_values(other, x, 10);
  CHECK_OK(gpb_stream_replay(other, p));
  CHECK_OK(gpb_stream_copy_to_host(other, y, 0, host, sizeof host));
  CHECK_EQ(host[5], expect + 30);
  CHECK_OK(gpb_program_destroy(p));
  fixture_close(dev);
}

static void test_capture_refusals_and_lifetime(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  upload_values(s, x, 0);
  gpb_program *p = NULL;
  CHECK_STATUS(gpb_stream_end_capture(s, &p), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_OK(gpb_stream_begin_capture(s));
  CHECK_STATUS(gpb_stream_begin_capture(s), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  uint32_t host[N] = {0};
  CHECK_STATUS(gpb_stream_copy_to_device(s, host, x, 0, sizeof host), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_MSG(gpb_stream_last_error(s), "capturing");
  CHECK_STATUS(gpb_stream_copy_to_host(s, x, 0, host, sizeof host), GPB_ERROR_FAILED_PRECONDITION);
  gpb_buffer *sh;
  CHECK_OK(gpb_buffer_create(dev, sizeof host, GPB_MEMORY_SHARED, &sh));
  CHECK_STATUS(gpb_stream_copy_to_device(s, host, sh, 0, sizeof host), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_STATUS(gpb_stream_copy_to_host(s, sh, 0, host, sizeof host), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_STATUS(gpb_stream_flush(s), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_STATUS(gpb_stream_destroy(s), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_STATUS(gpb_stream_wait_stream(s, gpb_device_default_stream(dev)), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_STATUS(gpb_buffer_free(x), GPB_ERROR_FAILED_PRECONDITION); // the capture uses it
  CHECK_OK(gpb_stream_end_capture(s, &p));
  CHECK_STATUS(gpb_buffer_free(x), GPB_ERROR_FAILED_PRECONDITION); // the program uses it
  CHECK_MSG(gpb_device_last_error(dev), "program");
  CHECK_STATUS(gpb_kernel_destroy(k), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_OK(gpb_stream_replay(s, p));
  CHECK_OK(gpb_stream_replay(s, p));
  CHECK_OK(gpb_program_destroy(p)); // waits for the pending replays
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 2);
  CHECK_OK(gpb_buffer_free(x)); // no program holds it any more
  CHECK_OK(gpb_kernel_destroy(k));
  // An empty program replays as nothing.
  CHECK_OK(gpb_stream_begin_capture(s));
  CHECK_OK(gpb_stream_end_capture(s, &p));
  CHECK_OK(gpb_stream_replay(s, p));
  CHECK_OK(gpb_program_destroy(p));
  CHECK_OK(gpb_program_destroy(NULL));
  CHECK_STATUS(gpb_stream_replay(s, NULL), GPB_ERROR_INVALID_ARGUMENT);
  fixture_close(dev);
}

// Barriers inside a program follow the hazard tracker, and the replay's
// footprint orders it against the work around it.
static void test_program_barriers_and_footprint(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one), *fill = FIXTURE_KERNEL(dev, fill);
  gpb_device_info info;
  CHECK_OK(gpb_device_query(dev, &info));
  uint64_t stride = 4 * N;
  while (stride % info.min_storage_buffer_offset_alignment) stride += 4 * N;
  gpb_buffer *a, *b;
  CHECK_OK(gpb_buffer_create(dev, 4 * stride, GPB_MEMORY_PRIVATE, &a));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  CHECK_OK(gpb_stream_begin_capture(s));
  for (int i = 0; i < 4; i++) CHECK_OK(dispatch_fill(s, fill, a, i * stride, N, 100 * (uint32_t)i)); // independent
  for (int i = 0; i < 4; i++) CHECK_OK(dispatch_add_one(s, k, a, i * stride, N)); // each after its fill
  gpb_program *p;
  CHECK_OK(gpb_stream_end_capture(s, &p));
  CHECK_OK(dispatch_fill(s, fill, b, 0, N, 7)); // unrelated to the program
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(dispatch_fill(s, fill, b, 0, N, 9));
  CHECK_OK(gpb_stream_replay(s, p)); // touches only `a`: no barrier needed
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.barriers, 0);
  CHECK_OK(dispatch_add_one(s, k, a, 2 * stride, N)); // reads what the program wrote
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.barriers, 1);
  uint32_t *back = malloc(4 * stride);
  CHECK_OK(gpb_stream_copy_to_host(s, a, 0, back, 4 * stride));
  for (uint32_t r = 0; r < 4; r++) CHECK_EQ(back[r * stride / 4 + 5], 100 * r + 5 + 1 + (r == 2));
  free(back);
  fixture_close(dev); // the live program is released with the device
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_replay_runs_the_captured_work), TEST(test_per_replay_values_and_interleaving),
      TEST(test_capture_refusals_and_lifetime), TEST(test_program_barriers_and_footprint)};
  return RUN_TESTS(tests);
}
