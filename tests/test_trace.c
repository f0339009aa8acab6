// Tracing: GPB_TRACE / gpb_device_options.trace_path writes a Chrome trace
// with host events (recording, submits and their reasons, waits) and one GPU
// span per command, timed by GPU timestamps.
#include <unistd.h>

#include "core/internal.h"
#include "gpu_fixture.h"
#include "vulkan/vk_internal.h"

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = calloc(1, (size_t)n + 1);
  if (text && fread(text, 1, (size_t)n, f) != (size_t)n) text[0] = '\0';
  fclose(f);
  return text;
}

static int count(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

// Opens a traced device (validation on), runs `n` add_one dispatches between
// an upload and a readback on the default stream (after a spin kernel, so
// that the readback waits) or, `immediate`, on an immediate stream of its own, closes the device and returns the
// trace's text (NULL on failure; the caller frees it and unlinks `path`). *out_calibrated: whether the device has
// calibrated timestamps.
static char *traced_run(const char *path, bool immediate, int n, bool *out_calibrated) {
  gpb_device_options opts = {.validation = true, .on_message = fixture_on_message, .trace_path = path};
  gpb_device *dev = NULL;
  CHECK_OK(gpb_device_open_default(&opts, &dev));
  if (!dev) return NULL;
  *out_calibrated = gpb_device_obj_of(dev)->impl->calibrated_timestamps;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_stream_options so = {.mode = GPB_MODE_IMMEDIATE};
  if (immediate) CHECK_OK(gpb_stream_create(dev, &so, &s));
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 1024, GPB_MEMORY_PRIVATE, &x));
  uint32_t host[256] = {0};
  if (!immediate) { // a long first command: the readback's host wait is certain
    gpb_buffer *busy;
    CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_PRIVATE, &busy));
    CHECK_OK(dispatch_spin(s, FIXTURE_KERNEL(dev, spin), busy, 64, 1));
  }
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, sizeof host));
  for (int i = 0; i < n; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, 256));
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  CHECK_EQ(host[9], (uint32_t)n);
  uint64_t messages = gpb_device_validation_message_count(dev);
  CHECK_OK(gpb_device_close(dev));
  CHECK_EQ(messages, 0);
  char *text = read_file(path);
  CHECK(text != NULL);
  return text;
}

static void test_trace_file(void) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/gpb_trace_test_%d.json", (int)getpid());
  bool calibrated;
  char *text = traced_run(path, false, 5, &calibrated);
  if (!text) return;
  CHECK(strstr(text, "\"traceEvents\"") != NULL);
  CHECK(count(text, "\"cat\": \"gpu\", \"name\": \"add_one\"") == 5);    // one GPU span per dispatch
  CHECK(count(text, "\"cat\": \"record\", \"name\": \"add_one\"") == 5); // and its recording
  CHECK(count(text, "\"cat\": \"gpu\", \"name\": \"readback\"") == 1);
  CHECK(count(text, "\"cat\": \"gpu\", \"name\": \"spin\"") == 1);
  CHECK(count(text, "\"reason\": \"readback\"") == 1); // the one submission
  CHECK(count(text, "\"name\": \"submit\"") == 1);
  CHECK(count(text, "\"name\": \"wait\"") == 1); // the readback waited for the spin
  CHECK(strstr(text, "\"name\": \"default stream\"") != NULL);
  free(text);
  unlink(path);
}

// An immediate stream submits each dispatch alone, and the host sees several
// of those batches complete at once; with calibrated timestamps their GPU
// spans still follow each other in submission order, never overlapping
// (aligning each batch to the moment the host saw it complete stacked them
// on top of each other).
static void test_trace_batches_in_gpu_order(void) {
  enum { N = 12 };
  char path[64];
  snprintf(path, sizeof path, "/tmp/gpb_trace_order_%d.json", (int)getpid());
  bool calibrated = false;
  char *text = traced_run(path, true, N, &calibrated);
  if (!text) return;
  // One line per event: {"ph": "X", ..., "ts": T, "dur": D, "cat": "gpu", "name": "add_one", "args": {"batch": B, ...
  double start[N], end[N];
  unsigned long long batch[N];
  int spans = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    const char *ts = strstr(line, "\"ts\": "), *b = strstr(line, "\"batch\": ");
    if (!strstr(line, "\"cat\": \"gpu\", \"name\": \"add_one\"") || !ts || !b || spans == N) continue;
    double t = 0, d = 0;
    if (sscanf(ts, "\"ts\": %lf, \"dur\": %lf", &t, &d) != 2 || sscanf(b, "\"batch\": %llu", &batch[spans]) != 1)
      continue;
    start[spans] = t;
    end[spans++] = t + d;
  }
  CHECK_EQ(spans, N);
  for (int i = 1; i < spans; i++) CHECK(batch[i] > batch[i - 1]);
  if (!calibrated) {
    check_skip("the device has no calibrated timestamps: the GPU order of the spans is not checked");
  } else {
    for (int i = 1; i < spans; i++) CHECK(start[i] >= end[i - 1] - 0.001); // three decimals of microseconds
  }
  free(text);
  unlink(path);
}

static void test_unwritable_trace_path(void) {
  gpb_device_options opts = {.trace_path = "/nonexistent-dir/trace.json"};
  gpb_device *dev = NULL;
  CHECK_STATUS(gpb_device_open_default(&opts, &dev), GPB_ERROR_IO);
  CHECK(dev == NULL);
  CHECK_MSG(gpb_last_error(), "/nonexistent-dir/trace.json");
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_trace_file), TEST(test_trace_batches_in_gpu_order),
                                    TEST(test_unwritable_trace_path)};
  return RUN_TESTS(tests);
}
