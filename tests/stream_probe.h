// Test support: asks a stream's internals what the public API does not say.
#ifndef GPUBATCH_TESTS_STREAM_PROBE_H
#define GPUBATCH_TESTS_STREAM_PROBE_H

#include <pthread.h>
#include <stdbool.h>

#include "core/internal.h"
#include "core/stream_internal.h"

// True while the stream's submitted work has not finished (asks the device).
static inline bool still_running(gpb_stream *stream) {
  gpb_stream_obj *s = gpb_stream_obj_of(stream);
  pthread_mutex_lock(&s->lock);
  gpb_status st = gpb_stream_refresh_completed(s);
  bool running = st == GPB_OK && s->batches.completed_serial < s->batches.submitted_serial;
  pthread_mutex_unlock(&s->lock);
  return running;
}

#endif
