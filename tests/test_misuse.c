// Misuse catalogue: every public function against NULL handles and
// pointers, zero and huge sizes, ranges past the end or wrapping around
// 2^64, misaligned offsets, wrong counts, handles of another device and bad
// options. Each row checks the status, that a failure left a message, and
// that the device and its streams still work afterwards: a correct dispatch
// and readback, and sentinel buffers the refused calls aimed at unchanged.
//
// tests/README.md lists every row, with the rows other tests already cover
// (test_errors, test_device, test_kernel, test_batching, test_program) and
// the misuse the library cannot detect. Rows that were library bugs say so
// and name the fix; they guard against the bug coming back.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu_fixture.h"

#define N 64u

static int rows; // rows checked, reported at the end

// "The call returned no status": it crashed or the check itself failed.
#define GPB_ERROR_UNKNOWN_FOR_TESTS ((gpb_status)99)

// What a row needs: the device, two streams, kernels, and sentinels whose
// contents no refused call may change.
typedef struct ctx {
  gpb_device *dev;
  gpb_device_info info;
  gpb_stream *s;  // default stream
  gpb_stream *s2; // a stream of its own
  gpb_kernel *add, *fill, *axpy;
  gpb_buffer *x;    // private, N words: i * 3 + 1
  gpb_buffer *sh;   // shared, N words: i * 5 + 2
  gpb_buffer *work; // what the usability check increments
  uint32_t work_value;
  uint32_t checks; // usability checks run: one dispatch each on s and s2
} ctx;

static uint32_t x_word(uint32_t i) { return i * 3 + 1; }
static uint32_t sh_word(uint32_t i) { return i * 5 + 2; }

static bool ctx_open(ctx *c) {
  memset(c, 0, sizeof *c);
  c->dev = fixture_open();
  if (!c->dev) return false;
  CHECK_OK(gpb_device_query(c->dev, &c->info));
  c->s = gpb_device_default_stream(c->dev);
  CHECK_OK(gpb_stream_create(c->dev, NULL, &c->s2));
  c->add = FIXTURE_KERNEL(c->dev, add_one);
  c->fill = FIXTURE_KERNEL(c->dev, fill);
  c->axpy = FIXTURE_KERNEL(c->dev, axpy);
  CHECK_OK(gpb_buffer_create(c->dev, 4 * N, GPB_MEMORY_PRIVATE, &c->x));
  CHECK_OK(gpb_buffer_create(c->dev, 4 * N, GPB_MEMORY_SHARED, &c->sh));
  CHECK_OK(gpb_buffer_create(c->dev, 4 * N, GPB_MEMORY_PRIVATE, &c->work));
  uint32_t host[N];
  for (uint32_t i = 0; i < N; i++) host[i] = x_word(i);
  CHECK_OK(gpb_stream_copy_to_device(c->s, host, c->x, 0, sizeof host));
  for (uint32_t i = 0; i < N; i++) host[i] = sh_word(i);
  CHECK_OK(gpb_stream_copy_to_device(c->s, host, c->sh, 0, sizeof host));
  memset(host, 0, sizeof host);
  CHECK_OK(gpb_stream_copy_to_device(c->s, host, c->work, 0, sizeof host));
  return c->add && c->fill && c->axpy && c->x && c->sh && c->work && c->s2;
}

// The device still works: a dispatch on each stream, read back, and the
// sentinels are intact.
static void check_usable(ctx *c) {
  uint32_t host[N];
  CHECK_OK(dispatch_add_one(c->s, c->add, c->work, 0, N));
  CHECK_OK(gpb_stream_wait_stream(c->s2, c->s));
  CHECK_OK(dispatch_add_one(c->s2, c->add, c->work, 0, N));
  c->work_value += 2;
  c->checks++;
  CHECK_OK(gpb_stream_copy_to_host(c->s2, c->work, 0, host, sizeof host));
  CHECK_OK(gpb_stream_wait_stream(c->s, c->s2));
  bool ok = true;
  for (uint32_t i = 0; i < N; i++) ok &= host[i] == c->work_value;
  CHECK(ok);
  CHECK_OK(gpb_stream_copy_to_host(c->s, c->x, 0, host, sizeof host));
  ok = true;
  for (uint32_t i = 0; i < N; i++) ok &= host[i] == x_word(i);
  CHECK(ok);
  uint32_t *p = NULL;
  CHECK_OK(gpb_buffer_map(c->sh, GPB_HOST_READ, (void **)&p));
  ok = p != NULL;
  for (uint32_t i = 0; ok && i < N; i++) ok &= p[i] == sh_word(i);
  CHECK(ok);
}

static void ctx_close(ctx *c) {
  if (!c->dev) return;
  check_usable(c);
  fixture_close(c->dev);
}

