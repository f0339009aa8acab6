// Shared by the fuzz targets (tests/fuzz/fuzz_*.c): one device for the whole
// process, and the rule for a finding.
//
// A target is a libFuzzer entry point, LLVMFuzzerTestOneInput, built two
// ways (tests/hardening.cmake): with clang -fsanitize=fuzzer for fuzzing
// (GPB_FUZZ=ON), and with any compiler against tests/fuzz/corpus_main.c, a
// plain main() that feeds every file of the seed corpus once (the ctest
// regression tests fuzz_*_corpus). A finding is a crash, a sanitizer report
// or FUZZ_CHECK failing, which aborts: libFuzzer then saves the input.
#ifndef GPB_TESTS_FUZZ_COMMON_H
#define GPB_TESTS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../asan_pin.h"
#include "gpubatch/gpubatch.h"

#define FUZZ_CHECK(cond)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, gpb_last_error()); \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

static void fuzz_on_message(void *user, int severity, const char *message) {
  (void)user;
  fprintf(stderr, "validation %s: %s\n", severity >= 2 ? "error" : "warning", message);
}

// Keeps the Vulkan drivers and layers mapped once the loader is done with
// them, so that LeakSanitizer names their frames and tests/fuzz/lsan.supp
// can set aside what they leak: tests/asan_pin.h's list, plus the other
// drivers the loader opens while enumerating devices, which libFuzzer's
// leak check between inputs (unlike a check at exit) sees while mapped.
static void fuzz_pin_driver_libraries(void) {
  static const char *const more[] = {"libvulkan_intel.so", "libvulkan_intel_hasvk.so", "libvulkan_radeon.so"};
  pin_driver_libraries();
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) dlopen(more[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
}

// Opens the default device, with the validation layer unless
// GPB_TEST_NO_VALIDATION is set (fuzzing runs set it: the layer costs more
// than the calls it checks). Aborts when no device opens.
static gpb_device *fuzz_open_device(void) {
  gpb_device_options opts = {.validation = getenv("GPB_TEST_NO_VALIDATION") == NULL, .on_message = fuzz_on_message};
  gpb_device *dev = NULL;
  fuzz_pin_driver_libraries();
  gpb_status st = gpb_device_open_default(&opts, &dev);
  if (st != GPB_OK) {
    fprintf(stderr, "fuzz: cannot open a device: %s: %s\n", gpb_status_name(st), gpb_last_error());
    abort();
  }
  return dev;
}

// Every validation message is a finding: the library made an invalid
// Vulkan call for some input.
static void fuzz_check_validation(gpb_device *dev, uint64_t *seen) {
  uint64_t now = gpb_device_validation_message_count(dev);
  if (now != *seen) {
    fprintf(stderr, "fuzz: %llu new validation messages\n", (unsigned long long)(now - *seen));
    abort();
  }
}

#endif
