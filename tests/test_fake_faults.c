// Errors on the fake backend: sticky stream failures whose messages name
// the stream, the batch and its kernels, and the cause; creation failures
// naming the object; and a sweep that fails every call of every backend
// entry a representative workload makes, one run each.
#include "fake/fake_fixture.h"
#include "fault_step.h"

#define N 256u

// A failed submission makes the stream fail, and stay failed, with a
// message naming the stream, the batch, its kernels and the backend's cause.
static void test_failed_submit_is_sticky_and_named(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 0));
  CHECK_OK(dispatch_add_one(s, add, x, 0, N));
  CHECK_OK(dispatch_add_one(s, add, x, 0, N));
  gpb_fake_fail(f, GPB_FAKE_BATCH_SUBMIT, 1, GPB_ERROR_DEVICE_LOST);
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_DEVICE_LOST);
  const char *msg = gpb_stream_last_error(s);
  CHECK_MSG(msg, "stream 1: submitting batch 1 (3 dispatches of 'fill', 'add_one'; last kernel 'add_one') failed");
  CHECK_MSG(msg, "fake batch_submit: injected GPB_ERROR_DEVICE_LOST");
  // Sticky: later calls fail fast with the first cause; nothing reaches the backend.
  uint32_t back[N];
  CHECK_STATUS(dispatch_add_one(s, add, x, 0, N), GPB_ERROR_DEVICE_LOST);
  CHECK_STATUS(gpb_stream_copy_to_host(s, x, 0, back, sizeof back), GPB_ERROR_DEVICE_LOST);
  CHECK_MSG(gpb_last_error(), "stream 1 failed earlier");
  CHECK_MSG(gpb_last_error(), "fake batch_submit");
  CHECK_EQ(gpb_fake_submission_count(f), 0);
  // Other streams go on.
  gpb_stream *d = gpb_device_default_stream(dev);
  CHECK_OK(dispatch_fill(d, fill, x, 0, N, 3));
  CHECK_OK(gpb_stream_copy_to_host(d, x, 0, back, sizeof back));
  CHECK_EQ(back[1], 4);
  CHECK_STATUS(gpb_stream_destroy(s), GPB_ERROR_DEVICE_LOST);
  CHECK_OK(gpb_buffer_free(x));
  fake_close(dev);
}

// A wait that fails names the batch that was running; a timeout is not
// sticky: the stream works afterwards.
static void test_failed_wait_names_batch_timeout_not_sticky(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  gpb_fake_hold(f, true);
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 1));
  gpb_fake_fail(f, GPB_FAKE_TIMELINE_WAIT, 1, GPB_ERROR_TIMEOUT);
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_TIMEOUT);
  CHECK(gpb_fake_fault_fired(f));
  CHECK_MSG(gpb_stream_last_error(s), "waiting for batch 1 (1 dispatches of 'fill'; last kernel 'fill')");
  CHECK_MSG(gpb_stream_last_error(s), "fake timeline_wait: injected GPB_ERROR_TIMEOUT");
  CHECK_EQ(gpb_fake_queued(f), 1); // still "running"
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK_EQ(back[9], 10);

  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 2));
  CHECK_OK(gpb_stream_flush(s));
  gpb_fake_fail(f, GPB_FAKE_TIMELINE_WAIT, 1, GPB_ERROR_DEVICE_LOST);
  CHECK_STATUS(gpb_buffer_free(x), GPB_ERROR_DEVICE_LOST);
  CHECK_MSG(gpb_last_error(), "freeing buffer");
  CHECK_MSG(gpb_last_error(), "batch 3 (1 dispatches of 'fill'; last kernel 'fill') failed while running");
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_DEVICE_LOST);
  gpb_fake_hold(f, false);
  uint64_t before = gpb_fake_process_violations();
  CHECK_STATUS(gpb_device_close(dev), GPB_ERROR_DEVICE_LOST);
  CHECK_EQ(gpb_fake_process_violations(), before);
}