// One row: `call` returns `expected`; a failure leaves a message; the device
// still works.
#define ROW(c, call, expected)                                                                                         \
  do {                                                                                                                 \
    gpb_status want_ = (expected);                                                                                     \
    CHECK_STATUS(call, want_);                                                                                         \
    if (want_ != GPB_OK && gpb_last_error()[0] == '\0') {                                                              \
      fprintf(stderr, "%s:%d: %s failed without a message\n", __FILE__, __LINE__, #call);                              \
      check_failures++;                                                                                                \
    }                                                                                                                  \
    check_usable(c);                                                                                                   \
    rows++;                                                                                                            \
  } while (0)

// A row whose call returns a value, not a status.
#define VALUE_ROW(c, cond)                                                                                             \
  do {                                                                                                                 \
    CHECK(cond);                                                                                                       \
    check_usable(c);                                                                                                   \
    rows++;                                                                                                            \
  } while (0)

// ---- status, enumeration, devices ---------------------------------------------

static void test_status_and_device(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_device_info info;
  gpb_device *d = (gpb_device *)&c; // each failing call must clear it
  VALUE_ROW(&c, strcmp(gpb_status_name((gpb_status)-1), "GPB_ERROR_UNKNOWN") == 0);
  VALUE_ROW(&c, gpb_last_error() != NULL);
  ROW(&c, gpb_device_get_info(0, NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_device_get_info(UINT32_MAX, &info), GPB_ERROR_NOT_FOUND);
  ROW(&c, gpb_device_default_index(NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_device_open(0, NULL, NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_device_open(UINT32_MAX, NULL, &d), GPB_ERROR_NOT_FOUND);
  CHECK(d == NULL);
  ROW(&c, gpb_device_open_default(NULL, NULL), GPB_ERROR_INVALID_ARGUMENT);
  // Options with invalid values: an unwritable trace file fails the open.
  d = (gpb_device *)&c;
  gpb_device_options bad_trace = {.trace_path = "/nonexistent-dir/trace.json"};
  ROW(&c, gpb_device_open_default(&bad_trace, &d), GPB_ERROR_IO);
  CHECK(d == NULL);
  CHECK_MSG(gpb_last_error(), "/nonexistent-dir/trace.json");
  ROW(&c, gpb_device_close(NULL), GPB_OK);
  ROW(&c, gpb_device_sync(NULL), GPB_ERROR_INVALID_ARGUMENT);
  VALUE_ROW(&c, gpb_device_default_stream(NULL) == NULL);
  ROW(&c, gpb_device_query(NULL, &info), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_device_query(c.dev, NULL), GPB_ERROR_INVALID_ARGUMENT);
  VALUE_ROW(&c, gpb_device_validation_message_count(NULL) == 0);
  VALUE_ROW(&c, strcmp(gpb_device_last_error(NULL), "") == 0);
  ctx_close(&c);
}

// An environment variable the library reads, set to a value it does not
// recognise, fails the open with INVALID_ARGUMENT and a message naming the
// variable and what it accepts; an empty one means its default; valid
// values take effect.
static void test_bad_environment(void) {
  static const struct {
    const char *name, *value, *accepted;
  } bad[] = {{"GPB_MODE", "immediat", "immediate or batched"}, {"GPB_MODE", "sideways", "immediate or batched"},
             {"GPB_VALIDATION", "yes", "1 (on) or 0 (off)"},   {"GPB_WAIT_TIMEOUT_MS", "abc", "milliseconds"},
             {"GPB_WAIT_TIMEOUT_MS", "-5", "milliseconds"},    {"GPB_WAIT_TIMEOUT_MS", "0", "at least 1"},
             {"GPB_WAIT_SPIN_US", "lots", "microseconds"},     {"GPB_WAIT_SPIN_US", "4294967296", "microseconds"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv(bad[i].name, bad[i].value, 1);
    gpb_device *dev = (gpb_device *)&bad; // must be cleared
    CHECK_STATUS(gpb_device_open_default(NULL, &dev), GPB_ERROR_INVALID_ARGUMENT);
    CHECK(dev == NULL);
    char expect[64];
    snprintf(expect, sizeof expect, "%s=%s", bad[i].name, bad[i].value);
    CHECK_MSG(gpb_last_error(), expect);
    CHECK_MSG(gpb_last_error(), bad[i].accepted);
    unsetenv(bad[i].name);
    rows++;
  }
  static const char *const empty[] = {"GPB_MODE", "GPB_VALIDATION", "GPB_WAIT_TIMEOUT_MS", "GPB_WAIT_SPIN_US",
                                      "GPB_TRACE"};
  for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) setenv(empty[i], "", 1);
  ctx c;
  bool opened = ctx_open(&c);
  for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) unsetenv(empty[i]);
  if (!opened) return;
  VALUE_ROW(&c, gpb_stream_mode(c.s) == GPB_MODE_BATCHED);
  ctx_close(&c);
  setenv("GPB_MODE", "immediate", 1);
  setenv("GPB_WAIT_SPIN_US", "0", 1);
  setenv("GPB_WAIT_TIMEOUT_MS", "60000", 1);
  opened = ctx_open(&c);
  unsetenv("GPB_MODE");
  unsetenv("GPB_WAIT_SPIN_US");
  unsetenv("GPB_WAIT_TIMEOUT_MS");
  if (!opened) return;
  VALUE_ROW(&c, gpb_stream_mode(c.s) == GPB_MODE_IMMEDIATE);
  ctx_close(&c);
}

// ---- buffers ------------------------------------------------------------------

static void test_buffer_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_buffer *b = (gpb_buffer *)&c;
  // Sizes no device can hold, including ones that overflow when rounded up
  // to an alignment.
  static const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 3, 1ull << 63, 1ull << 40};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    ROW(&c, gpb_buffer_create(c.dev, huge[i], GPB_MEMORY_PRIVATE, &b), GPB_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK(b == NULL);
    ROW(&c, gpb_buffer_create(c.dev, huge[i], GPB_MEMORY_SHARED, &b), GPB_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK(b == NULL);
  }
  CHECK_MSG(gpb_device_last_error(c.dev), "bytes");
  ROW(&c, gpb_buffer_create(c.dev, 16, (gpb_memory_kind)-1, &b), GPB_ERROR_INVALID_ARGUMENT);
  VALUE_ROW(&c, gpb_buffer_size(NULL) == 0);
  VALUE_ROW(&c, gpb_buffer_kind(NULL) == GPB_MEMORY_PRIVATE);
  VALUE_ROW(&c, gpb_buffer_device(NULL) == NULL);
  void *p = &c;
  ROW(&c, gpb_buffer_map(NULL, GPB_HOST_READ, &p), GPB_ERROR_INVALID_ARGUMENT);
  CHECK(p == NULL);
  ROW(&c, gpb_buffer_map(c.sh, GPB_HOST_READ, NULL), GPB_ERROR_INVALID_ARGUMENT);
  p = &c;
  ROW(&c, gpb_buffer_map(c.sh, (gpb_host_access)0, &p), GPB_ERROR_INVALID_ARGUMENT);
  CHECK(p == NULL);
  ROW(&c, gpb_buffer_map(c.sh, (gpb_host_access)4, &p), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_buffer_map(c.sh, (gpb_host_access)-1, &p), GPB_ERROR_INVALID_ARGUMENT);
  ctx_close(&c);
}

// ---- kernels ------------------------------------------------------------------

// Where the build put the .spv files (as in test_kernel.c).
static void kernel_path(char *out, size_t cap, const char *file) {
  const char *dir = getenv("GPB_TEST_KERNEL_DIR");
  snprintf(out, cap, "%s/%s", dir ? dir : GPB_TEST_KERNEL_DIR, file);
}

static void test_kernel_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_kernel *k = (gpb_kernel *)&c;
  gpb_kernel_desc desc = {.name = "add_one", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  ROW(&c, gpb_kernel_create(NULL, &desc, &k), GPB_ERROR_INVALID_ARGUMENT);
  CHECK(k == NULL);
  ROW(&c, gpb_kernel_create(c.dev, NULL, &k), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_kernel_create(c.dev, &desc, NULL), GPB_ERROR_INVALID_ARGUMENT);
  char long_entry[100];
  memset(long_entry, 'e', sizeof long_entry - 1);
  long_entry[sizeof long_entry - 1] = '\0';
  gpb_kernel_desc long_desc = desc;
  long_desc.entry_point = long_entry;
  ROW(&c, gpb_kernel_create(c.dev, &long_desc, &k), GPB_ERROR_INVALID_ARGUMENT);
  gpb_kernel_desc empty_entry = desc;
  empty_entry.entry_point = "";
  ROW(&c, gpb_kernel_create(c.dev, &empty_entry, &k), GPB_ERROR_NOT_FOUND);
  ROW(&c, gpb_kernel_create_from_file(NULL, "x.spv", NULL, NULL, &k), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_kernel_create_from_file(c.dev, NULL, NULL, NULL, &k), GPB_ERROR_INVALID_ARGUMENT);
  char spv[512];
  kernel_path(spv, sizeof spv, "add_one.spv");
  ROW(&c, gpb_kernel_create_from_file(c.dev, spv, NULL, NULL, NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_kernel_create_from_file(c.dev, "/", NULL, NULL, &k), GPB_ERROR_IO); // a folder
  ROW(&c, gpb_kernel_create_from_file(c.dev, "/dev/null", NULL, NULL, &k), GPB_ERROR_INVALID_SPIRV);
  ROW(&c, gpb_kernel_create_from_file(c.dev, spv, "nope", NULL, &k), GPB_ERROR_NOT_FOUND);
  CHECK(k == NULL);
  gpb_kernel_info info;
  ROW(&c, gpb_kernel_get_info(NULL, &info), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_kernel_get_info(c.add, NULL), GPB_ERROR_INVALID_ARGUMENT);
  ctx_close(&c);
}

static const uint32_t too_many_invocations_spirv[] =
#include "too_many_invocations.inc"
    ;
static const uint32_t too_much_shared_spirv[] =
#include "too_much_shared.inc"
    ;
static const uint32_t uses_int64_spirv[] =
#include "uses_int64.inc"
    ;

// A copy of add_one in which every `OpDecorate %x <decoration> ...` of
// `count` words gets `value` at its word `at` (the test fails if none does).
static uint32_t *add_one_patched_decoration(uint32_t decoration, uint32_t count, uint32_t at, uint32_t value,
                                            size_t *out_bytes) {
  enum { OP_DECORATE = 71, HEADER_WORDS = 5 };
  uint32_t *words = malloc(sizeof add_one_spirv);
  if (!words) return NULL;
  memcpy(words, add_one_spirv, sizeof add_one_spirv);
  size_t n = sizeof add_one_spirv / 4;
  bool patched = false;
  for (size_t i = HEADER_WORDS; i < n;) {
    uint32_t words_here = words[i] >> 16;
    if (words_here == 0) break;
    if ((words[i] & 0xffff) == OP_DECORATE && words_here == count && words[i + 2] == decoration) {
      words[i + at] = value;
      patched = true;
    }
    i += words_here;
  }
  CHECK(patched);
  *out_bytes = sizeof add_one_spirv;
  return words;
}

// The add_one module with its storage buffer at binding `binding`.
static uint32_t *add_one_with_binding(uint32_t binding, size_t *out_bytes) {
  enum { DECORATION_BINDING = 33 };
  return add_one_patched_decoration(DECORATION_BINDING, 4, 3, binding, out_bytes);
}

// Valid SPIR-V the device cannot run must be refused with
// GPB_ERROR_UNSUPPORTED (gpubatch/status.h: "the device or the kernel needs
// something gpubatch lacks"), never handed to the driver. A kernel that
// needs a device feature may instead be accepted if the library enables the
// feature; then it must run. These were library bugs, fixed in 0cb9e44:
// the kernels were accepted and reached vkCreateShaderModule /
// vkCreateComputePipelines, which the validation layer reported
// (VUID-RuntimeSpirv-x-06432, VUID-RuntimeSpirv-Workgroup-06530,
// VUID-VkShaderModuleCreateInfo-pCode-01091).
static void test_kernels_beyond_device_limits(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  struct {
    const char *name;
    const uint32_t *words;
    size_t bytes;
    bool may_run; // a fix may enable what it needs instead of refusing it
  } cases[] = {
      {"too_many_invocations", too_many_invocations_spirv, sizeof too_many_invocations_spirv, false},
      {"too_much_shared", too_much_shared_spirv, sizeof too_much_shared_spirv, false},
      {"uses_int64", uses_int64_spirv, sizeof uses_int64_spirv, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (i == 0 && c.info.max_workgroup_invocations >= 2048) continue; // the device can run it
    gpb_kernel_desc desc = {.name = cases[i].name, .spirv = cases[i].words, .spirv_bytes = cases[i].bytes};
    gpb_kernel *k = NULL;
    uint64_t before = gpb_device_validation_message_count(c.dev);
    gpb_status st = gpb_kernel_create(c.dev, &desc, &k);
    if (gpb_device_validation_message_count(c.dev) != before) {
      fprintf(stderr, "library bug: kernel '%s' reached the driver (validation messages above)\n", cases[i].name);
    }
    if (cases[i].may_run && st == GPB_OK) {
      // Enabled, then it must compute: x[i] += 2^32 + 1 on 64-bit words.
      uint64_t host[N], back[N];
      for (uint32_t w = 0; w < N; w++) host[w] = 0xffffffffull * w;
      gpb_buffer *b = NULL;
      CHECK_OK(gpb_buffer_create(c.dev, sizeof host, GPB_MEMORY_PRIVATE, &b));
      CHECK_OK(gpb_stream_copy_to_device(c.s, host, b, 0, sizeof host));
      add_one_params p = {N};
      gpb_arg arg = {b, 0, 0};
      gpb_dispatch d = {.kernel = k,
                        .groups = {1, 1, 1},
                        .args = &arg,
                        .arg_count = 1,
                        .push_constants = &p,
                        .push_constant_bytes = sizeof p};
      CHECK_OK(gpb_stream_dispatch(c.s, &d));
      CHECK_OK(gpb_stream_copy_to_host(c.s, b, 0, back, sizeof back));
      for (uint32_t w = 0; w < N; w++) CHECK_EQ(back[w], host[w] + 0x100000001ull);
      CHECK_OK(gpb_buffer_free(b));
    } else {
      CHECK_STATUS(st, GPB_ERROR_UNSUPPORTED);
      CHECK_MSG(gpb_device_last_error(c.dev), cases[i].name);
    }
    check_usable(&c);
    rows++;
    gpb_kernel_destroy(k);
  }
  ctx_close(&c);
}

// Kernels whose mishandling can take the process down, each created in a
// child process so that a crash fails its row only. They run first, before
// this process has a device (and driver threads) to fork with.
//   - 24 bytes: a SPIR-V header and an OpUndef without operands. Must be
//     refused with GPB_ERROR_INVALID_SPIRV. Was a library bug (fixed in
//     0cb9e44 by validating with SPIRV-Tools first): SPIRV-Cross read past
//     the module and crashed (SIGSEGV in spvc_context_parse_spirv).
//     tests/fuzz/corpus/fuzz_kernel/found-spirv-cross-* hold more such inputs.
//   - add_one with its buffer at binding 2^29 (found by fuzz_kernel): valid
//     SPIR-V, but so sparse a push-descriptor set layout makes lavapipe
//     allocate per binding number: vkCreateDescriptorSetLayout fails with
//     VK_ERROR_OUT_OF_HOST_MEMORY, which the driver reports as an error
//     message (and under ASan, malloc of 56 GB aborts). Smaller numbers
//     succeed at a cost: binding 117440511 took 12.9 GB and 21 s. Must be
//     refused (GPB_ERROR_UNSUPPORTED) before the driver sees it. Was a
//     library bug, fixed in 09c94fd (bindings must be below 1024).
//   - add_one with its Block decorations turned into GLSLShared (found by
//     fuzz_kernel, tests/fuzz/corpus/fuzz_kernel/found-vulkan-rules-*):
//     valid SPIR-V in general, invalid for Vulkan
//     (VUID-StandaloneSpirv-GLSLShared-04669, and a storage buffer without
//     Block). Must be refused with GPB_ERROR_INVALID_SPIRV. Was a library
//     bug, fixed in c4c2774 (validation under the device's Vulkan rules):
//     SPIR-V was validated for SPV_ENV_UNIVERSAL_1_6 only, so the module
//     reached the driver; the validation layer reported it (and
//     VUID-VkComputePipelineCreateInfo-layout-00703), reflection of such
//     modules was not deterministic, and they crashed lavapipe now and then
//     while fuzzing.
static const uint32_t malformed_spirv[] = {0x07230203, 0x00010500, 0x0002000b, 2, 0, 0x00010001};

// add_one with every `OpDecorate %x Block` turned into GLSLShared.
static uint32_t *add_one_without_block(size_t *out_bytes) {
  enum { DECORATION_BLOCK = 2, DECORATION_GLSL_SHARED = 8 };
  return add_one_patched_decoration(DECORATION_BLOCK, 3, 2, DECORATION_GLSL_SHARED, out_bytes);
}

static gpb_status create_in_child(const char *name, const uint32_t *words, size_t bytes) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(60);
    gpb_device *dev = fixture_open();
    if (!dev) _exit(100);
    gpb_kernel *k = NULL;
    gpb_kernel_desc desc = {.name = name, .spirv = words, .spirv_bytes = bytes};
    gpb_status st = gpb_kernel_create(dev, &desc, &k);
    fixture_close(dev);                         // fails on any validation or driver message
    _exit(check_failures ? 101 : 10 + (int)st); // 10 +: apart from a sanitizer's exit code 1
  }
  CHECK(pid > 0);
  int status = 0;
  if (pid <= 0 || waitpid(pid, &status, 0) != pid) return GPB_ERROR_UNKNOWN_FOR_TESTS;
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "library bug: creating kernel '%s' killed the process (signal %d)\n", name, WTERMSIG(status));
    return GPB_ERROR_UNKNOWN_FOR_TESTS;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 101)
    fprintf(stderr, "library bug: kernel '%s' reached the driver (messages above)\n", name);
  else if (code < 10 || code >= 100)
    fprintf(stderr, "kernel '%s': the child exited with %d (a sanitizer report?)\n", name, code);
  return code >= 10 && code < 100 ? (gpb_status)(code - 10) : GPB_ERROR_UNKNOWN_FOR_TESTS;
}

