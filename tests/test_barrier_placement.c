// Where barriers go, checked against a model of its own: random programs of
// dispatches (read-write, read-only and write-only arguments), device copies,
// inline and staged uploads and program replays on three small buffers are
// recorded into one batch each; the stream reports before which commands it
// placed a barrier (gpb_stream_debug_barriers), and a byte-level model says
// where one is needed: before a command that reads a byte written, or writes
// a byte read or written, since the last barrier. The two must agree
// exactly. Then the batch runs and every buffer is compared with a CPU model
// of the values, with the validation layer on (any message fails the test).
//
// The model keeps one flag pair per byte, not the tracker's merged
// intervals, so a bug in either shows up as a disagreement.
// GPB_BARRIER_SEED and GPB_BARRIER_PROGRAMS pick other programs.
#include "core/internal.h"
#include "gpu_fixture.h"

#define BUFFERS 3
#define WORDS 1024u // per buffer
#define BYTES (4 * WORDS)
#define MAX_COMMANDS 48

enum { READ = 1, WRITTEN = 2 };

typedef struct model {
  uint8_t flags[BUFFERS][BYTES]; // READ / WRITTEN since the last barrier
  uint32_t value[BUFFERS][WORDS];
} model;

typedef struct access {
  int buffer;
  uint32_t begin, end; // bytes
  bool write;
} access;

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33) % n;
}

// True when a command with these accesses needs a barrier before it.
static bool model_conflicts(const model *m, const access *acc, int n) {
  for (int i = 0; i < n; i++) {
    for (uint32_t byte = acc[i].begin; byte < acc[i].end; byte++) {
      uint8_t f = m->flags[acc[i].buffer][byte];
      if ((f & WRITTEN) || (acc[i].write && (f & READ))) return true;
    }
  }
  return false;
}

static void model_add(model *m, const access *acc, int n) {
  for (int i = 0; i < n; i++) {
    for (uint32_t byte = acc[i].begin; byte < acc[i].end; byte++)
      m->flags[acc[i].buffer][byte] |= acc[i].write ? WRITTEN : READ;
  }
}

// The model's verdict for one more command; updates its flags.
static bool model_command(model *m, const access *acc, int n, bool first) {
  bool barrier = !first && model_conflicts(m, acc, n);
  if (barrier) memset(m->flags, 0, sizeof m->flags);
  model_add(m, acc, n);
  return barrier;
}

typedef struct fixture {
  gpb_device *dev;
  gpb_stream *s;
  gpb_kernel *add, *fill, *axpy;
  gpb_buffer *buf[BUFFERS];
  uint32_t align_words; // dispatch offsets are multiples of the storage alignment
  gpb_program *program; // add_one over buffer 0, words [0, 64)
} fixture;

// A word range for a dispatch: aligned start, 1..256 words, inside the buffer.
static void dispatch_range(const fixture *f, uint32_t *first, uint32_t *count) {
  uint32_t slots = WORDS / f->align_words;
  *first = rnd(slots) * f->align_words;
  *count = 1 + rnd(256);
  if (*first + *count > WORDS) *count = WORDS - *first;
}