// Creation failures name the object and the backend's cause, and leave
// out-parameters cleared.
static void test_creation_failures_named(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_buffer *b = (gpb_buffer *)1;
  gpb_fake_fail(f, GPB_FAKE_BUFFER_CREATE, 1, GPB_ERROR_OUT_OF_DEVICE_MEMORY);
  CHECK_STATUS(gpb_buffer_create(dev, 1000, GPB_MEMORY_SHARED, &b), GPB_ERROR_OUT_OF_DEVICE_MEMORY);
  CHECK(b == NULL);
  CHECK_MSG(gpb_last_error(), "shared buffer of 1000 bytes: fake buffer_create: injected");
  CHECK_STATUS(gpb_buffer_create(dev, 2ull << 30, GPB_MEMORY_PRIVATE, &b), GPB_ERROR_OUT_OF_DEVICE_MEMORY);
  CHECK_MSG(gpb_last_error(), "do not fit");
  gpb_kernel *k = (gpb_kernel *)1;
  gpb_fake_fail(f, GPB_FAKE_PIPELINE_CREATE, 1, GPB_ERROR_OUT_OF_HOST_MEMORY);
  gpb_kernel_desc desc = {.name = "fill", .spirv = fill_spirv, .spirv_bytes = sizeof fill_spirv};
  CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), GPB_ERROR_OUT_OF_HOST_MEMORY);
  CHECK(k == NULL);
  CHECK_MSG(gpb_last_error(), "kernel 'fill': creating pipeline: fake pipeline_create: injected");
  gpb_stream *s = (gpb_stream *)1;
  gpb_fake_fail(f, GPB_FAKE_TIMELINE_CREATE, 1, GPB_ERROR_OUT_OF_HOST_MEMORY);
  CHECK_STATUS(gpb_stream_create(dev, NULL, &s), GPB_ERROR_OUT_OF_HOST_MEMORY);
  CHECK(s == NULL);
  CHECK_MSG(gpb_last_error(), "new stream: fake timeline_create");
  // Reflection runs before the backend: the fake takes real SPIR-V.
  CHECK_OK(gpb_kernel_create(dev, &desc, &k));
  gpb_kernel_info info;
  CHECK_OK(gpb_kernel_get_info(k, &info));
  CHECK_EQ(info.binding_count, 1);
  CHECK_EQ(info.push_constant_bytes, 8);
  CHECK_EQ(info.workgroup_size[0], 64);
  fake_close(dev);
}

// ---- the sweep ----------------------------------------------------------------

#define STEP(expr, stream) FAULT_STEP(o, gpb_fake_fault_fired(f), expr, stream)

