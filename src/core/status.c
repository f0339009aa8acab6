// Status names and the per-thread last-error slot.
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static _Thread_local char thread_last_error[GPB_MSG_MAX];

// Object messages (a stream's or a device's last_error) may be written by
// failing calls from several threads at once (two threads refused on the
// default stream); the writes take turns here.
static pthread_mutex_t object_msg_lock = PTHREAD_MUTEX_INITIALIZER;

const char *gpb_status_name(gpb_status status) {
  switch (status) {
  case GPB_OK: return "GPB_OK";
  case GPB_ERROR_INVALID_ARGUMENT: return "GPB_ERROR_INVALID_ARGUMENT";
  case GPB_ERROR_OUT_OF_RANGE: return "GPB_ERROR_OUT_OF_RANGE";
  case GPB_ERROR_OUT_OF_HOST_MEMORY: return "GPB_ERROR_OUT_OF_HOST_MEMORY";
  case GPB_ERROR_OUT_OF_DEVICE_MEMORY: return "GPB_ERROR_OUT_OF_DEVICE_MEMORY";
  case GPB_ERROR_DEVICE_LOST: return "GPB_ERROR_DEVICE_LOST";
  case GPB_ERROR_TIMEOUT: return "GPB_ERROR_TIMEOUT";
  case GPB_ERROR_NOT_FOUND: return "GPB_ERROR_NOT_FOUND";
  case GPB_ERROR_UNSUPPORTED: return "GPB_ERROR_UNSUPPORTED";
  case GPB_ERROR_INVALID_SPIRV: return "GPB_ERROR_INVALID_SPIRV";
  case GPB_ERROR_FAILED_PRECONDITION: return "GPB_ERROR_FAILED_PRECONDITION";
  case GPB_ERROR_IO: return "GPB_ERROR_IO";
  case GPB_ERROR_VULKAN: return "GPB_ERROR_VULKAN";
  case GPB_ERROR_INVALID_HANDLE: return "GPB_ERROR_INVALID_HANDLE";
  }
  return "GPB_ERROR_UNKNOWN";
}

const char *gpb_last_error(void) { return thread_last_error; }

void gpb_format(char *dst, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, cap, fmt, ap);
  va_end(ap);
}

gpb_status gpb_fail_msg(char *object_msg, gpb_status status, const char *msg) {
  // The message may already live in object_msg or in the thread slot.
  if (msg != thread_last_error) {
    memmove(thread_last_error, msg, strnlen(msg, GPB_MSG_MAX - 1));
    thread_last_error[strnlen(msg, GPB_MSG_MAX - 1)] = '\0';
  }
  if (object_msg && object_msg != msg) {
    pthread_mutex_lock(&object_msg_lock);
    memmove(object_msg, thread_last_error, strlen(thread_last_error) + 1);
    pthread_mutex_unlock(&object_msg_lock);
  }
  return status;
}

gpb_status gpb_fail(char *object_msg, gpb_status status, const char *fmt, ...) {
  char msg[GPB_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gpb_fail_msg(object_msg, status, msg);
}
