// Lifetimes on the fake backend with the "GPU" held back: objects that
// submitted or recorded work uses are released only after that work ran.
// The fake counts any buffer, pipeline, batch or timeline destroyed while
// queued work uses it (fake_close fails the test on one), and the host wait
// that ran the work is counted (gpb_fake_blocking_waits): each test asserts
// that the work was still queued and that the release waited for it.
#include "core/backend.h"
#include "fake/fake_fixture.h"

#define N 256u

// Freeing a buffer that pending work only reads: the source of a device
// copy (submitted, queued) and the read-only argument of axpy (recorded,
// not submitted). Each free flushes or waits, once, and the data read
// arrives intact.
static void test_free_waits_for_pending_readers(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_buffer *src = NULL, *dst = NULL, *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &src));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &dst));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_fill(s, fill, src, 0, N, 10));
  CHECK_OK(dispatch_fill(s, fill, dst, 0, N, 0));
  CHECK_OK(gpb_stream_sync(s));
  gpb_fake_hold(f, true);
  CHECK_OK(gpb_stream_copy_buffer(s, src, 0, dst, 0, 4 * N));
  CHECK_OK(gpb_stream_flush(s));
  CHECK_EQ(gpb_fake_queued(f), 1);
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(gpb_buffer_free(src));
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 1);
  CHECK_EQ(c.flush_free, 0); // already submitted: only a wait
  CHECK_EQ(gpb_fake_queued(f), 0);
  CHECK_EQ(gpb_fake_blocking_waits(f), 1);

  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 5));
  CHECK_OK(dispatch_axpy(s, axpy, x, 0, dst, 0, N, 2));
  CHECK_EQ(gpb_fake_submission_count(f), 2); // the recorded axpy is not submitted yet
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 1);
  CHECK_EQ(c.flush_free, 1);
  CHECK_EQ(gpb_fake_blocking_waits(f), 2);
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, dst, 0, back, sizeof back));
  CHECK_EQ(back[3], 13 + 2 * 8);
  CHECK_EQ(gpb_fake_violations(f), 0);
  gpb_fake_hold(f, false);
  CHECK_OK(gpb_buffer_free(dst));
  fake_close(dev);
}

// A buffer no unfinished work uses is freed without a wait.
static void test_free_without_uses_does_not_wait(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill);
  gpb_buffer *a = NULL, *b = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &a));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  gpb_fake_hold(f, true);
  CHECK_OK(dispatch_fill(s, fill, a, 0, N, 1));
  CHECK_OK(gpb_buffer_free(b));
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 0);
  CHECK_EQ(gpb_fake_submission_count(f), 0);
  CHECK_EQ(gpb_fake_blocking_waits(f), 0);
  gpb_fake_hold(f, false);
  CHECK_OK(gpb_buffer_free(a));
  fake_close(dev);
}

// Destroying a kernel or a program that queued work runs waits for it.
static void test_kernel_and_program_destroy_wait(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_stream_begin_capture(s));
  CHECK_OK(dispatch_add_one(s, add, x, 0, N));
  gpb_program *p = NULL;
  CHECK_OK(gpb_stream_end_capture(s, &p));
  gpb_fake_hold(f, true);
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 7));
  CHECK_OK(gpb_stream_flush(s));
  CHECK_OK(gpb_kernel_destroy(fill));
  CHECK_EQ(gpb_fake_blocking_waits(f), 1);
  CHECK_EQ(gpb_fake_queued(f), 0);
  CHECK_OK(gpb_stream_replay(s, p));
  CHECK_OK(gpb_stream_flush(s));
  CHECK_EQ(gpb_fake_queued(f), 1);
  CHECK_OK(gpb_program_destroy(p));
  CHECK_EQ(gpb_fake_queued(f), 0);
  CHECK_EQ(gpb_fake_blocking_waits(f), 2);
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK_EQ(back[4], 7 + 4 + 1);
  gpb_fake_hold(f, false);
  CHECK_OK(gpb_buffer_free(x));
  fake_close(dev);
}