// Allocations, inline and staged uploads (a pool of two), dispatches, a
// capture and replays, a device copy, readbacks, shared-buffer access, a
// cross-stream wait, frees behind pending work, kernel and stream teardown;
// with the device held, so every wait really waits. Stops at the first
// failure; gpb_device_close cleans up. streams[] gets the workload's two
// streams.
static void workload(gpb_device *dev, gpb_fake_device *f, gpb_stream *streams[2], fault_outcome *o) {
  gpb_stream *s = NULL, *t = NULL;
  STEP(gpb_stream_create(dev, &(gpb_stream_options){.staging_buffer_bytes = 64 * 1024, .staging_max_buffers = 2}, &s),
       NULL);
  streams[0] = s;
  STEP(gpb_stream_create(dev, NULL, &t), NULL);
  streams[1] = t;
  gpb_kernel *add = NULL, *fill = NULL;
  gpb_kernel_desc d1 = {.name = "add_one", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  gpb_kernel_desc d2 = {.name = "fill", .spirv = fill_spirv, .spirv_bytes = sizeof fill_spirv};
  STEP(gpb_kernel_create(dev, &d1, &add), NULL);
  STEP(gpb_kernel_create(dev, &d2, &fill), NULL);
  gpb_buffer *x = NULL, *big = NULL, *sh = NULL;
  STEP(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x), NULL);
  STEP(gpb_buffer_create(dev, 256 * 1024, GPB_MEMORY_PRIVATE, &big), NULL);
  STEP(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_SHARED, &sh), NULL);
  static uint32_t host[64 * 1024];
  for (uint32_t i = 0; i < 64 * 1024; i++) host[i] = i;
  STEP(gpb_stream_copy_to_device(s, host, x, 0, 4 * N), s);        // inline
  STEP(gpb_stream_copy_to_device(s, host, big, 0, 256 * 1024), s); // staged: 4 pieces, 2 slots
  STEP(dispatch_fill(s, fill, sh, 0, N, 5), s);
  STEP(gpb_stream_begin_capture(s), s);
  STEP(dispatch_add_one(s, add, x, 0, N), s);
  gpb_program *p = NULL;
  STEP(gpb_stream_end_capture(s, &p), s);
  for (int i = 0; i < 3; i++) STEP(gpb_stream_replay(s, p), s);
  STEP(gpb_stream_copy_buffer(s, x, 0, big, 0, 4 * N), s);
  uint32_t back[N];
  STEP(gpb_stream_copy_to_host(s, x, 0, back, sizeof back), s);
  CHECK_EQ(back[7], 7 + 3);
  uint32_t *m = NULL;
  STEP(gpb_buffer_map(sh, GPB_HOST_READ, (void **)&m), s);
  CHECK_EQ(m[3], 8);
  STEP(dispatch_add_one(s, add, x, 0, N), s);
  STEP(gpb_stream_wait_stream(t, s), s); // a failure there is the signaler's
  STEP(dispatch_add_one(t, add, x, 0, N), t);
  STEP(gpb_stream_flush(t), t);
  STEP(gpb_program_destroy(p), NULL);
  STEP(gpb_buffer_free(x), s); // pending work on both streams uses it: flush + wait (s first)
  STEP(gpb_stream_copy_to_host(s, big, 0, back, sizeof back), s);
  CHECK_EQ(back[7], 7 + 3);
  STEP(gpb_buffer_free(big), s);
  STEP(gpb_stream_sync(s), s);
  STEP(gpb_kernel_destroy(fill), NULL);
  STEP(gpb_stream_destroy(t), NULL);
  STEP(gpb_stream_destroy(s), NULL);
}

