// `gpubatch bench chain`: the cost of one tiny dispatch, end to end.
//
// dependent:   N dispatches of add_one on one 256-element buffer; each reads
//              what the previous wrote, so each needs a barrier.
// independent: N dispatches of add_one, each on its own 1 KiB range of one
//              buffer; no dispatch depends on another.
// One repetition = record all N dispatches + stream sync (submit and wait),
// timed on the host; per-dispatch cost = that time / N. In replay mode the N
// dispatches are captured once into a program (gpubatch/program.h) and a
// repetition = one replay + stream sync. The result is read
// back and checked after every repetition (outside the timed region).
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"

static const uint32_t add_one_spirv[] =
#include "add_one.inc"
    ;

#define ELEMS 256u
#define MODE_REPLAY 100 // a batched stream replaying a captured program
#define MAX_DEVICES 16

typedef struct chain_opts {
  uint32_t n, reps;
  bool independent;
  bool json;
  int device;
  gpb_barrier_policy barriers;
  uint32_t cap;
  int modes[3];
  int mode_count;
  const char *plot; // --sweep --plot FILE.svg
  bool sweep;
  // --devices: the indices (repeats allowed) run at once, one thread each;
  // devices_all: every usable device.
  uint32_t devices[MAX_DEVICES];
  int device_count;
  bool devices_all;
  // Where each thread of a run on several devices waits, its device open and
  // its stream, kernel and buffer made, so their repetitions overlap.
  pthread_barrier_t *start;
} chain_opts;

typedef struct chain_result {
  double median_us, min_us, max_us; // per dispatch
  bool correct;
  gpb_counters counters; // of the last repetition
} chain_result;

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static const char *mode_name(int mode) {
  return mode == GPB_MODE_IMMEDIATE ? "immediate" : mode == MODE_REPLAY ? "replay" : "batched";
}

static gpb_status record_chain(gpb_stream *s, gpb_kernel *k, gpb_buffer *x, const chain_opts *o, uint64_t stride) {
  uint32_t n_push = ELEMS;
  gpb_status st = GPB_OK;
  for (uint32_t i = 0; st == GPB_OK && i < o->n; i++) {
    gpb_arg arg = {x, o->independent ? stride * i : 0, 4 * ELEMS};
    gpb_dispatch d = {.kernel = k,
                      .groups = {ELEMS / 64, 1, 1},
                      .args = &arg,
                      .arg_count = 1,
                      .push_constants = &n_push,
                      .push_constant_bytes = sizeof n_push};
    st = gpb_stream_dispatch(s, &d);
  }
  return st;
}

