// Fuzz target: arbitrary bytes decoded into a sequence of gpubatch calls,
// checked against a CPU model of every buffer's contents.
//
// Each input is a small program over 8 buffer slots (at most 64 KiB each,
// private or shared), the default stream and up to two streams it creates
// with decoded options: buffer create/free, host->device, device->host and
// device->device copies, dispatches of three embedded kernels (add_one,
// fill, axpy), flush, sync, device sync, map, cross-stream waits, counter
// reads, and programs: captures of decoded dispatches and copies (with the
// calls a capturing stream refuses), replays on any stream, destroys.
// Offsets and sizes are decoded from values that are often invalid (past
// the end, wrapping around 2^64, misaligned), and calls are corrupted on
// purpose (NULL or foreign handles, wrong argument or push-constant counts,
// zero or huge workgroup counts, bad options). Handles that are no longer
// live are passed on purpose too: buffers, streams and programs this input
// freed or destroyed, a kernel, buffer, stream and program destroyed at
// start-up, a closed device and everything it held, and live handles cast to
// another type; every call must refuse them with GPB_ERROR_INVALID_HANDLE.
//
// What must hold, for every input:
//   - no crash, hang, sanitizer report or validation message;
//   - a valid call returns GPB_OK, an invalid one a status of the set that
//     its faults allow (e.g. GPB_ERROR_OUT_OF_RANGE for a range past the
//     end), and a refused call changes nothing: the model is updated only by
//     calls that succeeded, and every readback is compared with it;
//   - each stream's dispatch counter counts exactly the accepted dispatches
//     (a replay counts its program's);
//   - a captured program changes nothing until it is replayed, then does
//     what its commands did (the model replays them), and holds its buffers:
//     freeing one is refused with GPB_ERROR_FAILED_PRECONDITION.
// Work on one buffer from two streams is ordered by the harness with
// gpb_stream_wait_stream, as the API requires (gpubatch/stream.h); the
// library is not asked to order what its contract leaves unordered.
#include "fuzz_common.h"

static const uint32_t add_one_spirv[] =
#include "add_one.inc"
    ;
static const uint32_t fill_spirv[] =
#include "fill.inc"
    ;
static const uint32_t axpy_spirv[] =
#include "axpy.inc"
    ;

#define SLOTS 8
#define STREAMS 3 // 0 is the default stream
#define PROGRAMS 2
#define CAPTURE_OPS 6 // commands a capture tries
#define FREED 4       // freed or destroyed handles remembered per input and type
#define MAX_BUFFER 65536u
#define FOREIGN_SIZE 256u

typedef struct model_buffer {
  gpb_buffer *buf; // NULL: empty slot
  uint64_t size;
  gpb_memory_kind kind;
  uint8_t bytes[MAX_BUFFER];   // expected contents
  uint8_t defined[MAX_BUFFER]; // 1 where the contents are known
  uint32_t streams;            // streams that may have unfinished work on it
} model_buffer;

// What one successful dispatch or copy does to the buffers: applied to the
// model at once, or when the program that captured it is replayed.
typedef enum effect_kind { EFFECT_ADD_ONE, EFFECT_FILL, EFFECT_AXPY, EFFECT_COPY } effect_kind;

typedef struct effect {
  effect_kind kind;
  int slot, src_slot; // written; read (axpy's x, a copy's source)
  uint64_t offset, src_offset;
  uint64_t count; // words (dispatches) or bytes (copies)
  uint32_t value; // fill's base, axpy's a
} effect;

typedef struct model_program {
  gpb_program *prog; // NULL: empty slot
  effect effects[CAPTURE_OPS];
  uint32_t count;
  uint32_t dispatches;
  uint32_t slots; // buffer slots it holds (they cannot be freed)
} model_program;

// Handles an input freed or destroyed (rings of the last FREED).
typedef struct freed_handles {
  void *buffers[FREED];
  void *streams[FREED];
  void *programs[FREED];
  uint32_t buffer_count, stream_count, program_count;
} freed_handles;

typedef struct fuzz_state {
  const uint8_t *data;
  size_t size, pos;
  uint32_t rng;
  model_buffer b[SLOTS];
  gpb_stream *streams[STREAMS];
  uint64_t dispatches[STREAMS]; // accepted since the stream's counters were zeroed
  model_program programs[PROGRAMS];
  model_program *capture; // the program being captured, or NULL
  int capture_stream;
  freed_handles freed;
  uint8_t scratch[MAX_BUFFER];
} fuzz_state;

static gpb_device *dev, *other_dev;
static gpb_buffer *foreign;
static gpb_kernel *k_add, *k_fill, *k_axpy, *k_foreign;
static gpb_device_info info;
static uint64_t validation_seen, other_validation_seen;
static fuzz_state state;

// Handles that are not live from the start: objects destroyed at start-up
// (their slots are reused by later objects), and a device closed with
// everything on it.
static struct {
  gpb_buffer *buffer;
  gpb_kernel *kernel;
  gpb_stream *stream;
  gpb_program *program;
  gpb_device *device;
  gpb_buffer *device_buffer;
  gpb_kernel *device_kernel;
  gpb_stream *device_stream;
  gpb_program *device_program;
} gone;

// ---- set-up -----------------------------------------------------------------

static gpb_kernel *load(gpb_device *d, const char *name, const uint32_t *words, size_t bytes) {
  gpb_kernel_desc desc = {.name = name, .spirv = words, .spirv_bytes = bytes};
  gpb_kernel *k = NULL;
  FUZZ_CHECK(gpb_kernel_create(d, &desc, &k) == GPB_OK);
  return k;
}

static void close_devices(void) {
  gpb_device_close(dev);
  gpb_device_close(other_dev);
}

