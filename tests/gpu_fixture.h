// Test fixture for tests that need a device: opens the default device
// (lavapipe in CI) with the Khronos validation layer and synchronization
// validation on, prints every validation message, and fails the test if any
// was seen. Also loads the test kernels embedded at build time.
#ifndef GPB_TESTS_GPU_FIXTURE_H
#define GPB_TESTS_GPU_FIXTURE_H

#include "check.h"

static inline void fixture_on_message(void *user, int severity, const char *message) {
  fprintf(stderr, "validation %s: %s\n", severity >= 2 ? "error" : "warning", message);
}

// Opens a validated device; NULL (and a failed check) if that is impossible.
static inline gpb_device *fixture_open(void) {
  gpb_device_options opts = {.validation = getenv("GPB_TEST_NO_VALIDATION") == NULL, .on_message = fixture_on_message};
  gpb_device *dev = NULL;
  gpb_status st = gpb_device_open_default(&opts, &dev);
  if (st != GPB_OK) {
    fprintf(stderr, "fixture: cannot open a device: %s: %s\n", gpb_status_name(st), gpb_last_error());
    check_failures++;
    return NULL;
  }
  return dev;
}

// Closes the device and fails the test on any validation message.
static inline void fixture_close(gpb_device *dev) {
  if (!dev) return;
  uint64_t messages = gpb_device_validation_message_count(dev);
  CHECK_OK(gpb_device_close(dev));
  CHECK_EQ(messages, 0);
}

static inline gpb_kernel *fixture_kernel(gpb_device *dev, const char *name, const uint32_t *words, size_t bytes) {
  gpb_kernel_desc desc = {.name = name, .spirv = words, .spirv_bytes = bytes};
  gpb_kernel *k = NULL;
  CHECK_OK(gpb_kernel_create(dev, &desc, &k));
  return k;
}

#define FIXTURE_KERNEL(dev, name) fixture_kernel(dev, #name, name##_spirv, sizeof name##_spirv)

static const uint32_t add_one_spirv[] __attribute__((unused)) =
#include "add_one.inc"
    ;
static const uint32_t axpy_spirv[] __attribute__((unused)) =
#include "axpy.inc"
    ;
static const uint32_t spin_spirv[] __attribute__((unused)) =
#include "spin.inc"
    ;
static const uint32_t fill_spirv[] __attribute__((unused)) =
#include "fill.inc"
    ;

// Push constants of the test kernels.
typedef struct add_one_params {
  uint32_t n;
} add_one_params;
typedef struct axpy_params {
  uint32_t n, a;
} axpy_params;
typedef struct spin_params {
  uint32_t iterations, value;
} spin_params; // dispatch many groups to spin long
typedef struct fill_params {
  uint32_t n, base;
} fill_params;

// Keeps the device busy: `groups` x 64 invocations of 60000 steps each
// (tens of ms on lavapipe; a fraction of a ms to ms on a big GPU).
static inline gpb_status dispatch_spin(gpb_stream *s, gpb_kernel *k, gpb_buffer *out, uint32_t groups, uint32_t value) {
  spin_params p = {.iterations = 60000, .value = value};
  gpb_arg arg = {out, 0, 8};
  gpb_dispatch d = {.kernel = k,
                    .groups = {groups, 1, 1},
                    .args = &arg,
                    .arg_count = 1,
                    .push_constants = &p,
                    .push_constant_bytes = sizeof p};
  return gpb_stream_dispatch(s, &d);
}

// Dispatch helpers: one buffer argument each, [offset, offset + 4n), one
// invocation per element in workgroups of 64.
static inline gpb_status dispatch_one_buffer(gpb_stream *s, gpb_kernel *k, gpb_buffer *buf, uint64_t offset, uint32_t n,
                                             const void *push, uint32_t push_bytes) {
  gpb_arg arg = {buf, offset, 4ull * n};
  gpb_dispatch d = {.kernel = k,
                    .groups = {(n + 63) / 64, 1, 1},
                    .args = &arg,
                    .arg_count = 1,
                    .push_constants = push,
                    .push_constant_bytes = push_bytes};
  return gpb_stream_dispatch(s, &d);
}

static inline gpb_status dispatch_add_one(gpb_stream *s, gpb_kernel *k, gpb_buffer *x, uint64_t offset, uint32_t n) {
  add_one_params p = {n};
  return dispatch_one_buffer(s, k, x, offset, n, &p, sizeof p);
}

static inline gpb_status dispatch_fill(gpb_stream *s, gpb_kernel *k, gpb_buffer *out, uint64_t offset, uint32_t n,
                                       uint32_t base) {
  fill_params p = {n, base};
  return dispatch_one_buffer(s, k, out, offset, n, &p, sizeof p);
}

// y += a * x over n elements; x is a readonly binding.
static inline gpb_status dispatch_axpy(gpb_stream *s, gpb_kernel *k, gpb_buffer *x, uint64_t x_off, gpb_buffer *y,
                                       uint64_t y_off, uint32_t n, uint32_t a) {
  axpy_params p = {n, a};
  gpb_arg args[2] = {{x, x_off, 4ull * n}, {y, y_off, 4ull * n}};
  gpb_dispatch d = {.kernel = k,
                    .groups = {(n + 63) / 64, 1, 1},
                    .args = args,
                    .arg_count = 2,
                    .push_constants = &p,
                    .push_constant_bytes = sizeof p};
  return gpb_stream_dispatch(s, &d);
}

#endif
