// cli.c: `gpubatch llama` -- greedy decoding with timings and counters.
//
// The loop is llama2.c's generate(): start from BOS (and the prompt), run
// one step per position, force the prompt's tokens while it lasts, then
// take the argmax; stop after --steps positions or when BOS comes out.
// The same loop drives the GPU decoder and the CPU reference.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cpu_forward.h"
#include "gpu_forward.h"
#include "llama_cli.h"
#include "tokenizer.h"

typedef struct cli_options {
  const char *checkpoint, *tokenizer, *prompt, *prompt_ids, *dump_logits;
  long long steps, threads, device, attention_split, max_batch, ffn_rows, classifier_rows, wide_rows, wide_groups,
      wide_split, persistent_groups, wait_spin_us;
  bool json, cpu, replay, ahead, record_ahead, progress, info, weights_given, phase_times, int_dot;
  gpb_mode mode;
  llama_plan plan;
  llama_weight_type weights;
  // --devices: decode on these (an index may repeat) at once, one thread
  // and device open each; devices_all: every usable device.
  uint32_t devices[16];
  int device_count;
  bool devices_all;
} cli_options;

#define MAX_DEVICES 16

#define DEFAULT_GPU_SPIN_US 20000u

typedef struct decode_run {
  int32_t *prompt; // BOS first
  int32_t prompt_count;
  uint32_t *generated; // the tokens sampled after the prompt
  uint32_t generated_count;
  uint32_t steps_run;
  bool stopped_at_bos;
  double first_step_s, rest_s; // wall time of step 1 and of steps 2..n
} decode_run;

// The decoder behind the loop: exactly one of cpu / gpu is set.
typedef struct decoder {
  llama_cpu *cpu;
  llama_gpu *gpu;
  float *logits; // host copy for --dump-logits (GPU)
  int32_t vocab;
  llama_weight_type cpu_weights; // the file's, for the report
} decoder;

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s --model FILE [--tokenizer FILE] [--prompt TEXT | --prompt-ids 1,2,3]\n"
          "       [--steps N] [--mode immediate|batched|replay|cpu] [--ahead | --record-ahead]\n"
          "       [--cpu] [--plan auto|fused|wide|persistent] [--weights f32|f16] [--info]\n"
          "       [--threads N] [--json] [--progress] [--dump-logits FILE] [--device I]\n"
          "       [--attention-split N] [--ffn-rows N] [--classifier-rows N] [--wide-rows N] [--wide-groups N]\n"
          "       [--wide-split N] [--persistent-groups N] [--phase-times] [--int-dot]\n"
          "       [--max-batch-dispatches N] [--wait-spin-us N] [--trace FILE.json] [--devices all|I,J,...]\n"
          "Greedy decoding of a Llama model on gpubatch, token by token: each step\n"
          "is one chain of dispatches and one readback of the classifier workgroups' best\n"
          "logits (2 KB at stories15M), whose best is the token. --steps counts positions,\n"
          "BOS included (0 or more than seq_len: seq_len).\n"
          "--model (or --checkpoint) takes a llama2.c checkpoint or a GGUF file of the\n"
          "llama architecture (F32, F16, BF16, Q8_0 or Q4_0 matrices, kept in their type\n"
          "on the GPU; the fused plan takes F32 and F16 only), told apart by content. A\n"
          "GGUF file's own tokenizer (tokenizer.ggml.model \"llama\") is used unless\n"
          "--tokenizer gives one. --info prints what the file holds and exits.\n"
          "--mode picks the stream mode (default: $GPB_MODE, else batched); replay records\n"
          "each step shape once as a gpubatch program and replays it (batched stream);\n"
          "--mode cpu or --cpu decodes with the CPU reference on --threads threads\n"
          "(default 1).\n"
          "--ahead (GPU): submit step n+1 before reading step n's token; the GPU takes\n"
          "step n's argmax as step n+1's token itself, so it never waits for the host.\n"
          "--record-ahead (GPU): the host picks every token, as a sampler does, but\n"
          "records step n+1 while the GPU runs step n, then writes its token into the\n"
          "step's mapped values and submits it.\n"
          "--plan (GPU): fused runs 2 dispatches per layer (for small models, whose step\n"
          "is bound by its chain of dispatches), wide one per matrix-vector product over\n"
          "many workgroups (for models whose step is bound by its weights' bytes),\n"
          "persistent the wide plan's work with all layers in one dispatch whose\n"
          "workgroups, all resident at once, meet at grid barriers; auto (default) picks\n"
          "fused or, past 4 MiB of weights a layer, persistent where the device reports\n"
          "its SMs (else wide).\n"
          "--weights f16: float32 matrices converted to IEEE half at load (the CPU\n"
          "reference rounds them the same way); arithmetic stays float32. Default: the\n"
          "file's types.\n"
          "--json prints one JSON object (tokens, tok_per_s, dispatches_per_token,\n"
          "submits_per_token, mode, plan, persistent_groups, weights, int_dot, device, counters;\n"
          "phase_times with --phase-times) instead of text.\n"
          "--dump-logits writes the float32 logits of every step to FILE; on the GPU that\n"
          "adds one readback of the logits per step (and its submit and wait), so the\n"
          "timings and counters of such a run are not those of plain decoding.\n"
          "tok_per_s excludes the first step (pipeline creation and first-touch costs).\n"
          "--attention-split N: positions per attention workgroup (1..256, default 64).\n"
          "--ffn-rows N, --classifier-rows N: hidden rows per FFN workgroup (default 16)\n"
          "and vocabulary rows per classifier workgroup (fused: default 128, multiples of\n"
          "4; wide: default 64, at most 256). --wide-rows N: rows per workgroup of the\n"
          "wide plan's layer products (even, default 16, f32: 32); --wide-groups N: at most N\n"
          "workgroups per layer product, each taking several blocks of rows (default 0:\n"
          "one workgroup per block; either keeps auto on the wide plan); --wide-split N:\n"
          "subgroups per row pair of a layer product, 1..8 (default 0: picked per\n"
          "product; the persistent kernel picks from its own grid). --persistent-groups N:\n"
          "workgroups of the persistent plan's layers, all of which must run on the\n"
          "device at once (default: the most of 3, 2 or 1 per SM that do, tried when the\n"
          "model loads, where the device reports its SMs; else 1). --phase-times (persistent\n"
          "plan, a device with VK_KHR_shader_clock): where the last step's layers kernel\n"
          "spent its time, per phase kind summed over the layers, from each workgroup's\n"
          "device clock at the grid barriers (gpu_forward.h, llama_phase_times).\n"
          "--int-dot: the persistent plan's Q8_0/Q4_0 layers multiply by their input staged\n"
          "as 24-bit fixed point with packed 8-bit integer dot products (a device with\n"
          "VK_KHR_shader_integer_dot_product; gpu_forward.h, llama_gpu_options.int_dot).\n"
          "--max-batch-dispatches N: the stream submits after N dispatches (default: the\n"
          "library's), so a step can start on the GPU while the rest is recorded.\n"
          "--wait-spin-us N: how long the host polls for a step before it blocks (default\n"
          "on GPUs: 20000, longer than a step of the models here, since waking a blocked\n"
          "thread costs ~100 us there; on CPU devices: the library's, no polling).\n"
          "--devices all|I,J,...: decode on the first listed device alone, then on every\n"
          "listed device at once, one thread and decoder each (an index may repeat: 0,0\n"
          "opens device 0 twice); prints each device's tok/s, their sum (aggregate), its\n"
          "ratio to the single device's, and whether every device's tokens are the single\n"
          "run's (same_tokens).\n",
          prog);
}

