// Internal: the core's objects behind the public handles.
//
// Each public handle type has an object type here (gpb_buffer ->
// gpb_buffer_obj, ...). The public structs (struct gpb_buffer, ...) are never
// defined: a handle is an encoded value (core/handle.h), and the compiler
// refuses to mix a handle with an object pointer. Public functions resolve
// every handle they are given at the boundary, into locals of the _obj
// types; internal code passes only _obj pointers, and an object keeps its own
// handle (`handle`) for the calls that return it.
//
// Lock order (never take an earlier one while holding a later one):
//   device->lock  ->  stream->lock  ->  resource uses lock (buffer, kernel)
// The backend takes its own queue locks innermost.
#ifndef GPB_CORE_INTERNAL_H
#define GPB_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/backend.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/hazard.h"
#include "core/staging.h"
#include "core/trace.h"
#include "gpubatch/gpubatch.h"
#include "gpubatch/program.h"

typedef struct gpb_device_obj gpb_device_obj;
typedef struct gpb_buffer_obj gpb_buffer_obj;
typedef struct gpb_kernel_obj gpb_kernel_obj;
typedef struct gpb_stream_obj gpb_stream_obj;
typedef struct gpb_program_obj gpb_program_obj;

// What unfinished GPU work uses a buffer or kernel, per stream: the serial of
// the last batch that read it and of the last that wrote it. A serial larger
// than the stream's submitted serial is still pending (not submitted).
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

void gpb_uses_init(gpb_uses *uses);
void gpb_uses_release(gpb_uses *uses);
gpb_status gpb_uses_note(gpb_uses *uses, uint64_t stream_id, uint64_t serial, bool write);

// One resource a command uses, for gpb_uses_note_all; `what` names the
// resource's kind in a message ("buffer", "kernel", "program").
typedef struct gpb_use_note {
  gpb_uses *uses;
  bool write;
  const char *what;
} gpb_use_note;

// Notes that batch `serial` of stream `stream_id` uses each of `notes`;
// returns the index of the first that could not be noted (out of host
// memory), or `count`.
uint32_t gpb_uses_note_all(const gpb_use_note *notes, uint32_t count, uint64_t stream_id, uint64_t serial);

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

// Flushes and waits, on every stream of `device`, the unfinished work in
// `uses` that conflicts with `access` (GPB_HOST_READ: writers only;
// GPB_HOST_WRITE: readers and writers). `reason` picks the flush counter.
// Must be called with no stream lock held. Sets *out_waited when it had to
// wait. Returns the first stream error met (after waiting for the others).
gpb_status gpb_uses_wait(gpb_device_obj *device, gpb_uses *uses, gpb_host_access access, gpb_flush_reason reason,
                         bool *out_waited, char *err_msg);

struct gpb_buffer_obj {
  gpb_buffer *handle;
  gpb_device_obj *device;
  gpb_be_buffer *impl;
  uint8_t *mapped; // SHARED only
  uint64_t size;
  uint64_t id; // unique in the process; keys the hazard tracker
  gpb_memory_kind kind;
  gpb_uses uses;
  atomic_uint program_refs;    // programs that use it: it cannot be freed
  gpb_buffer_obj *prev, *next; // device->buffers
};

// A pipeline shared by every kernel handle of the same code and entry point.
typedef struct gpb_pipeline_entry {
  uint64_t hash;
  uint32_t *code; // 4-byte aligned copy the backend may keep pointing at
  size_t bytes;
  gpb_kernel_info info; // as reflected (name is the first loader's)
  gpb_be_pipeline *impl;
  uint32_t refs;
  struct gpb_pipeline_entry *next;
} gpb_pipeline_entry;

struct gpb_kernel_obj {
  gpb_kernel *handle;
  gpb_device_obj *device;
  gpb_pipeline_entry *pipeline;
  gpb_kernel_info info;
  gpb_uses uses;
  atomic_uint program_refs;    // programs that use it: it cannot be destroyed
  gpb_kernel_obj *prev, *next; // device->kernels
};

// Kernels of a batch or program, for error messages: the first few distinct
// names and the last. Pointers into the kernels: a kernel outlives the
// batches and programs that use it (destroying it waits for them or is
// refused).
typedef struct gpb_kernel_names {
  const char *first[4];
  uint32_t count;
  const char *last;
} gpb_kernel_names;

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
  // Debug (stream->record_barriers): the commands, by index in the batch,
  // that a barrier precedes, ascending; tests compare them with a model.
  uint32_t *barrier_before;
  uint32_t barrier_count, barrier_cap;
  struct gpb_batch *next;
} gpb_batch;

