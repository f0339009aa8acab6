// gpubatch/stream.h: ordered GPU work, recorded in batches.
//
// A gpb_stream is an in-order queue of GPU work: kernel dispatches and copies.
// In the default BATCHED mode, commands are recorded into one pending
// command buffer and submitted only when something needs it:
//   - a device->host copy or host access to a buffer pending work writes
//     (flush, then wait for that batch),
//   - freeing a buffer that pending work uses,
//   - gpb_stream_sync / gpb_device_sync / gpb_stream_flush,
//   - another stream waiting on this one (gpb_stream_wait_stream),
//   - the batch reaching its dispatch cap (options.max_batch_dispatches), so
//     the GPU starts while the host records the rest,
//   - the staging pool running out of free buffers.
// Between two commands a pipeline barrier is recorded only where the second
// conflicts with what came before it (read-after-write, write-after-read,
// write-after-write on overlapping bytes of a buffer); see `barriers`.
//
// IMMEDIATE mode behaves like a runtime without batching (TVM's Metal path
// before PR 18877): one command buffer and one submit per command, host->device
// copies waited, every buffer free synced. It exists for before/after figures.
// The environment variable GPB_MODE=immediate|batched sets the default mode.
//
// Submitted batches are ordered by the stream's timeline semaphore. Host
// memory passed to copy_to_device is copied before the call returns. A host
// wait first polls the timeline (up to 1 ms on GPUs, not at all on CPU
// devices; GPB_WAIT_SPIN_US=<microseconds> sets it), then blocks.
//
// Errors: a failed submission or wait makes the stream's error sticky: every
// later call on it returns GPB_ERROR_FAILED_PRECONDITION with the first cause,
// which names the kernels of the failing batch. Bad arguments are refused
// before anything is recorded and leave the stream usable.
//
// Lifetime: gpb_stream_destroy releases a stream, closing its device releases
// all of them; after that every call given the handle (as a waiter or a
// signaler too) returns GPB_ERROR_INVALID_HANDLE, a second destroy included
// (gpubatch/status.h). The kernel and every buffer of a dispatch or copy must
// be live handles of the stream's device: one that is not live is refused
// with GPB_ERROR_INVALID_HANDLE, one of another device with
// GPB_ERROR_INVALID_ARGUMENT, before anything is recorded.
//
// Thread safety: each stream has its own lock; distinct streams on distinct
// threads never wait for each other on the host except to submit to a shared
// VkQueue. One stream used from several threads is safe (calls serialize).
// Ordering between streams exists only through gpb_stream_wait_stream.
#ifndef GPUBATCH_STREAM_H
#define GPUBATCH_STREAM_H

#include <stdint.h>

#include "gpubatch/buffer.h"
#include "gpubatch/counters.h"
#include "gpubatch/device.h"
#include "gpubatch/kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gpb_mode {
  GPB_MODE_DEFAULT = 0, // $GPB_MODE, else batched
  GPB_MODE_BATCHED,
  GPB_MODE_IMMEDIATE,
} gpb_mode;

typedef enum gpb_barrier_policy {
  GPB_BARRIERS_TRACKED = 0, // barrier only before a command with a hazard
  GPB_BARRIERS_ALWAYS,      // barrier between every two commands
} gpb_barrier_policy;

// Stream options. Zero-initialized means the defaults written beside each.
typedef struct gpb_stream_options {
  gpb_mode mode;
  gpb_barrier_policy barriers;
  // Submit the pending batch once it holds this many dispatches; 0 means the
  // default (GPB_DEFAULT_MAX_BATCH_DISPATCHES); UINT32_MAX means never.
  uint32_t max_batch_dispatches;
  // Staging pool bound: at most this many staging buffers (0: 64) and this
  // many bytes in them (0: 64 MiB). An upload larger than one staging buffer
  // may hold (0: 8 MiB per buffer) is split.
  uint32_t staging_max_buffers;
  uint64_t staging_max_bytes;
  uint64_t staging_buffer_bytes;
  // Uploads of at most this many bytes (multiple of 4, to a 4-aligned offset)
  // go inline into the command buffer with vkCmdUpdateBuffer instead of a
  // staging buffer. 0: 4096. UINT32_MAX: never inline. At most 65536.
  uint32_t inline_upload_max_bytes;
} gpb_stream_options;

