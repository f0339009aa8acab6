// `gpubatch selftest`: randomized differential testing of streams.
//
// A program is a list of ops (dispatches of small exact-integer kernels,
// uploads, device copies, readbacks, maps, frees, syncs, flushes, waits,
// stream re-creation, and captures of dispatches and copies replayed later
// as gpb_programs) over a few buffer slots and 2+ streams. ("Program" here is
// the test's; the library's gpb_program is called a capture.) It is run on
// gpubatch and, in the same order, on a CPU model of the same bytes; every
// readback and map is compared with the model, and so is every live buffer
// at the end.
//
// The stages, one file each:
//   selftest_gen.c       st_generate: random "intent" ops from a seed;
//                        st_print_op: one line per op.
//   selftest_legalize.c  st_legalize: drops ops made invalid by minimization,
//                        inserts the cross-stream waits that make the program
//                        race-free (the model is only defined for those) and
//                        the capture ends and drops the runtime requires.
//   selftest_run.c       st_run_program: runs a legal program on the device
//                        and on the model in lockstep, stops at the first
//                        mismatch.
//   selftest.c           the command line, the loop over programs, reports
//                        and the minimizer.
// Everything is plain data; a program owns its op array.
#ifndef GPB_TOOLS_SELFTEST_H
#define GPB_TOOLS_SELFTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gpubatch/gpubatch.h"

#define ST_MAX_SLOTS 6
#define ST_MAX_STREAMS 4
#define ST_MAX_ARGS 3
#define ST_MAX_CAPTURES 2     // captured gpb_programs alive at once
#define ST_MAX_CAPTURE_OPS 64 // dispatches and copies in one capture
#define ST_MIN_BUFFER 64u
#define ST_MAX_BUFFER 65536u

// ---- random numbers: splitmix64, so any program can be regenerated from
// (seed, index) alone, on any platform.

static inline uint64_t st_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, n) for n > 0 (modulo bias is irrelevant here).
static inline uint64_t st_below(uint64_t *state, uint64_t n) { return st_next(state) % n; }

// True with probability percent/100.
static inline bool st_chance(uint64_t *state, unsigned percent) { return st_below(state, 100) < percent; }

// Seed of program `index` of a run seeded with `seed`.
uint64_t st_program_seed(uint64_t seed, uint64_t index);

// Fills `bytes` bytes at `out` from `seed` (upload and map-write contents).
void st_fill_bytes(uint64_t seed, uint8_t *out, uint64_t bytes);

// ---- kernels -----------------------------------------------------------------

typedef enum st_kernel_id {
  ST_K_SCALE,         // in (readonly), out: out = in * a + b
  ST_K_SCALE_INPLACE, // x: x = x * a + b
  ST_K_ADD,           // a, b (readonly), out: out = a + b
  ST_K_COPY,          // in (readonly), out: out = in
  ST_K_SCAN,          // in (readonly), out: inclusive prefix sum
  ST_K_SCAN_INPLACE,  // x: inclusive prefix sum in place
  ST_K_REDUCE,        // in (readonly), out (4 bytes): out = sum of in
  ST_KERNEL_COUNT
} st_kernel_id;

typedef struct st_kernel_desc {
  const char *name;
  uint32_t bindings;
  uint32_t written; // bit b set: binding b is not readonly (written)
  bool push_ab;     // push constants {n, a, b}; else {n}
  bool one_group;   // dispatched as one workgroup
  bool reduce;      // the last binding is a single u32
} st_kernel_desc;

extern const st_kernel_desc st_kernels[ST_KERNEL_COUNT];

// Bytes a binding of `k` touches for n elements.
uint64_t st_touched_bytes(st_kernel_id k, uint32_t binding, uint32_t n);

// ---- ops ---------------------------------------------------------------------

typedef enum st_op_kind {
  ST_OP_CREATE,       // create slot (size, shared), then upload all of it on `stream`
  ST_OP_FREE,         // free slot (pending work on it included)
  ST_OP_DISPATCH,     // kernel over r[0..bindings) on `stream`
  ST_OP_UPLOAD,       // copy_to_device of random bytes into r[0]
  ST_OP_COPY,         // copy_buffer r[0] -> r[1] (same length)
  ST_OP_READBACK,     // copy_to_host of r[0], compared with the model
  ST_OP_MAP_READ,     // gpb_buffer_map(READ) of a shared slot, all of it compared
  ST_OP_MAP_WRITE,    // gpb_buffer_map(READ|WRITE), random bytes written into r[0]
  ST_OP_SYNC,         // gpb_stream_sync(stream)
  ST_OP_FLUSH,        // gpb_stream_flush(stream)
  ST_OP_WAIT,         // gpb_stream_wait_stream(stream, signaler)
  ST_OP_DEVICE_SYNC,  // gpb_device_sync
  ST_OP_RECREATE,     // gpb_stream_destroy(stream), then a new stream (same options) in its place
  ST_OP_CAPTURE,      // gpb_stream_begin_capture(stream): the dispatches and copies on it up to
                      // the next ST_OP_END_CAPTURE are recorded into capture `capture`, not run
  ST_OP_END_CAPTURE,  // gpb_stream_end_capture(stream) -> capture `capture`
  ST_OP_REPLAY,       // gpb_stream_replay(stream, capture `capture`)
  ST_OP_DROP_CAPTURE, // gpb_program_destroy(capture `capture`)
  ST_OP_KIND_COUNT
} st_op_kind;

