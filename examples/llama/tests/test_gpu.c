// test_gpu.c: the GPU decoder against the CPU reference, step by step.
//
//   llama_test_gpu [shape options as llama-gen] --mode batched|immediate|replay
//                  [--ahead | --record-ahead] --steps N --seed S [--std X] --file F
//                  [--attention-split N] [--rows-per-group N]
//                  [--plan auto|fused|wide|persistent] [--weights f32|f16] [--wide-rows N]
//                  [--wide-groups N] [--wide-split N] [--persistent-groups N]
//                  [--expect-plan fused|wide|persistent] [--phase-times]
//                  [--gguf f32|f16|bf16|q8_0|q4_0] [--int-dot] [--expect-error TEXT]
//
// Writes a random checkpoint to F, then decodes greedily on the default
// device. At every step the GPU's logits must be within relative L2 1e-4
// of the CPU reference fed the same token, and the GPU's argmax must be the
// CPU's argmax. --ahead submits step n + 1, whose token the GPU takes from
// step n's logits itself, before it reads step n: a GPU argmax that differs
// from the host's shows as wrong logits at step n + 1. --record-ahead
// records step n + 1 before it reads step n, and commits it with the token
// read (and checks that prepare and commit refuse to be called out of
// turn). --weights f16: the CPU reference runs on the checkpoint's matrices
// rounded to half, the values the GPU holds. --expect-plan checks the plan
// that --plan (default auto) resolved to; with auto, wide means the plan
// for shapes bound by their bytes (persistent on a device that reports
// its compute units). --gguf T converts the checkpoint
// to a GGUF file of type T (F.gguf) and decodes that: the GPU keeps its
// matrices in T, the CPU reference runs on the same blocks dequantized.
// --phase-times (persistent): the layers kernel that marks its barriers'
// clock, whose marks must run forward per workgroup and add up (the
// phases' times to the kernel's).
// --int-dot: llama_gpu_options.int_dot (the decoder then runs them or
// refuses).
// --expect-error TEXT: the decoder must refuse the options instead, with a
// message that contains TEXT (and no validation message).
// Also checks the dispatch count
// (and replays), that decoding did
// not collapse to one token, and that the validation layer
// (GPB_VALIDATION=1) reported nothing.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asan_pin.h"
#include "checkpoint.h"
#include "cpu_forward.h"
#include "gen.h"
#include "gguf_write.h"
#include "gpu_forward.h"

#define MAX_REL_L2 1e-4

typedef struct test_args {
  llama_config config;
  gpb_mode mode;
  bool replay, ahead, record_ahead, phase_times;
  uint32_t steps, attention_split, rows_per_group, wide_rows, wide_groups, wide_split, persistent_groups;
  llama_plan plan, expect_plan;
  bool int_dot;
  llama_weight_type weights;
  bool gguf;
  llama_weight_type gguf_type;
  unsigned long long seed;
  float std;
  const char *file;
  const char *expect_error; // NULL: the decoder must be created
} test_args;

