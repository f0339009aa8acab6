// Streams: one state machine in two files, stream.c (batches, recording,
// sync, lifetime) and stream_copy.c (the three copies). What they share,
// every function with the stream lock held unless it says otherwise.
#ifndef GPB_CORE_STREAM_INTERNAL_H
#define GPB_CORE_STREAM_INTERNAL_H

#include "core/internal.h"

// Sets the stream's last error ("<label>: <message>") and returns `st`.
gpb_status gpb_stream_fail(gpb_stream_obj *stream, gpb_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// GPB_OK, or the stream's sticky error (a failed submission or wait).
gpb_status gpb_stream_check_sticky(gpb_stream_obj *stream);
// Reads the timeline and recycles the batches it passed.
gpb_status gpb_stream_refresh_completed(gpb_stream_obj *stream);
// Opens the pending batch for one command with these accesses, recording a
// barrier first if the command conflicts with what came since the last one.
gpb_status gpb_stream_begin_command(gpb_stream_obj *stream, const gpb_access *accesses, size_t count,
                                    gpb_batch **out_batch);
// After a command: immediate mode submits it; batched mode submits at the cap.
gpb_status gpb_stream_end_command(gpb_stream_obj *stream, gpb_batch *batch, const char *name);
// Tracing: a GPU timestamp after the command just recorded.
void gpb_stream_trace_command(gpb_stream_obj *stream, gpb_batch *batch, const char *name);
// Commands that a capturing stream refuses (gpubatch/program.h).
gpb_status gpb_stream_refuse_if_capturing(gpb_stream_obj *stream, const char *op);
// A live buffer of the stream's device and a range in it, for the copies;
// `op` and `what` name it in the message (stream lock not needed).
gpb_status gpb_stream_resolve_range(gpb_stream_obj *stream, const char *op, const char *what, const gpb_buffer *handle,
                                    uint64_t offset, uint64_t bytes, gpb_buffer_obj **out_buffer);
// Notes that batch `serial` reads or writes `buffer`.
gpb_status gpb_stream_note_use(gpb_stream_obj *stream, gpb_buffer_obj *buffer, uint64_t serial, bool write);

#endif