// Runs warm-up + reps of the chain on a fresh stream; false on a gpubatch error.
static bool run_chain(gpb_device *dev, const chain_opts *o, int mode, chain_result *r) {
  gpb_device_info info;
  gpb_device_query(dev, &info);
  uint64_t stride = 4 * ELEMS;
  while (stride % info.min_storage_buffer_offset_alignment) stride += 4 * ELEMS;
  uint64_t bytes = o->independent ? stride * o->n : 4 * ELEMS;
  gpb_stream_options so = {
      .mode = mode == MODE_REPLAY ? GPB_MODE_BATCHED : mode, .barriers = o->barriers, .max_batch_dispatches = o->cap};
  gpb_stream *s = NULL;
  gpb_kernel *k = NULL;
  gpb_buffer *x = NULL;
  uint32_t *host = calloc(bytes / 4, 4);
  double *times = calloc(o->reps, sizeof *times);
  bool ok = host && times;
  gpb_kernel_desc kd = {.name = "add_one", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  gpb_status st = ok ? gpb_stream_create(dev, &so, &s) : GPB_ERROR_OUT_OF_HOST_MEMORY;
  if (st == GPB_OK) st = gpb_kernel_create(dev, &kd, &k);
  if (st == GPB_OK) st = gpb_buffer_create(dev, bytes, GPB_MEMORY_PRIVATE, &x);
  r->correct = true;
  gpb_program *program = NULL;
  if (st == GPB_OK && mode == MODE_REPLAY) {
    st = gpb_stream_begin_capture(s);
    if (st == GPB_OK) st = record_chain(s, k, x, o, stride);
    if (st == GPB_OK) st = gpb_stream_end_capture(s, &program);
  }
  if (o->start) pthread_barrier_wait(o->start); // also after a failure: the others wait for every thread
  for (uint32_t rep = 0; st == GPB_OK && rep <= o->reps; rep++) { // rep 0 is the warm-up
    memset(host, 0, bytes);
    st = gpb_stream_copy_to_device(s, host, x, 0, bytes);
    if (st == GPB_OK) st = gpb_stream_sync(s);
    if (st == GPB_OK) st = gpb_stream_reset_counters(s);
    double t0 = cli_now_us();
    if (st == GPB_OK) st = program ? gpb_stream_replay(s, program) : record_chain(s, k, x, o, stride);
    if (st == GPB_OK) st = gpb_stream_sync(s);
    double t1 = cli_now_us();
    if (st == GPB_OK) st = gpb_stream_get_counters(s, &r->counters);
    if (rep > 0) times[rep - 1] = (t1 - t0) / o->n;
    if (st == GPB_OK) st = gpb_stream_copy_to_host(s, x, 0, host, bytes);
    for (uint64_t i = 0; st == GPB_OK && i < o->n * (o->independent ? 1u : 0u) + (o->independent ? 0u : 1u); i++) {
      const uint32_t *v = host + (o->independent ? i * stride / 4 : 0);
      uint32_t expect = o->independent ? 1 : o->n;
      for (uint32_t e = 0; e < ELEMS; e++) {
        if (v[e] != expect) r->correct = false;
      }
    }
  }
  if (st != GPB_OK)
    fprintf(stderr, "gpubatch: bench chain (%s): %s: %s\n", mode_name(mode), gpb_status_name(st), gpb_last_error());
  if (st == GPB_OK) {
    qsort(times, o->reps, sizeof *times, compare_double);
    r->median_us = o->reps % 2 ? times[o->reps / 2] : (times[o->reps / 2 - 1] + times[o->reps / 2]) / 2;
    r->min_us = times[0];
    r->max_us = times[o->reps - 1];
  }
  gpb_program_destroy(program);
  gpb_buffer_free(x);
  gpb_kernel_destroy(k);
  gpb_stream_destroy(s);
  free(host);
  free(times);
  return st == GPB_OK;
}

static void print_json(const gpb_device_info *info, const chain_opts *o, int mode, const chain_result *r) {
  char name[600], drv[600];
  printf("{\"device\": \"%s\", \"driver\": \"%s\", \"mode\": \"%s\", \"pattern\": \"%s\", \"barrier_policy\": \"%s\", "
         "\"n\": %u, \"reps\": %u, \"per_dispatch_us_median\": %.4f, \"per_dispatch_us_min\": %.4f, "
         "\"per_dispatch_us_max\": %.4f, \"correct\": %s, \"barriers\": %llu, \"submits\": %llu, \"counters\": {",
         cli_json_escape(info->name, name, sizeof name), cli_json_escape(info->driver_info, drv, sizeof drv),
         mode_name(mode), o->independent ? "independent" : "dependent",
         o->barriers == GPB_BARRIERS_ALWAYS ? "always" : "tracked", o->n, o->reps, r->median_us, r->min_us, r->max_us,
         r->correct ? "true" : "false", (unsigned long long)r->counters.barriers,
         (unsigned long long)r->counters.submits);
  cli_print_counters_json(stdout, &r->counters);
  printf("}}\n");
}

static void print_table(const gpb_device_info *info, const chain_opts *o, const chain_result *r) {
  printf("bench chain: %s pattern, n=%u, %u repetitions (+1 warm-up), barriers %s\n",
         o->independent ? "independent" : "dependent", o->n, o->reps,
         o->barriers == GPB_BARRIERS_ALWAYS ? "always" : "tracked");
  printf("device: %s (%s %s)\n\n", info->name, info->driver_name, info->driver_info);
  printf("%-28s", "");
  for (int m = 0; m < o->mode_count; m++) printf("%16s", mode_name(o->modes[m]));
  printf("\n%-28s", "us/dispatch median");
  for (int m = 0; m < o->mode_count; m++) printf("%16.3f", r[m].median_us);
  printf("\n%-28s", "us/dispatch min .. max");
  for (int m = 0; m < o->mode_count; m++) {
    char span[32];
    snprintf(span, sizeof span, "%.2f..%.2f", r[m].min_us, r[m].max_us);
    printf("%16s", span);
  }
  printf("\n%-28s", "result correct");
  for (int m = 0; m < o->mode_count; m++) printf("%16s", r[m].correct ? "yes" : "NO");
  printf("\n");
  for (size_t i = 0; i < gpb_counter_count(); i++) {
    printf("%-28s", gpb_counter_name(i));
    for (int m = 0; m < o->mode_count; m++) printf("%16llu", (unsigned long long)gpb_counter_value(&r[m].counters, i));
    printf("\n");
  }
  for (int m = 1; m < o->mode_count; m++) {
    if (r[m].median_us > 0)
      printf("%s%s speed-up over immediate: %.2fx\n", m == 1 ? "\n" : "", mode_name(o->modes[m]),
             r[0].median_us / r[m].median_us);
  }
}

// --sweep: per-dispatch cost against N for each mode, as JSON lines or text,
// and an SVG plot with --plot.
static int run_sweep(gpb_device *dev, const gpb_device_info *info, const chain_opts *o) {
  enum { MAX_POINTS = 16 };
  double ns[MAX_POINTS], us[3][MAX_POINTS];
  size_t points = 0;
  bool ok = true;
  for (uint64_t decade = 10; decade <= o->n && points + 1 < MAX_POINTS; decade *= 10) { // 10, 30, 100, 300, ...
    ns[points++] = (double)decade;
    if (3 * decade <= o->n) ns[points++] = (double)(3 * decade);
  }
  for (int m = 0; m < o->mode_count; m++) {
    for (size_t p = 0; p < points; p++) {
      chain_opts one = *o;
      one.n = (uint32_t)ns[p];
      chain_result r = {0};
      bool run_ok = run_chain(dev, &one, o->modes[m], &r);
      ok = ok && run_ok && r.correct;
      us[m][p] = run_ok ? r.median_us : -1;
      if (o->json)
        print_json(info, &one, o->modes[m], &r);
      else
        printf("%-10s n=%-6u %9.3f us/dispatch (%.3f..%.3f)%s\n", mode_name(o->modes[m]), one.n, r.median_us, r.min_us,
               r.max_us, r.correct ? "" : "  WRONG RESULT");
    }
  }
  if (o->plot) {
    plot_series series[3];
    for (int m = 0; m < o->mode_count; m++) series[m] = (plot_series){mode_name(o->modes[m]), ns, us[m], points};
    char title[640];
    snprintf(title, sizeof title, "%s chain on %s (%s)", o->independent ? "independent" : "dependent", info->name,
             info->driver_info);
    if (!plot_write_svg(o->plot, title, "dispatches per repetition (N)", "microseconds per dispatch", series,
                        (size_t)o->mode_count)) {
      fprintf(stderr, "gpubatch: cannot write plot '%s'\n", o->plot);
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

// ---- --devices: the chain on several devices at once ----------------------

typedef struct chain_thread {
  const chain_opts *o;
  uint32_t index;
  int mode;
  chain_result r;
  gpb_device_info info;
  bool ok;
} chain_thread;

// Opens its own device and runs the chain there; the barrier is waited on
// whatever happens, so no thread is left waiting for one that failed.
static void *chain_thread_main(void *arg) {
  chain_thread *t = arg;
  gpb_device *dev = NULL;
  gpb_status st = gpb_device_open(t->index, NULL, &dev);
  if (st != GPB_OK) {
    fprintf(stderr, "gpubatch: bench chain: device %u: %s: %s\n", t->index, gpb_status_name(st), gpb_last_error());
    if (t->o->start) pthread_barrier_wait(t->o->start);
    return NULL;
  }
  gpb_device_query(dev, &t->info);
  t->ok = run_chain(dev, t->o, t->mode, &t->r);
  if (gpb_device_close(dev) != GPB_OK) {
    fprintf(stderr, "gpubatch: bench chain: device %u: %s\n", t->index, gpb_last_error());
    t->ok = false;
  }
  return NULL;
}

// Runs `count` threads at once (their repetitions start together); false if
// a thread could not be started.
static bool run_threads(chain_thread *threads, int count, const chain_opts *o) {
  pthread_barrier_t start;
  pthread_t ids[MAX_DEVICES];
  chain_opts with_start = *o;
  with_start.start = count > 1 ? &start : NULL;
  if (count > 1 && pthread_barrier_init(&start, NULL, (unsigned)count) != 0) return false;
  int started = 0;
  for (; started < count; started++) {
    threads[started].o = &with_start;
    if (pthread_create(&ids[started], NULL, chain_thread_main, &threads[started]) != 0) break;
  }
  if (started < count) {
    // Those started wait at the barrier for the rest; they cannot be released
    // portably, so give up the process's run.
    fprintf(stderr, "gpubatch: bench chain: cannot start thread %d of %d\n", started + 1, count);
    exit(1);
  }
  for (int i = 0; i < count; i++) pthread_join(ids[i], NULL);
  if (count > 1) pthread_barrier_destroy(&start);
  for (int i = 0; i < count; i++) threads[i].o = o;
  return true;
}

static double per_second(double us_per_dispatch) { return us_per_dispatch > 0 ? 1e6 / us_per_dispatch : 0; }

static void print_multi_json(const chain_opts *o, int mode, const chain_thread *alone, const chain_thread *all,
                             double aggregate, bool correct, bool within) {
  char name[600];
  printf("{\"mode\": \"%s\", \"pattern\": \"%s\", \"barrier_policy\": \"%s\", \"n\": %u, \"reps\": %u, \"devices\": [",
         mode_name(mode), o->independent ? "independent" : "dependent",
         o->barriers == GPB_BARRIERS_ALWAYS ? "always" : "tracked", o->n, o->reps);
  for (int i = 0; i < o->device_count; i++) printf("%s%u", i ? ", " : "", o->devices[i]);
  printf("], \"single\": {\"index\": %u, \"device\": \"%s\", \"per_dispatch_us_median\": %.4f, "
         "\"per_dispatch_us_min\": %.4f, \"per_dispatch_us_max\": %.4f, \"dispatches_per_s\": %.1f, \"correct\": %s}, "
         "\"per_device\": [",
         alone->index, cli_json_escape(alone->info.name, name, sizeof name), alone->r.median_us, alone->r.min_us,
         alone->r.max_us, per_second(alone->r.median_us), alone->r.correct ? "true" : "false");
  for (int i = 0; i < o->device_count; i++) {
    const chain_thread *t = &all[i];
    printf("%s{\"index\": %u, \"device\": \"%s\", \"per_dispatch_us_median\": %.4f, \"per_dispatch_us_min\": %.4f, "
           "\"per_dispatch_us_max\": %.4f, \"dispatches_per_s\": %.1f, \"correct\": %s, \"counters\": {",
           i ? ", " : "", t->index, cli_json_escape(t->info.name, name, sizeof name), t->r.median_us, t->r.min_us,
           t->r.max_us, per_second(t->r.median_us), t->r.correct ? "true" : "false");
    cli_print_counters_json(stdout, &t->r.counters);
    printf("}}");
  }
  printf("], \"aggregate_dispatches_per_s\": %.1f, \"speedup_over_single\": %.3f, \"within_single_spread\": %s, "
         "\"correct\": %s}\n",
         aggregate, per_second(alone->r.median_us) > 0 ? aggregate / per_second(alone->r.median_us) : 0,
         within ? "true" : "false", correct ? "true" : "false");
}

static void print_multi_table(const chain_opts *o, int mode, const chain_thread *alone, const chain_thread *all,
                              double aggregate, bool within) {
  printf("bench chain: %s pattern, %s, n=%u, %u repetitions (+1 warm-up), barriers %s, %d devices at once\n",
         o->independent ? "independent" : "dependent", mode_name(mode), o->n, o->reps,
         o->barriers == GPB_BARRIERS_ALWAYS ? "always" : "tracked", o->device_count);
  printf("%-24s %-28s %14s %18s %14s %8s\n", "", "device", "us/dispatch", "min .. max", "dispatches/s", "correct");
  char span[48], label[32];
  snprintf(span, sizeof span, "%.3f..%.3f", alone->r.min_us, alone->r.max_us);
  snprintf(label, sizeof label, "single (index %u)", alone->index);
  printf("%-24s %-28.28s %14.3f %18s %14.0f %8s\n", label, alone->info.name, alone->r.median_us, span,
         per_second(alone->r.median_us), alone->r.correct ? "yes" : "NO");
  for (int i = 0; i < o->device_count; i++) {
    const chain_thread *t = &all[i];
    snprintf(span, sizeof span, "%.3f..%.3f", t->r.min_us, t->r.max_us);
    snprintf(label, sizeof label, "index %u (%d of %d)", t->index, i + 1, o->device_count);
    printf("%-24s %-28.28s %14.3f %18s %14.0f %8s\n", label, t->info.name, t->r.median_us, span,
           per_second(t->r.median_us), t->r.correct ? "yes" : "NO");
  }
  double single = per_second(alone->r.median_us);
  printf("aggregate: %.0f dispatches/s = %.2fx the single device's %.0f; every device within the single run's "
         "spread: %s\n\n",
         aggregate, single > 0 ? aggregate / single : 0, single, within ? "yes" : "no");
}

// The chain on the first listed device alone, then on every listed device at
// once (one thread and device open each), for every --mode.
static int run_devices(chain_opts *o) {
  uint32_t count = 0;
  gpb_status st = gpb_device_count(&count);
  if (st != GPB_OK) {
    fprintf(stderr, "gpubatch: %s: %s\n", gpb_status_name(st), gpb_last_error());
    return 1;
  }
  if (o->devices_all) {
    for (uint32_t i = 0; i < count && o->device_count < MAX_DEVICES; i++) {
      gpb_device_info info;
      if (gpb_device_get_info(i, &info) == GPB_OK && info.usable) o->devices[o->device_count++] = i;
    }
    if (o->device_count == 0) {
      fprintf(stderr, "gpubatch bench chain: --devices all: no usable device\n");
      return 1;
    }
  }
  for (int i = 0; i < o->device_count; i++) {
    if (o->devices[i] >= count) {
      fprintf(stderr, "gpubatch bench chain: --devices: there is no device %u (%u device%s)\n", o->devices[i], count,
              count == 1 ? "" : "s");
      return 1;
    }
  }
  bool ok = true;
  for (int m = 0; m < o->mode_count; m++) {
    chain_thread alone = {.index = o->devices[0], .mode = o->modes[m]};
    chain_thread all[MAX_DEVICES] = {{0}};
    for (int i = 0; i < o->device_count; i++) all[i] = (chain_thread){.index = o->devices[i], .mode = o->modes[m]};
    if (!run_threads(&alone, 1, o) || !run_threads(all, o->device_count, o)) return 1;
    bool mode_ok = alone.ok && alone.r.correct, within = true;
    double aggregate = 0, limit = alone.r.median_us + (alone.r.max_us - alone.r.min_us);
    for (int i = 0; i < o->device_count; i++) {
      mode_ok = mode_ok && all[i].ok && all[i].r.correct;
      aggregate += per_second(all[i].r.median_us);
      within = within && all[i].r.median_us <= limit;
    }
    if (alone.ok && mode_ok) {
      if (o->json)
        print_multi_json(o, o->modes[m], &alone, all, aggregate, mode_ok, within);
      else
        print_multi_table(o, o->modes[m], &alone, all, aggregate, within);
    }
    ok = ok && mode_ok;
  }
  return ok ? 0 : 1;
}

// --devices all | I,J,...: false on bad syntax.
static bool parse_devices(const char *v, chain_opts *o) {
  if (!v || !*v) return false;
  if (strcmp(v, "all") == 0) {
    o->devices_all = true;
    o->device_count = 0;
    return true;
  }
  o->devices_all = false;
  o->device_count = 0;
  for (const char *p = v;;) {
    char *end;
    if (*p < '0' || *p > '9' || o->device_count == MAX_DEVICES) return false;
    unsigned long d = strtoul(p, &end, 10);
    if (d > 1u << 20) return false;
    o->devices[o->device_count++] = (uint32_t)d;
    if (*end == '\0') return true;
    if (*end != ',') return false;
    p = end + 1;
  }
}

static bool parse_u32(const char *s, uint32_t *out) {
  char *end;
  unsigned long v = strtoul(s ? s : "", &end, 10);
  if (!s || !*s || *end || v == 0 || v > UINT32_MAX) return false;
  *out = (uint32_t)v;
  return true;
}

static void chain_usage(FILE *out) {
  fprintf(out,
          "usage: gpubatch bench chain [--n N] [--reps R] [--mode immediate|batched|replay|both|all]\n"
          "         [--pattern dependent|independent] [--barriers tracked|always] [--cap DISPATCHES]\n"
          "         [--device I | --devices all|I,J,...] [--json] [--trace FILE.json] [--sweep [--plot FILE.svg]]\n"
          "  --sweep runs N = 10, 30, 100, 300, ... up to --n for every --mode and prints (or\n"
          "  plots as SVG) microseconds per dispatch against N.\n"
          "  --devices runs the chain on the first listed device alone, then on every listed\n"
          "  device at once, one thread and device open each (an index may repeat: 0,0 opens\n"
          "  device 0 twice), and prints each device's figures, their sum (aggregate) and its\n"
          "  ratio to the single device's; within_single_spread: every device's median is at\n"
          "  most the single run's median plus its spread (max - min).\n");
}

int cli_bench_chain(int argc, char **argv) {
  chain_opts o = {.n = 1000, .reps = 5, .device = -1, .modes = {GPB_MODE_DEFAULT}, .mode_count = 1};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool bad = false, known = true;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      chain_usage(stdout);
      return 0;
    } else if (strcmp(a, "--n") == 0)
      bad = !parse_u32(v, &o.n), i++;
    else if (strcmp(a, "--reps") == 0)
      bad = !parse_u32(v, &o.reps), i++;
    else if (strcmp(a, "--cap") == 0)
      bad = !parse_u32(v, &o.cap), i++;
    else if (strcmp(a, "--device") == 0) {
      uint32_t d = 0;
      bad = !v || (strcmp(v, "0") != 0 && !parse_u32(v, &d)), i++;
      o.device = (int)d;
    } else if (strcmp(a, "--mode") == 0) {
      i++;
      if (v && strcmp(v, "batched") == 0)
        o.modes[0] = GPB_MODE_BATCHED;
      else if (v && strcmp(v, "immediate") == 0)
        o.modes[0] = GPB_MODE_IMMEDIATE;
      else if (v && strcmp(v, "replay") == 0)
        o.modes[0] = MODE_REPLAY;
      else if (v && (strcmp(v, "both") == 0 || strcmp(v, "all") == 0)) {
        o.modes[0] = GPB_MODE_IMMEDIATE;
        o.modes[1] = GPB_MODE_BATCHED;
        o.modes[2] = MODE_REPLAY;
        o.mode_count = strcmp(v, "all") == 0 ? 3 : 2;
      } else
        bad = true;
    } else if (strcmp(a, "--pattern") == 0) {
      i++;
      if (v && strcmp(v, "independent") == 0)
        o.independent = true;
      else
        bad = !v || strcmp(v, "dependent") != 0;
    } else if (strcmp(a, "--barriers") == 0) {
      i++;
      if (v && strcmp(v, "always") == 0)
        o.barriers = GPB_BARRIERS_ALWAYS;
      else
        bad = !v || strcmp(v, "tracked") != 0;
    } else if (strcmp(a, "--trace") == 0) {
      // The device records a Chrome trace (gpb_device_options.trace_path).
      bad = !v || setenv("GPB_TRACE", v, 1) != 0, i++;
    } else if (strcmp(a, "--sweep") == 0)
      o.sweep = true;
    else if (strcmp(a, "--devices") == 0)
      bad = !parse_devices(v, &o), i++;
    else if (strcmp(a, "--plot") == 0)
      bad = !(o.plot = v), i++;
    else if (strcmp(a, "--json") == 0)
      o.json = true;
    else
      known = false;
    if (!known || bad) {
      if (!known)
        fprintf(stderr, "gpubatch bench chain: unknown option '%s'\n", a);
      else if (!v)
        fprintf(stderr, "gpubatch bench chain: %s needs a value\n", a);
      else
        fprintf(stderr, "gpubatch bench chain: bad value '%s' for %s\n", v, a);
      chain_usage(stderr);
      return 2;
    }
  }
  if (o.modes[0] == GPB_MODE_DEFAULT) {
    const char *env = getenv("GPB_MODE");
    o.modes[0] = env && strcmp(env, "immediate") == 0 ? GPB_MODE_IMMEDIATE : GPB_MODE_BATCHED;
  }
  if (o.device_count > 0 || o.devices_all) {
    if (o.sweep || o.device >= 0 || getenv("GPB_TRACE")) {
      fprintf(stderr, "gpubatch bench chain: --devices runs without --%s\n",
              o.sweep         ? "sweep"
              : o.device >= 0 ? "device"
                              : "trace (GPB_TRACE)");
      return 2;
    }
    return run_devices(&o);
  }
  gpb_device *dev = cli_open_device(o.device);
  if (!dev) return 1;
  gpb_device_info info;
  gpb_device_query(dev, &info);
  if (o.sweep) {
    int rc = run_sweep(dev, &info, &o);
    gpb_device_close(dev);
    return rc;
  }
  chain_result results[3] = {0};
  bool ok = true;
  for (int m = 0; m < o.mode_count && ok; m++) ok = run_chain(dev, &o, o.modes[m], &results[m]);
  if (ok) {
    if (o.json) {
      for (int m = 0; m < o.mode_count; m++) print_json(&info, &o, o.modes[m], &results[m]);
    } else {
      print_table(&info, &o, results);
    }
  }
  for (int m = 0; m < o.mode_count; m++) ok = ok && results[m].correct;
  if (gpb_device_close(dev) != GPB_OK) {
    fprintf(stderr, "gpubatch: %s\n", gpb_last_error());
    ok = false;
  }
  return ok ? 0 : 1;
}