// The last step's phase times: read without error (every workgroup's
// marks in order), for every workgroup and layer, and the phases' times
// (integers of clock ticks, exact in doubles) add up to the kernel's.
static int check_phase_times(llama_gpu *gpu, const llama_config *c) {
  llama_phase_times p;
  llama_error err = {{0}};
  if (llama_gpu_phase_times(gpu, &p, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    return 1;
  }
  double sum = 0;
  for (int k = 0; k < LLAMA_PHASES; k++) sum += p.until_last[k] + p.barrier[k];
  printf("phase times: %u workgroups, layers kernel %.0f ticks\n", p.groups, p.total);
  if (p.groups != llama_gpu_persistent_groups(gpu) || p.layers != (uint32_t)c->n_layers || !(p.total > 0) ||
      sum != p.total) {
    fprintf(stderr, "FAIL: phase times of %u workgroups, %u layers: total %.0f, phases %.0f\n", p.groups, p.layers,
            p.total, sum);
    return 1;
  }
  return 0;
}

static int parse(int argc, char **argv, test_args *t) {
  *t = (test_args){0};
  t->config = llama_gen_stories15m();
  t->mode = GPB_MODE_BATCHED;
  t->steps = 8;
  t->seed = 1;
  t->std = 0.1f;
  t->attention_split = 0;
  t->rows_per_group = 0;
  t->file = "test_gpu.bin";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--separate-classifier")) {
      t->config.shared_classifier = false;
      continue;
    }
    if (!strcmp(a, "--ahead")) {
      t->ahead = true;
      continue;
    }
    if (!strcmp(a, "--record-ahead")) {
      t->record_ahead = true;
      continue;
    }
    if (!strcmp(a, "--phase-times")) {
      t->phase_times = true;
      continue;
    }
    if (!strcmp(a, "--int-dot")) {
      t->int_dot = true;
      continue;
    }
    i++;
    long n = strtol(v, NULL, 10);
    if (!strcmp(a, "--shape"))
      t->config = llama_gen_stories15m(); // the only shape
    else if (!strcmp(a, "--dim"))
      t->config.dim = (int32_t)n;
    else if (!strcmp(a, "--hidden"))
      t->config.hidden_dim = (int32_t)n;
    else if (!strcmp(a, "--layers"))
      t->config.n_layers = (int32_t)n;
    else if (!strcmp(a, "--heads"))
      t->config.n_heads = (int32_t)n;
    else if (!strcmp(a, "--kv-heads"))
      t->config.n_kv_heads = (int32_t)n;
    else if (!strcmp(a, "--vocab"))
      t->config.vocab_size = (int32_t)n;
    else if (!strcmp(a, "--seq-len"))
      t->config.seq_len = (int32_t)n;
    else if (!strcmp(a, "--steps"))
      t->steps = (uint32_t)n;
    else if (!strcmp(a, "--seed"))
      t->seed = (unsigned long long)n;
    else if (!strcmp(a, "--std"))
      t->std = strtof(v, NULL);
    else if (!strcmp(a, "--attention-split"))
      t->attention_split = (uint32_t)n;
    else if (!strcmp(a, "--rows-per-group"))
      t->rows_per_group = (uint32_t)n;
    else if (!strcmp(a, "--file"))
      t->file = v;
    else if (!strcmp(a, "--expect-error"))
      t->expect_error = v;
    else if (!strcmp(a, "--wide-rows"))
      t->wide_rows = (uint32_t)n;
    else if (!strcmp(a, "--wide-groups"))
      t->wide_groups = (uint32_t)n;
    else if (!strcmp(a, "--wide-split"))
      t->wide_split = (uint32_t)n;
    else if (!strcmp(a, "--persistent-groups"))
      t->persistent_groups = (uint32_t)n;
    else if (!strcmp(a, "--plan") || !strcmp(a, "--expect-plan")) {
      if (llama_plan_from_name(v, !strcmp(a, "--plan") ? &t->plan : &t->expect_plan)) {
        fprintf(stderr, "%s expects auto, fused, wide or persistent\n", a);
        return -1;
      }
    } else if (!strcmp(a, "--gguf")) {
      t->gguf = true;
      if (llama_weight_type_from_name(v, &t->gguf_type)) {
        fprintf(stderr, "--gguf expects f32, f16, bf16, q8_0 or q4_0\n");
        return -1;
      }
    } else if (!strcmp(a, "--weights")) {
      if (llama_weight_type_from_name(v, &t->weights)) {
        fprintf(stderr, "--weights expects f32 or f16\n");
        return -1;
      }
    } else if (!strcmp(a, "--mode")) {
      t->mode = !strcmp(v, "immediate") ? GPB_MODE_IMMEDIATE : GPB_MODE_BATCHED;
      t->replay = !strcmp(v, "replay");
    } else {
      fprintf(stderr, "unknown option %s\n", a);
      return -1;
    }
  }
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Relative L2 distance of a from the reference b.
static double rel_l2(const float *a, const float *b, int32_t n) {
  double diff = 0, ref = 0;
  for (int32_t i = 0; i < n; i++) {
    double d = (double)a[i] - (double)b[i];
    diff += d * d;
    ref += (double)b[i] * (double)b[i];
  }
  return sqrt(diff) / (sqrt(ref) > 0 ? sqrt(ref) : 1.0);
}