static int parse_int(const char *flag, const char *text, long long min, long long max, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "llama: %s expects an integer in %lld..%lld, got '%s'\n", flag, min, max, text);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_plan(const char *text, cli_options *o) {
  if (llama_plan_from_name(text, &o->plan) == 0) return 0;
  fprintf(stderr, "llama: --plan expects auto, fused, wide or persistent, got '%s'\n", text);
  return -1;
}

static int parse_weights(const char *text, cli_options *o) {
  o->weights_given = true;
  if (llama_weight_type_from_name(text, &o->weights) == 0 && o->weights <= LLAMA_WEIGHTS_F16) return 0;
  fprintf(stderr, "llama: --weights expects f32 or f16 (other types come from a GGUF file), got '%s'\n", text);
  return -1;
}

// --devices all | I,J,...
static int parse_devices(const char *text, cli_options *o) {
  o->device_count = 0;
  o->devices_all = !strcmp(text, "all");
  if (o->devices_all) return 0;
  for (const char *p = text;;) {
    char *end;
    if (*p < '0' || *p > '9' || o->device_count == MAX_DEVICES) break;
    unsigned long d = strtoul(p, &end, 10);
    if (d > 1u << 20) break;
    o->devices[o->device_count++] = (uint32_t)d;
    if (*end == '\0') return 0;
    if (*end != ',') break;
    p = end + 1;
  }
  fprintf(stderr, "llama: bad value '%s' for --devices (all, or up to %d device indices such as 0,1)\n", text,
          MAX_DEVICES);
  return -1;
}

static int parse_mode(const char *text, cli_options *o) {
  o->replay = false; // the last --mode wins
  if (!strcmp(text, "immediate"))
    o->mode = GPB_MODE_IMMEDIATE;
  else if (!strcmp(text, "batched"))
    o->mode = GPB_MODE_BATCHED;
  else if (!strcmp(text, "replay")) {
    o->mode = GPB_MODE_BATCHED;
    o->replay = true;
  } else if (!strcmp(text, "cpu"))
    o->cpu = true;
  else {
    fprintf(stderr, "llama: --mode expects immediate, batched, replay or cpu, got '%s'\n", text);
    return -1;
  }
  return 0;
}

