// What the llama example's test programs share: CHECK(cond, fmt, ...)
// counts a failure and says where and why, without stopping the test;
// check_report ends a program with the count.
#ifndef LLAMA_TESTS_LLAMA_CHECK_H
#define LLAMA_TESTS_LLAMA_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      failures++;                                                                                                      \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                  \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fprintf(stderr, "\n");                                                                                           \
    }                                                                                                                  \
  } while (0)

// Whether files a and b hold the same bytes (0 where either cannot be read).
static inline int files_equal(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    if (ca != cb) same = 0;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

// A test program's end: the failed checks' count, or "ok"; its exit status.
static inline int check_report(void) {
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("ok\n");
  return failures ? 1 : 0;
}

#endif
