// Fuzz target: arbitrary bytes decoded into a sequence of gpubatch calls,
// checked against a CPU model of every buffer's contents.
//
// Each input is a small program over 8 buffer slots (at most 64 KiB each,
// private or shared), the default stream and up to two streams it creates
// with decoded options: buffer create/free, host->device, device->host and
// device->device copies, dispatches of three embedded kernels (add_one,
// fill, axpy), flush, sync, device sync, map, cross-stream waits, counter
// reads. Offsets and sizes are decoded from values that are often invalid
// (past the end, wrapping around 2^64, misaligned), and calls are corrupted
// on purpose (NULL or foreign handles, wrong argument or push-constant
// counts, zero or huge workgroup counts, bad options).
//
// What must hold, for every input:
//   - no crash, hang, sanitizer report or validation message;
//   - a valid call returns GPB_OK, an invalid one a status of the set that
//     its faults allow (e.g. GPB_ERROR_OUT_OF_RANGE for a range past the
//     end), and a refused call changes nothing: the model is updated only by
//     calls that succeeded, and every readback is compared with it;
//   - each stream's dispatch counter counts exactly the accepted dispatches.
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

typedef struct fuzz_state {
  const uint8_t *data;
  size_t size, pos;
  uint32_t rng;
  model_buffer b[SLOTS];
  gpb_stream *streams[STREAMS];
  uint64_t dispatches[STREAMS]; // accepted since the stream's counters were zeroed
  uint8_t scratch[MAX_BUFFER];
} fuzz_state;

static gpb_device *dev, *other_dev;
static gpb_buffer *foreign;
static gpb_kernel *k_add, *k_fill, *k_axpy, *k_foreign;
static gpb_device_info info;
static uint64_t validation_seen, other_validation_seen;
static fuzz_state state;

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

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  dev = fuzz_open_device();
  other_dev = fuzz_open_device(); // owns the foreign buffer and kernel
  atexit(close_devices);
  FUZZ_CHECK(gpb_device_query(dev, &info) == GPB_OK);
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

// A buffer argument: a slot (maybe empty: NULL), NULL, or the foreign buffer.
typedef struct buffer_ref {
  int slot; // -1 when not a slot
  gpb_buffer *buf;
  uint64_t size;
  bool foreign;
} buffer_ref;

static buffer_ref pick_buffer(fuzz_state *f) {
  uint8_t v = u8(f);
  if (v >= 248) return (buffer_ref){.slot = -1, .buf = foreign, .size = FOREIGN_SIZE, .foreign = true};
  if (v >= 240) return (buffer_ref){.slot = -1};
  int slot = v % SLOTS;
  return (buffer_ref){.slot = slot, .buf = f->b[slot].buf, .size = f->b[slot].size};
}

static int pick_stream(fuzz_state *f) {
  int i = u8(f) % STREAMS;
  return f->streams[i] ? i : 0;
}

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
  if (!r->buf || r->foreign)
    fault(e, GPB_ERROR_INVALID_ARGUMENT);
  else if (!in_range(r->size, offset, bytes))
    fault(e, GPB_ERROR_OUT_OF_RANGE);
}

// ---- ordering between streams -------------------------------------------------

// Orders work about to be recorded on stream `s` after unfinished work on the
// buffer from other streams, as gpubatch/stream.h asks of the caller.
static void order_after(fuzz_state *f, int s, const buffer_ref *r) {
  if (r->slot < 0 || !r->buf) return;
  uint32_t mask = f->b[r->slot].streams & ~(1u << s);
  for (int t = 0; t < STREAMS; t++) {
    if (mask >> t & 1u) FUZZ_CHECK(gpb_stream_wait_stream(f->streams[s], f->streams[t]) == GPB_OK);
  }
}

static void note_use(fuzz_state *f, int s, const buffer_ref *r) {
  if (r->slot >= 0 && r->buf) f->b[r->slot].streams |= 1u << s;
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

// ---- operations -----------------------------------------------------------------

static void free_slot(fuzz_state *f, int slot) {
  model_buffer *m = &f->b[slot];
  FUZZ_CHECK(gpb_buffer_free(m->buf) == GPB_OK);
  m->buf = NULL;
  m->size = 0;
  m->streams = 0;
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
  if (f->b[slot].buf) free_slot(f, slot);
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
  model_buffer *ms = &f->b[src.slot], *md = &f->b[dst.slot];
  memmove(md->bytes + dst_offset, ms->bytes + src_offset, bytes);
  memmove(md->defined + dst_offset, ms->defined + src_offset, bytes);
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
  if (!a.r.buf || a.r.foreign) {
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
  model_buffer *m = &f->b[a.r.slot];
  for (uint32_t i = 0; i < n; i++) {
    uint64_t at = a.arg.offset + 4ull * i;
    if (fill)
      set_word(m, at, params[1] + i, true);
    else
      set_word(m, at, word_at(m, at) + 1, word_defined(m, at));
  }
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
  model_buffer *x = &f->b[a[0].r.slot], *y = &f->b[a[1].r.slot];
  for (uint32_t i = 0; i < n; i++) {
    uint64_t xo = a[0].arg.offset + 4ull * i, yo = a[1].arg.offset + 4ull * i;
    set_word(y, yo, word_at(y, yo) + params[1] * word_at(x, xo), word_defined(y, yo) && word_defined(x, xo));
  }
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
  if (!r.buf)
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
  if (f->streams[i]) {
    FUZZ_CHECK(gpb_stream_destroy(f->streams[i]) == GPB_OK);
    f->streams[i] = NULL;
    forget_stream(f, i);
  }
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
  FUZZ_CHECK(gpb_stream_destroy(f->streams[i]) == GPB_OK); // NULL is fine too
  f->streams[i] = NULL;
  forget_stream(f, i);
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

// ---- one input ----------------------------------------------------------------

// Reads every live buffer back and compares it with the model, then frees
// everything the input created.
static void finish(fuzz_state *f) {
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
    free_slot(f, i);
  }
  for (int s = 1; s < STREAMS; s++) {
    FUZZ_CHECK(gpb_stream_destroy(f->streams[s]) == GPB_OK);
    f->streams[s] = NULL;
  }
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
  while (f->pos < f->size) {
    switch (u8(f) % 16) {
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
    default: op_counters(f); break;
    }
  }
  finish(f);
  return 0;
}