// Returns 0, 1 when help was printed, or 2 on a usage error.
static int parse_args(int argc, char **argv, cli_options *o) {
  const char *prog = argc > 0 ? argv[0] : "llama";
  *o = (cli_options){.threads = 1, .device = -1, .mode = GPB_MODE_DEFAULT};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout, prog);
      return 1;
    }
    if (!strcmp(a, "--progress")) {
      o->progress = true;
      continue;
    }
    if (!strcmp(a, "--phase-times")) {
      o->phase_times = true;
      continue;
    }
    if (!strcmp(a, "--int-dot")) {
      o->int_dot = true;
      continue;
    }
    if (!strcmp(a, "--json")) {
      o->json = true;
      continue;
    }
    if (!strcmp(a, "--cpu")) {
      o->cpu = true;
      continue;
    }
    if (!strcmp(a, "--ahead")) {
      o->ahead = true;
      continue;
    }
    if (!strcmp(a, "--record-ahead")) {
      o->record_ahead = true;
      continue;
    }
    if (!strcmp(a, "--info")) {
      o->info = true;
      continue;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v || strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "llama: unknown option or missing value: %s\n", a);
      usage(stderr, prog);
      return 2;
    }
    i++;
    int bad = 0;
    if (!strcmp(a, "--checkpoint") || !strcmp(a, "--model"))
      o->checkpoint = v;
    else if (!strcmp(a, "--tokenizer"))
      o->tokenizer = v;
    else if (!strcmp(a, "--prompt"))
      o->prompt = v;
    else if (!strcmp(a, "--prompt-ids"))
      o->prompt_ids = v;
    else if (!strcmp(a, "--dump-logits"))
      o->dump_logits = v;
    else if (!strcmp(a, "--steps"))
      bad = parse_int(a, v, 0, 1 << 30, &o->steps);
    else if (!strcmp(a, "--threads"))
      bad = parse_int(a, v, 1, 1024, &o->threads);
    else if (!strcmp(a, "--device"))
      bad = parse_int(a, v, 0, 1 << 20, &o->device);
    else if (!strcmp(a, "--attention-split"))
      bad = parse_int(a, v, 1, 256, &o->attention_split);
    else if (!strcmp(a, "--ffn-rows"))
      bad = parse_int(a, v, 4, 256, &o->ffn_rows);
    else if (!strcmp(a, "--classifier-rows"))
      bad = parse_int(a, v, 1, 4096, &o->classifier_rows);
    else if (!strcmp(a, "--wide-rows"))
      bad = parse_int(a, v, 2, 256, &o->wide_rows);
    else if (!strcmp(a, "--wide-groups"))
      bad = parse_int(a, v, 0, 1 << 20, &o->wide_groups);
    else if (!strcmp(a, "--wide-split"))
      bad = parse_int(a, v, 0, 8, &o->wide_split);
    else if (!strcmp(a, "--persistent-groups"))
      bad = parse_int(a, v, 0, 1 << 16, &o->persistent_groups);
    else if (!strcmp(a, "--plan"))
      bad = parse_plan(v, o);
    else if (!strcmp(a, "--weights"))
      bad = parse_weights(v, o);
    else if (!strcmp(a, "--wait-spin-us"))
      bad = parse_int(a, v, 1, UINT32_MAX, &o->wait_spin_us);
    else if (!strcmp(a, "--max-batch-dispatches"))
      bad = parse_int(a, v, 1, UINT32_MAX, &o->max_batch);
    else if (!strcmp(a, "--mode"))
      bad = parse_mode(v, o);
    else if (!strcmp(a, "--devices"))
      bad = parse_devices(v, o);
    else if (!strcmp(a, "--trace")) // the device writes a Chrome trace (GPB_TRACE) when it closes
      bad = setenv("GPB_TRACE", v, 1) != 0;
    else {
      fprintf(stderr, "llama: unknown option %s\n", a);
      usage(stderr, prog);
      return 2;
    }
    if (bad) return 2;
  }
  if (!o->checkpoint) {
    fprintf(stderr, "llama: --model FILE (or --checkpoint FILE) is required\n");
    usage(stderr, prog);
    return 2;
  }
  if (o->cpu && (o->ahead || o->record_ahead)) {
    fprintf(stderr, "llama: --%s runs on the GPU; --mode cpu (--cpu) decodes with the CPU reference\n",
            o->ahead ? "ahead" : "record-ahead");
    return 2;
  }
  if (o->ahead && o->record_ahead) {
    fprintf(stderr, "llama: give --ahead or --record-ahead, not both (the GPU or the host picks the token)\n");
    return 2;
  }
  if (o->prompt && o->prompt_ids) {
    fprintf(stderr, "llama: give --prompt or --prompt-ids, not both\n");
    return 2;
  }
  if (o->device_count > 0 || o->devices_all) {
    const char *other = o->cpu                                        ? "--cpu (--mode cpu)"
                        : o->device >= 0                              ? "--device"
                        : o->dump_logits                              ? "--dump-logits"
                        : o->progress                                 ? "--progress"
                        : getenv("GPB_TRACE") && *getenv("GPB_TRACE") ? "--trace (GPB_TRACE)"
                                                                      : NULL;
    if (other) {
      fprintf(stderr, "llama: --devices decodes on GPUs without %s\n", other);
      return 2;
    }
  }
  return 0;
}

// BOS followed by the prompt's ids.
static int build_prompt(const cli_options *o, const llama_tokenizer *tok, int32_t vocab, decode_run *run,
                        llama_error *err) {
  if (o->prompt) {
    if (llama_tokenizer_encode(tok, o->prompt, tok->add_bos, &run->prompt, &run->prompt_count, err)) return -1;
    if (run->prompt_count == 0) return llama_error_set(err, "--prompt: the text encodes to no tokens");
    return 0;
  }
  size_t cap = 1 + (o->prompt_ids ? strlen(o->prompt_ids) : 0);
  run->prompt = malloc(cap * sizeof(int32_t));
  if (!run->prompt) return llama_error_set(err, "out of memory");
  run->prompt[run->prompt_count++] = tok ? tok->bos_id : (int32_t)LLAMA_BOS;
  for (const char *p = o->prompt_ids; p && *p;) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || v < 0 || v >= vocab || (*end != ',' && *end != '\0'))
      return llama_error_set(err, "--prompt-ids: '%s' is not a list of ids below %d", o->prompt_ids, (int)vocab);
    run->prompt[run->prompt_count++] = (int32_t)v;
    p = *end == ',' ? end + 1 : end;
  }
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// One step; *out_logits is set when `want_logits` (costs a readback on the GPU).
static int decoder_step(decoder *d, uint32_t token, uint32_t pos, bool want_logits, uint32_t *out_next,
                        const float **out_logits, llama_error *err) {
  if (d->cpu) {
    const float *logits = llama_cpu_forward(d->cpu, (int32_t)token, (int32_t)pos);
    int32_t next = llama_argmax(logits, d->vocab);
    if (next < 0) return llama_error_set(err, "step at pos %u: every logit is NaN", pos);
    *out_next = (uint32_t)next;
    *out_logits = logits;
    return 0;
  }
  if (llama_gpu_step(d->gpu, token, pos, out_next, err)) return -1;
  if (want_logits && llama_gpu_read_logits(d->gpu, pos, d->logits, err)) return -1;
  *out_logits = d->logits;
  return 0;
}

