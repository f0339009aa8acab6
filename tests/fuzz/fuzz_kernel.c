// Fuzz target: arbitrary bytes as the SPIR-V of gpb_kernel_create.
//
// The input is the module; the entry point is "main". Whatever the bytes,
// the call must return (never crash, hang or abort) with a status from the
// documented set, clear *out_kernel and leave a message on failure. A
// kernel that is accepted must have a sane reflected interface, must be
// shared with a second load of the same bytes (pipeline cache) and must be
// destroyable, once: its handle is refused afterwards. Accepted kernels are
// never dispatched: arbitrary code could write anywhere on a CPU device.
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
