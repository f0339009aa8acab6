// error.h: how the llama example's library parts report failure.
//
// Every fallible function of the example returns 0 on success and -1 on
// failure, after writing one human-readable sentence into a caller-owned
// llama_error ("checkpoint 'x.bin': header implies 60816028 bytes, file has
// 100"). The parts never print or exit; only the command line prints.
#ifndef LLAMA_ERROR_H
#define LLAMA_ERROR_H

#include "gpubatch/status.h"

typedef struct llama_error {
  char msg[512];
} llama_error;

// printf-style; `err` may be NULL (the message is dropped). Returns -1 so
// callers can write `return llama_error_set(err, ...);`.
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int llama_error_set(llama_error *err, const char *fmt, ...);

// For a failed gpubatch call: "<what>: GPB_ERROR_x: <library message>".
// Returns -1.
int llama_error_gpb(llama_error *err, gpb_status status, const char *what);

#endif
