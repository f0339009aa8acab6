// gpubatch/program.h: record once, replay many.
//
// A gpb_program is a captured sequence of dispatches and device->device
// copies, with the barriers the hazard tracker placed between them, recorded
// once into a Vulkan secondary command buffer. Replaying it appends that
// command buffer to the stream's pending batch (vkCmdExecuteCommands): no
// re-recording, and it batches with ordinary work like any other command.
//
//   gpb_stream_begin_capture(s);
//   ... gpb_stream_dispatch(s, ...); gpb_stream_copy_buffer(s, ...); ...
//   gpb_program *step;
//   gpb_stream_end_capture(s, &step);
//   for (...) {
//     gpb_stream_copy_to_device(s, &pos, params, 0, 4); // per-replay values
//     gpb_stream_replay(s, step);
//     gpb_stream_copy_to_host(s, out, 0, &token, 4);
//   }
//
// Values that change per replay must live in buffers the caller updates
// before each replay (e.g. with a small gpb_stream_copy_to_device, which is
// ordered before the replay); push constants are fixed at capture time.
// While a stream captures, only gpb_stream_dispatch and gpb_stream_copy_buffer
// are accepted on it; host<->device copies, flush, sync, waits, replays and
// destroying it are refused with GPB_ERROR_FAILED_PRECONDITION. Nothing runs
// during capture. A replay is ordered with the stream's other work by the
// hazard tracker, which treats the whole program as one command that reads and
// writes what any of its commands does.
//
// Lifetime: buffers and kernels a program uses cannot be freed while the
// program exists (freeing them returns GPB_ERROR_FAILED_PRECONDITION).
// gpb_program_destroy waits for replays still pending or running; closing
// the device destroys its programs too. After that, every call given the
// handle returns GPB_ERROR_INVALID_HANDLE, a second destroy included
// (gpubatch/status.h). A program
// may be replayed on any stream of its device, several times in one batch.
// Thread safety: like streams; a program may be replayed from several
// threads (each replay locks its stream).
#ifndef GPUBATCH_PROGRAM_H
#define GPUBATCH_PROGRAM_H

#include "gpubatch/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpb_program gpb_program;

GPB_API gpb_status gpb_stream_begin_capture(gpb_stream *stream);
// Ends the capture; on success *out_program holds the recorded work (an
// empty capture gives an empty program).
GPB_API gpb_status gpb_stream_end_capture(gpb_stream *stream, gpb_program **out_program);
GPB_API gpb_status gpb_stream_replay(gpb_stream *stream, gpb_program *program);
// NULL is accepted and does nothing.
GPB_API gpb_status gpb_program_destroy(gpb_program *program);
// Dispatches in the program; 0 for NULL or a handle that is not live.
GPB_API uint32_t gpb_program_dispatch_count(const gpb_program *program);

#ifdef __cplusplus
}
#endif
#endif