static void test_kernels_in_child_process(void) {
  CHECK_STATUS(create_in_child("malformed", malformed_spirv, sizeof malformed_spirv), GPB_ERROR_INVALID_SPIRV);
  rows++;
  size_t bytes = 0;
  uint32_t *huge_binding = add_one_with_binding(1u << 29, &bytes);
  if (huge_binding) CHECK_STATUS(create_in_child("huge_binding", huge_binding, bytes), GPB_ERROR_UNSUPPORTED);
  free(huge_binding);
  rows++;
  uint32_t *no_block = add_one_without_block(&bytes);
  if (no_block) CHECK_STATUS(create_in_child("not_for_vulkan", no_block, bytes), GPB_ERROR_INVALID_SPIRV);
  free(no_block);
  rows++;
}

// ---- streams ------------------------------------------------------------------

static void test_stream_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_stream *s = (gpb_stream *)&c;
  ROW(&c, gpb_stream_create(NULL, NULL, &s), GPB_ERROR_INVALID_ARGUMENT);
  CHECK(s == NULL);
  ROW(&c, gpb_stream_create(c.dev, NULL, NULL), GPB_ERROR_INVALID_ARGUMENT);
  struct {
    gpb_stream_options o;
    gpb_status expected;
  } options[] = {
      {{.barriers = (gpb_barrier_policy)7}, GPB_ERROR_INVALID_ARGUMENT},
      {{.mode = (gpb_mode)-1}, GPB_ERROR_INVALID_ARGUMENT},
      {{.inline_upload_max_bytes = 6}, GPB_ERROR_INVALID_ARGUMENT}, // not a multiple of 4
      {{.inline_upload_max_bytes = 65540}, GPB_ERROR_INVALID_ARGUMENT},
      {{.staging_max_bytes = 1}, GPB_ERROR_INVALID_ARGUMENT}, // below the default 8 MiB buffer
      {{.staging_buffer_bytes = UINT64_MAX}, GPB_ERROR_INVALID_ARGUMENT},
      // Extreme but valid: the stream must work.
      {{.mode = GPB_MODE_DEFAULT, .max_batch_dispatches = UINT32_MAX}, GPB_OK},
      {{.max_batch_dispatches = 1, .barriers = GPB_BARRIERS_ALWAYS}, GPB_OK},
      {{.staging_buffer_bytes = UINT64_MAX, .staging_max_bytes = UINT64_MAX, .staging_max_buffers = UINT32_MAX},
       GPB_OK},
      {{.staging_buffer_bytes = 4, .staging_max_bytes = 4, .staging_max_buffers = 1}, GPB_OK},
      {{.staging_buffer_bytes = 1, .staging_max_bytes = 1, .inline_upload_max_bytes = GPB_NO_INLINE_UPLOADS}, GPB_OK},
      {{.inline_upload_max_bytes = 65536}, GPB_OK},
  };
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    s = (gpb_stream *)&c;
    ROW(&c, gpb_stream_create(c.dev, &options[i].o, &s), options[i].expected);
    if (options[i].expected != GPB_OK) {
      CHECK(s == NULL);
      continue;
    }
    // The new stream works: staged and inline uploads, a dispatch, a readback.
    gpb_buffer *b = NULL;
    CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
    uint32_t host[N], back[N];
    for (uint32_t w = 0; w < N; w++) host[w] = w;
    CHECK_OK(gpb_stream_copy_to_device(s, host, b, 0, 4 * 10));
    CHECK_OK(gpb_stream_copy_to_device(s, host + 10, b, 4 * 10, 4 * (N - 10) - 2)); // not inline
    CHECK_OK(gpb_stream_copy_to_device(s, (uint8_t *)(host + N) - 2, b, 4 * N - 2, 2));
    CHECK_OK(dispatch_add_one(s, c.add, b, 0, N));
    CHECK_OK(gpb_stream_copy_to_host(s, b, 0, back, sizeof back));
    for (uint32_t w = 0; w < N; w++) CHECK_EQ(back[w], w + 1);
    CHECK_OK(gpb_buffer_free(b));
    CHECK_OK(gpb_stream_destroy(s));
  }
  ROW(&c, gpb_stream_destroy(c.s), GPB_ERROR_INVALID_ARGUMENT); // the default stream
  VALUE_ROW(&c, gpb_stream_device(NULL) == NULL);
  VALUE_ROW(&c, gpb_stream_mode(NULL) == GPB_MODE_DEFAULT);
  VALUE_ROW(&c, strcmp(gpb_stream_last_error(NULL), "") == 0);
  ctx_close(&c);
}

