// Streams: one state machine in seven files. stream.c: sync, cross-stream
// order, the waits of frees and host access, lifetime. stream_error.c:
// messages, the sticky error, refusals. stream_submit.c: submitting and
// waiting for batches. stream_record.c: the
// one record path. The public commands: stream_dispatch.c, stream_copy.c
// (the three copies), stream_capture.c (capture and replay). What they
// share, every function with the stream lock held unless it says otherwise.
#ifndef GPB_CORE_STREAM_INTERNAL_H
#define GPB_CORE_STREAM_INTERNAL_H

#include "core/buffer.h"
#include "core/kernel.h"
#include "core/program.h"
#include "core/stream.h"

// Sets the stream's last error ("<label>: <message>") and returns `st`.
gpb_status gpb_stream_fail(gpb_stream_obj *stream, gpb_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Makes the stream's error sticky (the first cause stays); later calls fail
// fast with it. Returns `st` with the message set.
gpb_status gpb_stream_make_sticky(gpb_stream_obj *stream, gpb_status st, const char *msg);
// GPB_OK, or the stream's sticky error (a failed submission or wait).
gpb_status gpb_stream_check_sticky(gpb_stream_obj *stream);
// Reads the timeline and recycles the batches it passed.
gpb_status gpb_stream_refresh_completed(gpb_stream_obj *stream);

// A command, as a public call describes it after validating its arguments.
// `accesses[i]` is what it does to `buffers[i]` (the hazard footprint and
// the resource uses); an execute's footprint is its program's.
typedef enum gpb_cmd_kind {
  GPB_CMD_DISPATCH,
  GPB_CMD_COPY,          // device->device
  GPB_CMD_UPLOAD_INLINE, // host bytes carried in the command itself
  GPB_CMD_UPLOAD_STAGED, // a copy from a staging slot
  GPB_CMD_READBACK,      // a copy into the stream's readback buffer; the caller submits it
  GPB_CMD_EXECUTE,       // a replay of a captured program
} gpb_cmd_kind;

typedef struct gpb_cmd {
  gpb_cmd_kind kind;
  const char *name; // for traces and messages: the kernel's name, "copy", ...
  const gpb_access *accesses;
  gpb_buffer_obj *const *buffers;
  uint32_t access_count;
  union {
    struct {
      gpb_kernel_obj *kernel;
      const uint32_t *groups;
      const gpb_be_arg *args; // access_count of them
      const void *push_constants;
      uint32_t push_constant_bytes;
    } dispatch;
    struct { // COPY, UPLOAD_STAGED, READBACK
      gpb_be_buffer *src, *dst;
      uint64_t src_offset, dst_offset, bytes;
      uint32_t staging_slot; // UPLOAD_STAGED: the slot `src` is
    } copy;
    struct {
      gpb_be_buffer *dst;
      uint64_t offset, bytes;
      const void *data;
    } update;
    struct {
      gpb_program_obj *program;
    } execute;
  };
} gpb_cmd;

// Records `cmd` into the program the stream captures, else into the pending
// batch (opening one): a barrier first where the hazard tracker asks, the
// resource uses noted, counted, traced, and ended (immediate mode and the
// dispatch cap submit here). The caller checked the sticky error and, for
// commands a capture refuses, that the stream is not capturing.
gpb_status gpb_stream_record(gpb_stream_obj *stream, const gpb_cmd *cmd);
// Fails a call on `stream` given a handle that is not live (NULL:
// GPB_ERROR_INVALID_ARGUMENT, else GPB_ERROR_INVALID_HANDLE); `what` names
// it (stream lock not needed).
gpb_status gpb_stream_fail_handle(gpb_stream_obj *stream, const char *what, gpb_handle_type type, const void *handle);
// Commands that a capturing stream refuses (gpubatch/program.h).
gpb_status gpb_stream_refuse_if_capturing(gpb_stream_obj *stream, const char *op);
// A live buffer of the stream's device and a range in it, for the copies;
// `op` and `what` name it in the message (stream lock not needed).
gpb_status gpb_stream_resolve_range(gpb_stream_obj *stream, const char *op, const char *what, const gpb_buffer *handle,
                                    uint64_t offset, uint64_t bytes, gpb_buffer_obj **out_buffer);

#endif
