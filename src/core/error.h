// Internal: composing status messages.
//
// A failing call formats one message, stores it in the calling thread's slot
// (gpb_last_error) and, when there is one, in the object's own buffer.
// Another thread's failing call may overwrite an object's buffer at any
// time: code that needs the message of a call it just made reads
// gpb_last_error(), never the object's buffer.
#ifndef GPB_CORE_ERROR_H
#define GPB_CORE_ERROR_H

#include <stddef.h>

#include "gpubatch/status.h"

#define GPB_MSG_MAX 512

// Formats into `object_msg` (may be NULL) and the thread's slot; returns
// `status` so callers can `return gpb_fail(...)`.
gpb_status gpb_fail(char *object_msg, gpb_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Like gpb_fail, for a message already composed (e.g. by the backend).
gpb_status gpb_fail_msg(char *object_msg, gpb_status status, const char *msg);

// printf into a fixed buffer, always terminated, truncating.
void gpb_format(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