// ---- dispatches -----------------------------------------------------------------

static void test_dispatch_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  add_one_params p = {N};
  gpb_arg args[2] = {{c.work, 0, 0}, {c.work, 0, 0}}; // room for a wrong count
  uint32_t pc[4] = {N, 0, 0, 0};
  gpb_dispatch good = {.kernel = c.add,
                       .groups = {1, 1, 1},
                       .args = args,
                       .arg_count = 1,
                       .push_constants = &p,
                       .push_constant_bytes = sizeof p};
  gpb_dispatch d;
  uint64_t accepted = 0; // dispatches expected to run on c.s besides the usability checks
  CHECK_OK(gpb_stream_reset_counters(c.s));
  uint32_t checks_before = c.checks;
  d = good, d.args = NULL;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.arg_count = 0;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.arg_count = UINT32_MAX;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.push_constant_bytes = 0;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.push_constants = pc, d.push_constant_bytes = 16;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.push_constant_bytes = UINT32_MAX;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.groups[0] = 0;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.groups[2] = 0;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.groups[1] = c.info.max_workgroup_count[1] + 1;
  if (c.info.max_workgroup_count[1] < UINT32_MAX) ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.groups[2] = UINT32_MAX;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  // Offsets that are not a multiple of the storage alignment.
  uint64_t align = c.info.min_storage_buffer_offset_alignment;
  uint64_t misaligned[] = {1, 2, align / 2, align + 4};
  for (size_t i = 0; i < sizeof misaligned / sizeof misaligned[0]; i++) {
    if (misaligned[i] == 0 || misaligned[i] % align == 0) continue;
    args[0] = (gpb_arg){c.work, misaligned[i], 16};
    ROW(&c, gpb_stream_dispatch(c.s, &good), GPB_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(gpb_stream_last_error(c.s), "alignment");
  }
  // Ranges past the end or wrapping around 2^64.
  uint64_t size = 4 * N;
  gpb_arg ranges[] = {{c.work, UINT64_MAX, 0},   {c.work, UINT64_MAX - 15, 16}, {c.work, align, UINT64_MAX},
                      {c.work, size + align, 0}, {c.work, 0, size + 1},         {c.work, size, 16},
                      {c.work, 0, UINT64_MAX}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    args[0] = ranges[i];
    ROW(&c, gpb_stream_dispatch(c.s, &good), GPB_ERROR_OUT_OF_RANGE);
  }
  // An argument larger than the device's storage-buffer range.
  uint64_t range = c.info.max_storage_buffer_range;
  gpb_buffer *big = NULL;
  if (range < (1ull << 30) && gpb_buffer_create(c.dev, range + 256, GPB_MEMORY_PRIVATE, &big) == GPB_OK) {
    args[0] = (gpb_arg){big, 0, 0};
    ROW(&c, gpb_stream_dispatch(c.s, &good), GPB_ERROR_UNSUPPORTED);
    CHECK_MSG(gpb_stream_last_error(c.s), "storage range");
    args[0] = (gpb_arg){big, 256, 0}; // exactly the range: fine (n words touch the start only)
    ROW(&c, gpb_stream_dispatch(c.s, &good), GPB_OK);
    accepted++;
    CHECK_OK(gpb_buffer_free(big));
  }
  // A sentinel as the target of refused dispatches stays unchanged.
  args[0] = (gpb_arg){c.x, 4 * N, 0};
  ROW(&c, gpb_stream_dispatch(c.s, &good), GPB_ERROR_OUT_OF_RANGE);
  args[0] = (gpb_arg){c.x, 0, 0};
  d = good, d.kernel = c.fill;
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT); // fill takes 8 push-constant bytes
  gpb_dispatch ax = {.kernel = c.axpy,
                     .groups = {1, 1, 1},
                     .args = args,
                     .arg_count = 2,
                     .push_constants = pc,
                     .push_constant_bytes = 8};
  args[0] = (gpb_arg){c.work, 0, 0};
  args[1] = (gpb_arg){c.x, 0, 4 * N + 4};
  ROW(&c, gpb_stream_dispatch(c.s, &ax), GPB_ERROR_OUT_OF_RANGE); // the second argument is wrong
  args[1] = (gpb_arg){NULL, 0, 0};
  ROW(&c, gpb_stream_dispatch(c.s, &ax), GPB_ERROR_INVALID_ARGUMENT);
  // Refused dispatches were not counted (nor recorded).
  gpb_counters counters;
  CHECK_OK(gpb_stream_get_counters(c.s, &counters));
  CHECK_EQ(counters.dispatches, accepted + (c.checks - checks_before));
  ctx_close(&c);
}

// ---- copies ---------------------------------------------------------------------

