// Minimal test harness for gpubatch's tests (run by ctest).
//
// Each test file defines `static void test_x(void)` functions and lists them
// in TESTS; CHECK* record failures without stopping the test. main() runs
// every test (or the one named on the command line) and ends with the line
// "N passed, M failed"; the exit code is non-zero when anything failed.
#ifndef GPB_TESTS_CHECK_H
#define GPB_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asan_pin.h"
#include "gpubatch/gpubatch.h"

static int check_failures;

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                         \
      check_failures++;                                                                                                \
    }                                                                                                                  \
  } while (0)

#define CHECK_EQ(a, b)                                                                                                 \
  do {                                                                                                                 \
    uint64_t va_ = (uint64_t)(a), vb_ = (uint64_t)(b);                                                                 \
    if (va_ != vb_) {                                                                                                  \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %" PRIu64 ", %s = %" PRIu64 "\n", __FILE__, __LINE__, #a, va_, #b, \
              vb_);                                                                                                    \
      check_failures++;                                                                                                \
    }                                                                                                                  \
  } while (0)

// Expects `expr` to return `status`; prints the library's message otherwise.
#define CHECK_STATUS(expr, status)                                                                                     \
  do {                                                                                                                 \
    gpb_status got_ = (expr);                                                                                          \
    if (got_ != (status)) {                                                                                            \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (%s)\n", __FILE__, __LINE__, #expr, gpb_status_name(got_),   \
              gpb_status_name(status), gpb_last_error());                                                              \
      check_failures++;                                                                                                \
    }                                                                                                                  \
  } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, GPB_OK)

// The message contains `needle`.
#define CHECK_MSG(msg, needle)                                                                                         \
  do {                                                                                                                 \
    const char *m_ = (msg);                                                                                            \
    if (!m_ || !strstr(m_, needle)) {                                                                                  \
      fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, m_ ? m_ : "(null)", needle);         \
      check_failures++;                                                                                                \
    }                                                                                                                  \
  } while (0)

// A test that cannot check what it exists to check here says why and is
// counted as skipped: the program then exits with CHECK_SKIP_CODE (ctest's
// SKIP_RETURN_CODE for every test), never as a pass.
#define CHECK_SKIP_CODE 77
static int check_skips;

static inline void check_skip(const char *reason) {
  printf("skip: %s\n", reason);
  check_skips++;
}

// Ends the program at once, failed: for a check that failed in a way that
// leaves the GPU using memory the library already released, where going on
// would turn the failed check into a crash.
static inline void check_abandon(const char *test, const char *why) {
  printf("FAIL %s (abandoned: %s)\n", test, why);
  fflush(stdout);
  fflush(stderr);
  _Exit(1);
}

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;

#define TEST(fn)                                                                                                       \
  { #fn, fn }

static inline int run_tests(const test_case *tests, size_t count, int argc, char **argv) {
  int passed = 0, failed = 0, skipped = 0;
  pin_driver_libraries();
  for (size_t i = 0; i < count; i++) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
    int before = check_failures, skips_before = check_skips;
    tests[i].fn();
    if (check_failures != before) {
      failed++;
      printf("FAIL %s\n", tests[i].name);
    } else if (check_skips != skips_before) {
      skipped++;
      printf("SKIP %s\n", tests[i].name);
    } else {
      passed++;
      printf("ok   %s\n", tests[i].name);
    }
  }
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed > 0 || passed + skipped == 0) return 1;
  return skipped > 0 ? CHECK_SKIP_CODE : 0;
}

#define RUN_TESTS(list) run_tests(list, sizeof(list) / sizeof(list[0]), argc, argv)

#endif
