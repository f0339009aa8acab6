// A fake backend for tests: it records what the core asks of it and does
// the work on the host, so the core's batching, hazard, staging, error,
// lifetime and fault-injection behaviour can be checked without a GPU.
//
// Buffers are host memory. Commands are recorded into a batch and run, in
// order, when the batch "executes": copies and updates are memcpy, a barrier
// does nothing, a dispatch calls the host function registered for its
// kernel (gpb_fake_register_kernel, or a built-in one for the test kernels;
// none: the dispatch only goes into the log). A submitted batch executes at
// once unless the test holds the device (gpb_fake_hold): then it waits, like
// a busy GPU, until the host waits for its timeline value, the device goes
// idle, or the test lets the queue run (gpb_fake_run). Queued batches run in
// submission order, one queue for all timelines; a batch that waits for a
// timeline value no earlier submission signals is a violation (below).
//
// Everything submitted goes into a log the test reads: one record per
// submission with its commands, the timeline value it signals and what it
// waits for. A program executed from a batch appears as one EXECUTE command
// naming the program, whose own commands gpb_fake_program_commands lists.
//
// The fake also checks lifetimes like a validation layer: destroying a
// buffer, pipeline, timeline or batch that unfinished submitted work still
// uses, beginning a batch that is still pending, or recording into a batch
// that is not open counts a violation (gpb_device_validation_message_count
// reports them, so the tests' fixture_close fails on any) and prints it.
// Freed memory that queued work still references is kept until that work
// has run, so a violation is reported rather than crashing the test.
//
// Fault injection: gpb_fake_fail makes the N-th next call of one backend
// entry return a chosen status, with a message naming the entry, as
// src/vulkan/vk_fault.h does for Vulkan calls.
//
// Thread-safe: one lock per fake device; host kernel functions run under
// it (they must not call gpubatch).
#ifndef GPB_TESTS_FAKE_BACKEND_H
#define GPB_TESTS_FAKE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "gpubatch/gpubatch.h"

// The backend table (core/backend.h's gpb_backend).
struct gpb_backend;
extern const struct gpb_backend gpb_fake_backend;

// Makes the fake the backend of devices opened from now on (and
// gpb_device_count, gpb_device_get_info), whatever the library's registry
// holds; false leaves the choice to the registry again (core/backend.h).
void gpb_fake_install(bool on);

typedef struct gpb_fake_device gpb_fake_device;

// The fake behind an open device, or NULL if the device is not a fake one.
gpb_fake_device *gpb_fake_of(gpb_device *device);

// ---- host kernels ---------------------------------------------------------

typedef struct gpb_fake_arg {
  uint8_t *data; // the bound range: buffer memory + offset
  uint64_t size;
} gpb_fake_arg;

typedef struct gpb_fake_invocation {
  const char *kernel; // kernel name (the first loader's)
  uint32_t groups[3];
  uint32_t workgroup_size[3];
  const gpb_fake_arg *args; // in binding order
  uint32_t arg_count;
  const void *push_constants;
  uint32_t push_constant_bytes;
} gpb_fake_invocation;

typedef void (*gpb_fake_kernel_fn)(void *user, const gpb_fake_invocation *invocation);

// Registers the host function of every kernel named `name` (process-wide,
// for pipelines created from now on; the kernel's name, else its entry
// point). NULL fn: its dispatches only go into the log. The test kernels
// (add_one, fill, axpy, spin of tests/kernels) have host versions built in,
// so a test written for any backend runs on the fake unchanged.
void gpb_fake_register_kernel(const char *name, gpb_fake_kernel_fn fn, void *user);

// ---- the log ---------------------------------------------------------------

typedef enum gpb_fake_cmd_kind {
  GPB_FAKE_DISPATCH,
  GPB_FAKE_COPY,
  GPB_FAKE_UPDATE,
  GPB_FAKE_BARRIER,
  GPB_FAKE_EXECUTE,
  GPB_FAKE_TIMESTAMP,
} gpb_fake_cmd_kind;

// Buffers are named by an id the fake gives each (1, 2, ... per device) and
// their memory kind; gpb_fake_buffer_id maps a public buffer to it.
typedef struct gpb_fake_range {
  uint64_t buffer; // fake buffer id
  uint64_t offset, size;
} gpb_fake_range;

typedef struct gpb_fake_cmd {
  gpb_fake_cmd_kind kind;
  // DISPATCH
  const char *kernel; // the pipeline's kernel name
  uint64_t pipeline;  // fake pipeline id
  uint32_t groups[3];
  uint32_t arg_count;
  gpb_fake_range *args;
  uint8_t push[128];
  uint32_t push_bytes;
  // COPY (src, dst) and UPDATE (dst; the data in `data`)
  gpb_fake_range src, dst;
  uint8_t *data;
  // EXECUTE: the program's id (gpb_fake_program_commands)
  uint64_t program;
} gpb_fake_cmd;