static void test_copy_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  uint32_t host[N] = {0};
  uint8_t canary[4 * N];
  memset(canary, 0xa5, sizeof canary);
  uint64_t size = 4 * N;
  // host -> device
  ROW(&c, gpb_stream_copy_to_device(NULL, host, c.x, 0, 4), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_to_device(c.s, host, NULL, 0, 4), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_to_device(c.s, NULL, c.x, 0, 0), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_to_device(c.s, host, c.x, 8, UINT64_MAX - 4), GPB_ERROR_OUT_OF_RANGE); // wraps
  ROW(&c, gpb_stream_copy_to_device(c.s, host, c.x, 0, UINT64_MAX), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_to_device(c.s, host, c.x, size, 0), GPB_OK); // empty, at the end
  ROW(&c, gpb_stream_copy_to_device(c.s, host, c.x, size + 1, 0), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_to_device(c.s, host, c.sh, size - 4, 8), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_to_device(c.s, host, c.sh, 8, UINT64_MAX - 4), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_to_device(c.s2, host, c.x, UINT64_MAX - 3, 4), GPB_ERROR_OUT_OF_RANGE);
  // device -> host: nothing is written to the destination.
  ROW(&c, gpb_stream_copy_to_host(NULL, c.x, 0, canary, 4), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_to_host(c.s, NULL, 0, canary, 4), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_to_host(c.s, c.x, 8, canary, UINT64_MAX - 4), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_to_host(c.s, c.x, UINT64_MAX, canary, 1), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_to_host(c.s, c.x, size, canary, 0), GPB_OK);
  ROW(&c, gpb_stream_copy_to_host(c.s, c.sh, 4, canary, size), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_to_host(c.s, c.sh, UINT64_MAX - 3, canary, 8), GPB_ERROR_OUT_OF_RANGE);
  bool untouched = true;
  for (size_t i = 0; i < sizeof canary; i++) untouched &= canary[i] == 0xa5;
  CHECK(untouched);
  // device -> device
  ROW(&c, gpb_stream_copy_buffer(NULL, c.x, 0, c.work, 0, 4), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_buffer(c.s, NULL, 0, c.x, 0, 4), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_buffer(c.s, c.work, 0, NULL, 0, 4), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_buffer(c.s, c.work, 4, c.x, 0, size), GPB_ERROR_OUT_OF_RANGE); // source past the end
  ROW(&c, gpb_stream_copy_buffer(c.s, c.work, 0, c.x, UINT64_MAX - 3, 8), GPB_ERROR_OUT_OF_RANGE); // wraps
  ROW(&c, gpb_stream_copy_buffer(c.s, c.work, UINT64_MAX - 3, c.x, 0, 8), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_buffer(c.s, c.work, 8, c.x, 8, UINT64_MAX - 4), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_buffer(c.s, c.x, 16, c.x, 16, 16), GPB_ERROR_INVALID_ARGUMENT); // same range
  ROW(&c, gpb_stream_copy_buffer(c.s, c.x, 16, c.x, 28, 16), GPB_ERROR_INVALID_ARGUMENT); // overlap
  ROW(&c, gpb_stream_copy_buffer(c.s, c.x, 0, c.x, 0, 0), GPB_OK);                        // empty
  ROW(&c, gpb_stream_copy_buffer(c.s, c.x, size, c.work, size, 0), GPB_OK);               // empty, at the end
  ROW(&c, gpb_stream_copy_buffer(c.s, c.x, 0, c.work, size + 4, 0), GPB_ERROR_OUT_OF_RANGE);
  // Adjacent ranges of one buffer do not overlap: a real copy (in work,
  // whose words are all equal, so the check stays simple).
  ROW(&c, gpb_stream_copy_buffer(c.s, c.work, 0, c.work, size / 2, size / 2), GPB_OK);
  ctx_close(&c);
}

// ---- syncs, waits, counters -------------------------------------------------------

