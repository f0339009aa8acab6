// A workload run under fault injection, one call at a time: which call the
// injected fault fired during, and which call first failed (the failure must
// surface at the former). Shared by the Vulkan fault sweep and the fake
// backend's; each says how to tell that its armed fault fired.
#ifndef GPB_TESTS_FAULT_STEP_H
#define GPB_TESTS_FAULT_STEP_H

#include <stdio.h>

#include "gpubatch/gpubatch.h"

typedef struct fault_outcome {
  gpb_status status;
  char message[GPB_MSG_MAX];
  gpb_stream *failed_stream; // the stream whose call failed, if any
  int steps;                 // calls made so far
  int failed_step;           // the call that returned the error (1-based), 0: none
  int fired_step;            // the call during which the injected fault fired, 0: none
  const char *fired_call;    // its text
} fault_outcome;

// One call `expr` of a workload that fills `*o` (a fault_outcome *), made
// on `stream` (or NULL); `fired` is an expression that is true once the
// armed fault has fired. Returns from the workload at the first failure.
#define FAULT_STEP(o, fired, expr, stream)                                                                             \
  do {                                                                                                                 \
    (o)->steps++;                                                                                                      \
    bool armed_ = !(fired);                                                                                            \
    gpb_status st_ = (expr);                                                                                           \
    if (armed_ && (fired) && (o)->fired_step == 0) {                                                                   \
      (o)->fired_step = (o)->steps;                                                                                    \
      (o)->fired_call = #expr;                                                                                         \
    }                                                                                                                  \
    if (st_ != GPB_OK && (o)->status == GPB_OK) {                                                                      \
      (o)->status = st_;                                                                                               \
      (o)->failed_step = (o)->steps;                                                                                   \
      snprintf((o)->message, sizeof(o)->message, "%s", gpb_last_error());                                              \
      (o)->failed_stream = (stream);                                                                                   \
    }                                                                                                                  \
    if (st_ != GPB_OK) return;                                                                                         \
  } while (0)

#endif