// Records one random command; fills `acc` and applies its effect to `m`'s
// values. Returns the number of accesses.
static int random_command(fixture *f, model *m, access *acc) {
  uint32_t first, count;
  int a = (int)rnd(BUFFERS), b = (int)((a + 1 + rnd(BUFFERS - 1)) % BUFFERS);
  switch (rnd(7)) {
  case 0:
  case 1: // add_one: reads and writes its range
    dispatch_range(f, &first, &count);
    CHECK_OK(dispatch_add_one(f->s, f->add, f->buf[a], 4ull * first, count));
    for (uint32_t i = 0; i < count; i++) m->value[a][first + i] += 1;
    acc[0] = (access){a, 4 * first, 4 * (first + count), true};
    return 1;
  case 2: { // fill: write-only
    dispatch_range(f, &first, &count);
    uint32_t base = rnd(1000) * 1000;
    CHECK_OK(dispatch_fill(f->s, f->fill, f->buf[a], 4ull * first, count, base));
    for (uint32_t i = 0; i < count; i++) m->value[a][first + i] = base + i;
    acc[0] = (access){a, 4 * first, 4 * (first + count), true};
    return 1;
  }
  case 3: { // axpy: x read-only (buffer a), y read-write (buffer b)
    uint32_t yfirst, ycount;
    dispatch_range(f, &first, &count);
    dispatch_range(f, &yfirst, &ycount);
    uint32_t n = count < ycount ? count : ycount, k = 1 + rnd(3);
    CHECK_OK(dispatch_axpy(f->s, f->axpy, f->buf[a], 4ull * first, f->buf[b], 4ull * yfirst, n, k));
    for (uint32_t i = 0; i < n; i++) m->value[b][yfirst + i] += k * m->value[a][first + i];
    acc[0] = (access){a, 4 * first, 4 * (first + n), false};
    acc[1] = (access){b, 4 * yfirst, 4 * (yfirst + n), true};
    return 2;
  }
  case 4: { // device copy of whole words, between two buffers
    uint32_t src = rnd(WORDS), dst = rnd(WORDS), n = 1 + rnd(128);
    if (src + n > WORDS) n = WORDS - src;
    if (dst + n > WORDS) n = WORDS - dst;
    CHECK_OK(gpb_stream_copy_buffer(f->s, f->buf[a], 4ull * src, f->buf[b], 4ull * dst, 4ull * n));
    memmove(&m->value[b][dst], &m->value[a][src], 4 * n);
    acc[0] = (access){a, 4 * src, 4 * (src + n), false};
    acc[1] = (access){b, 4 * dst, 4 * (dst + n), true};
    return 2;
  }
  case 5: { // upload: whole words go inline, a 2-byte tail makes it staged
    uint32_t dst = rnd(WORDS), n = 1 + rnd(64);
    if (dst + n > WORDS) n = WORDS - dst;
    uint32_t words[64];
    for (uint32_t i = 0; i < n; i++) words[i] = rnd(1u << 30);
    uint32_t bytes = rnd(2) ? 4 * n : 4 * n - 2; // 4n - 2: unaligned, staged
    CHECK_OK(gpb_stream_copy_to_device(f->s, words, f->buf[a], 4ull * dst, bytes));
    memcpy(&m->value[a][dst], words, bytes);
    acc[0] = (access){a, 4 * dst, 4 * dst + bytes, true};
    return 1;
  }
  default: // replay: add_one over buffer 0, words [0, 64)
    CHECK_OK(gpb_stream_replay(f->s, f->program));
    for (uint32_t i = 0; i < 64; i++) m->value[0][i] += 1;
    acc[0] = (access){0, 0, 256, true};
    return 1;
  }
}

