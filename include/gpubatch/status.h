// gpubatch/status.h: how every gpubatch call reports success or failure.
//
// Every public function returns a gpb_status. GPB_OK is zero, so
// `if (st != GPB_OK)` and `if (st)` both work. On failure the call leaves a
// message naming the object and the cause:
//   - on the object it was called on (gpb_device_last_error,
//     gpb_stream_last_error), readable until the next failing call on that
//     object, and
//   - in a per-thread slot (gpb_last_error), which also covers calls that
//     have no object yet (gpb_device_open, enumeration).
// The library never aborts, exits or prints.
//
// Handles: a gpb_device *, gpb_buffer *, gpb_kernel *, gpb_stream * or
// gpb_program * is an opaque value, not an address; never dereference it.
// Every call checks each handle it is given. A handle that is not live gets
// GPB_ERROR_INVALID_HANDLE and a message naming it and why ("buffer handle
// 0x... is not a live buffer: freed, or closed with its device"):
//   - its object was freed, destroyed or closed: use after free, double
//     free, double destroy, double close (a handle value is never reused,
//     even once a new object takes the old one's place);
//   - its device was closed (that releases every object of the device);
//   - it is a handle of another type cast to this one, or not a handle.
// NULL keeps GPB_ERROR_INVALID_ARGUMENT, and the *_free/*_destroy/*_close
// calls still accept NULL and do nothing. Calls that return a value instead
// of a status return their neutral value (0, NULL, "") and leave the message
// in gpb_last_error. Detection is deterministic for calls made after the
// handle's end (in one thread, or ordered between threads); a call that races
// with the free of the same handle on another thread is still the caller's
// error.
#ifndef GPUBATCH_STATUS_H
#define GPUBATCH_STATUS_H

#include "gpubatch/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gpb_status {
  GPB_OK = 0,
  GPB_ERROR_INVALID_ARGUMENT,     // NULL handle, bad size/offset/alignment, wrong arg count
  GPB_ERROR_OUT_OF_RANGE,         // offset + size past the end of a buffer
  GPB_ERROR_OUT_OF_HOST_MEMORY,   // malloc or VK_ERROR_OUT_OF_HOST_MEMORY
  GPB_ERROR_OUT_OF_DEVICE_MEMORY, // VK_ERROR_OUT_OF_DEVICE_MEMORY or no fitting memory type
  GPB_ERROR_DEVICE_LOST,          // VK_ERROR_DEVICE_LOST: the stream stays failed
  GPB_ERROR_TIMEOUT,              // a wait did not finish in time
  GPB_ERROR_NOT_FOUND,            // no such device, file or entry point
  GPB_ERROR_UNSUPPORTED,          // the device or the kernel needs something gpubatch lacks
  GPB_ERROR_INVALID_SPIRV,        // the kernel bytes are not a usable compute SPIR-V module
  GPB_ERROR_FAILED_PRECONDITION,  // the stream already failed; the message holds the first cause
  GPB_ERROR_IO,                   // reading a file failed
  GPB_ERROR_VULKAN,               // any other Vulkan failure
  GPB_ERROR_INVALID_HANDLE,       // a handle that is not live: see "Handles" above
} gpb_status;

// Stable, upper-case name of a status ("GPB_ERROR_DEVICE_LOST"); never NULL.
GPB_API const char *gpb_status_name(gpb_status status);

// Message of the last failing gpubatch call made by this thread, or "" when
// none failed yet. Owned by the library; valid until this thread's next
// failing call.
GPB_API const char *gpb_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