// Whether the token after pos is still the prompt's (prompt[pos + 1]).
static bool prompt_continues(const decode_run *run, uint32_t pos) { return pos + 1 < (uint32_t)run->prompt_count; }

// Ahead (GPU): submits step pos + 1 (its token from the prompt, else the
// GPU's argmax of step pos), then collects step pos, which finished or runs.
static int decoder_step_ahead(decoder *d, const decode_run *run, uint32_t steps, uint32_t pos, bool want_logits,
                              uint32_t *out_next, const float **out_logits, llama_error *err) {
  if (pos + 1 < steps) {
    uint32_t token = prompt_continues(run, pos) ? (uint32_t)run->prompt[pos + 1] : LLAMA_GPU_TOKEN_FROM_GPU;
    if (llama_gpu_submit(d->gpu, token, pos + 1, err)) return -1;
  }
  if (llama_gpu_collect(d->gpu, pos, out_next, err)) return -1;
  if (want_logits && llama_gpu_read_logits(d->gpu, pos, d->logits, err)) return -1;
  *out_logits = d->logits;
  return 0;
}

// Record-ahead (GPU): records step pos + 1 while step pos runs, collects step
// pos, then commits step pos + 1 with its token (the prompt's, else the
// argmax just read; after BOS, where decoding stops, it stays uncommitted).
// Logits are read after the commit: reading them flushes the stream.
static int decoder_step_record_ahead(decoder *d, const decode_run *run, uint32_t steps, uint32_t pos, bool want_logits,
                                     uint32_t *out_next, const float **out_logits, llama_error *err) {
  bool more = pos + 1 < steps;
  if (more && llama_gpu_prepare(d->gpu, pos + 1, err)) return -1;
  if (llama_gpu_collect(d->gpu, pos, out_next, err)) return -1;
  bool in_prompt = prompt_continues(run, pos);
  uint32_t token = in_prompt ? (uint32_t)run->prompt[pos + 1] : *out_next;
  if (more && (in_prompt || token != LLAMA_BOS) && llama_gpu_commit(d->gpu, token, pos + 1, err)) return -1;
  if (want_logits && llama_gpu_read_logits(d->gpu, pos, d->logits, err)) return -1;
  *out_logits = d->logits;
  return 0;
}

static void print_piece(const llama_tokenizer *tok, uint32_t prev, uint32_t token) {
  if (!tok) {
    printf(" %u", token);
  } else {
    const char *piece = llama_tokenizer_decode(tok, (int32_t)prev, (int32_t)token);
    if (llama_piece_printable(piece)) fputs(piece, stdout);
  }
  fflush(stdout);
}

// --progress: steps done so far on stderr, a few updates per run (so the
// decode's timing does not notice): a line rewritten in place each tenth on a
// terminal, a line each quarter otherwise.
static void show_progress(uint32_t done, uint32_t total, uint32_t *shown) {
  bool tty = isatty(STDERR_FILENO);
  uint32_t parts = tty ? 10u : 4u, part = (uint32_t)((uint64_t)done * parts / total);
  if (part <= *shown && done != total) return;
  *shown = part;
  if (tty)
    fprintf(stderr, "\r  step %u/%u%s", done, total, done == total ? "\n" : "");
  else
    fprintf(stderr, "  step %u/%u\n", done, total);
}

static int run_decode(decoder *d, const cli_options *o, const llama_tokenizer *tok, uint32_t steps, FILE *dump,
                      decode_run *run, llama_error *err) {
  run->generated = malloc(steps * sizeof(uint32_t));
  if (!run->generated) return llama_error_set(err, "out of memory");
  uint32_t token = (uint32_t)run->prompt[0];
  bool print_text = !o->json;
  if (print_text && !tok) printf("%u", token);
  bool ahead = d->gpu && o->ahead, record_ahead = d->gpu && o->record_ahead;
  double start = now_s(), first_done = start;
  if ((ahead || record_ahead) && llama_gpu_submit(d->gpu, token, 0, err)) return -1;
  uint32_t shown_parts = 0;
  for (uint32_t pos = 0; pos < steps; pos++) {
    uint32_t next;
    const float *logits = NULL;
    int rc = ahead          ? decoder_step_ahead(d, run, steps, pos, dump != NULL, &next, &logits, err)
             : record_ahead ? decoder_step_record_ahead(d, run, steps, pos, dump != NULL, &next, &logits, err)
                            : decoder_step(d, token, pos, dump != NULL, &next, &logits, err);
    if (rc) return -1;
    if (pos == 0) first_done = now_s();
    run->steps_run++;
    if (o->progress) show_progress(run->steps_run, steps, &shown_parts);
    if (dump && fwrite(logits, sizeof(float), (size_t)d->vocab, dump) != (size_t)d->vocab)
      return llama_error_set(err, "writing --dump-logits failed: %s", strerror(errno));
    if (prompt_continues(run, pos)) {
      next = (uint32_t)run->prompt[pos + 1]; // still reading the prompt
    } else {
      if (next == LLAMA_BOS) {
        run->stopped_at_bos = true;
        break;
      }
      run->generated[run->generated_count++] = next;
    }
    if (print_text) print_piece(tok, token, next);
    token = next;
  }
  double end = now_s();
  if (o->progress && run->steps_run < steps && isatty(STDERR_FILENO)) fputc('\n', stderr); // stopped at BOS
  run->first_step_s = first_done - start;
  run->rest_s = end - first_done;
  if (print_text) printf("\n");
  return 0;
}

