// Internal: the stream object behind gpb_stream, and what the layers above
// the streams (device.c, release.c) call on it. What only the stream's own
// files share is in core/stream_internal.h.
#ifndef GPB_CORE_STREAM_H
#define GPB_CORE_STREAM_H

#include <pthread.h>
#include <stdbool.h>

#include "core/device.h"
#include "core/hazard.h"
#include "core/kernel.h"
#include "core/staging.h"
#include "core/uses.h"

// Why a pending batch is submitted: one line per reason, (enum suffix, name
// in traces, counter in gpb_counters). The enum, the trace names and the
// counters all come from this list.
#define GPB_FLUSH_REASON_LIST(X)                                                                                       \
  X(READBACK, "readback", flush_readback)                                                                              \
  X(FREE, "free", flush_free)                                                                                          \
  X(SYNC, "sync", flush_sync)                                                                                          \
  X(CAP, "cap", flush_cap)                                                                                             \
  X(STAGING, "staging", flush_staging)                                                                                 \
  X(IMMEDIATE, "immediate", flush_immediate)                                                                           \
  X(WAIT, "wait", flush_wait)

typedef enum gpb_flush_reason {
#define GPB_FLUSH_REASON_ENUM(suffix, name, counter) GPB_FLUSH_##suffix,
  GPB_FLUSH_REASON_LIST(GPB_FLUSH_REASON_ENUM)
#undef GPB_FLUSH_REASON_ENUM
} gpb_flush_reason;

// One command buffer on its way: pending (being recorded), in flight, or free.
typedef struct gpb_batch {
  gpb_be_batch *impl;
  uint64_t serial;
  uint32_t dispatches;
  uint32_t commands;
  gpb_kernel_names names;
  // Tracing: GPU timestamp slot 0 opens the batch, slot i+1 closes command i.
  bool traced; // timestamps recorded, spans not yet emitted
  uint32_t traced_commands;
  const char **traced_names;
  // Debug (stream->record.record_barriers): the commands, by index in the
  // batch, that a barrier precedes, ascending; tests compare them with a model.
  uint32_t *barrier_before;
  uint32_t barrier_count, barrier_cap;
  struct gpb_batch *next;
} gpb_batch;

// GPU timestamps per batch when tracing; later commands of a batch go untimed.
#define GPB_TRACE_TIMESTAMPS 1024

// Batches a stream may have submitted and unfinished; one more waits for
// the oldest, so memory stays bounded when the host outruns the GPU.
#define GPB_MAX_INFLIGHT_BATCHES 64

struct gpb_stream_obj {
  gpb_stream *handle;
  gpb_device_obj *device;
  uint64_t id;
  bool is_default;
  char label[32];       // "stream 3" or "default stream"
  pthread_mutex_t lock; // everything below

  // How it batches (gpb_stream_options), fixed at creation.
  struct {
    gpb_mode mode;
    gpb_barrier_policy barrier_policy;
    uint32_t max_batch_dispatches;
    uint32_t inline_upload_max_bytes;
  } config;

  // Its batches on their timeline: the one being recorded, those in flight
  // (submitted, oldest first, at most GPB_MAX_INFLIGHT_BATCHES), free ones.
  struct {
    gpb_be_timeline *timeline;
    uint64_t submitted_serial; // last batch handed to the queue
    uint64_t completed_serial; // last batch known to have finished
    gpb_batch *pending;        // NULL when nothing is recorded
    gpb_batch *inflight_head, *inflight_tail;
    uint32_t inflight_count;
    gpb_batch *free_batches;
  } batches;

  // Its order after other streams (gpb_stream_wait_stream).
  struct {
    gpb_be_wait *waits; // applied to the next submission
    uint32_t wait_count, wait_cap;
    // Per foreign timeline, the last own batch submitted with a wait on it:
    // a stream's timeline may be destroyed only once those batches finished.
    gpb_be_wait *waited;
    uint32_t waited_count, waited_cap;
    bool waited_untracked; // out of memory while noting: assume every batch waited
  } order;

  // Recording: the barriers of the pending batch, and the capture.
  struct {
    gpb_hazard_tracker hazards;
    bool record_barriers;     // debug: keep gpb_batch.barrier_before (tests set it)
    gpb_program_obj *capture; // the program being captured, or NULL
  } record;

  // Host copies: the staging pool for uploads, the readback buffer.
  struct {
    gpb_staging_pool staging;
    gpb_be_buffer *readback;
    uint8_t *readback_mapped;
    uint64_t readback_size;
  } transfer;

  // What it did and how it failed.
  gpb_counters counters;
  gpb_status sticky;
  char sticky_msg[GPB_MSG_MAX];
  char last_error[GPB_MSG_MAX];
};

GPB_DEFINE_RESOLVERS(stream, GPB_HANDLE_STREAM)

// ---- for device.c and release.c (no stream lock held unless it says) ------

gpb_status gpb_stream_create_internal(gpb_device_obj *device, const gpb_stream_options *options, bool is_default,
                                      gpb_stream_obj **out_stream);
// After it is synced; returns the device's error if it could not go idle
// (the stream is released in any case).
gpb_status gpb_stream_release(gpb_stream_obj *stream, char *err);
// gpb_stream_sync on an object: for device-wide syncs and destroy.
gpb_status gpb_stream_sync_internal(gpb_stream_obj *stream);
// With the stream lock held: submit pending work for `reason`, and/or wait
// until `serial` completed.
gpb_status gpb_stream_flush_locked(gpb_stream_obj *stream, gpb_flush_reason reason);
gpb_status gpb_stream_wait_serial_locked(gpb_stream_obj *stream, uint64_t serial);

// Flushes and waits, on every stream of `device`, the unfinished work in
// `uses` that conflicts with `access` (GPB_HOST_READ: writers only;
// GPB_HOST_WRITE: readers and writers). `reason` picks the flush counter.
// Takes the device lock, then each stream's: call it with no lock held.
// Sets *out_waited when it had to wait. Returns the first stream error met
// (after waiting for the others), its message in `err_msg`.
gpb_status gpb_streams_wait_uses(gpb_device_obj *device, gpb_uses *uses, gpb_host_access access,
                                 gpb_flush_reason reason, bool *out_waited, char *err_msg);

// Debug: where the pending batch has barriers, if record.record_barriers was
// set before it opened: `*out_before` lists the commands (indexes in the
// batch) that a barrier precedes, `*out_commands` is how many it holds. No
// pending batch: 0 and 0. Stream lock held.
void gpb_stream_debug_barriers(const gpb_stream_obj *stream, const uint32_t **out_before, uint32_t *out_count,
                               uint32_t *out_commands);

#endif