// A buffer, kernel, stream and program on `d`, the program capturing one
// dispatch of the kernel on the buffer.
static void make_objects(gpb_device *d, gpb_buffer **buf, gpb_kernel **k, gpb_stream **s, gpb_program **p) {
  *k = load(d, "add_one", add_one_spirv, sizeof add_one_spirv);
  FUZZ_CHECK(gpb_buffer_create(d, 256, GPB_MEMORY_SHARED, buf) == GPB_OK);
  FUZZ_CHECK(gpb_stream_create(d, NULL, s) == GPB_OK);
  FUZZ_CHECK(gpb_stream_begin_capture(*s) == GPB_OK);
  uint32_t n = 64;
  gpb_arg arg = {*buf, 0, 0};
  gpb_dispatch dispatch = {
      .kernel = *k, .groups = {1, 1, 1}, .args = &arg, .arg_count = 1, .push_constants = &n, .push_constant_bytes = 4};
  FUZZ_CHECK(gpb_stream_dispatch(*s, &dispatch) == GPB_OK);
  FUZZ_CHECK(gpb_stream_end_capture(*s, p) == GPB_OK);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  dev = fuzz_open_device();
  other_dev = fuzz_open_device(); // owns the foreign buffer and kernel
  atexit(close_devices);
  FUZZ_CHECK(gpb_device_query(dev, &info) == GPB_OK);
  make_objects(dev, &gone.buffer, &gone.kernel, &gone.stream, &gone.program);
  FUZZ_CHECK(gpb_program_destroy(gone.program) == GPB_OK);
  FUZZ_CHECK(gpb_stream_destroy(gone.stream) == GPB_OK);
  FUZZ_CHECK(gpb_kernel_destroy(gone.kernel) == GPB_OK);
  FUZZ_CHECK(gpb_buffer_free(gone.buffer) == GPB_OK);
  gone.device = fuzz_open_device();
  make_objects(gone.device, &gone.device_buffer, &gone.device_kernel, &gone.device_stream, &gone.device_program);
  FUZZ_CHECK(gpb_device_close(gone.device) == GPB_OK);
  k_add = load(dev, "add_one", add_one_spirv, sizeof add_one_spirv);
  k_fill = load(dev, "fill", fill_spirv, sizeof fill_spirv);
  k_axpy = load(dev, "axpy", axpy_spirv, sizeof axpy_spirv);
  k_foreign = load(other_dev, "add_one", add_one_spirv, sizeof add_one_spirv);
  FUZZ_CHECK(gpb_buffer_create(other_dev, FOREIGN_SIZE, GPB_MEMORY_PRIVATE, &foreign) == GPB_OK);
  return 0;
}

// ---- decoding ---------------------------------------------------------------

static uint8_t u8(fuzz_state *f) { return f->pos < f->size ? f->data[f->pos++] : 0; }
static uint16_t u16(fuzz_state *f) {
  uint16_t lo = u8(f);
  return (uint16_t)(lo | u8(f) << 8);
}

static uint32_t next_random(fuzz_state *f) {
  f->rng ^= f->rng << 13;
  f->rng ^= f->rng >> 17;
  f->rng ^= f->rng << 5;
  return f->rng;
}

// An offset into a buffer of `size` bytes: often valid, often not.
static uint64_t pick_offset(fuzz_state *f, uint64_t size) {
  uint8_t sel = u8(f);
  switch (sel % 8) {
  case 0: return 0;
  case 1: return u8(f);
  case 2: return 16u * u8(f);
  case 3: return size - u8(f) % 32; // near the end; wraps when larger than size
  case 4: return size + u8(f);
  case 5: return UINT64_MAX - u8(f);
  case 6: return u16(f);
  default: return 4u * u16(f);
  }
}

// A byte count for a range starting at `offset` of a `size`-byte buffer.
static uint64_t pick_bytes(fuzz_state *f, uint64_t size, uint64_t offset) {
  uint8_t sel = u8(f);
  switch (sel % 8) {
  case 0: return 0;
  case 1: return u8(f);
  case 2: return 4u * u8(f);
  case 3: return size - offset; // exactly to the end (wraps when offset > size)
  case 4: return size - offset + 1 + u8(f) % 4;
  case 5: return UINT64_MAX - u8(f);
  case 6: return u16(f);
  default: return 4u * (u16(f) % (MAX_BUFFER / 4 + 1));
  }
}

// ---- handles that are not live --------------------------------------------------

static void remember(void *ring[FREED], uint32_t *count, void *handle) { ring[(*count)++ % FREED] = handle; }

// A freed buffer handle: one this input freed, or one freed or released
// with its device at start-up.
static gpb_buffer *stale_buffer(fuzz_state *f, uint8_t v) {
  uint32_t n = f->freed.buffer_count < FREED ? f->freed.buffer_count : FREED;
  if (v % (n + 2) < n) return f->freed.buffers[v % (n + 2)];
  return v % (n + 2) == n ? gone.buffer : gone.device_buffer;
}

static gpb_stream *stale_stream(fuzz_state *f, uint8_t v) {
  uint32_t n = f->freed.stream_count < FREED ? f->freed.stream_count : FREED;
  if (v % (n + 2) < n) return f->freed.streams[v % (n + 2)];
  return v % (n + 2) == n ? gone.stream : gone.device_stream;
}

static gpb_program *stale_program(fuzz_state *f, uint8_t v) {
  uint32_t n = f->freed.program_count < FREED ? f->freed.program_count : FREED;
  if (v % (n + 2) < n) return f->freed.programs[v % (n + 2)];
  return v % (n + 2) == n ? gone.program : gone.device_program;
}

static gpb_kernel *stale_kernel(uint8_t v) { return v % 2 ? gone.kernel : gone.device_kernel; }

// ---- decoded arguments -----------------------------------------------------------

// A buffer argument: a slot (maybe empty: NULL), NULL, the foreign buffer,
// or a handle that is no longer live.
typedef struct buffer_ref {
  int slot; // -1 when not a slot
  gpb_buffer *buf;
  uint64_t size;
  bool foreign;
  bool stale;
} buffer_ref;

static buffer_ref pick_buffer(fuzz_state *f) {
  uint8_t v = u8(f);
  if (v >= 248) return (buffer_ref){.slot = -1, .buf = foreign, .size = FOREIGN_SIZE, .foreign = true};
  if (v >= 240) return (buffer_ref){.slot = -1};
  if (v >= 232) return (buffer_ref){.slot = -1, .buf = stale_buffer(f, u8(f)), .size = 256, .stale = true};
  int slot = v % SLOTS;
  return (buffer_ref){.slot = slot, .buf = f->b[slot].buf, .size = f->b[slot].size};
}

// While a capture runs, every command goes to the capturing stream.
static int pick_stream(fuzz_state *f) {
  int i = u8(f) % STREAMS;
  if (f->capture) return f->capture_stream;
  return f->streams[i] ? i : 0;
}

static bool capturing_on(const fuzz_state *f, int s) { return f->capture && f->capture_stream == s; }

static bool in_range(uint64_t size, uint64_t offset, uint64_t bytes) {
  return offset <= size && bytes <= size - offset;
}

// ---- expectations -----------------------------------------------------------

// The statuses a call may return: GPB_OK only when no fault applies.
typedef struct expect {
  uint32_t faults; // bit per gpb_status the faults allow
} expect;

static void fault(expect *e, gpb_status st) { e->faults |= 1u << st; }

