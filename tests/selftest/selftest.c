// `gpubatch selftest`: runs random programs on gpubatch and on a CPU model
// and compares every byte (see selftest.h for the parts). Exit 0 only when
// every program matches, no call fails and the validation layer (when on)
// says nothing.
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selftest.h"

typedef struct selftest_opts {
  uint64_t seed;
  uint32_t programs, ops, streams;
  int64_t only;                       // -1: all programs
  int device;                         // -1: the default device
  unsigned weights[ST_OP_KIND_COUNT]; // how often each op is drawn (--weight, --without)
  bool json, verbose, validate, minimize, trace, inject_bug, inject_race;
} selftest_opts;

// What went wrong with one program, validation messages included.
typedef enum failure_kind { FAIL_NONE, FAIL_MISMATCH, FAIL_ERROR, FAIL_VALIDATION } failure_kind;

typedef struct totals {
  uint64_t programs, ops, mismatches, errors, validation_messages, failed;
} totals;

// Validation messages arrive on a driver thread; the first of each program is
// kept for its report.
static struct {
  char first[512];
  bool have_first;
} g_messages;

static void on_validation_message(void *user, int severity, const char *message) {
  const selftest_opts *o = user;
  if (!g_messages.have_first) {
    snprintf(g_messages.first, sizeof g_messages.first, "%s", message);
    g_messages.have_first = true;
  }
  if (o->verbose) fprintf(stderr, "validation (%s): %s\n", severity >= 2 ? "error" : "warning", message);
}

static void usage(FILE *out) {
  fprintf(out, "usage: gpubatch selftest [--seed S] [--programs N] [--ops K] [--streams M] [--only I]\n"
               "                         [--json] [--device I] [--validate] [--verbose] [--minimize]\n"
               "                         [--trace] [--without OP]... [--weight OP=N]...\n"
               "  Runs N random programs (program i seeded from S and i) of K ops over M streams\n"
               "  (default: seed 1, 100 programs, 40 ops, 2 streams) on gpubatch and on a CPU model,\n"
               "  and compares every byte read back. --only I runs program I alone; --minimize\n"
               "  shrinks a failing program and prints the smallest that still fails the same way.\n"
               "  --validate (or GPB_VALIDATION=1) turns on the validation layer; any message fails.\n"
               "  --trace prints every op to stderr before it runs (to locate a crash or hang).\n"
               "  --weight OP=N draws op OP with weight N (defaults: dispatch 38, upload 12, copy 10,\n"
               "  readback 8, map-read 4, map-write 3, free 6 (with a create after it), sync 5,\n"
               "  flush 5, wait 6, dev-sync 1, recreate 2, capture 3 (with its end-capture), replay 6,\n"
               "  drop-capture 1); --without OP is --weight OP=0.\n"
               "  Exit status: 0 all matched, 1 a mismatch, error or validation message, 2 usage.\n");
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return false;
  unsigned long long v = strtoull(s, &end, 0);
  if (*end) return false;
  *out = v;
  return true;
}

// "--without OP" or "--weight OP=N": sets OP's draw weight (0 or N).
static bool parse_weight(const char *flag, const char *value, unsigned weights[ST_OP_KIND_COUNT]) {
  char name[32];
  uint64_t weight = 0;
  const char *eq = value ? strchr(value, '=') : NULL;
  if (!value) return false;
  if (strcmp(flag, "--weight") == 0) {
    if (!eq || (size_t)(eq - value) >= sizeof name || !parse_u64(eq + 1, &weight) || weight > 1000) return false;
    snprintf(name, sizeof name, "%.*s", (int)(eq - value), value);
  } else {
    snprintf(name, sizeof name, "%s", value);
  }
  int kind = st_op_kind_from_name(name);
  if (kind < 0 || kind == ST_OP_CREATE || kind == ST_OP_END_CAPTURE) return false;
  weights[kind] = (unsigned)weight;
  return true;
}