static void run_programs(uint64_t seed, int programs) {
  fixture f = {0};
  f.dev = fixture_open();
  if (!f.dev) return;
  gpb_device_info info;
  CHECK_OK(gpb_device_query(f.dev, &info));
  f.align_words = (uint32_t)(info.min_storage_buffer_offset_alignment / 4);
  if (f.align_words == 0) f.align_words = 1;
  CHECK_OK(gpb_stream_create(f.dev, &(gpb_stream_options){.max_batch_dispatches = UINT32_MAX}, &f.s));
  gpb_stream_obj *so = gpb_stream_obj_of(f.s);
  so->record.record_barriers = true;
  f.add = FIXTURE_KERNEL(f.dev, add_one);
  f.fill = FIXTURE_KERNEL(f.dev, fill);
  f.axpy = FIXTURE_KERNEL(f.dev, axpy);
  model *m = calloc(1, sizeof *m);
  for (int i = 0; i < BUFFERS; i++) {
    CHECK_OK(gpb_buffer_create(f.dev, BYTES, GPB_MEMORY_PRIVATE, &f.buf[i]));
    CHECK_OK(gpb_stream_copy_to_device(f.s, m->value[i], f.buf[i], 0, BYTES));
  }
  CHECK_OK(gpb_stream_begin_capture(f.s));
  CHECK_OK(dispatch_add_one(f.s, f.add, f.buf[0], 0, 64));
  CHECK_OK(gpb_stream_end_capture(f.s, &f.program));
  CHECK_OK(gpb_stream_sync(f.s));
  rng_state = seed;
  uint64_t barriers = 0, commands = 0;
  for (int p = 0; p < programs && check_failures == 0; p++) {
    int n = 1 + (int)rnd(MAX_COMMANDS);
    bool want[MAX_COMMANDS] = {false};
    memset(m->flags, 0, sizeof m->flags);
    gpb_counters before;
    CHECK_OK(gpb_stream_get_counters(f.s, &before));
    for (int c = 0; c < n; c++) {
      access acc[2];
      int k = random_command(&f, m, acc);
      want[c] = model_command(m, acc, k, c == 0);
    }
    const uint32_t *got = NULL;
    uint32_t got_count = 0, recorded = 0;
    pthread_mutex_lock(&so->lock);
    gpb_stream_debug_barriers(so, &got, &got_count, &recorded);
    bool have[MAX_COMMANDS] = {false};
    bool in_range = true;
    for (uint32_t i = 0; i < got_count; i++) {
      if (got[i] == 0 || got[i] >= (uint32_t)n || (i > 0 && got[i] <= got[i - 1])) in_range = false;
      if (got[i] < MAX_COMMANDS) have[got[i]] = true;
    }
    pthread_mutex_unlock(&so->lock);
    CHECK_EQ(recorded, n); // every command in the one pending batch
    CHECK(in_range);
    for (int c = 0; c < n; c++) {
      if (have[c] != want[c]) {
        fprintf(stderr, "seed %llu program %d command %d: barrier %s, the model says %s\n", (unsigned long long)seed, p,
                c, have[c] ? "placed" : "missing", want[c] ? "needed" : "not needed");
        check_failures++;
      }
      barriers += want[c];
    }
    commands += (uint64_t)n;
    gpb_counters after;
    CHECK_OK(gpb_stream_get_counters(f.s, &after));
    CHECK_EQ(after.barriers - before.barriers, got_count);
    // The batch runs; the device's buffers must match the value model.
    uint32_t back[WORDS];
    for (int i = 0; i < BUFFERS; i++) {
      CHECK_OK(gpb_stream_copy_to_host(f.s, f.buf[i], 0, back, BYTES));
      for (uint32_t w = 0; w < WORDS; w++) {
        if (back[w] != m->value[i][w]) {
          fprintf(stderr, "seed %llu program %d: buffer %d word %u is %u, expected %u\n", (unsigned long long)seed, p,
                  i, w, back[w], m->value[i][w]);
          check_failures++;
          break;
        }
      }
    }
  }
  printf("  seed %llu: %d programs, %llu commands, %llu barriers, all where the model puts them\n",
         (unsigned long long)seed, programs, (unsigned long long)commands, (unsigned long long)barriers);
  CHECK(barriers > 0 && barriers < commands); // the programs exercise both verdicts
  CHECK_OK(gpb_program_destroy(f.program));
  free(m);
  fixture_close(f.dev);
}

static void test_barriers_where_the_model_puts_them(void) {
  const char *seed = getenv("GPB_BARRIER_SEED"), *programs = getenv("GPB_BARRIER_PROGRAMS");
  run_programs(seed ? strtoull(seed, NULL, 0) : 1, programs ? atoi(programs) : 150);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_barriers_where_the_model_puts_them)};
  return RUN_TESTS(tests);
}