static const char *mode_name(const cli_options *o, const decoder *d) {
  if (o->cpu) return "cpu";
  if (o->replay) return "replay";
  return gpb_stream_mode(llama_gpu_stream(d->gpu)) == GPB_MODE_IMMEDIATE ? "immediate" : "batched";
}

static void print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      printf("\\%c", ch);
    else if (ch < 0x20)
      printf("\\u%04x", ch);
    else
      putchar(ch);
  }
  putchar('"');
}

typedef struct report {
  const char *mode, *plan, *weights;
  uint32_t persistent_groups; // 0: not the persistent plan
  bool int_dot;
  bool has_phases;
  llama_phase_times phases;
  bool ahead, record_ahead;
  char device[300];
  double tok_per_s, dispatches_per_token, submits_per_token;
  bool has_counters;
  gpb_counters counters;
  uint64_t validation_messages;
} report;

static void print_json(const decode_run *run, const report *r) {
  printf("{\"tokens\": [");
  for (uint32_t i = 0; i < run->generated_count; i++) printf("%s%u", i ? ", " : "", run->generated[i]);
  printf("], \"prompt_tokens\": [");
  for (int32_t i = 0; i < run->prompt_count; i++) printf("%s%d", i ? ", " : "", run->prompt[i]);
  printf("], \"steps\": %u, \"stopped_at_bos\": %s, \"tok_per_s\": %.3f, "
         "\"first_step_ms\": %.3f, \"dispatches_per_token\": %.3f, \"submits_per_token\": %.3f, "
         "\"mode\": \"%s\", \"ahead\": %s, \"record_ahead\": %s, \"plan\": \"%s\", \"persistent_groups\": %u, "
         "\"weights\": \"%s\", \"int_dot\": %s, \"device\": ",
         run->steps_run, run->stopped_at_bos ? "true" : "false", r->tok_per_s, run->first_step_s * 1e3,
         r->dispatches_per_token, r->submits_per_token, r->mode, r->ahead ? "true" : "false",
         r->record_ahead ? "true" : "false", r->plan, r->persistent_groups, r->weights, r->int_dot ? "true" : "false");
  print_json_string(r->device);
  printf(", \"validation_messages\": %llu, ", (unsigned long long)r->validation_messages);
  if (r->has_phases) {
    const llama_phase_times *p = &r->phases;
    printf("\"phase_times\": {\"groups\": %u, \"total_us\": %.3f", p->groups, p->total * 1e-3);
    for (int k = 0; k < LLAMA_PHASES; k++)
      printf(", \"%s\": {\"until_last_us\": %.3f, \"barrier_us\": %.3f, \"busy_mean_us\": %.3f}", llama_phase_name(k),
             p->until_last[k] * 1e-3, p->barrier[k] * 1e-3, p->busy_mean[k] * 1e-3);
    printf("}, ");
  }
  printf("\"counters\": {");
  if (r->has_counters)
    for (size_t i = 0; i < gpb_counter_count(); i++)
      printf("%s\"%s\": %llu", i ? ", " : "", gpb_counter_name(i),
             (unsigned long long)gpb_counter_value(&r->counters, i));
  printf("}}\n");
}

static void print_summary(const decode_run *run, const report *r) {
  printf("%u steps on %s (%s%s, %s plan, %s weights%s): %.1f tok/s excluding the first step (first: %.2f ms)%s\n",
         run->steps_run, r->device, r->mode,
         r->ahead          ? ", ahead"
         : r->record_ahead ? ", record-ahead"
                           : "",
         r->plan, r->weights, r->int_dot ? ", integer dot products" : "", r->tok_per_s, run->first_step_s * 1e3,
         run->stopped_at_bos ? ", stopped at BOS" : "");
  if (!r->has_counters) return;
  printf("dispatches/token %.2f, submits/token %.2f\ncounters:", r->dispatches_per_token, r->submits_per_token);
  for (size_t i = 0; i < gpb_counter_count(); i++)
    printf(" %s=%llu", gpb_counter_name(i), (unsigned long long)gpb_counter_value(&r->counters, i));
  printf("\n");
  if (r->validation_messages) printf("validation messages: %llu\n", (unsigned long long)r->validation_messages);
  if (r->has_phases) {
    const llama_phase_times *p = &r->phases;
    printf("phase times, last step (%u workgroups, %u layers; us of the device clock, read as ns): layers "
           "kernel %.1f\n%-10s %12s %10s %12s\n",
           p->groups, p->layers, p->total * 1e-3, "phase", "until_last", "barrier", "busy_mean");
    for (int k = 0; k < LLAMA_PHASES; k++)
      printf("%-10s %12.1f %10.1f %12.1f\n", llama_phase_name(k), p->until_last[k] * 1e-3, p->barrier[k] * 1e-3,
             p->busy_mean[k] * 1e-3);
  }
}

