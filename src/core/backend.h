// Internal: the interface between the backend-neutral core and a GPU API.
//
// The core (stream state machine, hazard tracking, staging policy, counters,
// errors) calls a backend only through this table of function pointers; it
// never names a backend. Each backend lives in its own folder (src/vulkan/;
// the tests' recording fake in tests/fake/) and includes this header,
// core/error.h and nothing else of the core.
//
// ---- Registry -----------------------------------------------------------
// A backend is one `const gpb_backend` object with external linkage. The
// registry is the NULL-terminated array `gpb_backends` defined in
// src/backends.c from a list CMake generates: the library's list is
// GPB_BACKENDS in the top CMakeLists.txt (one entry per backend, the symbol
// of its table, its sources in a gpubatch_<name>_objects library), and
// gpb_add_library_variant(<name> BACKENDS <symbols>... SOURCES ... OBJECTS
// ...) builds another static library of the core with its own list (a test
// library with a fake backend: the core's objects, the fake's sources, a
// registry of the fake). Adding a backend is one folder plus one entry in
// such a list.
//
// Which backend a process uses (gpb_backend_active), decided at the first
// call that needs one and kept for the life of the process:
//   1. gpb_backend_set_active() (tests), else
//   2. the environment variable GPB_BACKEND, naming a registry entry by
//      `name`; a name not in the registry fails every call that
//      needs a backend with GPB_ERROR_NOT_FOUND, else
//   3. the first registry entry whose device_count succeeds with at least
//      one device, else the first entry (so its error is the one reported).
// A registry of one entry is used without probing. Every device keeps the
// backend it was opened with (gpb_device_obj.be), so devices of several
// backends may be open in one process.
// Tests pick a backend by linking a library variant whose registry holds it
// (first), by GPB_BACKEND=<name>, or by gpb_backend_set_active before their
// first device call.
//
// ---- Conventions ----------------------------------------------------------
// Handles (gpb_be_*) are opaque to the core; each backend defines the
// structs. Entries that can fail return a status and write a message
// without object prefix (the API call and its result) into `err`
// (GPB_MSG_MAX bytes); the core prefixes the object and keeps the stream's
// error sticky where the entry says so. Entries returning void cannot fail.
// The core reads out parameters only on success.
//
// Every entry is required unless marked (optional), in which case it may be
// NULL and the core does what the entry says.
//
// ---- Threads and locks ----------------------------------------------------
// The core's locks (see core/internal.h) are, outermost first:
//   device lock -> stream lock -> resource-use lock.
// The core calls a backend with some of them held, as each entry says; a
// backend never calls back into the core and takes its own locks innermost
// (the Vulkan backend's per-queue locks). Consequences for a backend:
//   - entries on one gpb_be_batch or gpb_be_timeline are serialized by the
//     owning stream's lock: they need no locking of their own;
//   - entries on the device (buffer_create, pipeline_create, batch_submit,
//     device_wait_idle, ...) may run concurrently from several streams and
//     threads: they must be thread-safe, and whatever they share (a queue,
//     a pool) is the backend's to lock;
//   - the entries called with the device lock held must not block on GPU
//     progress other than as stated (device_wait_idle, timeline_wait).
#ifndef GPB_CORE_BACKEND_H
#define GPB_CORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "gpubatch/buffer.h"
#include "gpubatch/device.h"
#include "gpubatch/kernel.h"

typedef struct gpb_be_device gpb_be_device;
typedef struct gpb_be_buffer gpb_be_buffer;
typedef struct gpb_be_pipeline gpb_be_pipeline;
typedef struct gpb_be_timeline gpb_be_timeline;
typedef struct gpb_be_batch gpb_be_batch;

// Memory kinds the backend allocates; the first two are the public ones.
typedef enum gpb_be_memory {
  GPB_BE_MEMORY_PRIVATE = GPB_MEMORY_PRIVATE,
  GPB_BE_MEMORY_SHARED = GPB_MEMORY_SHARED,
  GPB_BE_MEMORY_READBACK, // host-visible, preferably cached: device->host copies
  GPB_BE_MEMORY_UPLOAD,   // host-visible staging for host->device copies
} gpb_be_memory;

