// llamacpp_vulkan.c: llama.cpp's Vulkan backend as a peer for `gpubatch llama`.
//
//   llamacpp_vulkan --lib DIR --model F.gguf [--steps N] [--prompt-ids 1,2,3] [--ngl N] [--json]
//
// Greedy decoding, one token per llama_decode call (batch of one, as
// gpubatch decodes), from BOS (and the prompt's ids), --steps positions in
// all, BOS included; the argmax of the last logits is the next token. Prints
// the tokens and tok/s excluding the first step, in the JSON shape of
// `gpubatch llama --json` (tokens, tok_per_s, first_step_ms), so the two
// can be compared token for token on the same GGUF file.
//
// DIR holds libllama*.so and the ggml backends as the npm package
// @node-llama-cpp/linux-x64-vulkan ships them (bench/peers/llamacpp-vulkan.sh
// fetches it and builds this). That package has no headers: the few entry
// points are declared here and looked up with dlsym, and the two parameter
// structs are filled by offset, from llama.h of its era (model params:
// devices, tensor_buft_overrides, then int32 n_gpu_layers at byte 16;
// context params: uint32 n_ctx, n_batch, n_ubatch first). The defaults read
// at those offsets are checked against llama.cpp's (n_ctx 512, n_batch
// 2048, n_ubatch 512) before anything is changed, so a library of another
// layout is refused instead of misconfigured.
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Larger than either struct: returned through a caller-allocated buffer
// and passed on the stack by value, so the library reads its own prefix.
typedef struct params_blob {
  _Alignas(8) unsigned char bytes[512];
} params_blob;

typedef int32_t llama_token;
typedef struct llama_batch {
  int32_t n_tokens;
  llama_token *token;
  float *embd;
  int32_t *pos;
  int32_t *n_seq_id;
  int32_t **seq_id;
  int8_t *logits;
} llama_batch;

typedef struct api {
  void (*backend_init)(void);
  void (*backend_free)(void);
  void (*load_all_from_path)(const char *dir);
  void (*log_set)(void (*cb)(int level, const char *text, void *user), void *user);
  params_blob (*model_default_params)(void);
  params_blob (*context_default_params)(void);
  void *(*model_load_from_file)(const char *path, params_blob params);
  void *(*init_from_model)(void *model, params_blob params);
  const void *(*model_get_vocab)(const void *model);
  int32_t (*vocab_n_tokens)(const void *vocab);
  llama_token (*vocab_bos)(const void *vocab);
  llama_batch (*batch_get_one)(llama_token *tokens, int32_t n_tokens);
  int32_t (*decode)(void *ctx, llama_batch batch);
  float *(*get_logits_ith)(void *ctx, int32_t i);
  void (*free_context)(void *ctx);
  void (*model_free)(void *model);
} api;

static bool quiet = true;
static void log_cb(int level, const char *text, void *user) {
  (void)user;
  if (!quiet || level >= 4) fputs(text, stderr); // GGML_LOG_LEVEL_ERROR = 4
}

static void *sym(void *lib, const char *name, bool *ok) {
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "llamacpp_vulkan: %s not found: %s\n", name, dlerror());
    *ok = false;
  }
  return p;
}

static int load_api(const char *dir, api *a) {
  char path[1024];
  snprintf(path, sizeof path, "%s/libggml.vulkan.v0.4.0.so", dir);
  void *ggml = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  snprintf(path, sizeof path, "%s/libllama.vulkan.v0.4.0.so", dir);
  void *llama = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!ggml || !llama) {
    fprintf(stderr, "llamacpp_vulkan: cannot load the libraries in %s: %s\n", dir, dlerror());
    return -1;
  }
  bool ok = true;
  *(void **)&a->load_all_from_path = sym(ggml, "ggml_backend_load_all_from_path", &ok);
  *(void **)&a->backend_init = sym(llama, "llama_backend_init", &ok);
  *(void **)&a->backend_free = sym(llama, "llama_backend_free", &ok);
  *(void **)&a->log_set = sym(llama, "llama_log_set", &ok);
  *(void **)&a->model_default_params = sym(llama, "llama_model_default_params", &ok);
  *(void **)&a->context_default_params = sym(llama, "llama_context_default_params", &ok);
  *(void **)&a->model_load_from_file = sym(llama, "llama_model_load_from_file", &ok);
  *(void **)&a->init_from_model = sym(llama, "llama_init_from_model", &ok);
  *(void **)&a->model_get_vocab = sym(llama, "llama_model_get_vocab", &ok);
  *(void **)&a->vocab_n_tokens = sym(llama, "llama_vocab_n_tokens", &ok);
  *(void **)&a->vocab_bos = sym(llama, "llama_vocab_bos", &ok);
  *(void **)&a->batch_get_one = sym(llama, "llama_batch_get_one", &ok);
  *(void **)&a->decode = sym(llama, "llama_decode", &ok);
  *(void **)&a->get_logits_ith = sym(llama, "llama_get_logits_ith", &ok);
  *(void **)&a->free_context = sym(llama, "llama_free", &ok);
  *(void **)&a->model_free = sym(llama, "llama_model_free", &ok);
  return ok ? 0 : -1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int32_t argmax(const float *v, int32_t n) {
  int32_t best = -1;
  for (int32_t i = 0; i < n; i++)
    if (!isnan(v[i]) && (best < 0 || v[i] > v[best])) best = i;
  return best;
}