// Destroying a stream with recorded and queued work runs it first; closing
// a device with work pending on several streams does the same.
static void test_stream_destroy_and_close_with_pending_work(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = NULL, *t = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  CHECK_OK(gpb_stream_create(dev, NULL, &t));
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL, *y = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_SHARED, &x));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &y));
  gpb_fake_hold(f, true);
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 20));
  CHECK_OK(gpb_stream_flush(s));
  CHECK_OK(dispatch_add_one(s, add, x, 0, N)); // recorded, not submitted
  CHECK_OK(gpb_stream_destroy(s));
  CHECK_EQ(gpb_fake_queued(f), 0);
  uint32_t *p = NULL;
  CHECK_OK(gpb_buffer_map(x, GPB_HOST_READ, (void **)&p));
  if (p) CHECK_EQ(p[2], 23);
  // Pending on two streams (one waiting on the other) when the device closes.
  CHECK_OK(dispatch_fill(t, fill, y, 0, N, 1));
  CHECK_OK(gpb_stream_flush(t));
  CHECK_OK(gpb_stream_wait_stream(gpb_device_default_stream(dev), t));
  CHECK_OK(dispatch_add_one(gpb_device_default_stream(dev), add, y, 0, N));
  CHECK_EQ(gpb_fake_queued(f), 1);
  uint64_t before = gpb_fake_process_violations();
  CHECK_OK(gpb_device_close(dev)); // no free or destroy: closing releases all
  CHECK_EQ(gpb_fake_process_violations(), before);
}

// The fake's own checks, against the backend table directly: a buffer
// destroyed while a queued batch uses it, a batch begun while pending and a
// wait for a value never submitted are counted; the buffer's memory stays
// until the batch ran.
static void test_fake_reports_violations(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  const gpb_backend *be = &gpb_fake_backend;
  gpb_be_device *d = (gpb_be_device *)f;
  char err[GPB_MSG_MAX] = "";
  gpb_be_buffer *a = NULL, *b = NULL;
  void *ma = NULL, *mb = NULL;
  CHECK_OK(be->buffer_create(d, 64, GPB_BE_MEMORY_UPLOAD, &a, &ma, err));
  CHECK_OK(be->buffer_create(d, 64, GPB_BE_MEMORY_READBACK, &b, &mb, err));
  gpb_be_timeline *t = NULL;
  gpb_be_batch *batch = NULL;
  CHECK_OK(be->timeline_create(d, 0, &t, err));
  CHECK_OK(be->batch_create(d, &batch, err));
  CHECK_OK(be->batch_begin(d, batch, err));
  if (ma) memset(ma, 7, 64);
  be->cmd_copy(batch, a, 0, b, 0, 64);
  gpb_fake_hold(f, true);
  uint64_t base = gpb_fake_violations(f);
  CHECK_OK(be->batch_submit(d, batch, t, 1, NULL, 0, err));
  be->buffer_destroy(d, a);
  CHECK_EQ(gpb_fake_violations(f) - base, 1);
  CHECK_OK(be->batch_begin(d, batch, err));
  CHECK_EQ(gpb_fake_violations(f) - base, 2);
  CHECK_EQ(gpb_fake_run(f, 5), 1);
  if (mb) CHECK_EQ(((uint8_t *)mb)[63], 7); // the destroyed source was kept for the copy
  CHECK_STATUS(be->timeline_wait(d, t, 2, 1000, err), GPB_ERROR_TIMEOUT);
  CHECK_EQ(gpb_fake_violations(f) - base, 3);
  be->batch_destroy(d, batch);
  be->timeline_destroy(d, t);
  be->buffer_destroy(d, b);
  gpb_fake_hold(f, false);
  uint64_t messages = gpb_device_validation_message_count(dev);
  CHECK_EQ(messages - base, 3); // reported as validation messages
  CHECK_OK(gpb_device_close(dev));
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_free_waits_for_pending_readers),  TEST(test_free_without_uses_does_not_wait),
      TEST(test_kernel_and_program_destroy_wait), TEST(test_stream_destroy_and_close_with_pending_work),
      TEST(test_fake_reports_violations),
  };
  return RUN_TESTS(tests);
}
