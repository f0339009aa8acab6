// Soak: a long random mix of everything a client does, on the default
// stream and three more, checked against a CPU model, while host memory and
// the library's own memory must stay flat.
//
// Operations: dispatches (add_one, fill, axpy), inline and staged uploads,
// readbacks, device copies, shared-buffer maps, buffer frees and
// re-creates, flushes, stream and device syncs, program replays and
// re-captures, and now and then a stream or a kernel destroyed and made
// again. Each buffer is owned by one stream; work moves between streams
// with gpb_stream_wait_stream, as the API asks of its callers.
//
// Measured after warm-up and at the end: host RSS (/proc/self/statm) and the
// library's footprint read from its own records (live buffers and their
// bytes, staging and readback memory of every stream, command buffers,
// kernels, pipelines, programs). RSS may not grow by more than
// GPB_SOAK_RSS_LIMIT_MB (default 8) after warm-up; the footprint must match
// what the test holds, within the documented bounds.
//
//   GPB_SOAK_OPS=1000000 GPB_TEST_NO_VALIDATION=1 build/tests/test_soak   (long mode)
//   GPB_SOAK_SEED=<n> picks another random sequence.
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "gpu_fixture.h"

// Under AddressSanitizer or ThreadSanitizer, RSS measures the sanitizer
// (ASan's quarantine alone holds up to 256 MiB of freed memory): it is
// reported, not checked; LeakSanitizer checks for leaks there instead.
// GPB_LIBRARY_SANITIZED: only the library is (the GPB_FUZZ build).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(GPB_LIBRARY_SANITIZED)
#define RSS_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RSS_CHECKED 0
#endif
#endif
#ifndef RSS_CHECKED
#define RSS_CHECKED 1
#endif

#define SLOTS 12
#define STREAMS 4               // 0 is the default stream
#define MAX_WORDS (64u * 1024u) // 256 KiB per buffer at most
#define PROGRAM_WORDS 1024u

typedef struct slot {
  gpb_buffer *buf;
  uint32_t words;
  gpb_memory_kind kind;
  int owner; // stream whose work on it is ordered
  uint32_t *model;
} slot;

typedef struct soak {
  gpb_device *dev;
  gpb_stream *streams[STREAMS];
  gpb_kernel *add, *fill, *axpy, *prog_kernel;
  slot slots[SLOTS];
  gpb_buffer *prog_buf; // what the program increments, on the default stream
  uint32_t prog_model[PROGRAM_WORDS];
  gpb_program *program;
  uint32_t program_adds; // add_one dispatches in the program
  uint64_t rng;
  uint32_t host[MAX_WORDS];
  uint64_t op_counts[16];
  int errors;
} soak;

static uint64_t next_random(soak *t) {
  t->rng ^= t->rng << 13;
  t->rng ^= t->rng >> 7;
  t->rng ^= t->rng << 17;
  return t->rng;
}

static uint32_t below(soak *t, uint32_t n) { return (uint32_t)(next_random(t) % n); }

#define SOAK_OK(t, expr)                                                                                               \
  do {                                                                                                                 \
    gpb_status st_ = (expr);                                                                                           \
    if (st_ != GPB_OK) {                                                                                               \
      fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #expr, gpb_status_name(st_), gpb_last_error());       \
      (t)->errors++;                                                                                                   \
    }                                                                                                                  \
  } while (0)

// ---- measuring ------------------------------------------------------------------

static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    fclose(f);
  }
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

// The library's memory and objects, from its own records.
typedef struct footprint {
  uint64_t buffers, buffer_bytes;
  uint64_t staging_buffers, staging_bytes, readback_bytes;
  uint64_t batches, inflight;
  uint64_t kernels, pipelines, programs, streams;
} footprint;

static uint32_t batch_list_length(const gpb_batch *b) {
  uint32_t n = 0;
  for (; b; b = b->next) n++;
  return n;
}