// Gap between the top two logits, to tell a near-tie from a real bug.
static double top2_gap(const float *v, int32_t n) {
  float first = -INFINITY, second = -INFINITY;
  for (int32_t i = 0; i < n; i++) {
    if (v[i] > first) {
      second = first;
      first = v[i];
    } else if (v[i] > second) {
      second = v[i];
    }
  }
  return (double)first - (double)second;
}

// Record-ahead: prepares step pos + 1, collects step pos, commits pos + 1
// with the token read; once, a second prepare in between must be refused.
static int record_ahead_step(llama_gpu *gpu, uint32_t pos, bool more, uint32_t *next, int *failures, llama_error *err) {
  if (more && llama_gpu_prepare(gpu, pos + 1, err)) return -1;
  llama_error ignored;
  if (more && pos == 0 && !llama_gpu_prepare(gpu, pos + 2, &ignored)) {
    fprintf(stderr, "FAIL: a second prepare before the commit was accepted\n");
    (*failures)++;
  }
  if (llama_gpu_collect(gpu, pos, next, err)) return -1;
  return more && llama_gpu_commit(gpu, *next, pos + 1, err) ? -1 : 0;
}

static int decode_and_compare(const test_args *t, llama_gpu *gpu, llama_cpu *cpu, int32_t vocab, float *gpu_logits,
                              uint32_t *out_distinct) {
  int failures = 0;
  llama_error err;
  double worst = 0, gpu_time = 0;
  uint32_t token = LLAMA_BOS, distinct = 0;
  char *seen = calloc((size_t)vocab, 1);
  printf("tokens:");
  if (t->record_ahead && !llama_gpu_commit(gpu, token, 0, &err)) {
    fprintf(stderr, "FAIL: a commit with nothing prepared was accepted\n");
    failures++;
  }
  if ((t->ahead || t->record_ahead) && llama_gpu_submit(gpu, token, 0, &err)) {
    fprintf(stderr, "\nFAIL: %s\n", err.msg);
    free(seen);
    return failures + 1;
  }
  for (uint32_t pos = 0; pos < t->steps; pos++) {
    uint32_t next;
    double t0 = now_s();
    bool more = pos + 1 < t->steps;
    int rc = t->ahead ? (more && llama_gpu_submit(gpu, LLAMA_GPU_TOKEN_FROM_GPU, pos + 1, &err)) ||
                            llama_gpu_collect(gpu, pos, &next, &err)
             : t->record_ahead ? record_ahead_step(gpu, pos, more, &next, &failures, &err)
                               : llama_gpu_step(gpu, token, pos, &next, &err);
    if (rc) {
      fprintf(stderr, "\nFAIL: %s\n", err.msg);
      free(seen);
      return failures + 1;
    }
    gpu_time += now_s() - t0;
    if (llama_gpu_read_logits(gpu, pos, gpu_logits, &err)) {
      fprintf(stderr, "\nFAIL: %s\n", err.msg);
      free(seen);
      return failures + 1;
    }
    const float *ref = llama_cpu_forward(cpu, (int32_t)token, (int32_t)pos);
    double rel = rel_l2(gpu_logits, ref, vocab);
    if (rel > worst) worst = rel;
    if (!(rel < MAX_REL_L2)) {
      fprintf(stderr, "\nFAIL pos %u: logits relative L2 %.3g >= %g\n", pos, rel, MAX_REL_L2);
      failures++;
    }
    int32_t cpu_next = llama_argmax(ref, vocab);
    if ((int32_t)next != cpu_next) {
      fprintf(stderr, "\nFAIL pos %u: GPU token %u, CPU token %d (CPU top-2 gap %.3g)\n", pos, next, cpu_next,
              top2_gap(ref, vocab));
      failures++;
    }
    printf(" %u", next);
    if (!seen[next]++) distinct++;
    token = next;
  }
  printf("\nworst relative L2 %.3g over %u steps; GPU %.2f ms/step (incl. token readback)\n", worst, t->steps,
         1e3 * gpu_time / t->steps);
  free(seen);
  *out_distinct = distinct;
  return failures;
}

