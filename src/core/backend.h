// Internal: the interface between the backend-neutral core and a GPU API.
//
// The core (stream state machine, hazard tracking, staging policy, counters,
// errors) calls the backend only through this table; raw Vulkan lives behind
// it in src/vulkan/. Tests install a recording fake (tests/fake/) that does
// the work on the host, to check the core's decisions without a GPU.
//
// Handles are opaque to the core. Functions that can fail return a status and
// write a message (without object prefix) into `err` (GPB_MSG_MAX bytes).
// cmd_* functions only append to an open batch and cannot fail.
#ifndef GPB_CORE_BACKEND_H
#define GPB_CORE_BACKEND_H

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

typedef struct gpb_be_arg {
  gpb_be_buffer *buffer;
  uint64_t offset, size;
} gpb_be_arg;

typedef struct gpb_be_wait {
  gpb_be_timeline *timeline;
  uint64_t value;
} gpb_be_wait;

typedef struct gpb_backend {
  const char *name;

  gpb_status (*device_count)(uint32_t *out_count, char *err);
  gpb_status (*device_info)(uint32_t index, gpb_device_info *out_info, char *err);
  gpb_status (*device_open)(uint32_t index, const gpb_device_options *options, gpb_be_device **out_device,
                            gpb_device_info *out_info, uint32_t *out_queue_count, char *err);
  void (*device_close)(gpb_be_device *device); // after all GPU work finished
  gpb_status (*device_wait_idle)(gpb_be_device *device, char *err);
  uint64_t (*validation_messages)(const gpb_be_device *device);

  gpb_status (*buffer_create)(gpb_be_device *device, uint64_t size, gpb_be_memory memory, gpb_be_buffer **out_buffer,
                              void **out_mapped, char *err);
  void (*buffer_destroy)(gpb_be_device *device, gpb_be_buffer *buffer);

  // `info` was reflected from `words` by the core.
  gpb_status (*pipeline_create)(gpb_be_device *device, const uint32_t *words, size_t word_count,
                                const gpb_kernel_info *info, gpb_be_pipeline **out_pipeline, char *err);
  void (*pipeline_destroy)(gpb_be_device *device, gpb_be_pipeline *pipeline);

  // A timeline orders one stream's batches; it submits to queue `queue`.
  gpb_status (*timeline_create)(gpb_be_device *device, uint32_t queue, gpb_be_timeline **out_timeline, char *err);
  void (*timeline_destroy)(gpb_be_device *device, gpb_be_timeline *timeline);
  gpb_status (*timeline_completed)(gpb_be_device *device, gpb_be_timeline *timeline, uint64_t *out_value, char *err);
  gpb_status (*timeline_wait)(gpb_be_device *device, gpb_be_timeline *timeline, uint64_t value, uint64_t timeout_ns,
                              char *err);

  gpb_status (*batch_create)(gpb_be_device *device, gpb_be_batch **out_batch, char *err);
  void (*batch_destroy)(gpb_be_device *device, gpb_be_batch *batch);
  // Resets a batch whose previous submission completed, and opens it.
  gpb_status (*batch_begin)(gpb_be_device *device, gpb_be_batch *batch, char *err);
  void (*cmd_dispatch)(gpb_be_batch *batch, gpb_be_pipeline *pipeline, const uint32_t groups[3], const gpb_be_arg *args,
                       uint32_t arg_count, const void *push_constants, uint32_t push_constant_bytes);
  void (*cmd_copy)(gpb_be_batch *batch, gpb_be_buffer *src, uint64_t src_offset, gpb_be_buffer *dst,
                   uint64_t dst_offset, uint64_t bytes);
  void (*cmd_update)(gpb_be_batch *batch, gpb_be_buffer *dst, uint64_t offset, const void *data, uint64_t bytes);
  // A global memory barrier: compute and transfer writes before it are
  // visible to compute and transfer reads and writes after it.
  void (*cmd_barrier)(gpb_be_batch *batch);
  // Programs (gpubatch/program.h): a batch recorded once and executed from
  // other batches. program_begin creates and opens one (a secondary command
  // buffer that may be pending several times at once); the cmd_* functions
  // record into it; program_end closes it; cmd_execute appends it to an
  // open batch. Destroy it with batch_destroy.
  gpb_status (*program_begin)(gpb_be_device *device, gpb_be_batch **out_program, char *err);
  gpb_status (*program_end)(gpb_be_device *device, gpb_be_batch *program, char *err);
  void (*cmd_execute)(gpb_be_batch *batch, gpb_be_batch *program);
  // Tracing (optional; NULL when unsupported): up to `capacity` GPU
  // timestamps per batch. batch_timestamps_begin resets the batch's
  // timestamp slots (call right after batch_begin); cmd_timestamp writes slot
  // `index` once all earlier commands finished (no barrier added);
  // batch_timestamps_read returns slots [0, count) in nanoseconds of the
  // device clock, after the batch completed.
  gpb_status (*batch_timestamps_begin)(gpb_be_device *device, gpb_be_batch *batch, uint32_t capacity, char *err);
  void (*cmd_timestamp)(gpb_be_batch *batch, uint32_t index);
  gpb_status (*batch_timestamps_read)(gpb_be_device *device, gpb_be_batch *batch, uint32_t count, uint64_t *out_ns,
                                      char *err);
  // The device clock of batch_timestamps_read and the host's CLOCK_MONOTONIC,
  // both in nanoseconds, read at one moment (optional: NULL, or
  // GPB_ERROR_UNSUPPORTED where the device cannot correlate them).
  gpb_status (*timestamp_calibrate)(gpb_be_device *device, uint64_t *out_gpu_ns, uint64_t *out_host_ns, char *err);
  // Closes the batch (adding a barrier that makes device writes visible to
  // host reads) and submits it: it waits for `waits`, and the order of
  // `timeline`'s own previous value, and signals `timeline` to `signal`.
  gpb_status (*batch_submit)(gpb_be_device *device, gpb_be_batch *batch, gpb_be_timeline *timeline, uint64_t signal,
                             const gpb_be_wait *waits, uint32_t wait_count, char *err);
} gpb_backend;

// The backend every device uses; tests may swap it before opening a device.
extern const gpb_backend *gpb_active_backend;
extern const gpb_backend gpb_vulkan_backend;

#endif
