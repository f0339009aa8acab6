// gpubatch/buffer.h: memory on a device.
//
// A gpb_buffer is one VkBuffer with its own VkDeviceMemory, of one of two
// kinds:
//   GPB_MEMORY_PRIVATE (default): device-local, not visible to the host.
//     Host data reaches it through stream copies (staging or inline update).
//   GPB_MEMORY_SHARED: host-visible and coherent, persistently mapped, for
//     zero-copy use; reach the pointer with gpb_buffer_map.
//
// Every operation takes a byte offset, so sub-ranges of one buffer can be
// used as separate arguments.
//
// Lifetime: gpb_buffer_free releases it. If GPU work that is still pending or
// running uses the buffer, free first submits that work and waits for it
// (counted as free_syncs); a buffer no unfinished work uses is freed at once.
// Closing its device frees it too. After that, every call given the handle
// (as a buffer argument of a copy or dispatch too) returns
// GPB_ERROR_INVALID_HANDLE, a second free included, even once a new buffer
// took its place (gpubatch/status.h). A pointer from gpb_buffer_map is not
// checked: using it after the free is the caller's error.
// Thread safety: any thread may create, map or free buffers; freeing a buffer
// while another thread still records work that uses it is the caller's error.
#ifndef GPUBATCH_BUFFER_H
#define GPUBATCH_BUFFER_H

#include <stdint.h>

#include "gpubatch/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpb_buffer gpb_buffer;

typedef enum gpb_memory_kind {
  GPB_MEMORY_PRIVATE = 0,
  GPB_MEMORY_SHARED = 1,
} gpb_memory_kind;

typedef enum gpb_host_access {
  GPB_HOST_READ = 1,  // the host will read: wait for GPU work that writes it
  GPB_HOST_WRITE = 2, // the host will write: also wait for GPU work that reads it
} gpb_host_access;

// Allocates `size` bytes (size > 0). The contents start undefined.
GPB_API gpb_status gpb_buffer_create(gpb_device *device, uint64_t size, gpb_memory_kind kind, gpb_buffer **out_buffer);

// Frees the buffer (see above). NULL is accepted and does nothing. If the
// wait for GPU work times out (GPB_ERROR_TIMEOUT), the buffer is NOT freed:
// the GPU may still use it; call again later. After any other error (a
// failed stream) the buffer is freed once submitted work has finished or the
// device is lost, and the stream's error is returned.
GPB_API gpb_status gpb_buffer_free(gpb_buffer *buffer);

// 0, GPB_MEMORY_PRIVATE and NULL for NULL or a handle that is not live.
GPB_API uint64_t gpb_buffer_size(const gpb_buffer *buffer);
GPB_API gpb_memory_kind gpb_buffer_kind(const gpb_buffer *buffer);
GPB_API gpb_device *gpb_buffer_device(const gpb_buffer *buffer);

// For a SHARED buffer: submits and waits for every unfinished GPU use of the
// buffer, on any stream, that conflicts with `access`, rechecks those
// streams' errors, then returns the mapped pointer (valid until free). Work
// recorded after this call is ordered after host writes made before it is
// submitted. PRIVATE buffers are refused with GPB_ERROR_INVALID_ARGUMENT.
GPB_API gpb_status gpb_buffer_map(gpb_buffer *buffer, gpb_host_access access, void **out_ptr);

#ifdef __cplusplus
}
#endif
#endif