static void check_status(const expect *e, gpb_status got, const char *call) {
  bool fine = e->faults == 0 ? got == GPB_OK : (e->faults >> got & 1u) != 0;
  if (!fine) {
    fprintf(stderr, "fuzz: %s returned %s (%s); allowed:", call, gpb_status_name(got), gpb_last_error());
    if (e->faults == 0) fprintf(stderr, " GPB_OK");
    for (int s = 0; s < 32; s++) {
      if (e->faults >> s & 1u) fprintf(stderr, " %s", gpb_status_name((gpb_status)s));
    }
    fprintf(stderr, "\n");
    abort();
  }
}

// Range faults of a buffer argument.
static void range_faults(expect *e, const buffer_ref *r, uint64_t offset, uint64_t bytes) {
  if (r->stale)
    fault(e, GPB_ERROR_INVALID_HANDLE);
  else if (!r->buf || r->foreign)
    fault(e, GPB_ERROR_INVALID_ARGUMENT);
  else if (!in_range(r->size, offset, bytes))
    fault(e, GPB_ERROR_OUT_OF_RANGE);
}

// ---- ordering between streams -------------------------------------------------

// Orders work about to be recorded on stream `s` after unfinished work on
// buffer slot `slot` from other streams, as gpubatch/stream.h asks of the
// caller. Nothing to order for a capture: its commands run when replayed.
static void order_after_slot(fuzz_state *f, int s, int slot) {
  if (capturing_on(f, s)) return;
  uint32_t mask = f->b[slot].streams & ~(1u << s);
  for (int t = 0; t < STREAMS; t++) {
    if (mask >> t & 1u) FUZZ_CHECK(gpb_stream_wait_stream(f->streams[s], f->streams[t]) == GPB_OK);
  }
}

static void order_after(fuzz_state *f, int s, const buffer_ref *r) {
  if (r->slot >= 0 && r->buf) order_after_slot(f, s, r->slot);
}

// After a command on `s` succeeded: the slot has work on `s`, or, for a
// capture, the program holds it.
static void note_use(fuzz_state *f, int s, const buffer_ref *r) {
  if (r->slot < 0 || !r->buf) return;
  if (capturing_on(f, s))
    f->capture->slots |= 1u << r->slot;
  else
    f->b[r->slot].streams |= 1u << s;
}

static void forget_stream(fuzz_state *f, int s) {
  for (int i = 0; i < SLOTS; i++) f->b[i].streams &= ~(1u << s);
}

// ---- model --------------------------------------------------------------------

static uint32_t word_at(const model_buffer *m, uint64_t offset) {
  uint32_t w;
  memcpy(&w, m->bytes + offset, 4);
  return w;
}

static bool word_defined(const model_buffer *m, uint64_t offset) {
  return m->defined[offset] && m->defined[offset + 1] && m->defined[offset + 2] && m->defined[offset + 3];
}

static void set_word(model_buffer *m, uint64_t offset, uint32_t w, bool defined) {
  memcpy(m->bytes + offset, &w, 4);
  memset(m->defined + offset, defined, 4);
}

// Compares `got` with the model's known bytes of [offset, offset + bytes).
static void compare(const model_buffer *m, int slot, uint64_t offset, const uint8_t *got, uint64_t bytes,
                    const char *how) {
  for (uint64_t i = 0; i < bytes; i++) {
    if (m->defined[offset + i] && m->bytes[offset + i] != got[i]) {
      fprintf(stderr, "fuzz: slot %d (%s, %llu bytes) read by %s: byte %llu is 0x%02x, the model says 0x%02x\n", slot,
              m->kind == GPB_MEMORY_SHARED ? "shared" : "private", (unsigned long long)m->size, how,
              (unsigned long long)(offset + i), got[i], m->bytes[offset + i]);
      abort();
    }
  }
}

// What a dispatch or copy did, on the model.
static void apply(fuzz_state *f, const effect *e) {
  model_buffer *m = &f->b[e->slot], *x = &f->b[e->src_slot];
  for (uint64_t i = 0; e->kind != EFFECT_COPY && i < e->count; i++) {
    uint64_t at = e->offset + 4 * i, xo = e->src_offset + 4 * i;
    if (e->kind == EFFECT_ADD_ONE)
      set_word(m, at, word_at(m, at) + 1, word_defined(m, at));
    else if (e->kind == EFFECT_FILL)
      set_word(m, at, e->value + (uint32_t)i, true);
    else
      set_word(m, at, word_at(m, at) + e->value * word_at(x, xo), word_defined(m, at) && word_defined(x, xo));
  }
  if (e->kind == EFFECT_COPY) {
    memmove(m->bytes + e->offset, x->bytes + e->src_offset, e->count);
    memmove(m->defined + e->offset, x->defined + e->src_offset, e->count);
  }
}

// A command on `s` succeeded: it changes the model now, or, captured, on
// each replay.
static void commit(fuzz_state *f, int s, const effect *e) {
  if (!capturing_on(f, s)) {
    apply(f, e);
    return;
  }
  FUZZ_CHECK(f->capture->count < CAPTURE_OPS);
  f->capture->effects[f->capture->count++] = *e;
}

// ---- operations -----------------------------------------------------------------

static bool held_by_program(const fuzz_state *f, int slot) {
  for (int i = 0; i < PROGRAMS; i++) {
    if (f->programs[i].prog && (f->programs[i].slots >> slot & 1u)) return true;
  }
  return false;
}

// Frees the slot's buffer (NULL: fine), unless a program holds it: then the
// free is refused and the buffer stays. Returns whether the slot is empty.
static bool free_slot(fuzz_state *f, int slot) {
  model_buffer *m = &f->b[slot];
  if (m->buf && held_by_program(f, slot)) {
    FUZZ_CHECK(gpb_buffer_free(m->buf) == GPB_ERROR_FAILED_PRECONDITION);
    return false;
  }
  FUZZ_CHECK(gpb_buffer_free(m->buf) == GPB_OK);
  if (m->buf) remember(f->freed.buffers, &f->freed.buffer_count, m->buf);
  m->buf = NULL;
  m->size = 0;
  m->streams = 0;
  return true;
}

