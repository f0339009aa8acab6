// Fuzz target: arbitrary bytes as the SPIR-V of gpb_kernel_create.
//
// The input is the module; the entry point is "main". Whatever the bytes,
// the call must return (never crash, hang or abort) with a status from the
// documented set, clear *out_kernel and leave a message on failure. A
// kernel that is accepted must have a sane reflected interface, must be
// shared with a second load of the same bytes (pipeline cache) and must be
// destroyable, once: its handle is refused afterwards.
//
// Built with FUZZ_DISPATCH (target fuzz_kernel_dispatch), an accepted kernel
// is also dispatched, one workgroup, on tiny buffers (each binding's fixed
// part plus 16 array elements, zeros) with zero push constants, and the
// stream synced: whatever admission lets through must run without a
// validation message or an error. Out-of-bounds accesses of such code are
// bounds-checked by lavapipe (llvmpipe checks every storage-buffer access),
// where this runs; do not run the dispatch mode on a GPU without
// robustBufferAccess. Kernels with workgroup (shared) memory are admitted but
// not dispatched: no Vulkan feature bounds-checks shared memory, so a random
// index into it is undefined behaviour that the kernel owns (on lavapipe it
// can kill the process), not something the library could refuse or catch.
// A kernel that never ends hangs the run: libFuzzer reports it as a timeout.
#include "fuzz_common.h"

static gpb_device *dev;
static uint64_t validation_seen;
static bool verbose; // GPB_FUZZ_VERBOSE=1: print each input's status

static void close_device(void) { gpb_device_close(dev); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  dev = fuzz_open_device();
  verbose = getenv("GPB_FUZZ_VERBOSE") != NULL;
  atexit(close_device);
  return 0;
}

static void check_info(const gpb_kernel_info *info, const gpb_device_info *dinfo) {
  FUZZ_CHECK(info->binding_count <= GPB_MAX_BINDINGS);
  for (uint32_t i = 1; i < info->binding_count; i++) {
    FUZZ_CHECK(info->bindings[i - 1].binding < info->bindings[i].binding); // sorted, unique
  }
  FUZZ_CHECK(info->push_constant_bytes <= dinfo->max_push_constant_bytes);
  FUZZ_CHECK(memchr(info->name, '\0', sizeof info->name) != NULL);
  FUZZ_CHECK(strcmp(info->entry_point, "main") == 0);
}

static bool same_interface(const gpb_kernel_info *a, const gpb_kernel_info *b) {
  if (a->binding_count != b->binding_count || a->push_constant_bytes != b->push_constant_bytes) return false;
  for (int i = 0; i < 3; i++) {
    if (a->workgroup_size[i] != b->workgroup_size[i]) return false;
  }
  for (uint32_t i = 0; i < a->binding_count; i++) {
    const gpb_kernel_binding *x = &a->bindings[i], *y = &b->bindings[i];
    if (x->binding != y->binding || x->read_only != y->read_only || x->min_size != y->min_size ||
        x->array_stride != y->array_stride) {
      return false;
    }
  }
  return true;
}

#ifdef FUZZ_DISPATCH
// Whether the module declares a variable in the Workgroup storage class.
static bool uses_shared_memory(const uint8_t *data, size_t size) {
  enum { OP_VARIABLE = 59, STORAGE_WORKGROUP = 4 };
  size_t n = size / 4;
  for (size_t i = 5; i < n;) {
    uint32_t w0, sc;
    memcpy(&w0, data + 4 * i, 4);
    uint32_t op = w0 & 0xffff, count = w0 >> 16;
    if (count == 0 || i + count > n) break;
    if (op == OP_VARIABLE && count >= 4) {
      memcpy(&sc, data + 4 * (i + 3), 4);
      if (sc == STORAGE_WORKGROUP) return true;
    }
    i += count;
  }
  return false;
}