// GPU timestamps per batch when tracing; later commands of a batch go untimed.
#define GPB_TRACE_TIMESTAMPS 1024

// A buffer or kernel a program records; the program holds it (program_refs).
typedef struct gpb_program_ref {
  gpb_buffer_obj *buffer; // one of the two is set
  gpb_kernel_obj *kernel;
  bool write;
} gpb_program_ref;

struct gpb_program_obj {
  gpb_program *handle;
  gpb_device_obj *device;
  gpb_be_batch *impl;
  gpb_stream_obj *capturing_on; // set while being captured
  gpb_hazard_tracker hazards;   // barriers between the program's own commands
  uint32_t commands, dispatches;
  gpb_access *accesses; // every access of every command: a replay's footprint
  uint32_t access_count, access_cap;
  gpb_program_ref *refs;
  uint32_t ref_count, ref_cap;
  gpb_use_note *replay_uses; // what each replay notes: the program, then refs (set when the capture ends)
  uint32_t replay_use_count;
  gpb_kernel_names names;
  gpb_uses uses;                // replays not finished yet
  gpb_program_obj *prev, *next; // device->programs
};

struct gpb_stream_obj {
  gpb_stream *handle;
  gpb_device_obj *device;
  uint64_t id;
  bool is_default;
  pthread_mutex_t lock;

  gpb_mode mode;
  gpb_barrier_policy barrier_policy;
  uint32_t max_batch_dispatches;
  uint32_t inline_upload_max_bytes;

  gpb_be_timeline *timeline;
  uint64_t submitted_serial; // last batch handed to the queue
  uint64_t completed_serial; // last batch known to have finished

  gpb_batch *pending;                       // NULL when nothing is recorded
  gpb_batch *inflight_head, *inflight_tail; // submitted, oldest first
  uint32_t inflight_count;                  // bounded by GPB_MAX_INFLIGHT_BATCHES
  gpb_batch *free_batches;

  gpb_be_wait *waits; // applied to the next submission
  uint32_t wait_count, wait_cap;
  // Per foreign timeline, the last own batch submitted with a wait on it: a
  // stream's semaphore may be destroyed only once those batches finished.
  gpb_be_wait *waited;
  uint32_t waited_count, waited_cap;
  bool waited_untracked; // out of memory while noting: assume every batch waited

  gpb_hazard_tracker hazards;
  bool record_barriers;  // debug: keep gpb_batch.barrier_before (tests set it)
  bool last_was_command; // a command since the last barrier: a barrier may be needed
  gpb_staging_pool staging;
  gpb_program_obj *capture; // the program being captured, or NULL

  gpb_be_buffer *readback;
  uint8_t *readback_mapped;
  uint64_t readback_size;

  gpb_counters counters;
  gpb_status sticky;
  char sticky_msg[GPB_MSG_MAX];
  char last_error[GPB_MSG_MAX];
  char label[32]; // "stream 3" or "default stream"
};

struct gpb_device_obj {
  gpb_device *handle;
  const gpb_backend *be;
  gpb_be_device *impl;
  gpb_device_info info;
  uint32_t queue_count;
  uint32_t next_queue;
  uint64_t wait_timeout_ns;
  gpb_mode default_mode;

  pthread_mutex_t lock; // streams, buffers, kernels, pipelines, last_error
  gpb_stream_obj *default_stream;
  gpb_stream_obj **streams;
  uint32_t stream_count, stream_cap;
  gpb_buffer_obj *buffers;
  gpb_kernel_obj *kernels;
  gpb_program_obj *programs;
  gpb_pipeline_entry *pipelines;
  gpb_trace *trace; // NULL unless tracing
  // "device 0 (open 2)": names it in messages, apart from another open of
  // the same physical device in the process.
  char label[48];
  char last_error[GPB_MSG_MAX];
};

// Batches a stream may have submitted and unfinished; one more waits for
// the oldest, so memory stays bounded when the host outruns the GPU.
#define GPB_MAX_INFLIGHT_BATCHES 64

// Unique ids for buffers and streams (never 0).
uint64_t gpb_next_id(void);