typedef struct gpb_fake_wait {
  uint64_t timeline; // fake timeline id
  uint64_t value;
} gpb_fake_wait;

typedef struct gpb_fake_submission {
  uint64_t batch;    // fake batch id (batches are reused: the same id recurs)
  uint64_t timeline; // fake timeline id (one per stream)
  uint64_t signal;
  gpb_fake_wait *waits;
  uint32_t wait_count;
  gpb_fake_cmd *commands;
  uint32_t command_count;
  bool executed;
} gpb_fake_submission;

// Submissions so far (failed ones are not listed), oldest first. A record
// stays valid until gpb_fake_log_clear or the device closes.
uint32_t gpb_fake_submission_count(gpb_fake_device *fake);
const gpb_fake_submission *gpb_fake_submission_at(gpb_fake_device *fake, uint32_t index);
// Forgets the submissions logged so far.
void gpb_fake_log_clear(gpb_fake_device *fake);
// Commands recorded into program `program` (an EXECUTE command's id).
const gpb_fake_cmd *gpb_fake_program_commands(gpb_fake_device *fake, uint64_t program, uint32_t *out_count);
// Commands of `kind` in a submission (programs it executes not counted).
uint32_t gpb_fake_count_kind(const gpb_fake_submission *submission, gpb_fake_cmd_kind kind);
// The fake id of a backend buffer (tests/fake/fake_fixture.h maps a public
// buffer to it: gpb_fake_buffer_id).
struct gpb_be_buffer;
uint64_t gpb_fake_buffer_id_of(const struct gpb_be_buffer *buffer);
const char *gpb_fake_cmd_kind_name(gpb_fake_cmd_kind kind);

// ---- a busy GPU -------------------------------------------------------------

// While held, submissions queue instead of executing; they run when the host
// waits for them (timeline_wait), the device goes idle, or gpb_fake_run.
void gpb_fake_hold(gpb_fake_device *fake, bool hold);
// Executes up to `count` of the oldest queued submissions; returns how many ran.
uint32_t gpb_fake_run(gpb_fake_device *fake, uint32_t count);
// Submissions queued and not executed.
uint32_t gpb_fake_queued(gpb_fake_device *fake);
// Host waits that had to run queued work (the work was still "running").
uint64_t gpb_fake_blocking_waits(gpb_fake_device *fake);

// ---- fault injection --------------------------------------------------------

#define GPB_FAKE_ENTRY_LIST(X)                                                                                         \
  X(DEVICE_WAIT_IDLE, "device_wait_idle")                                                                              \
  X(BUFFER_CREATE, "buffer_create")                                                                                    \
  X(KERNEL_REFLECT, "kernel_reflect")                                                                                  \
  X(PIPELINE_CREATE, "pipeline_create")                                                                                \
  X(TIMELINE_CREATE, "timeline_create")                                                                                \
  X(TIMELINE_COMPLETED, "timeline_completed")                                                                          \
  X(TIMELINE_WAIT, "timeline_wait")                                                                                    \
  X(BATCH_CREATE, "batch_create")                                                                                      \
  X(BATCH_BEGIN, "batch_begin")                                                                                        \
  X(PROGRAM_BEGIN, "program_begin")                                                                                    \
  X(PROGRAM_END, "program_end")                                                                                        \
  X(BATCH_SUBMIT, "batch_submit")

typedef enum gpb_fake_entry {
#define GPB_FAKE_ENTRY_ENUM(name, text) GPB_FAKE_##name,
  GPB_FAKE_ENTRY_LIST(GPB_FAKE_ENTRY_ENUM)
#undef GPB_FAKE_ENTRY_ENUM
      GPB_FAKE_ENTRY_COUNT
} gpb_fake_entry;

// The entry's name as failure messages write it ("batch_submit").
const char *gpb_fake_entry_name(gpb_fake_entry entry);
// The `nth` next call (1: the next) of `entry` returns `status`, with the
// message "fake <entry>: injected <status>". One fault armed at a time.
void gpb_fake_fail(gpb_fake_device *fake, gpb_fake_entry entry, uint64_t nth, gpb_status status);
void gpb_fake_disarm(gpb_fake_device *fake);
// True once the armed fault fired (until the next gpb_fake_fail).
bool gpb_fake_fault_fired(gpb_fake_device *fake);
// Calls of `entry` on this device so far.
uint64_t gpb_fake_calls(gpb_fake_device *fake, gpb_fake_entry entry);
// Lifetime violations seen on this device (also its diagnostics, which
// gpb_device_validation_message_count reports).
uint64_t gpb_fake_violations(gpb_fake_device *fake);
// Violations on every fake device of the process, closed ones included
// (a device closed with work queued or objects alive counts one).
uint64_t gpb_fake_process_violations(void);

#endif
