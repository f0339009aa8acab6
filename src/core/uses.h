// Internal: which unfinished GPU work uses a resource (a buffer, a kernel or
// a program), per stream: the serial of the last batch that read it and of
// the last that wrote it. A serial larger than the stream's submitted serial
// is still pending (not submitted).
//
// Streams note uses as they record (gpb_uses_note_all); freeing, destroying
// and mapping wait for the conflicting ones (gpb_streams_wait_uses in
// core/stream.h). Thread-safe: each set has its own lock, the innermost of
// the core's locks (core/internal.h).
#ifndef GPB_CORE_USES_H
#define GPB_CORE_USES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gpubatch/status.h"

typedef struct gpb_use {
  uint64_t stream_id;
  uint64_t read_serial;
  uint64_t write_serial;
} gpb_use;

typedef struct gpb_uses {
  pthread_mutex_t lock;
  gpb_use *items;
  uint32_t count, cap;
} gpb_uses;

// One resource a command uses, for gpb_uses_note_all; `what` names the
// resource's kind in a message ("buffer", "kernel", "program").
typedef struct gpb_use_note {
  gpb_uses *uses;
  bool write;
  const char *what;
} gpb_use_note;

void gpb_uses_init(gpb_uses *uses);
void gpb_uses_release(gpb_uses *uses);

// Notes that batch `serial` of stream `stream_id` reads or writes.
// GPB_ERROR_OUT_OF_HOST_MEMORY is the only failure (no message).
gpb_status gpb_uses_note(gpb_uses *uses, uint64_t stream_id, uint64_t serial, bool write);

// gpb_uses_note for each of `notes`; returns the index of the first that
// could not be noted (out of host memory), or `count`.
uint32_t gpb_uses_note_all(const gpb_use_note *notes, uint32_t count, uint64_t stream_id, uint64_t serial);

// Copies the uses (under their lock) into `local` when `count` fits in
// `local_cap`, else into a new array the caller frees; NULL when that
// allocation fails.
gpb_use *gpb_uses_snapshot(gpb_uses *uses, gpb_use *local, uint32_t local_cap, uint32_t *out_count);

#endif