static footprint measure(gpb_device *device) {
  footprint f = {0};
  gpb_device_obj *dev = gpb_device_obj_of(device);
  pthread_mutex_lock(&dev->lock);
  for (const gpb_buffer_obj *b = dev->buffers; b; b = b->next) f.buffers++, f.buffer_bytes += b->size;
  for (const gpb_kernel_obj *k = dev->kernels; k; k = k->next) f.kernels++;
  for (const gpb_pipeline_entry *p = dev->pipelines; p; p = p->next) f.pipelines++;
  for (const gpb_program_obj *p = dev->programs; p; p = p->next) f.programs++;
  f.streams = dev->stream_count;
  for (uint32_t i = 0; i < dev->stream_count; i++) {
    gpb_stream_obj *s = dev->streams[i];
    pthread_mutex_lock(&s->lock);
    f.staging_buffers += s->transfer.staging.count;
    f.staging_bytes += s->transfer.staging.total_bytes;
    f.readback_bytes += s->transfer.readback_size;
    f.inflight += s->batches.inflight_count;
    f.batches += (s->batches.pending ? 1 : 0) + batch_list_length(s->batches.inflight_head) +
                 batch_list_length(s->batches.free_batches);
    pthread_mutex_unlock(&s->lock);
  }
  pthread_mutex_unlock(&dev->lock);
  return f;
}