static void op_create(fuzz_state *f) {
  int slot = u8(f) % SLOTS;
  uint8_t sel = u8(f);
  gpb_memory_kind kind = sel & 1 ? GPB_MEMORY_SHARED : GPB_MEMORY_PRIVATE;
  uint64_t size;
  expect e = {0};
  switch (sel >> 1 & 7) {
  case 0: size = 4u * (1u + u8(f)); break;
  case 1: size = 1u + u16(f) % MAX_BUFFER; break;
  case 2:
  case 3: size = 4u * (1u + u16(f) % (MAX_BUFFER / 4)); break;
  case 4: size = 16u * (1u + u8(f) % 64); break;
  case 5:
    size = 0;
    fault(&e, GPB_ERROR_INVALID_ARGUMENT);
    break;
  case 6: {
    static const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 3, 1ull << 63, 1ull << 40};
    size = huge[u8(f) % 4];
    fault(&e, GPB_ERROR_OUT_OF_DEVICE_MEMORY);
    break;
  }
  default:
    size = 64;
    kind = (gpb_memory_kind)(2 + u8(f) % 8);
    fault(&e, GPB_ERROR_INVALID_ARGUMENT);
    break;
  }
  if (!free_slot(f, slot)) return;
  gpb_buffer *buf = (gpb_buffer *)f; // must be cleared on failure
  gpb_status st = gpb_buffer_create(dev, size, kind, &buf);
  check_status(&e, st, "gpb_buffer_create");
  if (st != GPB_OK) {
    FUZZ_CHECK(buf == NULL);
    return;
  }
  FUZZ_CHECK(gpb_buffer_size(buf) == size && gpb_buffer_kind(buf) == kind && gpb_buffer_device(buf) == dev);
  model_buffer *m = &f->b[slot];
  m->buf = buf;
  m->size = size;
  m->kind = kind;
  m->streams = 0;
  memset(m->defined, 0, size); // contents start undefined
}

static void op_free(fuzz_state *f) {
  int slot = u8(f) % SLOTS;
  free_slot(f, slot); // an empty slot frees NULL, which is fine
}

static void op_upload(fuzz_state *f) {
  int s = pick_stream(f);
  buffer_ref r = pick_buffer(f);
  uint64_t offset = pick_offset(f, r.size), bytes = pick_bytes(f, r.size, offset);
  bool null_src = u8(f) == 0xff;
  expect e = {0};
  if (null_src) fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  range_faults(&e, &r, offset, bytes);
  uint64_t n = e.faults == 0 ? bytes : 0;
  for (uint64_t i = 0; i < n; i++) f->scratch[i] = (uint8_t)next_random(f);
  if (e.faults == 0 && r.buf && gpb_buffer_kind(r.buf) == GPB_MEMORY_PRIVATE) order_after(f, s, &r);
  gpb_status st = gpb_stream_copy_to_device(f->streams[s], null_src ? NULL : f->scratch, r.buf, offset, bytes);
  check_status(&e, st, "gpb_stream_copy_to_device");
  if (st != GPB_OK || n == 0) return;
  model_buffer *m = &f->b[r.slot];
  memcpy(m->bytes + offset, f->scratch, n);
  memset(m->defined + offset, 1, n);
  if (m->kind == GPB_MEMORY_PRIVATE) note_use(f, s, &r);
}

static void op_readback(fuzz_state *f) {
  int s = pick_stream(f);
  buffer_ref r = pick_buffer(f);
  uint64_t offset = pick_offset(f, r.size), bytes = pick_bytes(f, r.size, offset);
  bool null_dst = u8(f) == 0xff;
  expect e = {0};
  if (null_dst) fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  range_faults(&e, &r, offset, bytes);
  memset(f->scratch, 0xa5, sizeof f->scratch);
  if (e.faults == 0 && r.buf && gpb_buffer_kind(r.buf) == GPB_MEMORY_PRIVATE) order_after(f, s, &r);
  gpb_status st = gpb_stream_copy_to_host(f->streams[s], r.buf, offset, null_dst ? NULL : f->scratch, bytes);
  check_status(&e, st, "gpb_stream_copy_to_host");
  if (st != GPB_OK) {
    for (size_t i = 0; i < sizeof f->scratch; i++) FUZZ_CHECK(f->scratch[i] == 0xa5); // untouched
    return;
  }
  if (bytes == 0) return;
  compare(&f->b[r.slot], r.slot, offset, f->scratch, bytes, "gpb_stream_copy_to_host");
  if (f->b[r.slot].kind == GPB_MEMORY_PRIVATE) note_use(f, s, &r);
}

static void op_copy(fuzz_state *f) {
  int s = pick_stream(f);
  buffer_ref src = pick_buffer(f), dst = pick_buffer(f);
  uint64_t src_offset = pick_offset(f, src.size), dst_offset = pick_offset(f, dst.size);
  uint64_t bytes = pick_bytes(f, src.size, src_offset);
  expect e = {0};
  range_faults(&e, &src, src_offset, bytes);
  range_faults(&e, &dst, dst_offset, bytes);
  bool overlap = e.faults == 0 && bytes > 0 && src.buf == dst.buf && src_offset < dst_offset + bytes &&
                 dst_offset < src_offset + bytes;
  if (overlap) fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  if (e.faults == 0) {
    order_after(f, s, &src);
    order_after(f, s, &dst);
  }
  gpb_status st = gpb_stream_copy_buffer(f->streams[s], src.buf, src_offset, dst.buf, dst_offset, bytes);
  check_status(&e, st, "gpb_stream_copy_buffer");
  if (st != GPB_OK || bytes == 0) return;
  commit(f, s,
         &(effect){.kind = EFFECT_COPY,
                   .slot = dst.slot,
                   .src_slot = src.slot,
                   .offset = dst_offset,
                   .src_offset = src_offset,
                   .count = bytes});
  note_use(f, s, &src);
  note_use(f, s, &dst);
}

// One buffer argument of a dispatch: where it lies and how many words the
// kernel may touch.
typedef struct arg_pick {
  buffer_ref r;
  gpb_arg arg;
  uint64_t bytes; // the resolved size (0 in the arg means to the end)
} arg_pick;

static arg_pick pick_arg(fuzz_state *f, expect *e) {
  arg_pick a = {.r = pick_buffer(f)};
  uint64_t offset = u8(f) & 1 ? 16u * (u8(f) % 64) : pick_offset(f, a.r.size);
  uint64_t size = u8(f) & 1 ? 0 : pick_bytes(f, a.r.size, offset);
  a.arg = (gpb_arg){a.r.buf, offset, size};
  a.bytes = size == 0 && offset < a.r.size ? a.r.size - offset : size;
  if (a.r.stale) {
    fault(e, GPB_ERROR_INVALID_HANDLE);
  } else if (!a.r.buf || a.r.foreign) {
    fault(e, GPB_ERROR_INVALID_ARGUMENT);
  } else if (!in_range(a.r.size, offset, a.bytes)) {
    fault(e, GPB_ERROR_OUT_OF_RANGE);
  } else {
    if (a.bytes == 0) fault(e, GPB_ERROR_OUT_OF_RANGE);
    if (offset % info.min_storage_buffer_offset_alignment != 0) fault(e, GPB_ERROR_INVALID_ARGUMENT);
  }
  return a;
}