// The binary format of a kernel's code. The public gpb_kernel_desc carries
// SPIR-V; a backend refuses a format it cannot run with GPB_ERROR_UNSUPPORTED.
typedef enum gpb_be_kernel_format {
  GPB_BE_KERNEL_SPIRV = 1, // 32-bit words, the module as gpb_kernel_desc.spirv holds it
} gpb_be_kernel_format;

// A kernel's code as the core hands it over: `code` is 4-byte aligned and
// stays valid (unchanged) until pipeline_destroy of any pipeline made from it.
typedef struct gpb_be_kernel_code {
  gpb_be_kernel_format format;
  const void *code;
  size_t bytes;
  const char *entry_point;
} gpb_be_kernel_code;

typedef struct gpb_be_arg {
  gpb_be_buffer *buffer;
  uint64_t offset, size;
} gpb_be_arg;

typedef struct gpb_be_wait {
  gpb_be_timeline *timeline;
  uint64_t value;
} gpb_be_wait;

typedef struct gpb_backend {
  // `name` is what GPB_BACKEND selects it by (lower case); `label` names it
  // in messages; `no_device_hint` (optional: NULL) ends the message
  // when no usable device is found ("install a driver, e.g. ...").
  const char *name;
  const char *label;
  const char *no_device_hint;

  // ---- devices --------------------------------------------------------
  // Counts the devices this backend can open (usable or not). Fails when the
  // API itself is missing (GPB_ERROR_NOT_FOUND: no loader) or enumeration
  // fails. No lock held; may be called often and from any thread.
  gpb_status (*device_count)(uint32_t *out_count, char *err);
  // Describes device `index` < device_count without opening it; `usable` is
  // false for one the core cannot use. Fails on a bad index
  // (GPB_ERROR_NOT_FOUND) or enumeration failure. No lock held.
  gpb_status (*device_info)(uint32_t index, gpb_device_info *out_info, char *err);
  // Opens device `index` with `options` (already merged with the
  // environment), fills `out_info` as device_info does, and says how many
  // queues it submits to (>= 1; streams are spread over them). Fails with
  // GPB_ERROR_NOT_FOUND, GPB_ERROR_UNSUPPORTED (a device that cannot run
  // gpubatch), GPB_ERROR_OUT_OF_HOST_MEMORY or an API error; on failure
  // nothing stays allocated. No lock held.
  gpb_status (*device_open)(uint32_t index, const gpb_device_options *options, gpb_be_device **out_device,
                            gpb_device_info *out_info, uint32_t *out_queue_count, char *err);
  // Frees the device. Called once, after device_wait_idle and after every
  // object made on the device was destroyed. No lock held.
  void (*device_close)(gpb_be_device *device);
  // Waits until all work submitted to the device finished. Fails with
  // GPB_ERROR_DEVICE_LOST (or another API error); the core then treats the
  // work as finished or lost. May be called with the device lock and/or one
  // stream's lock held (closing, destroying, draining a failed stream).
  gpb_status (*device_wait_idle)(gpb_be_device *device, char *err);
  // (optional: NULL counts 0) Diagnostics the API's own checking reported
  // on this device since it opened (validation-layer messages), for
  // gpb_device_validation_message_count. No lock held; any thread.
  uint64_t (*diagnostics_count)(const gpb_be_device *device);

  // ---- buffers ----------------------------------------------------------
  // Allocates `size` (> 0) bytes of `memory`; host-visible kinds (SHARED,
  // READBACK, UPLOAD) return their persistent mapping in *out_mapped, the
  // others NULL. Fails with GPB_ERROR_OUT_OF_DEVICE_MEMORY,
  // GPB_ERROR_OUT_OF_HOST_MEMORY or GPB_ERROR_UNSUPPORTED (too large for the
  // device). Called with no lock (gpb_buffer_create) or with one stream's
  // lock held (staging and readback buffers).
  gpb_status (*buffer_create)(gpb_be_device *device, uint64_t size, gpb_be_memory memory, gpb_be_buffer **out_buffer,
                              void **out_mapped, char *err);
  // Frees a buffer no unfinished GPU work uses. Called with no lock, the
  // device lock, or one stream's lock held.
  void (*buffer_destroy)(gpb_be_device *device, gpb_be_buffer *buffer);

  // ---- kernels ------------------------------------------------------------
  // Reads the interface of `code` (bindings, push constants, workgroup size,
  // shared memory) into `out_info`, all but `name`, and checks that this
  // device accepts the module (its version, its validity). Fails with
  // GPB_ERROR_INVALID_SPIRV (malformed code or no such entry point) or
  // GPB_ERROR_UNSUPPORTED (a format or feature the device does not take).
  // The core then checks the info against gpb_device_info's limits. No lock
  // held.
  gpb_status (*kernel_reflect)(gpb_be_device *device, const gpb_be_kernel_code *code, gpb_kernel_info *out_info,
                               char *err);
  // Makes a runnable pipeline of `code` with the interface `info` that
  // kernel_reflect returned. Fails with GPB_ERROR_UNSUPPORTED (a capability
  // or a binding count the device does not have), GPB_ERROR_INVALID_SPIRV,
  // or an API error. The core caches pipelines per device (same code and
  // entry point: one pipeline), so this runs with the device lock held.
  gpb_status (*pipeline_create)(gpb_be_device *device, const gpb_be_kernel_code *code, const gpb_kernel_info *info,
                                gpb_be_pipeline **out_pipeline, char *err);
  // Frees a pipeline no recorded batch or program uses any more. Device
  // lock held.
  void (*pipeline_destroy)(gpb_be_device *device, gpb_be_pipeline *pipeline);

  // ---- timelines: the order of one stream's batches ---------------------
  // A timeline is a counter that batch_submit raises to `signal` when a
  // batch finishes, submitting to queue `queue` (< the open's queue count).
  // Starts at 0. Fails on allocation or API errors. Device lock held.
  gpb_status (*timeline_create)(gpb_be_device *device, uint32_t queue, gpb_be_timeline **out_timeline, char *err);
  // Frees it once no submitted batch signals or waits on it (the core waits
  // for the device to go idle first). No lock, or the device lock, held.
  void (*timeline_destroy)(gpb_be_device *device, gpb_be_timeline *timeline);
  // Reads the value reached. Fails with GPB_ERROR_DEVICE_LOST (or another
  // API error): the core makes the stream's error sticky. The owning
  // stream's lock held (and possibly the device lock).
  gpb_status (*timeline_completed)(gpb_be_device *device, gpb_be_timeline *timeline, uint64_t *out_value, char *err);
  // Blocks until the timeline reaches `value`, or `timeout_ns` passed
  // (GPB_ERROR_TIMEOUT: the core reports it and nothing becomes sticky), or
  // the device is lost (GPB_ERROR_DEVICE_LOST: sticky). The owning stream's
  // lock held (and possibly the device lock).
  gpb_status (*timeline_wait)(gpb_be_device *device, gpb_be_timeline *timeline, uint64_t value, uint64_t timeout_ns,
                              char *err);

  // ---- batches: one stream's command buffers ----------------------------
  // All batch_* and cmd_* entries on a batch run under the owning stream's
  // lock; a program (below) is a batch recorded under the capturing
  // stream's lock.
  // Makes an empty batch. Fails on allocation or API errors.
  gpb_status (*batch_create)(gpb_be_device *device, gpb_be_batch **out_batch, char *err);
  // Frees a batch (or program) that is not pending on the GPU. Called with
  // the owning stream's lock, the device lock, or no lock held.
  void (*batch_destroy)(gpb_be_device *device, gpb_be_batch *batch);
  // Resets a batch whose previous submission completed (or that never was
  // submitted), and opens it for recording. Fails on API errors; the batch
  // stays reusable.
  gpb_status (*batch_begin)(gpb_be_device *device, gpb_be_batch *batch, char *err);
  // Appends a dispatch of `pipeline` with `groups` workgroups, buffers
  // `args` bound in the order of the pipeline's bindings, and the push
  // constants. Arguments are validated by the core.
  void (*cmd_dispatch)(gpb_be_batch *batch, gpb_be_pipeline *pipeline, const uint32_t groups[3], const gpb_be_arg *args,
                       uint32_t arg_count, const void *push_constants, uint32_t push_constant_bytes);
  // Appends a copy of `bytes` between two buffers (ranges do not overlap).
  void (*cmd_copy)(gpb_be_batch *batch, gpb_be_buffer *src, uint64_t src_offset, gpb_be_buffer *dst,
                   uint64_t dst_offset, uint64_t bytes);
  // Appends an update of `bytes` (a multiple of 4, at most 65536, offset a
  // multiple of 4) from host `data`, which the backend copies now.
  void (*cmd_update)(gpb_be_batch *batch, gpb_be_buffer *dst, uint64_t offset, const void *data, uint64_t bytes);
  // A global memory barrier: compute and transfer writes before it are
  // visible to compute and transfer reads and writes after it. The core
  // decides where (core/hazard.h); the backend adds none of its own between
  // commands.
  void (*cmd_barrier)(gpb_be_batch *batch);
  // Programs (gpubatch/program.h): a batch recorded once and executed from
  // other batches. program_begin creates and opens one (it may be pending
  // several times at once); the cmd_* entries record into it; program_end
  // closes it; cmd_execute appends it to an open batch. Destroy it with
  // batch_destroy. program_begin and program_end fail on allocation or API
  // errors; no lock is held for them.
  gpb_status (*program_begin)(gpb_be_device *device, gpb_be_batch **out_program, char *err);
  gpb_status (*program_end)(gpb_be_device *device, gpb_be_batch *program, char *err);
  void (*cmd_execute)(gpb_be_batch *batch, gpb_be_batch *program);
  // Tracing (optional: all three NULL when unsupported; then no GPU spans
  // are traced): up to `capacity` GPU timestamps per batch.
  // batch_timestamps_begin resets the batch's timestamp slots (called right
  // after batch_begin; a failure only leaves the batch untraced);
  // cmd_timestamp writes slot `index` once all earlier commands finished (no
  // barrier added); batch_timestamps_read returns slots [0, count) in
  // nanoseconds of the device clock, after the batch completed (a failure
  // drops that batch's spans).
  gpb_status (*batch_timestamps_begin)(gpb_be_device *device, gpb_be_batch *batch, uint32_t capacity, char *err);
  void (*cmd_timestamp)(gpb_be_batch *batch, uint32_t index);
  gpb_status (*batch_timestamps_read)(gpb_be_device *device, gpb_be_batch *batch, uint32_t count, uint64_t *out_ns,
                                      char *err);
  // (optional: NULL, or GPB_ERROR_UNSUPPORTED where the device cannot
  // correlate them) The device clock of batch_timestamps_read and the host's
  // CLOCK_MONOTONIC, both in nanoseconds, read at one moment. Stream lock held.
  gpb_status (*timestamp_calibrate)(gpb_be_device *device, uint64_t *out_gpu_ns, uint64_t *out_host_ns, char *err);
  // Closes the batch (adding a barrier that makes device writes visible to
  // host reads) and submits it to the timeline's queue: it waits for every
  // `waits` entry (other streams' timelines) and for `timeline`'s own
  // earlier batches, and raises `timeline` to `signal` (> every earlier
  // signal) when done. Fails with GPB_ERROR_DEVICE_LOST, out-of-memory or
  // API errors: the batch did not run, the core makes the stream's error
  // sticky and may begin the batch again. The owning stream's lock held
  // (and possibly the device lock); several streams submit concurrently.
  gpb_status (*batch_submit)(gpb_be_device *device, gpb_be_batch *batch, gpb_be_timeline *timeline, uint64_t signal,
                             const gpb_be_wait *waits, uint32_t wait_count, char *err);
} gpb_backend;

// The registry (src/backends.c): every backend built in, in order of
// preference, NULL-terminated.
extern const gpb_backend *const gpb_backends[];

// The process's backend, chosen as the top of this file says. Fails with
// GPB_ERROR_NOT_FOUND (a GPB_BACKEND the registry lacks, or an empty
// registry), the message in the thread's slot.
gpb_status gpb_backend_active(const gpb_backend **out_backend);

// Tests: makes `backend` (NULL: the registry's choice again) the one later
// device calls use. Devices already open keep theirs.
void gpb_backend_set_active(const gpb_backend *backend);

// For a backend's own test hooks (public functions taking a gpb_device):
// the backend device behind a live device handle opened with `backend`,
// else NULL.
gpb_be_device *gpb_backend_device_of(const gpb_device *device, const gpb_backend *backend);

#endif