// Opens the device and builds the GPU decoder; counters start at zero.
static int open_gpu(const cli_options *o, const llama_checkpoint *ck, gpb_device **out_dev, decoder *d, report *r,
                    llama_error *err) {
  uint32_t index = (uint32_t)o->device;
  gpb_status st = o->device >= 0 ? GPB_OK : gpb_device_default_index(&index);
  if (st) return llama_error_gpb(err, st, "choosing the device");
  gpb_device_info info;
  if ((st = gpb_device_get_info(index, &info))) return llama_error_gpb(err, st, "describing the device");
  // A decode step takes 0.1-5 ms on a GPU: the host polls for it rather
  // than pay a blocked thread's wake-up after each one.
  gpb_device_options options = {.wait_spin_us = o->wait_spin_us               ? (uint32_t)o->wait_spin_us
                                                : info.type != GPB_DEVICE_CPU ? DEFAULT_GPU_SPIN_US
                                                                              : 0};
  if ((st = gpb_device_open(index, &options, out_dev))) return llama_error_gpb(err, st, "opening the device");
  if ((st = gpb_device_query(*out_dev, &info))) return llama_error_gpb(err, st, "device query");
  snprintf(r->device, sizeof r->device, "%s", info.name);
  llama_gpu_options gopt = {.mode = o->mode,
                            .max_batch_dispatches = (uint32_t)o->max_batch,
                            .attention_split = (uint32_t)o->attention_split,
                            .rows_per_group = (uint32_t)o->ffn_rows,
                            .classifier_rows = (uint32_t)o->classifier_rows,
                            .wide_rows = (uint32_t)o->wide_rows,
                            .wide_groups = (uint32_t)o->wide_groups,
                            .wide_split = (uint32_t)o->wide_split,
                            .persistent_groups = (uint32_t)o->persistent_groups,
                            .phase_times = o->phase_times,
                            .int_dot = o->int_dot,
                            .plan = o->plan,
                            .weights = o->weights,
                            .replay = o->replay,
                            .ahead = o->ahead,
                            .record_ahead = o->record_ahead};
  if (llama_gpu_create(*out_dev, ck, &gopt, &d->gpu, err)) return -1;
  if (!(d->logits = malloc((size_t)ck->config.vocab_size * sizeof(float))))
    return llama_error_set(err, "out of memory");
  if ((st = gpb_stream_reset_counters(llama_gpu_stream(d->gpu)))) return llama_error_gpb(err, st, "resetting counters");
  return 0;
}

static int finish_report(const cli_options *o, decoder *d, gpb_device *dev, const decode_run *run, report *r,
                         llama_error *err) {
  r->mode = mode_name(o, d);
  r->plan = d->gpu ? llama_plan_name(llama_gpu_plan(d->gpu)) : "cpu";
  r->persistent_groups = d->gpu ? llama_gpu_persistent_groups(d->gpu) : 0;
  r->int_dot = d->gpu && llama_gpu_int_dot(d->gpu);
  r->weights = llama_weight_type_name(d->gpu             ? llama_gpu_weights(d->gpu)
                                      : o->weights_given ? o->weights
                                                         : d->cpu_weights);
  r->ahead = d->gpu && o->ahead;
  r->record_ahead = d->gpu && o->record_ahead;
  r->tok_per_s = run->steps_run > 1 && run->rest_s > 0 ? (run->steps_run - 1) / run->rest_s : 0;
  if (d->gpu) {
    gpb_status st = gpb_stream_get_counters(llama_gpu_stream(d->gpu), &r->counters);
    if (st) return llama_error_gpb(err, st, "reading counters");
    r->has_counters = true;
    if (run->steps_run) {
      r->dispatches_per_token = (double)r->counters.dispatches / run->steps_run;
      r->submits_per_token = (double)r->counters.submits / run->steps_run;
    }
    r->validation_messages = gpb_device_validation_message_count(dev);
    if (o->phase_times && run->steps_run) {
      if (llama_gpu_phase_times(d->gpu, &r->phases, err)) return -1;
      r->has_phases = true;
    }
  }
  return 0;
}

// ---- --devices: one decoder per device, decoding at once ------------------

typedef struct device_decode {
  const cli_options *o;
  const llama_checkpoint *ck;
  const decode_run *prompt_of; // the prompt, shared read-only
  uint32_t index, steps;
  pthread_barrier_t *start; // after every decoder is built, so the decodes overlap
  decode_run run;
  report r;
  llama_error err;
  int rc;
} device_decode;

// Opens device t->index, builds a decoder there and decodes; the barrier is
// waited on whatever happens, so no thread waits for one that failed.
static void *device_decode_main(void *arg) {
  device_decode *t = arg;
  cli_options o = *t->o;
  o.device = t->index;
  o.json = true; // no token text while several decode
  gpb_device *dev = NULL;
  decoder d = {.vocab = t->ck->config.vocab_size};
  t->run.prompt = t->prompt_of->prompt;
  t->run.prompt_count = t->prompt_of->prompt_count;
  t->rc = open_gpu(&o, t->ck, &dev, &d, &t->r, &t->err);
  if (t->start) pthread_barrier_wait(t->start);
  if (!t->rc) t->rc = run_decode(&d, &o, NULL, t->steps, NULL, &t->run, &t->err);
  if (!t->rc) t->rc = finish_report(&o, &d, dev, &t->run, &t->r, &t->err);
  llama_gpu_destroy(d.gpu);
  free(d.logits);
  if (gpb_device_close(dev) != GPB_OK && !t->rc) t->rc = llama_error_set(&t->err, "closing: %s", gpb_last_error());
  return NULL;
}

