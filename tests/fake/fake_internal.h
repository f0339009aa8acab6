// Internal to the fake backend (tests/fake/): its objects, and what its
// files share. fake_backend.c has the backend's entries and runs the
// queued work, fake_kernels.c the host kernels, fake_control.c what tests
// call to read the log, hold the queue and inject faults.
#ifndef GPB_TESTS_FAKE_INTERNAL_H
#define GPB_TESTS_FAKE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/backend.h"
#include "core/error.h"
#include "fake/fake_backend.h"

// The largest buffer the fake allocates: bigger requests fail as a GPU's
// heap would, instead of exhausting the test machine.
#define FAKE_HEAP_BYTES (1ull << 30)
// Buffers start with this byte: GPU memory is undefined until written, so
// a test that forgot to write it sees garbage, not zeros.
#define FAKE_POISON 0xcd

typedef struct fake_buffer {
  uint64_t id;
  gpb_be_memory memory;
  uint64_t size;
  uint8_t *data;
  uint32_t pending; // queued submissions that use it
  bool destroyed;   // destroyed while pending: freed when they ran
} fake_buffer;

typedef struct fake_pipeline {
  uint64_t id;
  char name[64];
  uint32_t workgroup_size[3];
  gpb_fake_kernel_fn fn;
  void *user;
  uint32_t pending;
  bool destroyed;
} fake_pipeline;

typedef struct fake_timeline {
  uint64_t id;
  uint64_t completed;
  uint64_t submitted; // highest value a submission signals
  uint32_t pending;
  bool destroyed;
} fake_timeline;

typedef enum batch_state { BATCH_INITIAL, BATCH_RECORDING, BATCH_ENDED, BATCH_SUBMITTED } batch_state;

typedef struct fake_batch {
  gpb_fake_device *fake;
  uint64_t id;
  bool is_program;
  batch_state state;
  gpb_fake_cmd *cmds;
  uint32_t count, cap;
  bool out_of_memory; // a command could not be recorded: submit fails
  uint32_t pending;
  bool destroyed;
} fake_batch;

typedef struct fake_sub {
  gpb_fake_submission pub;
  fake_batch *batch;
} fake_sub;

// An id -> object table per kind; ids start at 1; entries go NULL when freed.
typedef struct table {
  void **items;
  uint64_t count, cap;
} table;

struct gpb_fake_device {
  pthread_mutex_t lock;
  uint32_t kernel_api_version;
  gpb_message_fn on_message;
  void *on_message_user;
  table buffers, pipelines, timelines, batches;
  fake_sub **log;
  uint32_t log_count, log_cap;
  uint32_t queue_head; // log[queue_head..] holds every unexecuted submission
  bool hold;
  uint64_t blocking_waits;
  uint64_t violations;
  int armed; // gpb_fake_entry, or -1
  uint64_t countdown;
  gpb_status fault_status;
  bool fired;
  uint64_t calls[GPB_FAKE_ENTRY_COUNT];
};

// Violations on every fake device of the process (fake_control.c reads it).
extern atomic_uint_fast64_t gpb_fake_process_violation_count;

// The host function registered or built in for kernel `name` (NULL: none).
void gpb_fake_kernel_find(const char *name, gpb_fake_kernel_fn *fn, void **user);

// With the device lock held: an object by id (NULL once freed), and running
// the oldest queued submission, or all of them.
void *gpb_fake_table_get(const table *t, uint64_t id);
void gpb_fake_run_one(gpb_fake_device *fake);
void gpb_fake_run_all(gpb_fake_device *fake);
void gpb_fake_free_cmds(gpb_fake_cmd *cmds, uint32_t count);
uint64_t gpb_fake_diagnostics(const gpb_be_device *device);

#endif