static void test_sync_and_counter_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_counters counters;
  ROW(&c, gpb_stream_flush(NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_sync(NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_wait_stream(NULL, c.s), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_wait_stream(c.s, NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_wait_stream(c.s2, c.s2), GPB_OK);
  ROW(&c, gpb_stream_get_counters(NULL, &counters), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_get_counters(c.s, NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_reset_counters(NULL), GPB_ERROR_INVALID_ARGUMENT);
  memset(&counters, 0xff, sizeof counters);
  VALUE_ROW(&c, gpb_counter_value(NULL, 0) == 0);
  VALUE_ROW(&c, gpb_counter_value(&counters, gpb_counter_count()) == 0);
  VALUE_ROW(&c, gpb_counter_value(&counters, SIZE_MAX) == 0);
  VALUE_ROW(&c, gpb_counter_name(SIZE_MAX) == NULL);
  ctx_close(&c);
}

// ---- programs ---------------------------------------------------------------------

static void test_program_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_program *p = (gpb_program *)&c;
  ROW(&c, gpb_stream_begin_capture(NULL), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_end_capture(NULL, &p), GPB_ERROR_INVALID_ARGUMENT);
  CHECK(p == NULL);
  ROW(&c, gpb_stream_end_capture(c.s2, NULL), GPB_ERROR_INVALID_ARGUMENT);
  VALUE_ROW(&c, gpb_program_dispatch_count(NULL) == 0);
  // Bad calls during a capture are refused and leave the capture intact.
  gpb_stream *cap = NULL;
  CHECK_OK(gpb_stream_create(c.dev, NULL, &cap));
  gpb_buffer *b = NULL;
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  uint32_t host[N] = {0};
  CHECK_OK(gpb_stream_copy_to_device(cap, host, b, 0, sizeof host));
  CHECK_OK(gpb_stream_sync(cap));
  ROW(&c, gpb_stream_begin_capture(cap), GPB_OK);
  ROW(&c, dispatch_add_one(cap, c.add, b, 0, N), GPB_OK);
  ROW(&c, dispatch_add_one(cap, c.add, b, 4, N / 2), GPB_ERROR_INVALID_ARGUMENT); // misaligned
  ROW(&c, dispatch_add_one(cap, c.add, b, 4 * N, N), GPB_ERROR_OUT_OF_RANGE);
  ROW(&c, gpb_stream_copy_buffer(cap, b, 0, b, 8, 16), GPB_ERROR_INVALID_ARGUMENT); // overlap
  ROW(&c, gpb_stream_copy_buffer(cap, b, 0, c.x, 0, UINT64_MAX), GPB_ERROR_OUT_OF_RANGE);
  // Device-wide syncs meet the capturing stream: refused, the others drained.
  ROW(&c, gpb_device_sync(c.dev), GPB_ERROR_FAILED_PRECONDITION);
  ROW(&c, gpb_stream_end_capture(cap, &p), GPB_OK);
  VALUE_ROW(&c, gpb_program_dispatch_count(p) == 1);
  ROW(&c, gpb_stream_replay(NULL, p), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_replay(cap, p), GPB_OK);
  ROW(&c, gpb_stream_replay(cap, p), GPB_OK);
  // A replay while the stream captures another program is refused.
  ROW(&c, gpb_stream_begin_capture(cap), GPB_OK);
  ROW(&c, gpb_stream_replay(cap, p), GPB_ERROR_FAILED_PRECONDITION);
  gpb_program *empty = NULL;
  ROW(&c, gpb_stream_end_capture(cap, &empty), GPB_OK);
  ROW(&c, gpb_program_destroy(empty), GPB_OK);
  CHECK_OK(gpb_stream_copy_to_host(cap, b, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 2); // two replays of one add_one
  // A program of another device.
  gpb_device *other = fixture_open();
  if (other) {
    ROW(&c, gpb_stream_replay(gpb_device_default_stream(other), p), GPB_ERROR_INVALID_ARGUMENT);
    fixture_close(other);
  }
  ROW(&c, gpb_program_destroy(p), GPB_OK);
  CHECK_OK(gpb_buffer_free(b));
  CHECK_OK(gpb_stream_destroy(cap));
  ctx_close(&c);
}

// A device closed while one of its streams captures: close releases
// everything (no leak, no validation message) and reports the refusal.
static void test_close_while_capturing(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *b = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  gpb_stream *s = gpb_device_default_stream(dev);
  CHECK_OK(gpb_stream_begin_capture(s));
  CHECK_OK(dispatch_add_one(s, k, b, 0, N));
  uint64_t messages = gpb_device_validation_message_count(dev);
  // The capturing stream refuses the close's sync; everything is released
  // all the same.
  CHECK_STATUS(gpb_device_close(dev), GPB_ERROR_FAILED_PRECONDITION);
  CHECK_MSG(gpb_last_error(), "capturing");
  CHECK_EQ(messages, 0);
  rows++;
}

// ---- another device's handles ------------------------------------------------------

static void test_cross_device_misuse(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_device *other = fixture_open();
  if (!other) {
    ctx_close(&c);
    return;
  }
  gpb_buffer *foreign = NULL;
  CHECK_OK(gpb_buffer_create(other, 4 * N, GPB_MEMORY_SHARED, &foreign));
  gpb_stream *other_stream = NULL;
  CHECK_OK(gpb_stream_create(other, NULL, &other_stream));
  uint32_t host[N] = {0};
  ROW(&c, gpb_stream_copy_to_device(c.s, host, foreign, 0, 16), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_copy_buffer(c.s, foreign, 0, c.x, 0, 16), GPB_ERROR_INVALID_ARGUMENT);
  ROW(&c, gpb_stream_wait_stream(other_stream, c.s2), GPB_ERROR_INVALID_ARGUMENT);
  gpb_arg args[2] = {{c.work, 0, 0}, {foreign, 0, 0}};
  axpy_params ap = {N, 1};
  gpb_dispatch d = {.kernel = c.axpy,
                    .groups = {1, 1, 1},
                    .args = args,
                    .arg_count = 2,
                    .push_constants = &ap,
                    .push_constant_bytes = sizeof ap};
  ROW(&c, gpb_stream_dispatch(c.s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d.args = args + 1, d.kernel = c.add, d.arg_count = 1, d.push_constant_bytes = 4;
  ROW(&c, gpb_stream_dispatch(other_stream, &d), GPB_ERROR_INVALID_ARGUMENT); // this device's kernel there
  // The other device is unaffected.
  uint32_t *p = NULL;
  CHECK_OK(gpb_buffer_map(foreign, GPB_HOST_WRITE, (void **)&p));
  gpb_counters counters;
  CHECK_OK(gpb_stream_get_counters(other_stream, &counters));
  CHECK_EQ(counters.dispatches, 0);
  fixture_close(other);
  ctx_close(&c);
}

// ---- handles that are not live -------------------------------------------------------
// Use after free, double free, handles of a closed device and handles of
// another type are refused with GPB_ERROR_INVALID_HANDLE and a message that
// names the handle and why (gpubatch/status.h): every handle carries a
// generation and a type tag (src/core/handle.h), so this is deterministic.

#define FREED "freed, or closed with its device"
#define DESTROYED "destroyed, or closed with its device"

// A call refused for a handle that is not live: the status, a message naming
// the handle (`what`) and the reason (`why`), then the device still works.
#define HANDLE_ROW(c, call, what, why)                                                                                 \
  do {                                                                                                                 \
    CHECK_STATUS(call, GPB_ERROR_INVALID_HANDLE);                                                                      \
    CHECK_MSG(gpb_last_error(), what);                                                                                 \
    CHECK_MSG(gpb_last_error(), why);                                                                                  \
    check_usable(c);                                                                                                   \
    rows++;                                                                                                            \
  } while (0)

// The same for a call that returns a value: the neutral value, and the
// reason in gpb_last_error.
#define HANDLE_VALUE_ROW(c, cond, what, why)                                                                           \
  do {                                                                                                                 \
    CHECK(cond);                                                                                                       \
    CHECK_MSG(gpb_last_error(), what);                                                                                 \
    CHECK_MSG(gpb_last_error(), why);                                                                                  \
    check_usable(c);                                                                                                   \
    rows++;                                                                                                            \
  } while (0)

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != v) return false;
  }
  return true;
}

// Buffers used after gpb_buffer_free, in every call that takes a buffer.
static void test_freed_buffers(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_buffer *gone = NULL, *gone_shared = NULL;
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_PRIVATE, &gone));
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_SHARED, &gone_shared));
  CHECK_OK(dispatch_add_one(c.s, c.add, gone, 0, N)); // pending work: the free waits for it
  CHECK_OK(gpb_buffer_free(gone));
  CHECK_OK(gpb_buffer_free(gone_shared));
  CHECK_OK(gpb_stream_reset_counters(c.s));
  uint32_t checks_before = c.checks;
  uint32_t host[N] = {0};
  uint8_t canary[64];
  memset(canary, 0xa5, sizeof canary);
  HANDLE_ROW(&c, gpb_buffer_free(gone), "gpb_buffer_free: buffer handle 0x", FREED); // double free
  HANDLE_ROW(&c, gpb_buffer_free(gone_shared), "buffer handle", FREED);
  void *p = &c;
  HANDLE_ROW(&c, gpb_buffer_map(gone_shared, GPB_HOST_READ, &p), "gpb_buffer_map: buffer handle", FREED);
  CHECK(p == NULL);
  HANDLE_VALUE_ROW(&c, gpb_buffer_size(gone) == 0, "gpb_buffer_size: buffer handle", FREED);
  HANDLE_VALUE_ROW(&c, gpb_buffer_kind(gone_shared) == GPB_MEMORY_PRIVATE, "gpb_buffer_kind", FREED);
  HANDLE_VALUE_ROW(&c, gpb_buffer_device(gone) == NULL, "gpb_buffer_device", FREED);
  HANDLE_ROW(&c, gpb_stream_copy_to_device(c.s, host, gone, 0, 16), "destination: buffer handle", FREED);
  CHECK_MSG(gpb_stream_last_error(c.s), "buffer handle"); // on the stream too
  HANDLE_ROW(&c, gpb_stream_copy_to_device(c.s2, host, gone_shared, 0, 16), "destination: buffer handle", FREED);
  HANDLE_ROW(&c, gpb_stream_copy_to_device(c.s, host, gone, 0, 0), "destination: buffer handle", FREED); // 0 bytes
  HANDLE_ROW(&c, gpb_stream_copy_to_host(c.s, gone, 0, canary, 16), "source: buffer handle", FREED);
  HANDLE_ROW(&c, gpb_stream_copy_to_host(c.s2, gone_shared, 0, canary, 16), "source: buffer handle", FREED);
  CHECK(all_bytes(canary, sizeof canary, 0xa5));
  HANDLE_ROW(&c, gpb_stream_copy_buffer(c.s, gone, 0, c.x, 0, 16), "source: buffer handle", FREED);
  HANDLE_ROW(&c, gpb_stream_copy_buffer(c.s, c.x, 0, gone, 0, 16), "destination: buffer handle", FREED);
  HANDLE_ROW(&c, dispatch_add_one(c.s, c.add, gone, 0, N), "'add_one': argument 0 (binding 0): buffer handle", FREED);
  HANDLE_ROW(&c, dispatch_axpy(c.s, c.axpy, c.x, 0, gone, 0, N, 1), "'axpy': argument 1", FREED);
  HANDLE_ROW(&c, dispatch_axpy(c.s, c.axpy, gone_shared, 0, c.work, 0, N, 1), "'axpy': argument 0", FREED);
  // Refused dispatches were not counted (nor recorded).
  gpb_counters counters;
  CHECK_OK(gpb_stream_get_counters(c.s, &counters));
  CHECK_EQ(counters.dispatches, c.checks - checks_before);
  // While a stream captures: refused, the capture goes on and replays.
  gpb_stream *cap = NULL;
  gpb_buffer *b = NULL;
  CHECK_OK(gpb_stream_create(c.dev, NULL, &cap));
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  CHECK_OK(gpb_stream_copy_to_device(cap, host, b, 0, sizeof host));
  CHECK_OK(gpb_stream_begin_capture(cap));
  HANDLE_ROW(&c, dispatch_add_one(cap, c.add, gone, 0, N), "argument 0 (binding 0): buffer handle", FREED);
  HANDLE_ROW(&c, gpb_stream_copy_buffer(cap, gone, 0, b, 0, 16), "source: buffer handle", FREED);
  CHECK_OK(dispatch_add_one(cap, c.add, b, 0, N));
  gpb_program *prog = NULL;
  CHECK_OK(gpb_stream_end_capture(cap, &prog));
  CHECK_EQ(gpb_program_dispatch_count(prog), 1);
  CHECK_OK(gpb_stream_replay(cap, prog));
  CHECK_OK(gpb_stream_copy_to_host(cap, b, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 1);
  CHECK_OK(gpb_program_destroy(prog));
  CHECK_OK(gpb_buffer_free(b));
  CHECK_OK(gpb_stream_destroy(cap));
  ctx_close(&c);
}