// Breaks a valid dispatch in one of several ways (or not at all).
// `args` and the push constants must hold 2 entries and 16 bytes: the
// corrupted counts still describe memory the caller owns.
static void corrupt(fuzz_state *f, gpb_dispatch *d, expect *e) {
  static gpb_arg null_arg[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
  uint8_t c = u8(f);
  switch (c % 32) {
  case 0: d->arg_count = d->arg_count == 1 ? 2 : 1; break;
  case 1: d->arg_count = 0; break;
  case 2: d->push_constant_bytes += 4; break;
  case 3: d->push_constant_bytes = 0; break;
  case 4: d->push_constants = NULL; break;
  case 5: d->groups[1 + c / 32 % 2] = 0; break;
  case 6: d->groups[0] = UINT32_MAX; break;
  case 7: d->groups[0] = 0; break;
  case 8: d->kernel = k_foreign; break;
  case 9: d->args = NULL; break;
  case 10: d->args = null_arg; break;
  case 11: d->kernel = NULL; break;
  case 12: // destroyed, or released with its device
    d->kernel = stale_kernel(c / 32);
    fault(e, GPB_ERROR_INVALID_HANDLE);
    return;
  case 13: // another type's handle
    d->kernel = (gpb_kernel *)(c / 32 % 2 ? (void *)f->streams[0] : (void *)foreign);
    fault(e, GPB_ERROR_INVALID_HANDLE);
    return;
  default: return;
  }
  fault(e, GPB_ERROR_INVALID_ARGUMENT);
}

static void run_dispatch(fuzz_state *f, int s, gpb_dispatch *d, arg_pick *a, uint32_t count, expect *e,
                         const char *what) {
  bool valid = e->faults == 0;
  if (valid) {
    for (uint32_t i = 0; i < count; i++) order_after(f, s, &a[i].r);
  }
  gpb_status st = gpb_stream_dispatch(f->streams[s], d);
  check_status(e, st, what);
  if (st != GPB_OK) return;
  if (capturing_on(f, s))
    f->capture->dispatches++;
  else
    f->dispatches[s]++;
  for (uint32_t i = 0; i < count; i++) note_use(f, s, &a[i].r);
}

static uint32_t words_for(fuzz_state *f, uint64_t bytes) {
  uint32_t cap = (uint32_t)(bytes / 4 < MAX_BUFFER / 4 ? bytes / 4 : MAX_BUFFER / 4);
  uint32_t n = u16(f);
  return cap == 0 ? 0 : n % (cap + 1);
}

static void op_dispatch_one(fuzz_state *f, bool fill) {
  int s = pick_stream(f);
  expect e = {0};
  arg_pick a = pick_arg(f, &e);
  // n = 0 for a call that should be refused: should it run, it writes nothing.
  uint32_t n = e.faults == 0 ? words_for(f, a.bytes) : 0;
  uint32_t params[4] = {n, next_random(f), 0, 0};
  gpb_arg args[2] = {a.arg, a.arg};
  gpb_dispatch d = {.kernel = fill ? k_fill : k_add,
                    .groups = {n / 64 + 1 + u8(f) % 2, 1, 1},
                    .args = args,
                    .arg_count = 1,
                    .push_constants = params,
                    .push_constant_bytes = fill ? 8 : 4};
  corrupt(f, &d, &e);
  run_dispatch(f, s, &d, &a, 1, &e, fill ? "gpb_stream_dispatch (fill)" : "gpb_stream_dispatch (add_one)");
  if (e.faults != 0) return;
  commit(f, s,
         &(effect){.kind = fill ? EFFECT_FILL : EFFECT_ADD_ONE,
                   .slot = a.r.slot,
                   .src_slot = a.r.slot,
                   .offset = a.arg.offset,
                   .count = n,
                   .value = params[1]});
}

static void op_dispatch_axpy(fuzz_state *f) {
  int s = pick_stream(f);
  expect e = {0};
  arg_pick a[2];
  a[0] = pick_arg(f, &e);
  a[1] = pick_arg(f, &e);
  uint32_t n = 0;
  if (e.faults == 0) {
    n = words_for(f, a[0].bytes < a[1].bytes ? a[0].bytes : a[1].bytes);
    // Overlapping x and y in one dispatch race inside the kernel: the
    // caller's problem, not the library's; leave those out.
    if (a[0].r.buf == a[1].r.buf && a[0].arg.offset < a[1].arg.offset + 4ull * n &&
        a[1].arg.offset < a[0].arg.offset + 4ull * n) {
      return;
    }
  }
  uint32_t params[4] = {n, u8(f), 0, 0};
  gpb_arg args[2] = {a[0].arg, a[1].arg};
  gpb_dispatch d = {.kernel = k_axpy,
                    .groups = {n / 64 + 1, 1, 1},
                    .args = args,
                    .arg_count = 2,
                    .push_constants = params,
                    .push_constant_bytes = 8};
  corrupt(f, &d, &e);
  run_dispatch(f, s, &d, a, 2, &e, "gpb_stream_dispatch (axpy)");
  if (e.faults != 0) return;
  commit(f, s,
         &(effect){.kind = EFFECT_AXPY,
                   .slot = a[1].r.slot,
                   .src_slot = a[0].r.slot,
                   .offset = a[1].arg.offset,
                   .src_offset = a[0].arg.offset,
                   .count = n,
                   .value = params[1]});
}

static void op_sync(fuzz_state *f) {
  uint8_t sel = u8(f);
  int s = sel % STREAMS;
  if (!f->streams[s]) s = 0;
  switch (sel / STREAMS % 4) {
  case 0: FUZZ_CHECK(gpb_stream_flush(f->streams[s]) == GPB_OK); break;
  case 1:
    FUZZ_CHECK(gpb_stream_sync(f->streams[s]) == GPB_OK);
    forget_stream(f, s);
    break;
  case 2:
    FUZZ_CHECK(gpb_device_sync(dev) == GPB_OK);
    for (int i = 0; i < SLOTS; i++) f->b[i].streams = 0;
    break;
  default:
    FUZZ_CHECK(gpb_stream_flush(NULL) == GPB_ERROR_INVALID_ARGUMENT);
    FUZZ_CHECK(gpb_stream_sync(NULL) == GPB_ERROR_INVALID_ARGUMENT);
    FUZZ_CHECK(gpb_device_sync(NULL) == GPB_ERROR_INVALID_ARGUMENT);
    break;
  }
}

static void op_map(fuzz_state *f) {
  buffer_ref r = pick_buffer(f);
  uint8_t sel = u8(f);
  int access = sel % 4 == 0 ? (sel & 4 ? 4 : 0) : sel % 4;
  expect e = {0};
  if (r.stale)
    fault(&e, GPB_ERROR_INVALID_HANDLE);
  else if (!r.buf)
    fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  else if (r.foreign || gpb_buffer_kind(r.buf) != GPB_MEMORY_SHARED)
    fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  if (access == 0 || access > 3) fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  void *p = f; // must be cleared on failure
  gpb_status st = gpb_buffer_map(r.buf, (gpb_host_access)access, &p);
  check_status(&e, st, "gpb_buffer_map");
  if (st != GPB_OK) {
    FUZZ_CHECK(p == NULL);
    return;
  }
  FUZZ_CHECK(p != NULL);
  model_buffer *m = &f->b[r.slot];
  if (access & GPB_HOST_READ) compare(m, r.slot, 0, p, m->size, "gpb_buffer_map");
  if (access & GPB_HOST_WRITE) {
    uint64_t offset = u16(f) % m->size, n = u16(f) % (m->size - offset + 1);
    for (uint64_t i = 0; i < n; i++) m->bytes[offset + i] = (uint8_t)next_random(f);
    memcpy((uint8_t *)p + offset, m->bytes + offset, n);
    memset(m->defined + offset, 1, n);
  }
}

static void op_wait(fuzz_state *f) {
  uint8_t sel = u8(f);
  int w = sel % STREAMS, s = sel / STREAMS % STREAMS;
  if (!f->streams[w]) w = 0;
  if (!f->streams[s]) s = 0;
  switch (sel / 9 % 8) {
  case 0: FUZZ_CHECK(gpb_stream_wait_stream(NULL, f->streams[s]) == GPB_ERROR_INVALID_ARGUMENT); break;
  case 1: FUZZ_CHECK(gpb_stream_wait_stream(f->streams[w], NULL) == GPB_ERROR_INVALID_ARGUMENT); break;
  case 2:
    FUZZ_CHECK(gpb_stream_wait_stream(f->streams[w], gpb_device_default_stream(other_dev)) ==
               GPB_ERROR_INVALID_ARGUMENT);
    break;
  default: FUZZ_CHECK(gpb_stream_wait_stream(f->streams[w], f->streams[s]) == GPB_OK); break;
  }
}

static void destroy_stream(fuzz_state *f, int i) {
  FUZZ_CHECK(gpb_stream_destroy(f->streams[i]) == GPB_OK); // NULL is fine too
  if (f->streams[i]) remember(f->freed.streams, &f->freed.stream_count, f->streams[i]);
  f->streams[i] = NULL;
  forget_stream(f, i);
}

static void op_stream_create(fuzz_state *f) {
  int i = 1 + u8(f) % (STREAMS - 1);
  uint8_t a = u8(f), b = u8(f), c = u8(f);
  expect e = {0};
  gpb_stream_options o = {0};
  switch (a % 8) {
  case 0: o.mode = GPB_MODE_IMMEDIATE; break;
  case 1: o.mode = GPB_MODE_BATCHED; break;
  case 2:
    o.mode = (gpb_mode)(3 + a / 8);
    fault(&e, GPB_ERROR_INVALID_ARGUMENT);
    break;
  default: break;
  }
  if (a / 8 % 8 == 0) o.barriers = GPB_BARRIERS_ALWAYS;
  if (a / 8 % 8 == 1) {
    o.barriers = (gpb_barrier_policy)(2 + a / 64);
    fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  }
  static const uint32_t caps[] = {0, 1, 2, 3, 7, 64, UINT32_MAX, 0};
  o.max_batch_dispatches = caps[b % 8];
  static const uint64_t staging_sizes[] = {0, 4096, 1000, 256, 65536, 64, 0, 12288};
  o.staging_buffer_bytes = staging_sizes[b / 8 % 8];
  static const uint32_t max_buffers[] = {0, 1, 2, 3};
  o.staging_max_buffers = max_buffers[b / 64];
  static const uint64_t max_bytes[] = {0, 0, 4096, 1000, 8192, 1 << 20, 1, 65536};
  o.staging_max_bytes = max_bytes[c % 8];
  uint64_t buffer_bytes = o.staging_buffer_bytes ? o.staging_buffer_bytes : 8ull << 20;
  uint64_t bound = o.staging_max_bytes ? o.staging_max_bytes : 64ull << 20;
  if (buffer_bytes > bound) fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  static const uint32_t inline_max[] = {0, 4, 64, 4096, 65536, GPB_NO_INLINE_UPLOADS, 6, 65540};
  o.inline_upload_max_bytes = inline_max[c / 8 % 8];
  if (c / 8 % 8 >= 6) fault(&e, GPB_ERROR_INVALID_ARGUMENT);
  destroy_stream(f, i);
  gpb_stream *s = (gpb_stream *)f; // must be cleared on failure
  gpb_status st = gpb_stream_create(dev, &o, &s);
  check_status(&e, st, "gpb_stream_create");
  if (st != GPB_OK) {
    FUZZ_CHECK(s == NULL);
    return;
  }
  FUZZ_CHECK(gpb_stream_device(s) == dev);
  f->streams[i] = s;
  f->dispatches[i] = 0;
}

static void op_stream_destroy(fuzz_state *f) {
  uint8_t sel = u8(f);
  int i = sel % STREAMS;
  if (i == 0) {
    FUZZ_CHECK(gpb_stream_destroy(f->streams[0]) == GPB_ERROR_INVALID_ARGUMENT); // the default stream
    return;
  }
  destroy_stream(f, i);
}

static void op_counters(fuzz_state *f) {
  uint8_t sel = u8(f);
  int s = (sel & 0x7f) % STREAMS;
  if (!f->streams[s]) s = 0;
  gpb_counters c;
  FUZZ_CHECK(gpb_stream_get_counters(f->streams[s], &c) == GPB_OK);
  FUZZ_CHECK(c.dispatches == f->dispatches[s]);
  if (sel & 0x80) {
    FUZZ_CHECK(gpb_stream_reset_counters(f->streams[s]) == GPB_OK);
    f->dispatches[s] = 0;
  }
}

// ---- programs -------------------------------------------------------------------

static void destroy_program(fuzz_state *f, int i) {
  model_program *mp = &f->programs[i];
  FUZZ_CHECK(gpb_program_destroy(mp->prog) == GPB_OK); // NULL is fine too
  if (mp->prog) remember(f->freed.programs, &f->freed.program_count, mp->prog);
  *mp = (model_program){0};
}

// Calls a capturing stream refuses (gpubatch/program.h); nothing is recorded.
static void capture_refusal(fuzz_state *f, int s) {
  gpb_stream *st = f->streams[s];
  uint8_t sel = u8(f);
  buffer_ref r = pick_buffer(f);
  expect e = {0};
  range_faults(&e, &r, 0, 4);
  fault(&e, GPB_ERROR_FAILED_PRECONDITION); // the range is checked first
  uint32_t word = 0;
  gpb_program *p = NULL;
  switch (sel % 8) {
  case 0: FUZZ_CHECK(gpb_stream_flush(st) == GPB_ERROR_FAILED_PRECONDITION); break;
  case 1: FUZZ_CHECK(gpb_stream_sync(st) == GPB_ERROR_FAILED_PRECONDITION); break;
  case 2: FUZZ_CHECK(gpb_stream_wait_stream(st, f->streams[0]) == GPB_ERROR_FAILED_PRECONDITION); break;
  case 3: FUZZ_CHECK(gpb_stream_begin_capture(st) == GPB_ERROR_FAILED_PRECONDITION); break;
  case 4:
    FUZZ_CHECK(gpb_stream_destroy(st) == (s == 0 ? GPB_ERROR_INVALID_ARGUMENT : GPB_ERROR_FAILED_PRECONDITION));
    break;
  case 5:
    p = f->programs[sel / 8 % PROGRAMS].prog;
    FUZZ_CHECK(gpb_stream_replay(st, p) == (p ? GPB_ERROR_FAILED_PRECONDITION : GPB_ERROR_INVALID_ARGUMENT));
    break;
  case 6: check_status(&e, gpb_stream_copy_to_device(st, &word, r.buf, 0, 4), "copy_to_device while capturing"); break;
  default: check_status(&e, gpb_stream_copy_to_host(st, r.buf, 0, &word, 4), "copy_to_host while capturing"); break;
  }
}

// Captures up to CAPTURE_OPS decoded commands on a stream into program slot
// `i` (replacing what it held); the model changes only on replay.
static void op_capture(fuzz_state *f) {
  int i = u8(f) % PROGRAMS;
  int s = pick_stream(f);
  destroy_program(f, i);
  FUZZ_CHECK(gpb_stream_begin_capture(f->streams[s]) == GPB_OK);
  f->capture = &f->programs[i];
  f->capture_stream = s;
  uint32_t n = 1 + u8(f) % CAPTURE_OPS;
  for (uint32_t c = 0; c < n; c++) {
    switch (u8(f) % 8) {
    case 0:
    case 1: op_dispatch_one(f, false); break;
    case 2: op_dispatch_one(f, true); break;
    case 3: op_dispatch_axpy(f); break;
    case 4:
    case 5: op_copy(f); break;
    default: capture_refusal(f, s); break;
    }
  }
  f->capture = NULL;
  gpb_program *p = (gpb_program *)f; // set by the call
  FUZZ_CHECK(gpb_stream_end_capture(f->streams[s], &p) == GPB_OK);
  FUZZ_CHECK(p != NULL && gpb_program_dispatch_count(p) == f->programs[i].dispatches);
  f->programs[i].prog = p;
}

// Replays program slot `i` on a stream (an empty slot replays NULL), or a
// program handle that is no longer live.
static void op_replay(fuzz_state *f) {
  uint8_t sel = u8(f);
  int s = pick_stream(f);
  model_program *mp = &f->programs[sel % PROGRAMS];
  if (sel & 0x80) {
    FUZZ_CHECK(gpb_stream_replay(f->streams[s], stale_program(f, u8(f))) == GPB_ERROR_INVALID_HANDLE);
    FUZZ_CHECK(strstr(gpb_last_error(), "program handle") != NULL);
    return;
  }
  if (!mp->prog) {
    FUZZ_CHECK(gpb_stream_replay(f->streams[s], NULL) == GPB_ERROR_INVALID_ARGUMENT);
    return;
  }
  for (int slot = 0; slot < SLOTS; slot++) {
    if (mp->slots >> slot & 1u) order_after_slot(f, s, slot);
  }
  FUZZ_CHECK(gpb_stream_replay(f->streams[s], mp->prog) == GPB_OK);
  for (uint32_t c = 0; c < mp->count; c++) apply(f, &mp->effects[c]);
  for (int slot = 0; slot < SLOTS; slot++) {
    if (mp->slots >> slot & 1u) f->b[slot].streams |= 1u << s;
  }
  f->dispatches[s] += mp->dispatches;
}

static void op_program_destroy(fuzz_state *f) { destroy_program(f, u8(f) % PROGRAMS); }

// ---- calls with handles that are not live ------------------------------------------

// The call was refused for its `type` handle: GPB_ERROR_INVALID_HANDLE, and
// a message that names the handle.
#define REFUSED(call, type)                                                                                            \
  do {                                                                                                                 \
    FUZZ_CHECK((call) == GPB_ERROR_INVALID_HANDLE);                                                                    \
    FUZZ_CHECK(strstr(gpb_last_error(), type " handle 0x") != NULL);                                                   \
  } while (0)

// A value-returning call: the neutral value, and the message.
#define NEUTRAL(cond, type)                                                                                            \
  do {                                                                                                                 \
    FUZZ_CHECK(cond);                                                                                                  \
    FUZZ_CHECK(strstr(gpb_last_error(), type " handle 0x") != NULL);                                                   \
  } while (0)

// One call of any family with a buffer, kernel, stream, program or device
// handle that is no longer live, or a live one cast to another type. The
// state of the model must not change (the final readback checks it).
static void op_not_live(fuzz_state *f) {
  uint8_t sel = u8(f), v = u8(f);
  int s = pick_stream(f);
  gpb_stream *live = f->streams[s];
  gpb_buffer *b = stale_buffer(f, v);
  gpb_stream *gone_stream = stale_stream(f, v);
  gpb_program *p = stale_program(f, v);
  gpb_kernel *k = stale_kernel(v);
  gpb_device *d = gone.device;
  gpb_buffer *x = f->b[v % SLOTS].buf; // a live buffer or NULL
  uint8_t host[16] = {0};
  void *ptr = f;
  gpb_counters counters;
  gpb_kernel_info kinfo;
  gpb_device_info dinfo;
  gpb_kernel_desc desc = {.name = "add_one", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  gpb_buffer *new_buffer = (gpb_buffer *)f;
  gpb_kernel *new_kernel = (gpb_kernel *)f;
  gpb_stream *new_stream = (gpb_stream *)f;
  gpb_program *new_program = (gpb_program *)f;
  switch (sel % 40) {
  // freed buffers
  case 0: REFUSED(gpb_buffer_free(b), "buffer"); break;
  case 1:
    REFUSED(gpb_buffer_map(b, GPB_HOST_READ, &ptr), "buffer");
    FUZZ_CHECK(ptr == NULL);
    break;
  case 2: NEUTRAL(gpb_buffer_size(b) == 0, "buffer"); break;
  case 3: NEUTRAL(gpb_buffer_kind(b) == GPB_MEMORY_PRIVATE, "buffer"); break;
  case 4: NEUTRAL(gpb_buffer_device(b) == NULL, "buffer"); break;
  case 5: REFUSED(gpb_stream_copy_to_device(live, host, b, 0, sizeof host), "buffer"); break;
  case 6: REFUSED(gpb_stream_copy_to_host(live, b, 0, host, sizeof host), "buffer"); break;
  case 7: REFUSED(gpb_stream_copy_buffer(live, b, 0, x ? x : b, 0, 4), "buffer"); break;
  case 8:
    REFUSED(gpb_stream_copy_buffer(live, x ? x : b, 0, b, 0, 0), "buffer");
    break; // 0 bytes: x in range
  // destroyed kernels
  case 9: REFUSED(gpb_kernel_destroy(k), "kernel"); break;
  case 10: REFUSED(gpb_kernel_get_info(k, &kinfo), "kernel"); break;
  // destroyed streams
  case 11: REFUSED(gpb_stream_destroy(gone_stream), "stream"); break;
  case 12: REFUSED(gpb_stream_flush(gone_stream), "stream"); break;
  case 13: REFUSED(gpb_stream_sync(gone_stream), "stream"); break;
  case 14: REFUSED(gpb_stream_wait_stream(gone_stream, live), "stream"); break;
  case 15: REFUSED(gpb_stream_wait_stream(live, gone_stream), "stream"); break;
  case 16: REFUSED(gpb_stream_get_counters(gone_stream, &counters), "stream"); break;
  case 17: REFUSED(gpb_stream_reset_counters(gone_stream), "stream"); break;
  case 18: REFUSED(gpb_stream_begin_capture(gone_stream), "stream"); break;
  case 19:
    REFUSED(gpb_stream_end_capture(gone_stream, &new_program), "stream");
    FUZZ_CHECK(new_program == NULL);
    break;
  case 20: REFUSED(gpb_stream_copy_to_device(gone_stream, host, x, 0, 4), "stream"); break;
  case 21: REFUSED(gpb_stream_copy_to_host(gone_stream, x, 0, host, 4), "stream"); break;
  case 22: REFUSED(gpb_stream_replay(gone_stream, f->programs[0].prog), "stream"); break;
  case 23: NEUTRAL(gpb_stream_device(gone_stream) == NULL, "stream"); break;
  case 24: NEUTRAL(gpb_stream_mode(gone_stream) == GPB_MODE_DEFAULT, "stream"); break;
  case 25: NEUTRAL(strcmp(gpb_stream_last_error(gone_stream), "") == 0, "stream"); break;
  // destroyed programs
  case 26: REFUSED(gpb_program_destroy(p), "program"); break;
  case 27: NEUTRAL(gpb_program_dispatch_count(p) == 0, "program"); break;
  // the closed device
  case 28: REFUSED(gpb_device_close(d), "device"); break;
  case 29: REFUSED(gpb_device_sync(d), "device"); break;
  case 30: REFUSED(gpb_device_query(d, &dinfo), "device"); break;
  case 31: NEUTRAL(gpb_device_default_stream(d) == NULL, "device"); break;
  case 32: NEUTRAL(gpb_device_validation_message_count(d) == 0 && *gpb_device_last_error(d) == '\0', "device"); break;
  case 33:
    REFUSED(gpb_buffer_create(d, 64, GPB_MEMORY_PRIVATE, &new_buffer), "device");
    FUZZ_CHECK(new_buffer == NULL);
    break;
  case 34:
    REFUSED(gpb_kernel_create(d, &desc, &new_kernel), "device");
    FUZZ_CHECK(new_kernel == NULL);
    break;
  case 35:
    REFUSED(gpb_stream_create(d, NULL, &new_stream), "device");
    FUZZ_CHECK(new_stream == NULL);
    break;
  // live handles cast to another type: refused, and the object lives on
  case 36: REFUSED(gpb_buffer_free((gpb_buffer *)k_add), "buffer"); break;
  case 37: REFUSED(gpb_stream_destroy((gpb_stream *)(x ? (void *)x : (void *)k_fill)), "stream"); break;
  case 38: REFUSED(gpb_device_close((gpb_device *)live), "device"); break;
  default:
    if (f->programs[v % PROGRAMS].prog)
      REFUSED(gpb_buffer_free((gpb_buffer *)f->programs[v % PROGRAMS].prog), "buffer");
    REFUSED(gpb_program_destroy((gpb_program *)dev), "program");
    break;
  }
}

// ---- one input ----------------------------------------------------------------

// Reads every live buffer back and compares it with the model, then frees
// everything the input created.
static void finish(fuzz_state *f) {
  for (int i = 0; i < PROGRAMS; i++) destroy_program(f, i);
  FUZZ_CHECK(gpb_device_sync(dev) == GPB_OK);
  for (int s = 0; s < STREAMS; s++) {
    gpb_counters c;
    if (!f->streams[s]) continue;
    FUZZ_CHECK(gpb_stream_get_counters(f->streams[s], &c) == GPB_OK);
    FUZZ_CHECK(c.dispatches == f->dispatches[s]);
  }
  for (int i = 0; i < SLOTS; i++) {
    model_buffer *m = &f->b[i];
    if (!m->buf) continue;
    FUZZ_CHECK(gpb_stream_copy_to_host(f->streams[0], m->buf, 0, f->scratch, m->size) == GPB_OK);
    compare(m, i, 0, f->scratch, m->size, "the final readback");
    FUZZ_CHECK(free_slot(f, i));
  }
  for (int s = 1; s < STREAMS; s++) destroy_stream(f, s);
  FUZZ_CHECK(gpb_stream_reset_counters(f->streams[0]) == GPB_OK);
  fuzz_check_validation(dev, &validation_seen);
  fuzz_check_validation(other_dev, &other_validation_seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_state *f = &state;
  f->data = data;
  f->size = size;
  f->pos = 0;
  f->rng = 0x9e3779b9u ^ (uint32_t)size;
  f->streams[0] = gpb_device_default_stream(dev);
  f->dispatches[0] = 0;
  f->freed = (freed_handles){0};
  while (f->pos < f->size) {
    switch (u8(f) % 20) {
    case 0: op_create(f); break;
    case 1: op_free(f); break;
    case 2:
    case 3: op_upload(f); break;
    case 4: op_readback(f); break;
    case 5: op_copy(f); break;
    case 6:
    case 7: op_dispatch_one(f, false); break;
    case 8: op_dispatch_one(f, true); break;
    case 9: op_dispatch_axpy(f); break;
    case 10: op_sync(f); break;
    case 11: op_map(f); break;
    case 12: op_wait(f); break;
    case 13: op_stream_create(f); break;
    case 14: op_stream_destroy(f); break;
    case 15: op_counters(f); break;
    case 16: op_capture(f); break;
    case 17: op_replay(f); break;
    case 18: op_program_destroy(f); break;
    default: op_not_live(f); break;
    }
  }
  finish(f);
  return 0;
}