// An option that takes a value: false if `a` is none; *ok false if `v` is bad.
static bool parse_valued(const char *a, const char *v, selftest_opts *o, bool *ok) {
  uint64_t n = 0;
  if (strcmp(a, "--seed") == 0) {
    *ok = parse_u64(v, &o->seed);
  } else if (strcmp(a, "--programs") == 0) {
    *ok = parse_u64(v, &n) && n >= 1 && n <= UINT32_MAX;
    o->programs = (uint32_t)n;
  } else if (strcmp(a, "--ops") == 0) {
    *ok = parse_u64(v, &n) && n <= 100000;
    o->ops = (uint32_t)n;
  } else if (strcmp(a, "--streams") == 0) {
    *ok = parse_u64(v, &n) && n >= 2 && n <= ST_MAX_STREAMS;
    o->streams = (uint32_t)n;
  } else if (strcmp(a, "--only") == 0) {
    *ok = parse_u64(v, &n) && n < INT64_MAX;
    o->only = (int64_t)n;
  } else if (strcmp(a, "--device") == 0) {
    *ok = parse_u64(v, &n) && n < 1000;
    o->device = (int)n;
  } else if (strcmp(a, "--without") == 0 || strcmp(a, "--weight") == 0) {
    *ok = parse_weight(a, v, o->weights);
  } else {
    return false;
  }
  return true;
}

// A flag without a value: false if `a` is none.
static bool parse_flag(const char *a, selftest_opts *o) {
  if (strcmp(a, "--json") == 0) {
    o->json = true;
  } else if (strcmp(a, "--verbose") == 0) {
    o->verbose = true;
  } else if (strcmp(a, "--validate") == 0) {
    o->validate = true;
  } else if (strcmp(a, "--minimize") == 0) {
    o->minimize = true;
  } else if (strcmp(a, "--trace") == 0) {
    o->trace = true;
  } else if (strcmp(a, "--inject-bug") == 0) {
    // Hidden: proves the tester can fail (a ctest expects this to fail).
    o->inject_bug = true;
  } else if (strcmp(a, "--inject-race") == 0) {
    // Hidden: leaves out the waits that make programs race-free, to show
    // what the validation layer (and the device) make of real races.
    o->inject_race = true;
  } else {
    return false;
  }
  return true;
}

// Returns 0 on success, 2 on a usage error (after printing why), 1 on --help.
static int parse_args(int argc, char **argv, selftest_opts *o) {
  *o = (selftest_opts){.seed = 1, .programs = 100, .ops = 40, .streams = 2, .only = -1, .device = -1};
  memcpy(o->weights, st_default_op_weights, sizeof o->weights);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return 1;
    bool ok = true;
    if (parse_valued(a, v, o, &ok)) {
      i++;
      if (!ok) {
        if (v)
          fprintf(stderr, "gpubatch selftest: bad value '%s' for %s\n", v, a);
        else
          fprintf(stderr, "gpubatch selftest: %s needs a value\n", a);
        return 2;
      }
    } else if (!parse_flag(a, o)) {
      fprintf(stderr, "gpubatch selftest: unknown option '%s'\n", a);
      return 2;
    }
  }
  return 0;
}

static gpb_device *open_device(selftest_opts *o) {
  const char *env = getenv("GPB_VALIDATION");
  if (env && strcmp(env, "1") == 0) o->validate = true;
  gpb_device_options opts = {.validation = o->validate, .on_message = on_validation_message, .on_message_user = o};
  gpb_device *dev = NULL;
  gpb_status st =
      o->device >= 0 ? gpb_device_open((uint32_t)o->device, &opts, &dev) : gpb_device_open_default(&opts, &dev);
  if (st != GPB_OK) fprintf(stderr, "gpubatch selftest: %s: %s\n", gpb_status_name(st), gpb_last_error());
  return dev;
}

// ---- one program ---------------------------------------------------------------------

typedef struct program_run {
  st_program legal;
  st_result result;
  uint64_t validation_messages;
  failure_kind failure;
} program_run;

// Legalizes and runs `intent`; false only when out of host memory.
static bool run_intent(st_device *d, const st_program *intent, program_run *run) {
  memset(run, 0, sizeof *run);
  if (!st_legalize(intent, d->info.min_storage_buffer_offset_alignment, &run->legal)) return false;
  if (d->inject_race) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < run->legal.op_count; i++) {
      const st_op *op = &run->legal.ops[i];
      bool race_fix = op->inserted && (op->kind == ST_OP_WAIT || op->kind == ST_OP_SYNC);
      if (!race_fix) run->legal.ops[kept++] = *op;
    }
    run->legal.op_count = kept;
  }
  g_messages.have_first = false;
  uint64_t before = gpb_device_validation_message_count(d->dev);
  st_run_program(d, &run->legal, &run->result);
  run->validation_messages = gpb_device_validation_message_count(d->dev) - before;
  if (run->result.outcome == ST_MISMATCH)
    run->failure = FAIL_MISMATCH;
  else if (run->result.outcome == ST_API_ERROR)
    run->failure = FAIL_ERROR;
  else if (run->validation_messages)
    run->failure = FAIL_VALIDATION;
  return true;
}

