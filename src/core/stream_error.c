// A stream's errors: the message of a failed call ("<label>: <cause>"),
// the sticky error that a failed submission or wait leaves, and the
// refusals every public call shares.
#include <stdarg.h>
#include <stdio.h>

#include "core/stream_internal.h"

gpb_status gpb_stream_fail(gpb_stream_obj *s, gpb_status st, const char *fmt, ...) {
  char msg[GPB_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gpb_fail(s->last_error, st, "%s: %s", s->label, msg);
}

// Makes the stream's error sticky; later calls fail fast with this cause.
gpb_status gpb_stream_make_sticky(gpb_stream_obj *s, gpb_status st, const char *msg) {
  if (s->sticky == GPB_OK) {
    s->sticky = st;
    gpb_format(s->sticky_msg, sizeof s->sticky_msg, "%s: %s", s->label, msg);
  }
  return gpb_fail_msg(s->last_error, st, s->sticky_msg);
}

gpb_status gpb_stream_check_sticky(gpb_stream_obj *s) {
  if (s->sticky == GPB_OK) return GPB_OK;
  return gpb_fail(s->last_error, s->sticky, "%s failed earlier: %s", s->label, s->sticky_msg);
}

// Commands that a capturing stream refuses (gpubatch/program.h).
gpb_status gpb_stream_refuse_if_capturing(gpb_stream_obj *s, const char *op) {
  if (!s->record.capture) return GPB_OK;
  return gpb_stream_fail(s, GPB_ERROR_FAILED_PRECONDITION,
                         "%s: the stream is capturing a program (end the capture first)", op);
}

// Fails a call on `s` given a handle that is not live (NULL:
// GPB_ERROR_INVALID_ARGUMENT, else GPB_ERROR_INVALID_HANDLE); `what` names it.
gpb_status gpb_stream_fail_handle(gpb_stream_obj *s, const char *what, gpb_handle_type type, const void *handle) {
  char op[GPB_MSG_MAX];
  gpb_format(op, sizeof op, "%s: %s", s->label, what);
  return gpb_handle_fail(s->last_error, op, type, (uintptr_t)handle);
}