// A stale handle whose slot a new object took: the generation differs, so
// the old handle reaches neither the new object nor anything else.
static void test_stale_handle_of_reused_slot(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_buffer *old = NULL, *fresh = NULL;
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_SHARED, &old));
  CHECK_OK(gpb_buffer_free(old));
  CHECK_OK(gpb_buffer_create(c.dev, 8 * N, GPB_MEMORY_SHARED, &fresh));
  // The freed slot is the next one given out (src/core/handle.h: the low 32
  // bits are the slot); without this the row would test nothing.
  CHECK(fresh != old);
  CHECK_EQ((uintptr_t)fresh & 0xffffffffu, (uintptr_t)old & 0xffffffffu);
  uint32_t *p = NULL, host[2 * N];
  CHECK_OK(gpb_buffer_map(fresh, GPB_HOST_WRITE, (void **)&p));
  for (uint32_t i = 0; p && i < 2 * N; i++) p[i] = 7 * i;
  for (uint32_t i = 0; i < 2 * N; i++) host[i] = 0xdead;
  HANDLE_ROW(&c, gpb_stream_copy_to_device(c.s, host, old, 0, sizeof host / 2), "buffer handle", FREED);
  HANDLE_ROW(&c, gpb_buffer_free(old), "gpb_buffer_free: buffer handle", FREED);
  HANDLE_VALUE_ROW(&c, gpb_buffer_size(old) == 0, "buffer handle", FREED);
  void *q = &c;
  HANDLE_ROW(&c, gpb_buffer_map(old, GPB_HOST_READ, &q), "buffer handle", FREED);
  CHECK(q == NULL);
  // The new buffer was neither freed nor written.
  CHECK_EQ(gpb_buffer_size(fresh), 8 * N);
  CHECK_OK(gpb_stream_copy_to_host(c.s, fresh, 0, host, sizeof host));
  for (uint32_t i = 0; i < 2 * N; i++) CHECK_EQ(host[i], 7 * i);
  // A kernel takes the slot next: the buffer handles stay refused, the kernel runs.
  CHECK_OK(gpb_buffer_free(fresh));
  gpb_kernel *k = FIXTURE_KERNEL(c.dev, add_one);
  CHECK_EQ((uintptr_t)k & 0xffffffffu, (uintptr_t)old & 0xffffffffu);
  HANDLE_ROW(&c, gpb_buffer_free(fresh), "buffer handle", FREED);
  HANDLE_ROW(&c, dispatch_add_one(c.s, k, fresh, 0, N), "argument 0 (binding 0): buffer handle", FREED);
  CHECK_OK(dispatch_add_one(c.s, k, c.work, 0, N));
  c.work_value++;
  CHECK_OK(gpb_kernel_destroy(k));
  // And a stream after the kernel: the kernel handle is refused.
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(c.dev, NULL, &s));
  CHECK_EQ((uintptr_t)s & 0xffffffffu, (uintptr_t)old & 0xffffffffu);
  HANDLE_ROW(&c, dispatch_add_one(s, k, c.work, 0, N), "dispatch: kernel handle", DESTROYED);
  CHECK_OK(gpb_stream_destroy(s));
  ctx_close(&c);
}

// Kernels used after gpb_kernel_destroy.
static void test_destroyed_kernels(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_kernel *gone = FIXTURE_KERNEL(c.dev, add_one);
  gpb_buffer *b = NULL;
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  CHECK_OK(dispatch_add_one(c.s, gone, b, 0, N)); // pending work: the destroy waits for it
  CHECK_OK(gpb_kernel_destroy(gone));
  HANDLE_ROW(&c, gpb_kernel_destroy(gone), "gpb_kernel_destroy: kernel handle", DESTROYED); // twice
  gpb_kernel_info info;
  HANDLE_ROW(&c, gpb_kernel_get_info(gone, &info), "gpb_kernel_get_info: kernel handle", DESTROYED);
  HANDLE_ROW(&c, dispatch_add_one(c.s, gone, c.work, 0, N), "dispatch: kernel handle", DESTROYED);
  HANDLE_ROW(&c, dispatch_add_one(c.s2, gone, c.work, 0, N), "dispatch: kernel handle", DESTROYED);
  gpb_stream *cap = NULL;
  CHECK_OK(gpb_stream_create(c.dev, NULL, &cap));
  CHECK_OK(gpb_stream_begin_capture(cap));
  HANDLE_ROW(&c, dispatch_add_one(cap, gone, b, 0, N), "dispatch: kernel handle", DESTROYED);
  gpb_program *prog = NULL;
  CHECK_OK(gpb_stream_end_capture(cap, &prog));
  CHECK_EQ(gpb_program_dispatch_count(prog), 0);
  CHECK_OK(gpb_program_destroy(prog));
  CHECK_OK(gpb_stream_destroy(cap));
  CHECK_OK(gpb_buffer_free(b));
  ctx_close(&c);
}

// Streams used after gpb_stream_destroy, in every call that takes a stream.
static void test_destroyed_streams(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_stream *gone = NULL, *cap = NULL;
  uint32_t host[N] = {0};
  uint8_t canary[64];
  memset(canary, 0xa5, sizeof canary);
  CHECK_OK(gpb_stream_create(c.dev, NULL, &gone));
  CHECK_OK(gpb_stream_copy_to_device(gone, host, c.work, 0, 16));
  CHECK_OK(gpb_stream_wait_stream(c.s, gone));
  CHECK_OK(gpb_stream_destroy(gone));
  CHECK_OK(gpb_stream_create(c.dev, NULL, &cap)); // takes the slot: a newer generation
  CHECK_OK(gpb_stream_begin_capture(cap));
  CHECK_OK(dispatch_add_one(cap, c.add, c.work, 0, N));
  gpb_program *prog = NULL;
  CHECK_OK(gpb_stream_end_capture(cap, &prog));
  HANDLE_ROW(&c, gpb_stream_destroy(gone), "gpb_stream_destroy: stream handle", DESTROYED); // twice
  HANDLE_ROW(&c, dispatch_add_one(gone, c.add, c.work, 0, N), "gpb_stream_dispatch: stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_copy_to_device(gone, host, c.x, 0, 16), "stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_copy_to_host(gone, c.x, 0, canary, 16), "stream handle", DESTROYED);
  CHECK(all_bytes(canary, sizeof canary, 0xa5));
  HANDLE_ROW(&c, gpb_stream_copy_buffer(gone, c.work, 0, c.x, 0, 16), "stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_flush(gone), "gpb_stream_flush: stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_sync(gone), "gpb_stream_sync: stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_wait_stream(gone, c.s), "gpb_stream_wait_stream: stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_wait_stream(c.s2, gone), "waiting on another stream: stream handle", DESTROYED);
  gpb_counters counters;
  HANDLE_ROW(&c, gpb_stream_get_counters(gone, &counters), "stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_reset_counters(gone), "stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_begin_capture(gone), "stream handle", DESTROYED);
  gpb_program *p = (gpb_program *)&c;
  HANDLE_ROW(&c, gpb_stream_end_capture(gone, &p), "stream handle", DESTROYED);
  CHECK(p == NULL);
  HANDLE_ROW(&c, gpb_stream_replay(gone, prog), "gpb_stream_replay: stream handle", DESTROYED);
  HANDLE_VALUE_ROW(&c, gpb_stream_device(gone) == NULL, "gpb_stream_device: stream handle", DESTROYED);
  HANDLE_VALUE_ROW(&c, gpb_stream_mode(gone) == GPB_MODE_DEFAULT, "gpb_stream_mode", DESTROYED);
  HANDLE_VALUE_ROW(&c, strcmp(gpb_stream_last_error(gone), "") == 0, "gpb_stream_last_error", DESTROYED);
  // The program (and the stream that took the slot) still work.
  CHECK_OK(gpb_stream_wait_stream(cap, c.s));
  CHECK_OK(gpb_stream_replay(cap, prog));
  c.work_value++;
  CHECK_OK(gpb_stream_wait_stream(c.s, cap));
  CHECK_OK(gpb_program_destroy(prog));
  CHECK_OK(gpb_stream_destroy(cap));
  ctx_close(&c);
}