// The status a failing entry returns in the sweep: what its real
// counterpart fails with.
static gpb_status natural_status(gpb_fake_entry e) {
  switch (e) {
  case GPB_FAKE_BUFFER_CREATE: return GPB_ERROR_OUT_OF_DEVICE_MEMORY;
  case GPB_FAKE_TIMELINE_COMPLETED:
  case GPB_FAKE_TIMELINE_WAIT:
  case GPB_FAKE_BATCH_SUBMIT:
  case GPB_FAKE_DEVICE_WAIT_IDLE: return GPB_ERROR_DEVICE_LOST;
  default: return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
}

static int runs, surfaced, at_close;

static void inject_once(gpb_fake_entry e, uint64_t nth, gpb_status status) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  uint64_t violations_before = gpb_fake_process_violations();
  gpb_fake_hold(f, true);
  gpb_fake_fail(f, e, nth, status);
  fault_outcome o = {.status = GPB_OK};
  gpb_stream *streams[2] = {NULL, NULL};
  workload(dev, f, streams, &o);
  bool fired = gpb_fake_fault_fired(f);
  runs++;
  char where[128], cause[64];
  snprintf(where, sizeof where, "%s call %llu -> %s", gpb_fake_entry_name(e), (unsigned long long)nth,
           gpb_status_name(status));
  snprintf(cause, sizeof cause, "fake %s: injected", gpb_fake_entry_name(e));
  if (fired) {
    // The call during which the fault fired fails, with the fault's cause.
    if (o.failed_step != o.fired_step) {
      fprintf(stderr, "%s: fired during call %d (%s) but %s\n", where, o.fired_step, o.fired_call,
              o.failed_step ? "another call failed" : "no call failed");
      check_failures++;
    } else {
      surfaced++;
      if (!strstr(o.message, cause)) {
        fprintf(stderr, "%s: message does not name the cause: %s\n", where, o.message);
        check_failures++;
      }
    }
    if (o.status == GPB_ERROR_DEVICE_LOST && o.failed_stream) {
      // Sticky: the stream that failed (the one the call used, or for a
      // call that waits on both, one of them) keeps failing with the cause.
      bool sticky = false;
      for (int i = 0; i < 2; i++) {
        sticky = sticky || (gpb_stream_sync(streams[i]) == GPB_ERROR_DEVICE_LOST &&
                            strstr(gpb_stream_last_error(streams[i]), cause));
      }
      if (!sticky) {
        fprintf(stderr, "%s: no stream failed for good after call %d (%s)\n", where, o.failed_step, o.fired_call);
        check_failures++;
      }
    }
  }
  gpb_fake_hold(f, false);
  gpb_status closed = gpb_device_close(dev); // must return, whatever happened
  if (!fired) {
    if (e == GPB_FAKE_DEVICE_WAIT_IDLE && closed != GPB_OK) {
      at_close++;
    } else {
      fprintf(stderr, "%s: did not fire during the workload (close returned %s)\n", where, gpb_status_name(closed));
      check_failures++;
    }
  }
  // On every error path, nothing was released while queued work used it.
  if (gpb_fake_process_violations() != violations_before) {
    fprintf(stderr, "%s: %llu lifetime violations\n", where,
            (unsigned long long)(gpb_fake_process_violations() - violations_before));
    check_failures++;
  }
}

static void test_sweep_every_entry(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  uint64_t at_open[GPB_FAKE_ENTRY_COUNT], calls[GPB_FAKE_ENTRY_COUNT];
  for (int e = 0; e < GPB_FAKE_ENTRY_COUNT; e++) at_open[e] = gpb_fake_calls(f, (gpb_fake_entry)e);
  gpb_fake_hold(f, true);
  fault_outcome clean = {.status = GPB_OK};
  gpb_stream *streams[2] = {NULL, NULL};
  workload(dev, f, streams, &clean);
  CHECK_OK(clean.status);
  for (int e = 0; e < GPB_FAKE_ENTRY_COUNT; e++) calls[e] = gpb_fake_calls(f, (gpb_fake_entry)e) - at_open[e];
  gpb_fake_hold(f, false);
  fake_close(dev);
  calls[GPB_FAKE_DEVICE_WAIT_IDLE] += 1; // and the first one gpb_device_close makes
  int entries = 0;
  for (int e = 0; e < GPB_FAKE_ENTRY_COUNT; e++) {
    if (calls[e] == 0) {
      fprintf(stderr, "entry %s: the workload never calls it\n", gpb_fake_entry_name((gpb_fake_entry)e));
      check_failures++;
      continue;
    }
    entries++;
    for (uint64_t nth = 1; nth <= calls[e]; nth++) {
      inject_once((gpb_fake_entry)e, nth, natural_status((gpb_fake_entry)e));
      if (e == GPB_FAKE_TIMELINE_WAIT) inject_once((gpb_fake_entry)e, nth, GPB_ERROR_TIMEOUT);
    }
  }
  printf("sweep: %d entries, %d runs, %d failures surfaced at the failing call, %d at close\n", entries, runs, surfaced,
         at_close);
  CHECK_EQ(entries, GPB_FAKE_ENTRY_COUNT);
  CHECK_EQ(surfaced + at_close, runs);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_failed_submit_is_sticky_and_named),
      TEST(test_failed_wait_names_batch_timeout_not_sticky),
      TEST(test_creation_failures_named),
      TEST(test_sweep_every_entry),
  };
  return RUN_TESTS(tests);
}