static void report(const char *when, uint64_t ops, double seconds, uint64_t rss, const footprint *f) {
  printf(
      "%-8s ops %8llu  %7.1f s  rss %7.1f MiB  buffers %llu (%.1f MiB)  staging %llu (%.1f MiB)  "
      "readback %.1f MiB  batches %llu (%llu in flight)  kernels %llu  pipelines %llu  programs %llu  streams %llu\n",
      when, (unsigned long long)ops, seconds, rss / 1048576.0, (unsigned long long)f->buffers,
      f->buffer_bytes / 1048576.0, (unsigned long long)f->staging_buffers, f->staging_bytes / 1048576.0,
      f->readback_bytes / 1048576.0, (unsigned long long)f->batches, (unsigned long long)f->inflight,
      (unsigned long long)f->kernels, (unsigned long long)f->pipelines, (unsigned long long)f->programs,
      (unsigned long long)f->streams);
  fflush(stdout);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

// ---- set-up -----------------------------------------------------------------------

// Options of the extra streams: a small staging pool that must wait and
// reuse, immediate mode, and a low dispatch cap with barriers everywhere.
static const gpb_stream_options stream_options[STREAMS] = {
    {0},
    {.staging_buffer_bytes = 64 * 1024, .staging_max_buffers = 2, .staging_max_bytes = 128 * 1024},
    {.mode = GPB_MODE_IMMEDIATE},
    {.max_batch_dispatches = 16, .barriers = GPB_BARRIERS_ALWAYS, .inline_upload_max_bytes = 256},
};

static gpb_stream *stream_make(soak *t, int i) {
  if (i == 0) return gpb_device_default_stream(t->dev);
  gpb_stream *s = NULL;
  SOAK_OK(t, gpb_stream_create(t->dev, &stream_options[i], &s));
  return s;
}

// A new buffer in slot i, filled with known values by an upload.
static void slot_make(soak *t, int i) {
  slot *s = &t->slots[i];
  s->words = 4u * (1u + below(t, MAX_WORDS / 4));
  if (below(t, 4) == 0) s->words = 16u * (1u + below(t, 64)); // often small
  s->kind = below(t, 3) == 0 ? GPB_MEMORY_SHARED : GPB_MEMORY_PRIVATE;
  s->owner = (int)below(t, STREAMS);
  SOAK_OK(t, gpb_buffer_create(t->dev, 4ull * s->words, s->kind, &s->buf));
  uint32_t base = (uint32_t)next_random(t);
  for (uint32_t w = 0; w < s->words; w++) s->model[w] = base + w;
  SOAK_OK(t, gpb_stream_copy_to_device(t->streams[s->owner], s->model, s->buf, 0, 4ull * s->words));
}

static void slot_free(soak *t, int i) {
  SOAK_OK(t, gpb_buffer_free(t->slots[i].buf));
  t->slots[i].buf = NULL;
}

// Captures the program: three add_one dispatches on prog_buf.
static void program_capture(soak *t) {
  gpb_stream *s = t->streams[0];
  SOAK_OK(t, gpb_stream_begin_capture(s));
  for (int i = 0; i < 3; i++) SOAK_OK(t, dispatch_add_one(s, t->prog_kernel, t->prog_buf, 0, PROGRAM_WORDS));
  SOAK_OK(t, gpb_stream_end_capture(s, &t->program));
  t->program_adds = 3;
}

// ---- operations ----------------------------------------------------------------------

// Work on slot `i` from stream `s` must come after its owner's: move it.
static void take_over(soak *t, int i, int s) {
  slot *sl = &t->slots[i];
  if (sl->owner == s) return;
  SOAK_OK(t, gpb_stream_wait_stream(t->streams[s], t->streams[sl->owner]));
  sl->owner = s;
}

static void op_dispatch(soak *t) {
  int i = (int)below(t, SLOTS);
  slot *y = &t->slots[i];
  gpb_stream *s = t->streams[y->owner];
  uint32_t n = 1 + below(t, y->words);
  uint32_t kind = below(t, 4);
  if (kind <= 1) {
    SOAK_OK(t, dispatch_add_one(s, t->add, y->buf, 0, n));
    for (uint32_t w = 0; w < n; w++) y->model[w] += 1;
  } else if (kind == 2) {
    uint32_t base = (uint32_t)next_random(t);
    SOAK_OK(t, dispatch_fill(s, t->fill, y->buf, 0, n, base));
    for (uint32_t w = 0; w < n; w++) y->model[w] = base + w;
  } else {
    int j = (int)below(t, SLOTS);
    if (j == i) return;
    slot *x = &t->slots[j];
    take_over(t, j, y->owner);
    if (n > x->words) n = x->words;
    uint32_t a = below(t, 7);
    SOAK_OK(t, dispatch_axpy(s, t->axpy, x->buf, 0, y->buf, 0, n, a));
    for (uint32_t w = 0; w < n; w++) y->model[w] += a * x->model[w];
  }
}

static void op_upload(soak *t, bool inline_sized) {
  slot *y = &t->slots[below(t, SLOTS)];
  uint64_t bytes = 4ull * y->words;
  uint64_t count = inline_sized ? 4u * (1u + below(t, 1024)) : 4097u + below(t, 256 * 1024);
  if (count > bytes) count = bytes;
  uint64_t offset =
      inline_sized ? 4ull * below(t, (uint32_t)((bytes - count) / 4 + 1)) : below(t, (uint32_t)(bytes - count + 1));
  uint8_t *model = (uint8_t *)y->model;
  for (uint64_t b = 0; b < count; b++) model[offset + b] = (uint8_t)next_random(t);
  SOAK_OK(t, gpb_stream_copy_to_device(t->streams[y->owner], model + offset, y->buf, offset, count));
}

static void op_readback(soak *t) {
  int i = (int)below(t, SLOTS);
  slot *x = &t->slots[i];
  uint64_t bytes = 4ull * x->words;
  uint64_t count = 1 + below(t, (uint32_t)bytes);
  uint64_t offset = below(t, (uint32_t)(bytes - count + 1));
  uint8_t *got = (uint8_t *)t->host;
  SOAK_OK(t, gpb_stream_copy_to_host(t->streams[x->owner], x->buf, offset, got, count));
  if (memcmp(got, (uint8_t *)x->model + offset, count) != 0) {
    fprintf(stderr, "slot %d: readback of [%llu, +%llu) differs from the model\n", i, (unsigned long long)offset,
            (unsigned long long)count);
    t->errors++;
  }
}

static void op_copy(soak *t) {
  int i = (int)below(t, SLOTS), j = (int)below(t, SLOTS);
  slot *src = &t->slots[i], *dst = &t->slots[j];
  take_over(t, i, dst->owner);
  uint32_t words = src->words < dst->words ? src->words : dst->words;
  uint32_t n = 1 + below(t, words);
  uint32_t so = below(t, src->words - n + 1), dof = below(t, dst->words - n + 1);
  if (i == j && so < dof + n && dof < so + n) return; // overlapping ranges are refused
  SOAK_OK(t, gpb_stream_copy_buffer(t->streams[dst->owner], src->buf, 4ull * so, dst->buf, 4ull * dof, 4ull * n));
  memmove(dst->model + dof, src->model + so, 4ull * n);
}

static void op_map(soak *t) {
  int i = (int)below(t, SLOTS);
  slot *x = &t->slots[i];
  if (x->kind != GPB_MEMORY_SHARED) return;
  bool write = below(t, 2) == 0;
  uint32_t *p = NULL;
  SOAK_OK(t, gpb_buffer_map(x->buf, write ? GPB_HOST_READ | GPB_HOST_WRITE : GPB_HOST_READ, (void **)&p));
  if (!p) return;
  if (memcmp(p, x->model, 4ull * x->words) != 0) {
    fprintf(stderr, "slot %d: mapped contents differ from the model\n", i);
    t->errors++;
  }
  if (write) {
    uint32_t w = below(t, x->words), v = (uint32_t)next_random(t);
    p[w] = x->model[w] = v;
  }
}

static void op_sync(soak *t) {
  uint32_t what = below(t, 10);
  gpb_stream *s = t->streams[below(t, STREAMS)];
  if (what < 5)
    SOAK_OK(t, gpb_stream_flush(s));
  else if (what < 9)
    SOAK_OK(t, gpb_stream_sync(s));
  else
    SOAK_OK(t, gpb_device_sync(t->dev));
}

static void op_program(soak *t, bool recapture) {
  if (recapture) {
    SOAK_OK(t, gpb_program_destroy(t->program));
    program_capture(t);
    return;
  }
  SOAK_OK(t, gpb_stream_replay(t->streams[0], t->program));
  for (uint32_t w = 0; w < PROGRAM_WORDS; w++) t->prog_model[w] += t->program_adds;
}

static void op_stream_remake(soak *t) {
  int i = 1 + (int)below(t, STREAMS - 1);
  // Its buffers go to the default stream, after its work.
  for (int j = 0; j < SLOTS; j++) take_over(t, j, t->slots[j].owner == i ? 0 : t->slots[j].owner);
  SOAK_OK(t, gpb_stream_destroy(t->streams[i]));
  t->streams[i] = stream_make(t, i);
}

static void op_kernel_remake(soak *t) {
  SOAK_OK(t, gpb_kernel_destroy(t->add)); // waits for the work that uses it
  t->add = FIXTURE_KERNEL(t->dev, add_one);
}

// One random operation; returns its kind (for the counts). Kinds listed in
// GPB_SOAK_SKIP (e.g. "9,10") are drawn but not run, to narrow a failure down.
static bool skipped[16];

static int run_op(soak *t) {
  uint32_t r = below(t, 1000);
  static const uint32_t bounds[] = {250, 370, 450, 550, 650, 700, 760, 860, 900, 990, 996, 998, 1000};
  int kind = 0;
  while (r >= bounds[kind]) kind++;
  if (skipped[kind]) return kind;
  if (r < 250) return op_dispatch(t), 0;
  if (r < 370) return op_upload(t, true), 1;
  if (r < 450) return op_upload(t, false), 2;
  if (r < 550) return op_readback(t), 3;
  if (r < 650) return op_copy(t), 4;
  if (r < 700) {
    int i = (int)below(t, SLOTS);
    slot_free(t, i);
    slot_make(t, i);
    return 5;
  }
  if (r < 760) return op_map(t), 6;
  if (r < 860) return op_sync(t), 7;
  if (r < 900) {
    int i = (int)below(t, SLOTS);
    take_over(t, i, (int)below(t, STREAMS));
    return 8;
  }
  if (r < 990) return op_program(t, false), 9;
  if (r < 996) return op_program(t, true), 10;
  if (r < 998) return op_stream_remake(t), 11;
  return op_kernel_remake(t), 12;
}

static const char *const op_names[] = {"dispatch",    "upload inline", "upload staged", "readback",      "device copy",
                                       "free+create", "map",           "flush/sync",    "change stream", "replay",
                                       "recapture",   "stream remake", "kernel remake"};

static uint64_t env_u64(const char *name, uint64_t fallback) {
  const char *v = getenv(name);
  return v && *v ? strtoull(v, NULL, 10) : fallback;
}

// Checks every buffer against the model.
static void verify_all(soak *t) {
  SOAK_OK(t, gpb_device_sync(t->dev));
  for (int i = 0; i < SLOTS; i++) {
    slot *x = &t->slots[i];
    SOAK_OK(t, gpb_stream_copy_to_host(t->streams[x->owner], x->buf, 0, t->host, 4ull * x->words));
    if (memcmp(t->host, x->model, 4ull * x->words) != 0) {
      fprintf(stderr, "slot %d differs from the model at the end\n", i);
      t->errors++;
    }
  }
  SOAK_OK(t, gpb_stream_copy_to_host(t->streams[0], t->prog_buf, 0, t->host, sizeof t->prog_model));
  if (memcmp(t->host, t->prog_model, sizeof t->prog_model) != 0) {
    fprintf(stderr, "the program's buffer differs from the model\n");
    t->errors++;
  }
}

static void test_soak_mixed_operations(void) {
  uint64_t ops = env_u64("GPB_SOAK_OPS", 20000);
  uint64_t rss_limit = env_u64("GPB_SOAK_RSS_LIMIT_MB", 8) << 20;
  for (const char *p = getenv("GPB_SOAK_SKIP"); p && *p;) {
    unsigned long k = strtoul(p, (char **)&p, 10);
    if (k < 16) skipped[k] = true;
    if (*p) p++;
  }
  soak *t = calloc(1, sizeof *t);
  if (!t) return;
  t->rng = env_u64("GPB_SOAK_SEED", 0x5eed) * 0x9e3779b97f4a7c15ull | 1;
  t->dev = fixture_open();
  if (!t->dev) {
    free(t);
    return;
  }
  for (int i = 0; i < STREAMS; i++) t->streams[i] = stream_make(t, i);
  t->add = FIXTURE_KERNEL(t->dev, add_one);
  t->fill = FIXTURE_KERNEL(t->dev, fill);
  t->axpy = FIXTURE_KERNEL(t->dev, axpy);
  t->prog_kernel = FIXTURE_KERNEL(t->dev, add_one); // the program's own handle: add may be remade
  for (int i = 0; i < SLOTS; i++) {
    t->slots[i].model = calloc(MAX_WORDS, 4);
    if (!t->slots[i].model)
      t->errors++;
    else
      slot_make(t, i);
  }
  SOAK_OK(t, gpb_buffer_create(t->dev, sizeof t->prog_model, GPB_MEMORY_PRIVATE, &t->prog_buf));
  SOAK_OK(t, gpb_stream_copy_to_device(t->streams[0], t->prog_model, t->prog_buf, 0, sizeof t->prog_model));
  program_capture(t);

  uint64_t warmup = ops / 10 > 1000 ? ops / 10 : (ops < 1000 ? ops : 1000);
  double start = now_seconds();
  uint64_t rss_warm = 0, rss_max = 0;
  footprint warm = {0};
  for (uint64_t n = 1; n <= ops && t->errors == 0; n++) {
    t->op_counts[run_op(t)]++;
    if (n == warmup || n % (ops / 10 > 0 ? ops / 10 : 1) == 0 || n == ops) {
      SOAK_OK(t, gpb_device_sync(t->dev)); // measure at rest: nothing in flight
      footprint f = measure(t->dev);
      uint64_t rss = rss_bytes();
      report(n == warmup ? "warm-up" : n == ops ? "end" : "", n, now_seconds() - start, rss, &f);
      if (n == warmup) rss_warm = rss, warm = f;
      if (n >= warmup && rss > rss_max) rss_max = rss;
    }
  }
  double seconds = now_seconds() - start;
  verify_all(t);
  footprint end = measure(t->dev);
  CHECK_EQ(t->errors, 0);

  // Flat: host memory, and the library holds exactly what the test holds.
  printf("rss after warm-up %.1f MiB, at the end %.1f MiB (max %.1f MiB): growth %+.2f MiB (limit %llu MiB)\n",
         rss_warm / 1048576.0, rss_bytes() / 1048576.0, rss_max / 1048576.0,
         ((double)rss_max - (double)rss_warm) / 1048576.0, (unsigned long long)(rss_limit >> 20));
  if (RSS_CHECKED)
    CHECK(rss_max <= rss_warm + rss_limit);
  else
    printf("(not checked under a sanitizer)\n");
  uint64_t live_bytes = sizeof t->prog_model;
  for (int i = 0; i < SLOTS; i++) live_bytes += 4ull * t->slots[i].words;
  CHECK_EQ(end.buffers, SLOTS + 1);
  CHECK_EQ(end.buffer_bytes, live_bytes);
  CHECK_EQ(end.kernels, 4);
  CHECK_EQ(end.pipelines, 3);
  CHECK_EQ(end.programs, 1);
  CHECK_EQ(end.streams, STREAMS);
  CHECK(end.inflight <= STREAMS); // each stream keeps its last finished batch back (see retire_completed)
  // Staging and command buffers stay within their bounds (64 MiB and 64
  // buffers per stream by default; see stream_options) and did not grow
  // after warm-up beyond what the pool bounds allow.
  CHECK(end.staging_bytes <= 3 * (64ull << 20) + (128 << 10));
  CHECK(end.batches <= STREAMS * (GPB_MAX_INFLIGHT_BATCHES + 1));
  printf("staging after warm-up %.1f MiB, at the end %.1f MiB; batches %llu -> %llu\n", warm.staging_bytes / 1048576.0,
         end.staging_bytes / 1048576.0, (unsigned long long)warm.batches, (unsigned long long)end.batches);
  gpb_counters total = {0};
  for (int i = 0; i < STREAMS; i++) {
    gpb_counters c;
    SOAK_OK(t, gpb_stream_get_counters(t->streams[i], &c));
    for (size_t k = 0; k < gpb_counter_count(); k++) ((uint64_t *)&total)[k] += gpb_counter_value(&c, k);
  }
  printf("%llu ops in %.1f s (%.0f ops/s):", (unsigned long long)ops, seconds, ops / seconds);
  for (size_t k = 0; k < sizeof op_names / sizeof op_names[0]; k++) {
    printf(" %s %llu;", op_names[k], (unsigned long long)t->op_counts[k]);
  }
  printf("\nstream counters (streams as they are now):");
  for (size_t k = 0; k < gpb_counter_count(); k++) {
    printf(" %s %llu", gpb_counter_name(k), (unsigned long long)gpb_counter_value(&total, k));
  }
  printf("\n");
  fixture_close(t->dev);
  for (int i = 0; i < SLOTS; i++) free(t->slots[i].model);
  free(t);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_soak_mixed_operations)};
  return RUN_TESTS(tests);
}