static bool same_tokens(const decode_run *a, const decode_run *b) {
  return a->steps_run == b->steps_run && a->generated_count == b->generated_count &&
         (a->generated_count == 0 || !memcmp(a->generated, b->generated, a->generated_count * sizeof(uint32_t)));
}

static void print_devices_json(const cli_options *o, const device_decode *alone, const device_decode *all,
                               double aggregate, bool same) {
  printf("{\"devices\": [");
  for (int i = 0; i < o->device_count; i++) printf("%s%u", i ? ", " : "", o->devices[i]);
  printf("], \"mode\": \"%s\", \"ahead\": %s, \"record_ahead\": %s, \"plan\": \"%s\", \"weights\": \"%s\", "
         "\"steps\": %u, \"tokens\": [",
         alone->r.mode, alone->r.ahead ? "true" : "false", alone->r.record_ahead ? "true" : "false", alone->r.plan,
         alone->r.weights, alone->run.steps_run);
  for (uint32_t i = 0; i < alone->run.generated_count; i++) printf("%s%u", i ? ", " : "", alone->run.generated[i]);
  printf("], \"single\": {\"index\": %u, \"device\": ", alone->index);
  print_json_string(alone->r.device);
  printf(", \"tok_per_s\": %.3f, \"validation_messages\": %llu}, \"per_device\": [", alone->r.tok_per_s,
         (unsigned long long)alone->r.validation_messages);
  for (int i = 0; i < o->device_count; i++) {
    printf("%s{\"index\": %u, \"device\": ", i ? ", " : "", all[i].index);
    print_json_string(all[i].r.device);
    printf(", \"tok_per_s\": %.3f, \"steps\": %u, \"same_tokens\": %s, \"validation_messages\": %llu}",
           all[i].r.tok_per_s, all[i].run.steps_run, same_tokens(&all[i].run, &alone->run) ? "true" : "false",
           (unsigned long long)all[i].r.validation_messages);
  }
  printf("], \"aggregate_tok_per_s\": %.3f, \"speedup_over_single\": %.3f, \"same_tokens\": %s}\n", aggregate,
         alone->r.tok_per_s > 0 ? aggregate / alone->r.tok_per_s : 0, same ? "true" : "false");
}

static void print_devices_text(const cli_options *o, const device_decode *alone, const device_decode *all,
                               double aggregate, bool same) {
  printf("%u steps (%s, %s plan, %s weights), %d decoders at once\n", alone->run.steps_run, alone->r.mode,
         alone->r.plan, alone->r.weights, o->device_count);
  printf("single: index %u (%s): %.1f tok/s\n", alone->index, alone->r.device, alone->r.tok_per_s);
  for (int i = 0; i < o->device_count; i++)
    printf("index %u (%d of %d, %s): %.1f tok/s, tokens %s\n", all[i].index, i + 1, o->device_count, all[i].r.device,
           all[i].r.tok_per_s, same_tokens(&all[i].run, &alone->run) ? "the single run's" : "DIFFERENT");
  printf("aggregate: %.1f tok/s = %.2fx the single device's; same_tokens: %s\n", aggregate,
         alone->r.tok_per_s > 0 ? aggregate / alone->r.tok_per_s : 0, same ? "yes" : "no");
}

// The first listed device alone, then every listed device at once.
static int decode_on_devices(cli_options *o, const llama_checkpoint *ck, const decode_run *prompt, uint32_t steps,
                             llama_error *err) {
  uint32_t count = 0;
  gpb_status st = gpb_device_count(&count);
  if (st) return llama_error_gpb(err, st, "counting devices");
  if (o->devices_all) {
    for (uint32_t i = 0; i < count && o->device_count < MAX_DEVICES; i++) {
      gpb_device_info info;
      if (gpb_device_get_info(i, &info) == GPB_OK && info.usable) o->devices[o->device_count++] = i;
    }
    if (o->device_count == 0) return llama_error_set(err, "--devices all: no usable device");
  }
  for (int i = 0; i < o->device_count; i++)
    if (o->devices[i] >= count)
      return llama_error_set(err, "--devices: there is no device %u (%u device%s)", o->devices[i], count,
                             count == 1 ? "" : "s");
  device_decode alone = {.o = o, .ck = ck, .prompt_of = prompt, .index = o->devices[0], .steps = steps};
  device_decode all[MAX_DEVICES];
  pthread_t ids[MAX_DEVICES];
  pthread_barrier_t start;
  int started = 0, rc = 0;
  device_decode_main(&alone);
  if (alone.rc) {
    llama_error_set(err, "device %u alone: %s", alone.index, alone.err.msg);
    free(alone.run.generated);
    return -1;
  }
  bool barrier = o->device_count > 1 && pthread_barrier_init(&start, NULL, (unsigned)o->device_count) == 0;
  for (int i = 0; i < o->device_count; i++)
    all[i] = (device_decode){.o = o,
                             .ck = ck,
                             .prompt_of = prompt,
                             .index = o->devices[i],
                             .steps = steps,
                             .start = barrier ? &start : NULL};
  for (; started < o->device_count; started++)
    if (pthread_create(&ids[started], NULL, device_decode_main, &all[started]) != 0) break;
  if (started < o->device_count) {
    // Those started wait at the barrier for the rest and cannot be released portably.
    fprintf(stderr, "llama: cannot start thread %d of %d\n", started + 1, o->device_count);
    exit(1);
  }
  for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
  if (barrier) pthread_barrier_destroy(&start);
  double aggregate = 0;
  bool same = true;
  uint64_t messages = alone.r.validation_messages;
  for (int i = 0; i < o->device_count; i++) {
    if (all[i].rc && !rc)
      rc = llama_error_set(err, "device %u (%d of %d): %s", all[i].index, i + 1, o->device_count, all[i].err.msg);
    aggregate += all[i].r.tok_per_s;
    same = same && !all[i].rc && same_tokens(&all[i].run, &alone.run);
    messages += all[i].r.validation_messages;
  }
  if (!rc) {
    if (o->json)
      print_devices_json(o, &alone, all, aggregate, same);
    else
      print_devices_text(o, &alone, all, aggregate, same);
    if (!same)
      rc = llama_error_set(err, "a device's tokens differ from the single device's");
    else if (messages)
      rc = llama_error_set(err, "%llu validation messages", (unsigned long long)messages);
  }
  free(alone.run.generated);
  for (int i = 0; i < o->device_count; i++) free(all[i].run.generated);
  return rc ? -1 : 0;
}

