// gpubatch/device.h: finding, opening and closing a GPU.
//
// A gpb_device is one opened Vulkan physical device: its own VkDevice, the
// queues its streams submit to, its pipeline cache and its default stream.
// Several devices may be open at once, the same index too. All devices of a
// process share one VkInstance per validation setting, created by the first
// open and kept until the process exits (the NVIDIA driver 580 fails the
// 29th vkCreateInstance of a process, so an instance per open would stop
// working after 28 opens). Devices with validation on share its messages:
// a validation message about one of them also counts on the others open at
// that moment.
//
// Ownership and lifetime: gpb_device_open creates it, gpb_device_close
// flushes every stream, waits for the GPU, and frees what is left (streams,
// kernels, buffers and programs still alive are released with it). From then
// on every call given the device's handle, or a handle of anything it
// released, returns GPB_ERROR_INVALID_HANDLE (gpubatch/status.h), a second
// close included. Thread safety: every function here may be called from any
// thread; closing a device while other threads still use it is the caller's
// error.
#ifndef GPUBATCH_DEVICE_H
#define GPUBATCH_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "gpubatch/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpb_device gpb_device;
typedef struct gpb_stream gpb_stream;

typedef enum gpb_device_type {
  GPB_DEVICE_OTHER = 0,
  GPB_DEVICE_INTEGRATED_GPU,
  GPB_DEVICE_DISCRETE_GPU,
  GPB_DEVICE_VIRTUAL_GPU,
  GPB_DEVICE_CPU, // e.g. Mesa lavapipe
} gpb_device_type;

#define GPB_MAX_HEAPS 16

typedef struct gpb_memory_heap {
  uint64_t size;
  bool device_local;
} gpb_memory_heap;

// What a device is and what it allows. Plain data; copy freely.
typedef struct gpb_device_info {
  uint32_t index; // position in enumeration order
  char name[256];
  gpb_device_type type;
  uint32_t vendor_id;
  uint32_t device_id;
  uint32_t api_version; // VK_MAKE_API_VERSION encoding: what the device supports
  // The Vulkan version gpubatch creates the device for (VK_MAKE_API_VERSION
  // encoding; 1.2 today). Kernels are validated under its rules: SPIR-V up
  // to 1.5, no LocalSizeId (glslc --target-env=vulkan1.2 or lower).
  uint32_t kernel_api_version;
  uint32_t driver_version; // vendor encoding; see driver_info for text
  char driver_name[256];
  char driver_info[256];
  uint32_t heap_count;
  gpb_memory_heap heaps[GPB_MAX_HEAPS];
  uint32_t max_workgroup_count[3];
  uint32_t max_workgroup_size[3];
  uint32_t max_workgroup_invocations;
  uint32_t max_push_constant_bytes;
  uint32_t max_shared_memory_bytes; // per workgroup
  uint64_t max_storage_buffer_range;
  uint64_t min_storage_buffer_offset_alignment;
  float timestamp_period_ns;
  // Streaming multiprocessors (NVIDIA, VK_NV_shader_sm_builtins): how many
  // workgroups can run at once is a multiple of it. 0 where the driver
  // does not say.
  uint32_t compute_units;
  // Invocations per subgroup in compute shaders (gl_SubgroupSize): kernels
  // that keep a value per subgroup in shared memory size it by this.
  uint32_t subgroup_size;
  // Packed 8-bit integer dot products (VK_KHR_shader_integer_dot_product):
  // kernels may declare SPIR-V's DotProduct capabilities; `accelerated`
  // where the device says its signed 4x8 packed dot product is fast (an
  // instruction of its own, not emulated: lavapipe's are not, and run far
  // slower than float arithmetic there).
  bool integer_dot_product;
  bool integer_dot_product_accelerated;
  bool usable; // has what gpubatch needs (compute queue, timeline semaphores,
               // push descriptors); when false, unusable_reason says why
  char unusable_reason[128];
} gpb_device_info;

// Called with every validation-layer message (only when validation is on).
// `severity` is 0 info, 1 warning, 2 error. May be called from any thread.
typedef void (*gpb_message_fn)(void *user, int severity, const char *message);

