// saxpy: y = a*x + y on the default device with gpubatch, as a program
// outside the gpubatch tree builds it (see CMakeLists.txt and README.md).
// Every call's status is checked; a failure prints the library's message.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gpubatch/gpubatch.h>

// The kernel's SPIR-V words, compiled from saxpy.comp by glslc at build time.
static const uint32_t saxpy_spirv[] =
#include "saxpy.inc"
    ;

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    gpb_status st_ = (call);                                                                                           \
    if (st_ != GPB_OK) {                                                                                               \
      fprintf(stderr, "saxpy: %s: %s: %s\n", #call, gpb_status_name(st_), gpb_last_error());                           \
      goto done;                                                                                                       \
    }                                                                                                                  \
  } while (0)

int main(int argc, char **argv) {
  const uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1u << 20;
  const uint32_t repeats = 10;
  int rc = 1;
  gpb_device *dev = NULL;
  float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
  if (!x || !y || n == 0) {
    fprintf(stderr, "saxpy: bad size or out of memory\n");
    goto done;
  }
  for (uint32_t i = 0; i < n; i++) {
    x[i] = (float)(i % 1000) * 0.5f;
    y[i] = 1.0f;
  }

  CHECK(gpb_device_open_default(NULL, &dev)); // GPB_DEVICE=<index> picks another
  gpb_device_info info;
  CHECK(gpb_device_query(dev, &info));
  printf("gpubatch %s on %s\n", gpb_version_string(), info.name);

  gpb_kernel *kernel;
  gpb_kernel_desc desc = {.name = "saxpy", .spirv = saxpy_spirv, .spirv_bytes = sizeof saxpy_spirv};
  CHECK(gpb_kernel_create(dev, &desc, &kernel));
  gpb_buffer *bx, *by;
  const uint64_t bytes = (uint64_t)n * sizeof(float);
  CHECK(gpb_buffer_create(dev, bytes, GPB_MEMORY_PRIVATE, &bx));
  CHECK(gpb_buffer_create(dev, bytes, GPB_MEMORY_PRIVATE, &by));

  // Everything below is recorded into one batch and submitted once, when
  // copy_to_host needs the result.
  gpb_stream *s = gpb_device_default_stream(dev);
  CHECK(gpb_stream_copy_to_device(s, x, bx, 0, bytes));
  CHECK(gpb_stream_copy_to_device(s, y, by, 0, bytes));
  struct {
    float a;
    uint32_t n;
  } params = {2.0f, n};
  gpb_arg args[2] = {{bx, 0, bytes}, {by, 0, bytes}};
  gpb_dispatch d = {.kernel = kernel,
                    .groups = {(n + 255) / 256, 1, 1},
                    .args = args,
                    .arg_count = 2,
                    .push_constants = &params,
                    .push_constant_bytes = sizeof params};
  for (uint32_t r = 0; r < repeats; r++) CHECK(gpb_stream_dispatch(s, &d));
  CHECK(gpb_stream_copy_to_host(s, by, 0, y, bytes));

  gpb_counters c;
  CHECK(gpb_stream_get_counters(s, &c));
  uint32_t wrong = 0;
  for (uint32_t i = 0; i < n; i++) {
    float want = 1.0f + (float)repeats * 2.0f * ((float)(i % 1000) * 0.5f);
    if (fabsf(y[i] - want) > 1e-3f * fabsf(want)) wrong++;
  }
  printf("saxpy: n=%u, %u dispatches in %llu submit(s): %s\n", n, repeats, (unsigned long long)c.submits,
         wrong ? "WRONG" : "correct");
  rc = wrong ? 1 : 0;

done:
  if (dev) {
    gpb_status st = gpb_device_close(dev); // frees the buffers and the kernel
    if (st != GPB_OK) {
      fprintf(stderr, "saxpy: gpb_device_close: %s: %s\n", gpb_status_name(st), gpb_last_error());
      rc = 1;
    }
  }
  free(x);
  free(y);
  return rc;
}