static int check_counters(const test_args *t, llama_gpu *gpu, uint32_t per_step) {
  gpb_counters c;
  gpb_status st = gpb_stream_get_counters(llama_gpu_stream(gpu), &c);
  if (st) {
    fprintf(stderr, "FAIL: counters: %s\n", gpb_last_error());
    return 1;
  }
  printf("counters: dispatches %llu, submits %llu, barriers %llu, gpu_to_cpu %llu, replays %llu\n",
         (unsigned long long)c.dispatches, (unsigned long long)c.submits, (unsigned long long)c.barriers,
         (unsigned long long)c.gpu_to_cpu, (unsigned long long)c.replays);
  int failures = 0;
  if (c.dispatches != (uint64_t)per_step * t->steps) {
    fprintf(stderr, "FAIL: %llu dispatches, expected %u per step\n", (unsigned long long)c.dispatches, per_step);
    failures++;
  }
  if (c.replays != (t->replay ? t->steps : 0)) {
    fprintf(stderr, "FAIL: %llu replays in %u steps\n", (unsigned long long)c.replays, t->steps);
    failures++;
  }
  // Batched: one submit per readback (token + logits; ahead: step + logits);
  // immediate: at least one per dispatch.
  if (t->mode == GPB_MODE_BATCHED ? c.submits > 2ull * t->steps : c.submits < c.dispatches) {
    fprintf(stderr, "FAIL: %llu submits for %u steps in %s mode\n", (unsigned long long)c.submits, t->steps,
            t->mode == GPB_MODE_BATCHED ? "batched" : "immediate");
    failures++;
  }
  return failures;
}