// A byte range of a slot. For dispatch arguments `bytes` is the bound size
// (0: to the end of the buffer); what the kernel touches is st_touched_bytes.
typedef struct st_range {
  uint8_t slot;
  uint64_t offset, bytes;
} st_range;

typedef struct st_op {
  st_op_kind kind;
  uint8_t stream;   // 0 is the device's default stream
  uint8_t signaler; // ST_OP_WAIT
  uint8_t capture;  // the capture ops, and a dispatch or copy recorded into one
  bool captured;    // a dispatch or copy recorded into `capture` (set by st_legalize)
  bool inserted;    // added by st_legalize: a wait or sync for a race, or a capture op
  st_kernel_id kernel;
  uint32_t n, a, b; // dispatch: element count and scale constants
  st_range r[ST_MAX_ARGS];
  uint64_t size; // ST_OP_CREATE
  bool shared;   // ST_OP_CREATE: GPB_MEMORY_SHARED
  uint64_t seed; // data of uploads, creates and map writes; legalize's choices
} st_op;

typedef struct st_program {
  uint64_t seed;
  uint32_t stream_count;                      // default stream + (stream_count - 1) created ones
  gpb_stream_options options[ST_MAX_STREAMS]; // [0] unused: the default stream's are fixed
  st_op *ops;
  uint32_t op_count, op_cap;
} st_program;

typedef struct st_gen_params {
  uint32_t ops;                       // intent ops after the initial creates
  uint32_t streams;                   // 2..ST_MAX_STREAMS
  uint64_t align;                     // the device's min_storage_buffer_offset_alignment
  unsigned weights[ST_OP_KIND_COUNT]; // how often each op is drawn; start from st_default_op_weights
} st_gen_params;

// Default draw weights. ST_OP_FREE stands for a free followed by a create in
// the same slot; ST_OP_CREATE is never drawn on its own (weight 0).
extern const unsigned st_default_op_weights[ST_OP_KIND_COUNT];

// Appends a copy of `op`; false when out of memory.
bool st_program_push(st_program *p, const st_op *op);
void st_program_free(st_program *p);
// Deep copy; false when out of memory.
bool st_program_copy(const st_program *src, st_program *dst);

// Random intent program (creates, then `params.ops` ops; no race waits yet).
bool st_generate(uint64_t seed, const st_gen_params *params, st_program *out);

// Legal, race-free version of `intent`: drops ops on dead slots or out of
// range, inserts a wait (or a sync of the other stream) before every op that
// touches a buffer another stream used without known order in between, ends
// an open capture before any op other than a dispatch or copy on its stream,
// and drops a capture before a buffer it uses is freed.
bool st_legalize(const st_program *intent, uint64_t align, st_program *out);

// Describes the stream options of `p` on one line ("s1: batched, cap 3, ...").
void st_print_options(FILE *out, const st_program *p, const char *indent);
// The op kind printed as `name` ("map-read"), or -1.
int st_op_kind_from_name(const char *name);
// One line for op `index`.
void st_print_op(FILE *out, const st_op *op, uint32_t index, const char *indent);

// ---- running -----------------------------------------------------------------

typedef struct st_device {
  gpb_device *dev;
  gpb_kernel *kernels[ST_KERNEL_COUNT];
  gpb_device_info info;
  bool inject_bug;  // skip the last dispatch on the device (the model runs it)
  bool inject_race; // leave out the waits st_legalize inserts (racy programs)
  bool trace;       // print each op to stderr before it runs (for crashes and hangs)
} st_device;

typedef enum st_outcome {
  ST_PASS = 0,
  ST_MISMATCH,  // bytes differ from the model
  ST_API_ERROR, // a gpubatch call failed
} st_outcome;

typedef struct st_result {
  st_outcome outcome;
  int32_t op_index;  // op where it was found; -1: the final comparison
  char message[768]; // first mismatch or error, one line
  uint64_t ops_run;
} st_result;

// Loads the selftest kernels onto `d->dev` and fills `d->info`.
gpb_status st_device_init(st_device *d);
// Destroys the kernels; the first error, if any.
gpb_status st_device_release(st_device *d);

// Runs a legal program; fills `out`. Cleans up its streams and buffers.
void st_run_program(st_device *d, const st_program *p, st_result *out);

#endif