static void print_program(FILE *out, const st_program *p) {
  fprintf(out, "  streams:\n");
  st_print_options(out, p, "    ");
  fprintf(out, "  ops:\n");
  for (uint32_t i = 0; i < p->op_count; i++) st_print_op(out, &p->ops[i], i, "    ");
}

static void report_failure(FILE *out, const selftest_opts *o, uint64_t index, const program_run *run,
                           const char *label) {
  const st_result *r = &run->result;
  fprintf(out, "FAIL %sprogram %" PRIu64 " (--seed %" PRIu64 " --only %" PRIu64 "): ", label, index, o->seed, index);
  if (run->failure == FAIL_VALIDATION) {
    fprintf(out, "%" PRIu64 " validation messages; first: %s\n", run->validation_messages,
            g_messages.have_first ? g_messages.first : "(not captured)");
  } else {
    if (r->op_index >= 0)
      fprintf(out, "%s at op #%d: ", run->failure == FAIL_MISMATCH ? "mismatch" : "error", r->op_index);
    else
      fprintf(out, "%s after the last op: ", run->failure == FAIL_MISMATCH ? "mismatch" : "error");
    fprintf(out, "%s", r->message);
    if (run->validation_messages) fprintf(out, " (and %" PRIu64 " validation messages)", run->validation_messages);
    fprintf(out, "\n");
  }
  print_program(out, &run->legal);
}

// ---- minimization ----------------------------------------------------------------------
//
// Delta debugging over the intent ops: drop chunks (halving their size) while
// the program still fails the same way, then try default stream options.
// st_legalize re-derives the race waits of each candidate and drops ops left
// without their buffer, so every candidate is a valid program.

#define MINIMIZE_MAX_RUNS 3000

static bool same_failure(st_device *d, const st_program *candidate, failure_kind want, uint32_t *runs) {
  program_run run;
  (*runs)++;
  bool ok = run_intent(d, candidate, &run);
  st_program_free(&run.legal);
  return ok && run.failure == want;
}

static bool without_chunk(const st_program *p, uint32_t start, uint32_t len, st_program *out) {
  *out = *p;
  out->ops = NULL;
  out->op_count = out->op_cap = 0;
  for (uint32_t i = 0; i < p->op_count; i++) {
    if ((i < start || i >= start + len) && !st_program_push(out, &p->ops[i])) return false;
  }
  return true;
}

static void minimize(st_device *d, const selftest_opts *o, uint64_t index, st_program *intent, failure_kind want) {
  uint32_t runs = 0;
  for (uint32_t chunk = intent->op_count / 2; chunk >= 1 && runs < MINIMIZE_MAX_RUNS;) {
    bool removed = false;
    for (uint32_t start = 0; start < intent->op_count && runs < MINIMIZE_MAX_RUNS;) {
      st_program candidate;
      if (!without_chunk(intent, start, chunk, &candidate)) return;
      if (same_failure(d, &candidate, want, &runs)) {
        st_program_free(intent);
        *intent = candidate;
        removed = true;
      } else {
        st_program_free(&candidate);
        start += chunk;
      }
    }
    if (!removed)
      chunk /= 2;
    else if (chunk > intent->op_count / 2)
      chunk = intent->op_count / 2 ? intent->op_count / 2 : 1;
  }
  for (uint32_t s = 1; s < intent->stream_count && runs < MINIMIZE_MAX_RUNS; s++) {
    gpb_stream_options saved = intent->options[s];
    intent->options[s] = (gpb_stream_options){0};
    if (!same_failure(d, intent, want, &runs)) intent->options[s] = saved;
  }
  program_run run;
  if (!run_intent(d, intent, &run)) return;
  FILE *out = o->json ? stderr : stdout;
  fprintf(out, "minimized after %u runs to %u ops%s:\n", runs, run.legal.op_count,
          run.failure == want ? "" : " (but the last run passed: the failure is intermittent)");
  report_failure(out, o, index, &run, "minimized ");
  st_program_free(&run.legal);
}

// ---- the loop --------------------------------------------------------------------------