// Stream internals used by device.c and buffer.c (stream lock NOT held).
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
gpb_stream_obj *gpb_device_find_stream_locked(gpb_device_obj *device, uint64_t stream_id);
void gpb_kernel_release_locked(gpb_kernel_obj *kernel);    // device lock held
void gpb_buffer_release_locked(gpb_buffer_obj *buffer);    // device lock held
void gpb_program_release_locked(gpb_program_obj *program); // device lock held
void gpb_kernel_names_add(gpb_kernel_names *names, const char *name);

// Capture (program.c), stream lock held: appends a command's accesses to
// the program's replay footprint, and holds a buffer or kernel it uses
// (program_refs; one of the two is set).
gpb_status gpb_program_note_accesses(gpb_program_obj *program, const gpb_access *accesses, size_t count);
gpb_status gpb_program_note_ref(gpb_program_obj *program, gpb_buffer_obj *buffer, gpb_kernel_obj *kernel, bool write);
// Debug: where the pending batch has barriers, if stream->record_barriers
// was set before it opened: `*out_before` lists the commands (indexes in the
// batch) that a barrier precedes, `*out_commands` is how many it holds. No
// pending batch: 0 and 0. Stream lock held.
void gpb_stream_debug_barriers(const gpb_stream_obj *stream, const uint32_t **out_before, uint32_t *out_count,
                               uint32_t *out_commands);

// ---- handles ------------------------------------------------------------
// gpb_X_obj_of: the object behind a live handle, else NULL (for calls that
// return a value). gpb_X_resolve: the same for calls that return a status:
// a handle that is not live fails the call (gpb_handle_fail: NULL is
// GPB_ERROR_INVALID_ARGUMENT, anything else GPB_ERROR_INVALID_HANDLE), with
// `op` (the public function) in the message.

static inline gpb_device_obj *gpb_device_obj_of(const gpb_device *handle) {
  return gpb_handle_lookup((uintptr_t)handle, GPB_HANDLE_DEVICE);
}
static inline gpb_buffer_obj *gpb_buffer_obj_of(const gpb_buffer *handle) {
  return gpb_handle_lookup((uintptr_t)handle, GPB_HANDLE_BUFFER);
}
static inline gpb_kernel_obj *gpb_kernel_obj_of(const gpb_kernel *handle) {
  return gpb_handle_lookup((uintptr_t)handle, GPB_HANDLE_KERNEL);
}
static inline gpb_stream_obj *gpb_stream_obj_of(const gpb_stream *handle) {
  return gpb_handle_lookup((uintptr_t)handle, GPB_HANDLE_STREAM);
}
static inline gpb_program_obj *gpb_program_obj_of(const gpb_program *handle) {
  return gpb_handle_lookup((uintptr_t)handle, GPB_HANDLE_PROGRAM);
}

static inline gpb_status gpb_device_resolve(const gpb_device *handle, const char *op, gpb_device_obj **out) {
  *out = gpb_device_obj_of(handle);
  return *out ? GPB_OK : gpb_handle_fail(NULL, op, GPB_HANDLE_DEVICE, (uintptr_t)handle);
}
static inline gpb_status gpb_buffer_resolve(const gpb_buffer *handle, const char *op, gpb_buffer_obj **out) {
  *out = gpb_buffer_obj_of(handle);
  return *out ? GPB_OK : gpb_handle_fail(NULL, op, GPB_HANDLE_BUFFER, (uintptr_t)handle);
}
static inline gpb_status gpb_kernel_resolve(const gpb_kernel *handle, const char *op, gpb_kernel_obj **out) {
  *out = gpb_kernel_obj_of(handle);
  return *out ? GPB_OK : gpb_handle_fail(NULL, op, GPB_HANDLE_KERNEL, (uintptr_t)handle);
}
static inline gpb_status gpb_stream_resolve(const gpb_stream *handle, const char *op, gpb_stream_obj **out) {
  *out = gpb_stream_obj_of(handle);
  return *out ? GPB_OK : gpb_handle_fail(NULL, op, GPB_HANDLE_STREAM, (uintptr_t)handle);
}
static inline gpb_status gpb_program_resolve(const gpb_program *handle, const char *op, gpb_program_obj **out) {
  *out = gpb_program_obj_of(handle);
  return *out ? GPB_OK : gpb_handle_fail(NULL, op, GPB_HANDLE_PROGRAM, (uintptr_t)handle);
}

#endif