int main(int argc, char **argv) {
  const char *dir = NULL, *model_path = NULL, *prompt_ids = NULL;
  long steps = 128, ngl = 999;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--json")) {
      json = true;
    } else if (!strcmp(a, "--verbose")) {
      quiet = false;
    } else if (v && !strcmp(a, "--lib")) {
      dir = v, i++;
    } else if (v && !strcmp(a, "--model")) {
      model_path = v, i++;
    } else if (v && !strcmp(a, "--steps")) {
      steps = strtol(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--ngl")) {
      ngl = strtol(v, NULL, 10), i++;
    } else if (v && !strcmp(a, "--prompt-ids")) {
      prompt_ids = v, i++;
    } else {
      fprintf(stderr,
              "usage: %s --lib DIR --model F.gguf [--steps N] [--prompt-ids 1,2,3] [--ngl N] [--json] [--verbose]\n",
              argv[0]);
      return 2;
    }
  }
  if (!dir || !model_path || steps < 1) {
    fprintf(stderr, "llamacpp_vulkan: --lib DIR and --model F.gguf are required\n");
    return 2;
  }
  api a;
  if (load_api(dir, &a)) return 1;
  a.log_set(log_cb, NULL);
  a.load_all_from_path(dir);
  a.backend_init();

  params_blob mp = a.model_default_params(), cp = a.context_default_params();
  int32_t ngl_default, n_ctx, n_batch, n_ubatch;
  memcpy(&ngl_default, mp.bytes + 16, 4);
  memcpy(&n_ctx, cp.bytes + 0, 4);
  memcpy(&n_batch, cp.bytes + 4, 4);
  memcpy(&n_ubatch, cp.bytes + 8, 4);
  if (n_ctx != 512 || n_batch != 2048 || n_ubatch != 512) {
    fprintf(stderr,
            "llamacpp_vulkan: the context parameters' defaults read n_ctx %d, n_batch %d, n_ubatch %d, not "
            "512, 2048, 512: this library's llama.h has another layout\n",
            n_ctx, n_batch, n_ubatch);
    return 1;
  }
  int32_t set = (int32_t)ngl;
  memcpy(mp.bytes + 16, &set, 4);
  void *model = a.model_load_from_file(model_path, mp);
  if (!model) {
    fprintf(stderr, "llamacpp_vulkan: cannot load '%s' (--verbose shows llama.cpp's log)\n", model_path);
    return 1;
  }
  uint32_t ctx_len = (uint32_t)steps < 256 ? 256 : (uint32_t)steps;
  memcpy(cp.bytes + 0, &ctx_len, 4);
  uint32_t one = 1; // one token per decode call
  memcpy(cp.bytes + 4, &one, 4);
  memcpy(cp.bytes + 8, &one, 4);
  void *ctx = a.init_from_model(model, cp);
  if (!ctx) {
    fprintf(stderr, "llamacpp_vulkan: cannot create a context\n");
    return 1;
  }
  const void *vocab = a.model_get_vocab(model);
  int32_t n_vocab = a.vocab_n_tokens(vocab);
  llama_token bos = a.vocab_bos(vocab);
  llama_token *prompt = malloc(((prompt_ids ? strlen(prompt_ids) : 0) + 1) * sizeof *prompt);
  int32_t prompt_count = 0;
  prompt[prompt_count++] = bos;
  for (const char *p = prompt_ids; p && *p;) {
    char *end;
    long id = strtol(p, &end, 10);
    if (end == p || id < 0 || id >= n_vocab) {
      fprintf(stderr, "llamacpp_vulkan: --prompt-ids '%s' is not a list of ids below %d\n", prompt_ids, n_vocab);
      return 2;
    }
    prompt[prompt_count++] = (llama_token)id;
    p = *end == ',' ? end + 1 : end;
  }
  llama_token *generated = malloc((size_t)steps * sizeof *generated);
  int32_t generated_count = 0;
  llama_token token = prompt[0];
  double start = now_s(), first_done = start;
  long pos;
  bool stopped_at_bos = false;
  for (pos = 0; pos < steps; pos++) {
    llama_token in = token;
    if (a.decode(ctx, a.batch_get_one(&in, 1)) != 0) {
      fprintf(stderr, "llamacpp_vulkan: llama_decode failed at pos %ld\n", pos);
      return 1;
    }
    llama_token next = argmax(a.get_logits_ith(ctx, -1), n_vocab);
    if (pos == 0) first_done = now_s();
    if (pos + 1 < prompt_count) {
      next = prompt[pos + 1];
    } else {
      if (next == bos) { // llama2.c's rule, as `gpubatch llama`
        stopped_at_bos = true;
        pos++;
        break;
      }
      generated[generated_count++] = next;
    }
    token = next;
  }
  double end_time = now_s(), rest = end_time - first_done;
  double tok_per_s = pos > 1 && rest > 0 ? (double)(pos - 1) / rest : 0;
  if (json) {
    printf("{\"tokens\": [");
    for (int32_t i = 0; i < generated_count; i++) printf("%s%d", i ? ", " : "", generated[i]);
    printf("], \"steps\": %ld, \"stopped_at_bos\": %s, \"tok_per_s\": %.3f, \"first_step_ms\": %.3f, "
           "\"peer\": \"llama.cpp vulkan\", \"n_gpu_layers\": %ld, \"n_gpu_layers_default\": %d}\n",
           pos, stopped_at_bos ? "true" : "false", tok_per_s, (first_done - start) * 1e3, ngl, ngl_default);
  } else {
    for (int32_t i = 0; i < generated_count; i++) printf("%s%d", i ? " " : "", generated[i]);
    printf("\n%ld steps on llama.cpp vulkan: %.1f tok/s excluding the first step (first: %.2f ms)\n", pos, tok_per_s,
           (first_done - start) * 1e3);
  }
  free(prompt);
  free(generated);
  a.free_context(ctx);
  a.model_free(model);
  a.backend_free();
  return 0;
}