typedef struct gpb_device_options {
  // Turn on the Khronos validation layer with synchronization validation.
  // Also turned on by the environment variable GPB_VALIDATION=1.
  bool validation;
  gpb_message_fn on_message; // optional
  void *on_message_user;
  // Write a Chrome trace-event JSON file (open it in Perfetto) of host events
  // and per-command GPU timestamps when the device closes. GPU spans are put
  // on the host's clock through calibrated timestamps where the device has
  // them (VK_EXT_calibrated_timestamps); elsewhere each batch is aligned with
  // the moment the host saw it complete (lengths exact, placement late by
  // up to the host's wake-up). Also set by the environment variable
  // GPB_TRACE=<file>. NULL: no tracing.
  const char *trace_path;
  // How long a host wait polls for the GPU before it blocks, in
  // microseconds. Waking a blocked thread costs tens to hundreds of
  // microseconds on some drivers, so a host that waits for GPU work of a
  // known length (a decode step of a few ms) polls longer. 0: the
  // environment variable GPB_WAIT_SPIN_US if set, else 1000 on GPUs and no
  // polling on CPU devices (which need the cores). UINT32_MAX: never poll.
  uint32_t wait_spin_us;
} gpb_device_options;

// Number of Vulkan physical devices (0 when there is no Vulkan driver).
GPB_API gpb_status gpb_device_count(uint32_t *out_count);

// Describes device `index` without opening it.
GPB_API gpb_status gpb_device_get_info(uint32_t index, gpb_device_info *out_info);

// Index the default device: $GPB_DEVICE if set, else the first usable
// discrete GPU, else the first usable device of any type.
GPB_API gpb_status gpb_device_default_index(uint32_t *out_index);

// Opens device `index`. `options` may be NULL (defaults: validation only if
// GPB_VALIDATION=1). The environment is read here: GPB_MODE (immediate or
// batched: new streams' default mode), GPB_VALIDATION (1 or 0),
// GPB_WAIT_TIMEOUT_MS (host waits, at least 1; default 120000),
// GPB_WAIT_SPIN_US (0 or more; see wait_spin_us), GPB_TRACE (a file). An
// unset or empty variable means its default; any other value that is not
// one of those fails with GPB_ERROR_INVALID_ARGUMENT and a message naming
// the variable and what it accepts.
GPB_API gpb_status gpb_device_open(uint32_t index, const gpb_device_options *options, gpb_device **out_device);

// Opens the default device (see gpb_device_default_index).
GPB_API gpb_status gpb_device_open_default(const gpb_device_options *options, gpb_device **out_device);

// Flushes and waits every stream of the device, then releases it and
// everything created on it. Returns the first error met while draining, but
// releases the device in any case. NULL is accepted and does nothing; a
// device closed already gets GPB_ERROR_INVALID_HANDLE.
GPB_API gpb_status gpb_device_close(gpb_device *device);

// Flushes every stream of the device and waits for all of its GPU work.
GPB_API gpb_status gpb_device_sync(gpb_device *device);

// The stream every device has; lives as long as the device. Never NULL for a
// live device; NULL for NULL or a handle that is not live.
GPB_API gpb_stream *gpb_device_default_stream(gpb_device *device);

// Fills `out_info` for an open device.
GPB_API gpb_status gpb_device_query(const gpb_device *device, gpb_device_info *out_info);

// Number of validation messages (warnings and errors) seen so far on this
// device (and, see above, on other devices open with validation at the same
// time); always 0 when validation is off (and for a handle that is not
// live). Tests fail on any.
GPB_API uint64_t gpb_device_validation_message_count(const gpb_device *device);

// Message of the last failing call made on this device or on a buffer or
// kernel of it; "" if none (or the handle is not live). Valid until the next
// failing call on the device (from any thread; gpb_last_error holds each
// thread's own).
GPB_API const char *gpb_device_last_error(const gpb_device *device);

#ifdef __cplusplus
}
#endif
#endif
