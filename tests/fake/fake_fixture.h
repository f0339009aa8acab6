// Test fixture for the tests on the fake backend (tests/fake/fake_backend.h):
// opens a fake device (the test kernels' host versions are built in), and
// fails the test on any lifetime violation the fake saw.
#ifndef GPB_TESTS_FAKE_FIXTURE_H
#define GPB_TESTS_FAKE_FIXTURE_H

#include "core/internal.h" // gpb_fake_buffer_id reads the buffer object
#include "fake/fake_backend.h"
#include "gpu_fixture.h"

// Opens a fake device (stream options apply to its streams, not here).
static inline gpb_device *fake_open(gpb_fake_device **out_fake) {
  gpb_fake_install(true);
  gpb_device_options opts = {.on_message = fixture_on_message};
  gpb_device *dev = NULL;
  gpb_status st = gpb_device_open(0, &opts, &dev);
  gpb_fake_install(false);
  if (st != GPB_OK) {
    fprintf(stderr, "fixture: cannot open a fake device: %s: %s\n", gpb_status_name(st), gpb_last_error());
    check_failures++;
    return NULL;
  }
  *out_fake = gpb_fake_of(dev);
  return dev;
}

// A public buffer's id in the fake's log (0: not a buffer of a fake device).
static inline uint64_t gpb_fake_buffer_id(gpb_buffer *buffer) {
  gpb_buffer_obj *b = gpb_buffer_obj_of(buffer);
  return b && gpb_fake_of(b->device->handle) ? gpb_fake_buffer_id_of(b->impl) : 0;
}

// Closes the device; fails the test on a violation, at close included.
static inline void fake_close(gpb_device *dev) {
  if (!dev) return;
  uint64_t before = gpb_fake_process_violations() - gpb_device_validation_message_count(dev);
  CHECK_OK(gpb_device_close(dev));
  CHECK_EQ(gpb_fake_process_violations(), before);
}

#endif