static void dispatch_once(gpb_kernel *k, const gpb_kernel_info *info) {
  gpb_buffer *buffers[GPB_MAX_BINDINGS] = {0};
  gpb_arg args[GPB_MAX_BINDINGS];
  gpb_stream *s = gpb_device_default_stream(dev);
  uint64_t sizes[GPB_MAX_BINDINGS];
  for (uint32_t i = 0; i < info->binding_count; i++) {
    uint64_t bytes = info->bindings[i].min_size + 16 * info->bindings[i].array_stride;
    sizes[i] = bytes < 64 ? 64 : (bytes + 3) & ~3ull;
    if (sizes[i] > (1u << 20)) return; // a block with a large fixed part: not tiny, not dispatched
  }
  static uint8_t zeros[1u << 20];
  for (uint32_t i = 0; i < info->binding_count; i++) {
    FUZZ_CHECK(gpb_buffer_create(dev, sizes[i], GPB_MEMORY_PRIVATE, &buffers[i]) == GPB_OK);
    FUZZ_CHECK(gpb_stream_copy_to_device(s, zeros, buffers[i], 0, sizes[i]) == GPB_OK);
    args[i] = (gpb_arg){buffers[i], 0, 0};
  }
  uint8_t push[256] = {0};
  FUZZ_CHECK(info->push_constant_bytes <= sizeof push);
  gpb_dispatch d = {.kernel = k,
                    .groups = {1, 1, 1},
                    .args = args,
                    .arg_count = info->binding_count,
                    .push_constants = info->push_constant_bytes ? push : NULL,
                    .push_constant_bytes = info->push_constant_bytes};
  FUZZ_CHECK(gpb_stream_dispatch(s, &d) == GPB_OK);
  FUZZ_CHECK(gpb_stream_sync(s) == GPB_OK);
  for (uint32_t i = 0; i < info->binding_count; i++) FUZZ_CHECK(gpb_buffer_free(buffers[i]) == GPB_OK);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gpb_kernel_desc desc = {.name = "fuzz", .spirv = data, .spirv_bytes = size};
  gpb_kernel *k = (gpb_kernel *)&desc; // must be cleared by the call
  gpb_status st = gpb_kernel_create(dev, &desc, &k);
  if (verbose) fprintf(stderr, "  %s %s\n", gpb_status_name(st), st == GPB_OK ? "" : gpb_device_last_error(dev));
  if (st != GPB_OK) {
    FUZZ_CHECK(k == NULL);
    FUZZ_CHECK(st == GPB_ERROR_INVALID_SPIRV || st == GPB_ERROR_UNSUPPORTED || st == GPB_ERROR_NOT_FOUND ||
               st == GPB_ERROR_INVALID_ARGUMENT || st == GPB_ERROR_VULKAN || st == GPB_ERROR_OUT_OF_HOST_MEMORY);
    FUZZ_CHECK(strstr(gpb_device_last_error(dev), "kernel 'fuzz'") != NULL);
    fuzz_check_validation(dev, &validation_seen);
    return 0;
  }
  FUZZ_CHECK(k != NULL);
  gpb_device_info dinfo;
  gpb_kernel_info info;
  FUZZ_CHECK(gpb_device_query(dev, &dinfo) == GPB_OK);
  FUZZ_CHECK(gpb_kernel_get_info(k, &info) == GPB_OK);
  check_info(&info, &dinfo);
#ifdef FUZZ_DISPATCH
  if (!uses_shared_memory(data, size)) dispatch_once(k, &info);
  fuzz_check_validation(dev, &validation_seen);
#endif
  // The same bytes again: accepted again, with the same interface.
  gpb_kernel *again = NULL;
  FUZZ_CHECK(gpb_kernel_create(dev, &desc, &again) == GPB_OK);
  gpb_kernel_info info2;
  FUZZ_CHECK(gpb_kernel_get_info(again, &info2) == GPB_OK);
  FUZZ_CHECK(same_interface(&info, &info2));
  FUZZ_CHECK(gpb_kernel_destroy(k) == GPB_OK);
  FUZZ_CHECK(gpb_kernel_destroy(again) == GPB_OK);
  // Both handles are dead now: refused, never a second release.
  FUZZ_CHECK(gpb_kernel_destroy(k) == GPB_ERROR_INVALID_HANDLE);
  FUZZ_CHECK(gpb_kernel_get_info(again, &info2) == GPB_ERROR_INVALID_HANDLE);
  fuzz_check_validation(dev, &validation_seen);
  return 0;
}