int gpb_llama_main(int argc, char **argv) {
  cli_options o;
  int parsed = parse_args(argc, argv, &o);
  if (parsed) return parsed == 1 ? 0 : 2;
  if (o.info) return gpb_llama_info(o.checkpoint, o.tokenizer);
  llama_error err = {{0}};
  llama_checkpoint ck = {0};
  llama_tokenizer tok = {0};
  decoder d = {0};
  decode_run run = {0};
  report r = {0};
  gpb_device *dev = NULL;
  FILE *dump = NULL;
  int rc = 1;
  // The GPU decoder reads a GGUF file's matrices from its mapping; the CPU
  // reference needs them as float32.
  if (llama_model_load(o.checkpoint, o.cpu ? LLAMA_LOAD_DEQUANTIZE : 0, &ck, &err)) goto done;
  d.cpu_weights = llama_checkpoint_weight_type(&ck);
  if (o.weights_given && o.weights != d.cpu_weights &&
      !(o.weights == LLAMA_WEIGHTS_F16 && d.cpu_weights == LLAMA_WEIGHTS_F32)) {
    llama_error_set(&err,
                    "--weights %s: '%s' holds %s matrices, which stay in their type (llama-convert --type "
                    "writes other types)",
                    llama_weight_type_name(o.weights), o.checkpoint, llama_weight_type_name(d.cpu_weights));
    goto done;
  }
  // The CPU reference computes with the values f16 weights hold on the GPU.
  if (o.cpu && o.weights == LLAMA_WEIGHTS_F16 && d.cpu_weights == LLAMA_WEIGHTS_F32) llama_checkpoint_round_f16(&ck);
  d.vocab = ck.config.vocab_size;
  bool have_tok = false;
  if (o.tokenizer) {
    if (llama_tokenizer_load(o.tokenizer, ck.config.vocab_size, &tok, &err)) goto done;
    have_tok = true;
  } else if (ck.gguf) {
    int found = llama_tokenizer_from_gguf(ck.gguf, ck.config.vocab_size, &tok, &err);
    if (found < 0 && o.prompt) goto done;
    if (found < 0) fprintf(stderr, "llama: %s; printing token ids\n", err.msg);
    have_tok = found == 0;
  }
  if (o.prompt && !have_tok) {
    llama_error_set(&err,
                    "--prompt needs a tokenizer: --tokenizer FILE, or a GGUF file with one (or use --prompt-ids)");
    rc = 2;
    goto done;
  }
  if (build_prompt(&o, have_tok ? &tok : NULL, ck.config.vocab_size, &run, &err)) goto done;
  uint32_t steps = o.steps <= 0 || o.steps > ck.config.seq_len ? (uint32_t)ck.config.seq_len : (uint32_t)o.steps;
  if (o.dump_logits && !(dump = fopen(o.dump_logits, "wb"))) {
    llama_error_set(&err, "cannot create '%s': %s", o.dump_logits, strerror(errno));
    goto done;
  }
  if (o.device_count > 0 || o.devices_all) {
    rc = decode_on_devices(&o, &ck, &run, steps, &err) ? 1 : 0;
    goto done;
  }
  if (o.cpu) {
    snprintf(r.device, sizeof r.device, "cpu (%lld thread%s)", o.threads, o.threads > 1 ? "s" : "");
    if (llama_cpu_create(&ck, (uint32_t)o.threads, &d.cpu, &err)) goto done;
  } else if (open_gpu(&o, &ck, &dev, &d, &r, &err)) {
    goto done;
  }
  if (run_decode(&d, &o, have_tok ? &tok : NULL, steps, dump, &run, &err)) goto done;
  if (finish_report(&o, &d, dev, &run, &r, &err)) goto done;
  if (o.json)
    print_json(&run, &r);
  else
    print_summary(&run, &r);
  rc = r.validation_messages ? 1 : 0;
  if (rc) llama_error_set(&err, "%llu validation messages", (unsigned long long)r.validation_messages);
done:
  if (rc) fprintf(stderr, "llama: %s\n", err.msg);
  if (dump && fclose(dump) != 0 && rc == 0) {
    fprintf(stderr, "llama: writing '%s' failed\n", o.dump_logits);
    rc = 1;
  }
  llama_gpu_destroy(d.gpu);
  llama_cpu_destroy(d.cpu);
  free(d.logits);
  gpb_device_close(dev);
  free(run.prompt);
  free(run.generated);
  llama_tokenizer_free(&tok);
  llama_checkpoint_free(&ck);
  return rc;
}