// Chosen by measurement (bench/results/history.md): on an H100 caps of 128-512 are
// within noise of each other and 2x faster than no cap for a dependent
// chain; on lavapipe the cap changes little.
#define GPB_DEFAULT_MAX_BATCH_DISPATCHES 256u
#define GPB_NO_INLINE_UPLOADS UINT32_MAX

// One buffer argument of a dispatch: bytes [offset, offset + size) of
// `buffer`; size 0 means to the end of the buffer. offset must be a multiple
// of the device's min_storage_buffer_offset_alignment.
typedef struct gpb_arg {
  gpb_buffer *buffer;
  uint64_t offset;
  uint64_t size;
} gpb_arg;

typedef struct gpb_dispatch {
  gpb_kernel *kernel;
  uint32_t groups[3];         // workgroup counts; each >= 1
  const gpb_arg *args;        // one per kernel binding, in binding order
  uint32_t arg_count;         // must equal the kernel's binding count
  const void *push_constants; // exactly the kernel's push_constant_bytes
  uint32_t push_constant_bytes;
} gpb_dispatch;

GPB_API gpb_status gpb_stream_create(gpb_device *device, const gpb_stream_options *options, gpb_stream **out_stream);

// Syncs and releases the stream; it also waits for the device to go idle
// before freeing command buffers (a driver may touch them after signaling
// completion), so it can wait for other streams' work too. The default stream
// cannot be destroyed (GPB_ERROR_INVALID_ARGUMENT). NULL is accepted and does
// nothing.
GPB_API gpb_status gpb_stream_destroy(gpb_stream *stream);

// NULL, GPB_MODE_DEFAULT and "" for NULL or a handle that is not live.
GPB_API gpb_device *gpb_stream_device(const gpb_stream *stream);
GPB_API gpb_mode gpb_stream_mode(const gpb_stream *stream);

// Records a kernel dispatch.
GPB_API gpb_status gpb_stream_dispatch(gpb_stream *stream, const gpb_dispatch *dispatch);

// host -> device: copies `bytes` from `src` into `dst` at `dst_offset`.
// `src` may be reused as soon as the call returns.
GPB_API gpb_status gpb_stream_copy_to_device(gpb_stream *stream, const void *src, gpb_buffer *dst, uint64_t dst_offset,
                                             uint64_t bytes);

// device -> host: returns when `bytes` from `src` at `src_offset` are in
// `dst`. Submits pending work and waits for it.
GPB_API gpb_status gpb_stream_copy_to_host(gpb_stream *stream, gpb_buffer *src, uint64_t src_offset, void *dst,
                                           uint64_t bytes);

// device -> device, same device. The ranges may be in one buffer but must
// not overlap.
GPB_API gpb_status gpb_stream_copy_buffer(gpb_stream *stream, gpb_buffer *src, uint64_t src_offset, gpb_buffer *dst,
                                          uint64_t dst_offset, uint64_t bytes);

// Submits the pending batch without waiting.
GPB_API gpb_status gpb_stream_flush(gpb_stream *stream);

// Submits the pending batch and waits until all work of the stream is done.
GPB_API gpb_status gpb_stream_sync(gpb_stream *stream);

// Work recorded on `waiter` after this call starts only after all work
// recorded on `signaler` before it has finished (timeline semaphores; no
// host wait). Both streams must belong to the same device.
GPB_API gpb_status gpb_stream_wait_stream(gpb_stream *waiter, gpb_stream *signaler);

GPB_API gpb_status gpb_stream_get_counters(gpb_stream *stream, gpb_counters *out_counters);
GPB_API gpb_status gpb_stream_reset_counters(gpb_stream *stream);

// Message of the last failing call on this stream (or its sticky error);
// "" if none. A failing call from another thread may overwrite it; each
// thread's own last message is in gpb_last_error.
GPB_API const char *gpb_stream_last_error(gpb_stream *stream);

#ifdef __cplusplus
}
#endif
#endif