// Programs used after gpb_program_destroy.
static void test_destroyed_programs(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_stream *cap = NULL;
  gpb_buffer *b = NULL;
  uint32_t host[N] = {0};
  CHECK_OK(gpb_stream_create(c.dev, NULL, &cap));
  CHECK_OK(gpb_buffer_create(c.dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  CHECK_OK(gpb_stream_copy_to_device(cap, host, b, 0, sizeof host));
  CHECK_OK(gpb_stream_begin_capture(cap));
  CHECK_OK(dispatch_add_one(cap, c.add, b, 0, N));
  gpb_program *gone = NULL;
  CHECK_OK(gpb_stream_end_capture(cap, &gone));
  CHECK_OK(gpb_stream_replay(cap, gone));
  CHECK_OK(gpb_program_destroy(gone)); // waits for the replay
  HANDLE_ROW(&c, gpb_stream_replay(cap, gone), "replay: program handle", DESTROYED);
  CHECK_MSG(gpb_stream_last_error(cap), "program handle");
  HANDLE_ROW(&c, gpb_stream_replay(c.s, gone), "replay: program handle", DESTROYED);
  HANDLE_ROW(&c, gpb_program_destroy(gone), "gpb_program_destroy: program handle", DESTROYED); // twice
  HANDLE_VALUE_ROW(&c, gpb_program_dispatch_count(gone) == 0, "gpb_program_dispatch_count", DESTROYED);
  // One replay ran; the buffer is free to go now.
  CHECK_OK(gpb_stream_copy_to_host(cap, b, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 1);
  CHECK_OK(gpb_buffer_free(b));
  CHECK_OK(gpb_stream_destroy(cap));
  ctx_close(&c);
}

// A closed device, and the handles of everything it released.
static void test_closed_device_handles(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  gpb_device *gone = fixture_open();
  if (!gone) {
    ctx_close(&c);
    return;
  }
  gpb_buffer *gone_buf = NULL;
  gpb_stream *gone_stream = NULL, *gone_default = gpb_device_default_stream(gone);
  gpb_kernel *gone_kernel = FIXTURE_KERNEL(gone, add_one);
  CHECK_OK(gpb_buffer_create(gone, 4 * N, GPB_MEMORY_SHARED, &gone_buf));
  CHECK_OK(gpb_stream_create(gone, NULL, &gone_stream));
  CHECK_OK(gpb_stream_begin_capture(gone_stream));
  CHECK_OK(dispatch_add_one(gone_stream, gone_kernel, gone_buf, 0, N));
  gpb_program *gone_prog = NULL;
  CHECK_OK(gpb_stream_end_capture(gone_stream, &gone_prog));
  fixture_close(gone);
  HANDLE_ROW(&c, gpb_device_close(gone), "gpb_device_close: device handle", "closed"); // twice
  HANDLE_ROW(&c, gpb_device_sync(gone), "gpb_device_sync: device handle", "closed");
  gpb_device_info info;
  HANDLE_ROW(&c, gpb_device_query(gone, &info), "gpb_device_query: device handle", "closed");
  HANDLE_VALUE_ROW(&c, gpb_device_default_stream(gone) == NULL, "gpb_device_default_stream", "closed");
  HANDLE_VALUE_ROW(&c, gpb_device_validation_message_count(gone) == 0, "device handle", "closed");
  HANDLE_VALUE_ROW(&c, strcmp(gpb_device_last_error(gone), "") == 0, "gpb_device_last_error", "closed");
  gpb_buffer *b = (gpb_buffer *)&c;
  HANDLE_ROW(&c, gpb_buffer_create(gone, 16, GPB_MEMORY_PRIVATE, &b), "gpb_buffer_create: device handle", "closed");
  CHECK(b == NULL);
  gpb_kernel *k = (gpb_kernel *)&c;
  gpb_kernel_desc desc = {.name = "add_one", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  HANDLE_ROW(&c, gpb_kernel_create(gone, &desc, &k), "gpb_kernel_create: device handle", "closed");
  CHECK(k == NULL);
  char spv[512];
  kernel_path(spv, sizeof spv, "add_one.spv");
  HANDLE_ROW(&c, gpb_kernel_create_from_file(gone, spv, NULL, NULL, &k), "device handle", "closed");
  gpb_stream *s = (gpb_stream *)&c;
  HANDLE_ROW(&c, gpb_stream_create(gone, NULL, &s), "gpb_stream_create: device handle", "closed");
  CHECK(s == NULL);
  // Everything the device held was released with it.
  HANDLE_ROW(&c, gpb_buffer_free(gone_buf), "buffer handle", FREED);
  HANDLE_ROW(&c, gpb_buffer_map(gone_buf, GPB_HOST_READ, (void **)&b), "buffer handle", FREED);
  HANDLE_ROW(&c, gpb_kernel_destroy(gone_kernel), "kernel handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_destroy(gone_stream), "stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_flush(gone_default), "stream handle", DESTROYED);
  HANDLE_ROW(&c, gpb_program_destroy(gone_prog), "program handle", DESTROYED);
  HANDLE_ROW(&c, gpb_stream_replay(c.s, gone_prog), "program handle", DESTROYED);
  HANDLE_ROW(&c, dispatch_add_one(c.s, gone_kernel, c.work, 0, N), "dispatch: kernel handle", DESTROYED);
  uint8_t canary[16];
  memset(canary, 0xa5, sizeof canary);
  HANDLE_ROW(&c, gpb_stream_copy_to_host(c.s, gone_buf, 0, canary, 16), "source: buffer handle", FREED);
  CHECK(all_bytes(canary, sizeof canary, 0xa5));
  ctx_close(&c);
}

// A handle of another type cast to this one, and values that are no handle.
static void test_handles_of_another_type(void) {
  ctx c;
  if (!ctx_open(&c)) return;
  uint8_t canary[16];
  memset(canary, 0xa5, sizeof canary);
  gpb_stream *cap = NULL;
  CHECK_OK(gpb_stream_create(c.dev, NULL, &cap));
  CHECK_OK(gpb_stream_begin_capture(cap));
  gpb_program *prog = NULL;
  CHECK_OK(gpb_stream_end_capture(cap, &prog));
  // Frees and destroys of the wrong type free nothing (check_usable uses them all).
  HANDLE_ROW(&c, gpb_buffer_free((gpb_buffer *)c.add), "buffer handle", "it is a kernel handle");
  HANDLE_ROW(&c, gpb_buffer_free((gpb_buffer *)prog), "buffer handle", "it is a program handle");
  HANDLE_ROW(&c, gpb_kernel_destroy((gpb_kernel *)c.x), "kernel handle", "it is a buffer handle");
  HANDLE_ROW(&c, gpb_stream_destroy((gpb_stream *)c.dev), "stream handle", "it is a device handle");
  HANDLE_ROW(&c, gpb_device_close((gpb_device *)c.s2), "device handle", "it is a stream handle");
  HANDLE_ROW(&c, gpb_program_destroy((gpb_program *)c.sh), "program handle", "it is a buffer handle");
  // Arguments of the wrong type.
  HANDLE_ROW(&c, gpb_stream_copy_to_host(c.s, (gpb_buffer *)c.s2, 0, canary, 16), "source: buffer handle",
             "it is a stream handle");
  HANDLE_ROW(&c, dispatch_add_one(c.s, (gpb_kernel *)c.work, c.work, 0, N), "dispatch: kernel handle",
             "it is a buffer handle");
  HANDLE_ROW(&c, dispatch_add_one(c.s, c.add, (gpb_buffer *)c.add, 0, N), "argument 0 (binding 0): buffer handle",
             "it is a kernel handle");
  HANDLE_ROW(&c, gpb_stream_replay(c.s, (gpb_program *)c.add), "program handle", "it is a kernel handle");
  HANDLE_ROW(&c, gpb_stream_flush((gpb_stream *)c.x), "stream handle", "it is a buffer handle");
  HANDLE_ROW(&c, gpb_stream_wait_stream(c.s, (gpb_stream *)prog), "stream handle", "it is a program handle");
  gpb_buffer *b = NULL;
  HANDLE_ROW(&c, gpb_buffer_create((gpb_device *)c.s, 16, GPB_MEMORY_PRIVATE, &b), "device handle",
             "it is a stream handle");
  // No handle at all: an address, a made-up value, a slot never given out.
  HANDLE_ROW(&c, gpb_buffer_free((gpb_buffer *)&c), "buffer handle", "not a handle gpubatch gave out");
  HANDLE_ROW(&c, gpb_stream_sync((gpb_stream *)(uintptr_t)0xdeadbeef), "stream handle", "not a handle");
  HANDLE_ROW(&c, gpb_buffer_free((gpb_buffer *)((uintptr_t)c.x + 0x1000000)), "buffer handle", "not a handle");
  HANDLE_VALUE_ROW(&c, gpb_buffer_size((gpb_buffer *)c.add) == 0, "buffer handle", "it is a kernel handle");
  CHECK(all_bytes(canary, sizeof canary, 0xa5));
  CHECK_OK(gpb_program_destroy(prog));
  CHECK_OK(gpb_stream_destroy(cap));
  ctx_close(&c);
}

int main(int argc, char **argv) {
  // The child-process row first: it forks before any device (and its
  // driver threads) exists in this process.
  static const test_case tests[] = {TEST(test_kernels_in_child_process),
                                    TEST(test_status_and_device),
                                    TEST(test_bad_environment),
                                    TEST(test_buffer_misuse),
                                    TEST(test_kernel_misuse),
                                    TEST(test_kernels_beyond_device_limits),
                                    TEST(test_stream_misuse),
                                    TEST(test_dispatch_misuse),
                                    TEST(test_copy_misuse),
                                    TEST(test_sync_and_counter_misuse),
                                    TEST(test_program_misuse),
                                    TEST(test_close_while_capturing),
                                    TEST(test_cross_device_misuse),
                                    TEST(test_freed_buffers),
                                    TEST(test_stale_handle_of_reused_slot),
                                    TEST(test_destroyed_kernels),
                                    TEST(test_destroyed_streams),
                                    TEST(test_destroyed_programs),
                                    TEST(test_closed_device_handles),
                                    TEST(test_handles_of_another_type)};
  int result = RUN_TESTS(tests);
  printf("%d misuse rows checked\n", rows);
  return result;
}
