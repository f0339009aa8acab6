// error.c: llama_error helpers.
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int llama_error_set(llama_error *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int llama_error_gpb(llama_error *err, gpb_status status, const char *what) {
  // gpb_last_error is per thread and covers every call, object or not.
  return llama_error_set(err, "%s: %s: %s", what, gpb_status_name(status), gpb_last_error());
}