int main(int argc, char **argv) {
  asan_pin_driver_libraries();
  test_args t;
  if (parse(argc, argv, &t)) return 2;
  llama_error err;
  if (llama_gen_write_checkpoint(t.file, &t.config, t.seed, t.std, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    return 1;
  }
  llama_checkpoint ck;
  if (llama_checkpoint_load(t.file, &ck, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    return 1;
  }
  llama_weight_type expect_weights = t.weights;
  if (t.gguf) {
    char gguf_path[512];
    snprintf(gguf_path, sizeof gguf_path, "%s.gguf", t.file);
    int rc = llama_gguf_write(gguf_path, &ck, t.gguf_type, NULL, &err);
    llama_checkpoint_free(&ck);
    if (rc || llama_model_load(gguf_path, LLAMA_LOAD_DEQUANTIZE, &ck, &err)) {
      fprintf(stderr, "FAIL: %s\n", err.msg);
      return 1;
    }
    if (t.gguf_type != LLAMA_WEIGHTS_F32) expect_weights = t.gguf_type;
  }
  int failures = 0;
  gpb_device *dev = NULL;
  llama_gpu *gpu = NULL;
  llama_cpu *cpu = NULL;
  float *gpu_logits = malloc((size_t)ck.config.vocab_size * sizeof(float));
  gpb_status st = gpb_device_open_default(NULL, &dev);
  if (st) {
    fprintf(stderr, "FAIL: opening the device: %s: %s\n", gpb_status_name(st), gpb_last_error());
    failures++;
    goto done;
  }
  llama_gpu_options options = {.mode = t.mode,
                               .attention_split = t.attention_split,
                               .rows_per_group = t.rows_per_group,
                               .wide_rows = t.wide_rows,
                               .wide_groups = t.wide_groups,
                               .wide_split = t.wide_split,
                               .persistent_groups = t.persistent_groups,
                               .phase_times = t.phase_times,
                               .int_dot = t.int_dot,
                               .plan = t.plan,
                               .weights = t.weights,
                               .replay = t.replay,
                               .ahead = t.ahead,
                               .record_ahead = t.record_ahead};
  double t0 = now_s();
  // The GPU converts the float32 weights itself; the CPU reference gets
  // them rounded here (after the upload, which copies them).
  bool created = gpu_logits && !llama_gpu_create(dev, &ck, &options, &gpu, &err);
  if (t.expect_error) {
    if (created || !gpu_logits || !strstr(err.msg, t.expect_error)) {
      fprintf(stderr, "FAIL: expected a refusal naming '%s', got %s\n", t.expect_error,
              created      ? "a decoder"
              : gpu_logits ? err.msg
                           : "out of memory");
      failures++;
    } else {
      printf("refused as expected: %s\n", err.msg);
    }
    goto done;
  }
  if (created && t.weights == LLAMA_WEIGHTS_F16 && expect_weights == LLAMA_WEIGHTS_F16 &&
      llama_checkpoint_weight_type(&ck) == LLAMA_WEIGHTS_F32)
    llama_checkpoint_round_f16(&ck);
  if (!created || llama_cpu_create(&ck, 2, &cpu, &err)) {
    fprintf(stderr, "FAIL: %s\n", gpu_logits ? err.msg : "out of memory");
    failures++;
    goto done;
  }
  printf("setup (kernels + upload) %.2f s\n", now_s() - t0);
  llama_plan plan = llama_gpu_plan(gpu);
  printf("plan %s, weights %s%s\n", llama_plan_name(plan), llama_weight_type_name(llama_gpu_weights(gpu)),
         llama_gpu_int_dot(gpu) ? ", integer dot products" : "");
  if (llama_gpu_int_dot(gpu) != t.int_dot) {
    fprintf(stderr, "FAIL: the layers %s integer dot products\n", llama_gpu_int_dot(gpu) ? "run" : "do not run");
    failures++;
  }
  // Auto's plan for a shape bound by its weights' bytes (--expect-plan
  // wide): persistent on a device that reports its compute units, wide on
  // one that does not (lavapipe).
  llama_plan expect_plan = t.expect_plan;
  gpb_device_info info;
  if (t.plan == LLAMA_PLAN_AUTO && expect_plan == LLAMA_PLAN_WIDE && !gpb_device_query(dev, &info) &&
      info.compute_units)
    expect_plan = LLAMA_PLAN_PERSISTENT;
  if ((t.plan != LLAMA_PLAN_AUTO && plan != t.plan) || (expect_plan != LLAMA_PLAN_AUTO && plan != expect_plan) ||
      llama_gpu_weights(gpu) != expect_weights) {
    fprintf(stderr, "FAIL: the decoder runs the %s plan with %s weights\n", llama_plan_name(plan),
            llama_weight_type_name(llama_gpu_weights(gpu)));
    failures++;
  }
  // Fused: attention and FFN per layer, then the classifier; wide: the
  // embedding, 5 products per layer, the classifier; persistent: the
  // embedding, all layers, the classifier.
  uint32_t layers = (uint32_t)ck.config.n_layers, per_step = llama_gpu_dispatches_per_step(gpu);
  uint32_t want = plan == LLAMA_PLAN_PERSISTENT ? 3u : plan == LLAMA_PLAN_WIDE ? 5u * layers + 2 : 2u * layers + 1;
  if (per_step != want) {
    fprintf(stderr, "FAIL: %u dispatches per step\n", per_step);
    failures++;
  }
  gpb_stream_reset_counters(llama_gpu_stream(gpu));
  uint32_t distinct = 0;
  failures += decode_and_compare(&t, gpu, cpu, ck.config.vocab_size, gpu_logits, &distinct);
  failures += check_counters(&t, gpu, per_step);
  if (t.phase_times) failures += check_phase_times(gpu, &ck.config);
  // A sequence stuck on a few tokens would exercise few embedding rows and
  // classifier winners; require some variety.
  if (distinct * 4 < t.steps) {
    fprintf(stderr,
            "FAIL: greedy decoding visited only %u distinct tokens in %u steps; "
            "pick another seed or std\n",
            distinct, t.steps);
    failures++;
  }
done:
  llama_gpu_destroy(gpu);
  if (dev) {
    gpb_device_sync(dev);
    uint64_t messages = gpb_device_validation_message_count(dev);
    printf("validation messages: %llu\n", (unsigned long long)messages);
    if (messages) {
      fprintf(stderr, "FAIL: %llu validation messages\n", (unsigned long long)messages);
      failures++;
    }
  }
  gpb_device_close(dev);
  llama_cpu_destroy(cpu);
  free(gpu_logits);
  llama_checkpoint_free(&ck);
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  else
    printf("ok\n");
  return failures ? 1 : 0;
}