static bool run_one(st_device *d, const selftest_opts *o, uint64_t index, totals *t) {
  st_gen_params params = {.ops = o->ops, .streams = o->streams, .align = d->info.min_storage_buffer_offset_alignment};
  memcpy(params.weights, o->weights, sizeof params.weights);
  st_program intent;
  program_run run;
  if (!st_generate(st_program_seed(o->seed, index), &params, &intent)) return false;
  if (o->trace) {
    fprintf(stderr, "trace program %" PRIu64 "\n", index);
    st_print_options(stderr, &intent, "trace   ");
  }
  if (!run_intent(d, &intent, &run)) {
    st_program_free(&intent);
    return false;
  }
  t->programs++;
  t->ops += run.result.ops_run;
  t->validation_messages += run.validation_messages;
  if (run.failure == FAIL_MISMATCH) t->mismatches++;
  if (run.failure == FAIL_ERROR) t->errors++;
  FILE *out = o->json ? stderr : stdout;
  if (run.failure != FAIL_NONE) {
    t->failed++;
    report_failure(out, o, index, &run, "");
    fflush(out); // a runtime bug may crash the driver next: keep what was found
  } else if (o->verbose) {
    fprintf(out, "ok program %" PRIu64 " (%u ops)\n", index, run.legal.op_count);
    print_program(out, &run.legal);
  }
  if (run.failure != FAIL_NONE && o->minimize) minimize(d, o, index, &intent, run.failure);
  st_program_free(&run.legal);
  st_program_free(&intent);
  return true;
}

int cli_selftest(int argc, char **argv) {
  selftest_opts o;
  int parsed = parse_args(argc, argv, &o);
  if (parsed != 0) {
    usage(parsed == 1 ? stdout : stderr);
    return parsed == 1 ? 0 : 2;
  }
  // (the CLI's main pins the driver libraries under ASan: tests/asan_pin.h)
  st_device d = {.inject_bug = o.inject_bug, .inject_race = o.inject_race, .trace = o.trace};
  d.dev = open_device(&o);
  if (!d.dev) return 1;
  gpb_status st = st_device_init(&d);
  if (st != GPB_OK) {
    fprintf(stderr, "gpubatch selftest: loading kernels: %s: %s\n", gpb_status_name(st), gpb_last_error());
    st_device_release(&d);
    gpb_device_close(d.dev);
    return 1;
  }
  totals t = {0};
  double t0 = cli_now_us();
  bool ok = true;
  uint64_t first = o.only >= 0 ? (uint64_t)o.only : 0, end = o.only >= 0 ? first + 1 : o.programs;
  for (uint64_t i = first; ok && i < end; i++) ok = run_one(&d, &o, i, &t);
  if (!ok) fprintf(stderr, "gpubatch selftest: out of host memory\n");
  double seconds = (cli_now_us() - t0) / 1e6;
  if (st_device_release(&d) != GPB_OK) {
    fprintf(stderr, "gpubatch selftest: destroying the kernels: %s\n", gpb_last_error());
    ok = false;
  }
  if (gpb_device_close(d.dev) != GPB_OK) {
    fprintf(stderr, "gpubatch selftest: closing the device: %s\n", gpb_last_error());
    ok = false;
  }
  ok = ok && t.failed == 0;
  char name[600];
  if (o.json) {
    printf("{\"programs\": %" PRIu64 ", \"mismatches\": %" PRIu64 ", \"errors\": %" PRIu64
           ", \"validation_messages\": %" PRIu64 ", \"failed_programs\": %" PRIu64 ", \"ops\": %" PRIu64
           ", \"seed\": %" PRIu64 ", \"ops_per_program\": %u, \"streams\": %u, \"validation\": %s, \"device\": \"%s\", "
           "\"seconds\": %.2f, \"passed\": %s}\n",
           t.programs, t.mismatches, t.errors, t.validation_messages, t.failed, t.ops, o.seed, o.ops, o.streams,
           o.validate ? "true" : "false", cli_json_escape(d.info.name, name, sizeof name), seconds,
           ok ? "true" : "false");
  } else {
    printf("selftest %s: %" PRIu64 " programs, %" PRIu64 " ops, %" PRIu64 " mismatches, %" PRIu64 " errors, %" PRIu64
           " validation messages%s; seed %" PRIu64 ", %u streams, device %s, %.1f s\n",
           ok ? "passed" : "FAILED", t.programs, t.ops, t.mismatches, t.errors, t.validation_messages,
           o.validate ? "" : " (validation off)", o.seed, o.streams, d.info.name, seconds);
  }
  return ok ? 0 : 1;
}
