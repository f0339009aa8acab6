// Internal: the program object behind gpb_program (gpubatch/program.h): a
// backend program recorded once by a capturing stream and replayed as one
// command. The stream side (capture, replay) is in stream_capture.c and the
// record path; this object keeps what the capture learns: its replay
// footprint, the buffers and kernels it holds, what each replay notes.
// Destroyed in release.c (which waits for unfinished replays).
#ifndef GPB_CORE_PROGRAM_H
#define GPB_CORE_PROGRAM_H

#include "core/buffer.h"
#include "core/device.h"
#include "core/hazard.h"
#include "core/kernel.h"
#include "core/uses.h"
#include "gpubatch/program.h"

// A buffer or kernel a program records; the program holds it (program_refs).
typedef struct gpb_program_ref {
  gpb_buffer_obj *buffer; // one of the two is set
  gpb_kernel_obj *kernel;
  bool write;
} gpb_program_ref;

struct gpb_program_obj {
  gpb_program *handle;
  gpb_device_obj *device;
  gpb_be_batch *impl;
  gpb_stream_obj *capturing_on; // set while being captured
  gpb_hazard_tracker hazards;   // barriers between the program's own commands
  uint32_t commands, dispatches;
  gpb_access *accesses; // every access of every command: a replay's footprint
  uint32_t access_count, access_cap;
  gpb_program_ref *refs;
  uint32_t ref_count, ref_cap;
  gpb_use_note *replay_uses; // what each replay notes: the program, then refs (set when the capture ends)
  uint32_t replay_use_count;
  gpb_kernel_names names;
  gpb_uses uses;                // replays not finished yet
  gpb_program_obj *prev, *next; // device->programs
};

GPB_DEFINE_RESOLVERS(program, GPB_HANDLE_PROGRAM)

// A new, empty program of `device` with its handle; GPB_ERROR_OUT_OF_HOST_MEMORY
// is the only failure.
gpb_status gpb_program_create(gpb_device_obj *device, gpb_program_obj **out_program);
// Opens its backend program and lists it on the device (so closing the
// device frees it). On failure the program is released and `err` says why.
gpb_status gpb_program_begin(gpb_program_obj *program, char *err);
// Closes it after the capture: what replays note, and the backend program.
// On failure `err` says why; the caller releases it.
gpb_status gpb_program_end(gpb_program_obj *program, char *err);

// While captured (the capturing stream's lock held): appends a command's
// accesses to the replay footprint, and holds a buffer or kernel it uses
// (program_refs; one of the two is set). GPB_ERROR_OUT_OF_HOST_MEMORY is the
// only failure.
gpb_status gpb_program_note_accesses(gpb_program_obj *program, const gpb_access *accesses, size_t count);
gpb_status gpb_program_note_ref(gpb_program_obj *program, gpb_buffer_obj *buffer, gpb_kernel_obj *kernel, bool write);

// Releases the program, its references and its handle; no replay may be
// unfinished. Device lock held.
void gpb_program_release_locked(gpb_program_obj *program);

#endif
