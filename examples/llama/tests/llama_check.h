// The llama example's test programs: CHECK(cond, fmt, ...) counts a failure
// and says where and why, without stopping the test.
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

#endif
