// Internal: the device object behind gpb_device, and the resolvers every
// object header shares.
//
// Each public handle type has an object type in its own header (gpb_buffer
// -> gpb_buffer_obj in core/buffer.h, ...). The public structs (struct
// gpb_buffer, ...) are never defined: a handle is an encoded value
// (core/handle.h), and the compiler refuses to mix a handle with an object
// pointer. Public functions resolve every handle they are given at the
// boundary, into locals of the _obj types; internal code passes only _obj
// pointers, and an object keeps its own handle (`handle`) for the calls
// that return it.
//
// Calls go one way (core/internal.h draws the layers): device.c and
// release.c call the streams, the streams call programs, kernels and
// buffers, and those only read this device state (its lists, under `lock`).
#ifndef GPB_CORE_DEVICE_H
#define GPB_CORE_DEVICE_H

#include <pthread.h>
#include <stdbool.h>

#include "core/backend.h"
#include "core/error.h"
#include "core/handle.h"
#include "core/trace.h"
#include "gpubatch/gpubatch.h"

typedef struct gpb_device_obj gpb_device_obj;
typedef struct gpb_buffer_obj gpb_buffer_obj;
typedef struct gpb_kernel_obj gpb_kernel_obj;
typedef struct gpb_stream_obj gpb_stream_obj;
typedef struct gpb_program_obj gpb_program_obj;
typedef struct gpb_pipeline_entry gpb_pipeline_entry;

struct gpb_device_obj {
  gpb_device *handle;
  const gpb_backend *be;
  gpb_be_device *impl;
  gpb_device_info info;
  uint32_t queue_count;
  uint32_t next_queue;
  uint64_t wait_timeout_ns;
  gpb_mode default_mode;

  pthread_mutex_t lock; // streams, buffers, kernels, programs, pipelines, last_error
  gpb_stream_obj *default_stream;
  gpb_stream_obj **streams;
  uint32_t stream_count, stream_cap;
  gpb_buffer_obj *buffers;
  gpb_kernel_obj *kernels;
  gpb_program_obj *programs;
  gpb_pipeline_entry *pipelines; // core/kernel.h
  gpb_trace *trace;              // NULL unless tracing
  // "device 0 (open 2)": names it in messages, apart from another open of
  // the same physical device in the process.
  char label[48];
  char last_error[GPB_MSG_MAX];
};

// gpb_X_obj_of: the object behind a live handle, else NULL (for calls that
// return a value). gpb_X_resolve: the same for calls that return a status:
// a handle that is not live fails the call (gpb_handle_fail: NULL is
// GPB_ERROR_INVALID_ARGUMENT, anything else GPB_ERROR_INVALID_HANDLE), with
// `op` (the public function) in the message. One pair per object header.
#define GPB_DEFINE_RESOLVERS(object, handle_type)                                                                      \
  static inline gpb_##object##_obj *gpb_##object##_obj_of(const gpb_##object *handle) {                                \
    return gpb_handle_lookup((uintptr_t)handle, handle_type);                                                          \
  }                                                                                                                    \
  static inline gpb_status gpb_##object##_resolve(const gpb_##object *handle, const char *op,                          \
                                                  gpb_##object##_obj **out) {                                          \
    *out = gpb_##object##_obj_of(handle);                                                                              \
    return *out ? GPB_OK : gpb_handle_fail(NULL, op, handle_type, (uintptr_t)handle);                                  \
  }

GPB_DEFINE_RESOLVERS(device, GPB_HANDLE_DEVICE)

#endif
