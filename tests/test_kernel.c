// Kernel interfaces are read from SPIR-V (SPIRV-Cross), not declared; the
// pipeline cache shares identical modules; unsupported layouts are refused.
#include "core/internal.h"
#include "gpu_fixture.h"

static const uint32_t reflect_me_spirv[] =
#include "reflect_me.inc"
    ;
static const uint32_t bad_set_spirv[] =
#include "bad_set.inc"
    ;
static const uint32_t uses_ubo_spirv[] =
#include "uses_ubo.inc"
    ;
static const uint32_t clock_spirv[] =
#include "clock.inc"
    ;
static const uint32_t atomic_float_add_spirv[] =
#include "atomic_float_add.inc"
    ;
static const uint32_t int_dot_spirv[] =
#include "int_dot.inc"
    ;
// Kernels the device cannot run as gpubatch creates it (tests/kernels/admit_*).
static const uint32_t admit_shared_spec_spirv[] =
#include "admit_shared_spec.inc"
    ;
static const uint32_t admit_shared_spec_op_spirv[] =
#include "admit_shared_spec_op.inc"
    ;
static const uint32_t admit_desc_array_spirv[] =
#include "admit_desc_array.inc"
    ;
static const uint32_t admit_runtime_array_spirv[] =
#include "admit_runtime_array.inc"
    ;
static const uint32_t admit_bda_spirv[] =
#include "admit_bda.inc"
    ;
// A WorkgroupSize built-in of signed ints (valid SPIR-V; Mesa's spirv_to_nir
// fails on it), assembled by hand: glslc always emits unsigned ones.
static const uint32_t admit_signed_workgroup_size_spirv[] = {
    0x07230203, 0x00010500, 0x000d000b, 0x0000000a, 0x00000000, 0x00020011, 0x00000001, 0x0006000b, 0x00000001,
    0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001, 0x0005000f, 0x00000005,
    0x00000004, 0x6e69616d, 0x00000000, 0x00060010, 0x00000004, 0x00000011, 0x00000001, 0x00000001, 0x00000001,
    0x00040047, 0x00000009, 0x0000000b, 0x00000019, 0x00020013, 0x00000002, 0x00030021, 0x00000003, 0x00000002,
    0x00040015, 0x00000006, 0x00000020, 0x00000001, 0x00040017, 0x00000007, 0x00000006, 0x00000003, 0x0004002b,
    0x00000006, 0x00000008, 0x00000001, 0x0006002c, 0x00000007, 0x00000009, 0x00000008, 0x00000008, 0x00000008,
    0x00050036, 0x00000002, 0x00000004, 0x00000000, 0x00000003, 0x000200f8, 0x00000005, 0x000100fd, 0x00010038,
};
// An atomic add whose memory semantics constant (0x800000) sets a bit
// SPIR-V does not define (found by fuzz_kernel_dispatch: SPIRV-Tools accepts
// it, Mesa warns that it ignores it).
static const uint32_t admit_memory_semantics_spirv[] = {
    0x07230203, 0x00010500, 0x000d000b, 0x0000001d, 0x00000000, 0x00020011, 0x00000001, 0x0006000b, 0x00000001,
    0x4c534c47, 0x6474732e, 0x3035342e, 0x00000000, 0x0003000e, 0x00000000, 0x00000001, 0x0007000f, 0x00000005,
    0x00000004, 0x6e69616d, 0x00000000, 0x0000000a, 0x00000012, 0x00060010, 0x00000004, 0x00000011, 0x00000040,
    0x00000001, 0x00000001, 0x00040047, 0x00000007, 0x00000006, 0x00000004, 0x00050048, 0x00000008, 0x00000000,
    0x00000023, 0x00000000, 0x00050048, 0x00000008, 0x00000001, 0x00000023, 0x00000004, 0x00030047, 0x00000008,
    0x00000002, 0x00040047, 0x0000000a, 0x00000022, 0x00000000, 0x00040047, 0x0000000a, 0x00000021, 0x00000000,
    0x00040047, 0x00000012, 0x0000000b, 0x0000001c, 0x00040047, 0x0000001c, 0x0000000b, 0x00000019, 0x00020013,
    0x00000002, 0x00030021, 0x00000003, 0x00000002, 0x00040015, 0x00000006, 0x00000020, 0x00000000, 0x0003001d,
    0x00000007, 0x00000006, 0x0004001e, 0x00000008, 0x00000006, 0x00000007, 0x00040020, 0x00000009, 0x0000000c,
    0x00000008, 0x0004003b, 0x00000009, 0x0000000a, 0x0000000c, 0x00040015, 0x0000000b, 0x00000020, 0x00000001,
    0x0004002b, 0x0000000b, 0x0000000c, 0x00000000, 0x00040020, 0x0000000d, 0x0000000c, 0x00000006, 0x0004002b,
    0x0000000b, 0x0000000f, 0x00000001, 0x00040017, 0x00000010, 0x00000006, 0x00000003, 0x00040020, 0x00000011,
    0x00000001, 0x00000010, 0x0004003b, 0x00000011, 0x00000012, 0x00000001, 0x0004002b, 0x00000006, 0x00000013,
    0x00800000, 0x00040020, 0x00000014, 0x00000001, 0x00000006, 0x0004002b, 0x00000006, 0x00000019, 0x00000001,
    0x0004002b, 0x00000006, 0x0000001b, 0x00000040, 0x0006002c, 0x00000010, 0x0000001c, 0x0000001b, 0x00000019,
    0x00000019, 0x00050036, 0x00000002, 0x00000004, 0x00000000, 0x00000003, 0x000200f8, 0x00000005, 0x00050041,
    0x0000000d, 0x0000000e, 0x0000000a, 0x0000000c, 0x00050041, 0x00000014, 0x00000015, 0x00000012, 0x00000013,
    0x0004003d, 0x00000006, 0x00000016, 0x00000015, 0x00060041, 0x0000000d, 0x00000017, 0x0000000a, 0x0000000f,
    0x00000016, 0x0004003d, 0x00000006, 0x00000018, 0x00000017, 0x000700ea, 0x00000006, 0x0000001a, 0x0000000e,
    0x00000019, 0x00000013, 0x00000018, 0x000100fd, 0x00010038,
};
static const uint32_t admit_local_size_id_spirv[] =
#include "admit_local_size_id.inc"
    ;

static void test_reflection(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *k = FIXTURE_KERNEL(dev, reflect_me);
  gpb_kernel_info info;
  CHECK_OK(gpb_kernel_get_info(k, &info));
  CHECK(strcmp(info.name, "reflect_me") == 0);
  CHECK(strcmp(info.entry_point, "main") == 0);
  CHECK_EQ(info.binding_count, 2);
  CHECK_EQ(info.bindings[0].binding, 1); // sorted by binding number
  CHECK(info.bindings[0].read_only);
  CHECK_EQ(info.bindings[0].min_size, 0);
  CHECK_EQ(info.bindings[0].array_stride, 4);
  CHECK_EQ(info.bindings[1].binding, 3);
  CHECK(!info.bindings[1].read_only);
  CHECK_EQ(info.bindings[1].min_size, 8); // count + pad before the runtime array
  CHECK_EQ(info.push_constant_bytes, 12);
  CHECK_EQ(info.workgroup_size[0], 16);
  CHECK_EQ(info.workgroup_size[1], 4);
  CHECK_EQ(info.workgroup_size[2], 1);
  // The fixed part of a block is enforced at dispatch.
  gpb_buffer *in, *out;
  CHECK_OK(gpb_buffer_create(dev, 256, GPB_MEMORY_PRIVATE, &in));
  CHECK_OK(gpb_buffer_create(dev, 256, GPB_MEMORY_PRIVATE, &out));
  uint32_t pc[3] = {2, 3, 4};
  gpb_arg args[2] = {{in, 0, 256}, {out, 0, 4}};
  gpb_dispatch d = {.kernel = k,
                    .groups = {1, 1, 1},
                    .args = args,
                    .arg_count = 2,
                    .push_constants = pc,
                    .push_constant_bytes = sizeof pc};
  gpb_stream *s = gpb_device_default_stream(dev);
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_OUT_OF_RANGE);
  CHECK_MSG(gpb_stream_last_error(s), "needs at least 8");
  uint32_t w[64];
  for (int i = 0; i < 64; i++) w[i] = (uint32_t)i;
  CHECK_OK(gpb_stream_copy_to_device(s, w, in, 0, sizeof w));
  args[1].size = 256;
  CHECK_OK(gpb_stream_dispatch(s, &d));
  uint32_t back[64];
  CHECK_OK(gpb_stream_copy_to_host(s, out, 0, back, sizeof back));
  CHECK_EQ(back[0], 1);
  for (int i = 0; i < 62; i++) CHECK_EQ(back[2 + i], (uint32_t)i * 2 + 3 + 4);
  fixture_close(dev);
}

static void test_unsupported_layouts(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *k = NULL;
  gpb_kernel_desc d1 = {.name = "bad_set", .spirv = bad_set_spirv, .spirv_bytes = sizeof bad_set_spirv};
  CHECK_STATUS(gpb_kernel_create(dev, &d1, &k), GPB_ERROR_UNSUPPORTED);
  CHECK_MSG(gpb_device_last_error(dev), "descriptor set 1");
  gpb_kernel_desc d2 = {.name = "uses_ubo", .spirv = uses_ubo_spirv, .spirv_bytes = sizeof uses_ubo_spirv};
  CHECK_STATUS(gpb_kernel_create(dev, &d2, &k), GPB_ERROR_UNSUPPORTED);
  CHECK_MSG(gpb_device_last_error(dev), "uniform buffer");
  fixture_close(dev);
}

static void test_pipeline_cache_shares_modules(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *a = FIXTURE_KERNEL(dev, add_one);
  gpb_kernel *b = fixture_kernel(dev, "add_one_again", add_one_spirv, sizeof add_one_spirv);
  gpb_kernel *c = FIXTURE_KERNEL(dev, axpy);
  const gpb_kernel_obj *a_obj = gpb_kernel_obj_of(a), *b_obj = gpb_kernel_obj_of(b), *c_obj = gpb_kernel_obj_of(c);
  CHECK(a_obj->pipeline == b_obj->pipeline);
  CHECK(a_obj->pipeline != c_obj->pipeline);
  CHECK_EQ(a_obj->pipeline->refs, 2);
  CHECK_OK(gpb_kernel_destroy(a));
  CHECK_EQ(b_obj->pipeline->refs, 1);
  // The survivor still runs.
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 256, GPB_MEMORY_SHARED, &x));
  gpb_stream *s = gpb_device_default_stream(dev);
  CHECK_OK(dispatch_add_one(s, b, x, 0, 64));
  // Destroying a kernel that pending work uses waits for that work.
  CHECK_OK(gpb_kernel_destroy(b));
  uint32_t *p;
  CHECK_OK(gpb_buffer_map(x, GPB_HOST_READ, (void **)&p));
  fixture_close(dev);
}

// Where the build put the .spv files; GPB_TEST_KERNEL_DIR overrides it when
// the build folder was moved (e.g. to a GPU machine).
static void kernel_path(char *out, size_t cap, const char *file) {
  const char *dir = getenv("GPB_TEST_KERNEL_DIR");
  snprintf(out, cap, "%s/%s", dir ? dir : GPB_TEST_KERNEL_DIR, file);
}

static void test_load_from_file(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *k = NULL;
  char spv[512], inc[512];
  kernel_path(spv, sizeof spv, "add_one.spv");
  kernel_path(inc, sizeof inc, "add_one.inc");
  CHECK_OK(gpb_kernel_create_from_file(dev, spv, NULL, NULL, &k));
  gpb_kernel_info info;
  CHECK_OK(gpb_kernel_get_info(k, &info));
  CHECK(strcmp(info.name, "add_one") == 0);
  CHECK_EQ(info.push_constant_bytes, 4);
  CHECK_EQ(info.workgroup_size[0], 64);
  gpb_kernel *missing = NULL;
  CHECK_STATUS(gpb_kernel_create_from_file(dev, "/nonexistent/k.spv", NULL, NULL, &missing), GPB_ERROR_NOT_FOUND);
  CHECK_MSG(gpb_device_last_error(dev), "/nonexistent/k.spv");
  CHECK_STATUS(gpb_kernel_create_from_file(dev, inc, NULL, NULL, &missing), GPB_ERROR_INVALID_SPIRV);
  fixture_close(dev);
}

// Each kernel is refused at create time with the reason named, and nothing
// reaches the driver (the fixture fails on any validation message).
static void test_admission(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_device_info info;
  CHECK_OK(gpb_device_query(dev, &info));
  CHECK_EQ(info.kernel_api_version >> 12, (1u << 10) | 2u); // Vulkan 1.2 (major 1, minor 2)
  static const struct {
    const char *name;
    const uint32_t *words;
    size_t bytes;
    gpb_status status;
    const char *reason;
  } cases[] = {
      {"admit_shared_spec", admit_shared_spec_spirv, sizeof admit_shared_spec_spirv, GPB_ERROR_UNSUPPORTED,
       "400000 bytes of shared memory"},
      {"admit_shared_spec_op", admit_shared_spec_op_spirv, sizeof admit_shared_spec_op_spirv, GPB_ERROR_UNSUPPORTED,
       "400000 bytes of shared memory"},
      {"admit_desc_array", admit_desc_array_spirv, sizeof admit_desc_array_spirv, GPB_ERROR_UNSUPPORTED,
       "is an array of descriptors"},
      {"admit_runtime_array", admit_runtime_array_spirv, sizeof admit_runtime_array_spirv, GPB_ERROR_UNSUPPORTED,
       "runtime-sized array of descriptors"},
      {"admit_bda", admit_bda_spirv, sizeof admit_bda_spirv, GPB_ERROR_UNSUPPORTED,
       "capability PhysicalStorageBufferAddresses"},
      {"admit_local_size_id", admit_local_size_id_spirv, sizeof admit_local_size_id_spirv, GPB_ERROR_UNSUPPORTED,
       "SPIR-V 1.6"},
      {"admit_signed_workgroup_size", admit_signed_workgroup_size_spirv, sizeof admit_signed_workgroup_size_spirv,
       GPB_ERROR_UNSUPPORTED, "WorkgroupSize built-in as signed integers"},
      {"admit_memory_semantics", admit_memory_semantics_spirv, sizeof admit_memory_semantics_spirv,
       GPB_ERROR_UNSUPPORTED, "memory semantics 0x800000"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gpb_kernel_desc desc = {.name = cases[i].name, .spirv = cases[i].words, .spirv_bytes = cases[i].bytes};
    gpb_kernel *k = NULL;
    CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), cases[i].status);
    CHECK(k == NULL);
    CHECK_MSG(gpb_device_last_error(dev), cases[i].name);
    CHECK_MSG(gpb_device_last_error(dev), cases[i].reason);
  }
  fixture_close(dev);
}

// A kernel that reads the device clock (VK_KHR_shader_clock) is admitted
// and runs where the device has the clock: each invocation's second read
// is not before its first. Elsewhere it is refused by the capability.
static void test_shader_clock(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel_desc desc = {.name = "clock", .spirv = clock_spirv, .spirv_bytes = sizeof clock_spirv};
  gpb_kernel *k = NULL;
  gpb_status st = gpb_kernel_create(dev, &desc, &k);
  if (st == GPB_ERROR_UNSUPPORTED) { // what a device without the clock must say
    CHECK_MSG(gpb_device_last_error(dev), "ShaderClockKHR");
    fixture_close(dev);
    return;
  }
  CHECK_OK(st);
  enum { N = 256 };
  gpb_stream *s = NULL;
  gpb_buffer *out = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  CHECK_OK(gpb_buffer_create(dev, 24 * N, GPB_MEMORY_PRIVATE, &out));
  struct {
    uint32_t n, steps;
  } p = {N, 50000}; // below lavapipe's 65535 loop iterations an invocation (llvmpipe's loop limiter)
  gpb_arg arg = {out, 0, 24 * N};
  gpb_dispatch d = {.kernel = k,
                    .groups = {N / 64, 1, 1},
                    .args = &arg,
                    .arg_count = 1,
                    .push_constants = &p,
                    .push_constant_bytes = sizeof p};
  CHECK_OK(gpb_stream_dispatch(s, &d));
  uint32_t t[6 * N];
  CHECK_OK(gpb_stream_copy_to_host(s, out, 0, t, sizeof t));
  bool ordered = true, moved = false, worked = true;
  for (uint32_t i = 0; i < N; i++) {
    const uint32_t *m = t + 6 * i;
    uint64_t before = m[0] | (uint64_t)m[1] << 32, after = m[2] | (uint64_t)m[3] << 32;
    ordered = ordered && after >= before;
    moved = moved || after > before;
    uint32_t x = i;
    for (uint32_t step = 0; step < p.steps; step++) x = x * 1664525u + 1013904223u;
    worked = worked && m[4] == x;
  }
  CHECK(worked); // the work between the reads ran
  CHECK(ordered);
  CHECK(moved); // 50000 steps take some ticks in some invocation
  CHECK_OK(gpb_buffer_free(out));
  CHECK_OK(gpb_kernel_destroy(k));
  CHECK_OK(gpb_stream_destroy(s));
  fixture_close(dev);
}

// Creates kernel `desc`, which declares `capability`, a device feature
// gpubatch enables where the device has it: true with *k made, or false
// where the device refuses it by that capability's name, which drivers
// known to have the feature (lavapipe's, NVIDIA's) must not. *info: the
// device's description.
static bool create_optional_kernel(gpb_device *dev, const gpb_kernel_desc *desc, const char *capability, gpb_kernel **k,
                                   gpb_device_info *info) {
  gpb_status st = gpb_kernel_create(dev, desc, k);
  CHECK_OK(gpb_device_query(dev, info));
  bool has_it = info->vendor_id == 0x10de || strstr(info->name, "llvmpipe") != NULL;
  if (st == GPB_ERROR_UNSUPPORTED && !has_it) {
    CHECK_MSG(gpb_device_last_error(dev), capability);
    return false;
  }
  CHECK_OK(st);
  return st == GPB_OK;
}

// A kernel that adds floats atomically to a storage buffer
// (VK_EXT_shader_atomic_float) is admitted and adds every part where the
// device has the feature (lavapipe and NVIDIA's driver do); elsewhere it
// is refused by the capability.
static void test_atomic_float_add(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel_desc desc = {
      .name = "atomic_float_add", .spirv = atomic_float_add_spirv, .spirv_bytes = sizeof atomic_float_add_spirv};
  gpb_kernel *k = NULL;
  gpb_device_info info;
  if (!create_optional_kernel(dev, &desc, "AtomicFloat32AddEXT", &k, &info)) {
    fixture_close(dev);
    return;
  }
  enum { N = 4096 };
  gpb_stream *s = NULL;
  gpb_buffer *sum = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  CHECK_OK(gpb_buffer_create(dev, 4 * sizeof(float), GPB_MEMORY_PRIVATE, &sum));
  float init[4] = {0.5f, 0, 0, -1};
  CHECK_OK(gpb_stream_copy_to_device(s, init, sum, 0, sizeof init));
  uint32_t n = N;
  gpb_arg arg = {sum, 0, 4 * sizeof(float)};
  gpb_dispatch d = {.kernel = k,
                    .groups = {N / 64, 1, 1},
                    .args = &arg,
                    .arg_count = 1,
                    .push_constants = &n,
                    .push_constant_bytes = sizeof n};
  CHECK_OK(gpb_stream_dispatch(s, &d));
  float got[4];
  CHECK_OK(gpb_stream_copy_to_host(s, sum, 0, got, sizeof got));
  for (int i = 0; i < 4; i++) CHECK(got[i] == init[i] + (float)(N / 4 * (i + 1))); // exact: small integers
  CHECK_OK(gpb_buffer_free(sum));
  CHECK_OK(gpb_kernel_destroy(k));
  CHECK_OK(gpb_stream_destroy(s));
  fixture_close(dev);
}

// Byte k of w (k < 4) as a signed or unsigned 8-bit integer.
static int32_t byte_s(uint32_t w, int k) { return (int8_t)(uint8_t)(w >> (8 * k)); }
static int32_t byte_u(uint32_t w, int k) { return (uint8_t)(w >> (8 * k)); }

// A kernel of packed 8-bit integer dot products
// (VK_KHR_shader_integer_dot_product) is admitted where the device has
// the feature (lavapipe and NVIDIA's driver do) and gives every signedness
// its exact sum, the extremes (-128 x -128, 255 x 255, -128 x 255)
// included; elsewhere it is refused by the capability.
static void test_int_dot(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel_desc desc = {.name = "int_dot", .spirv = int_dot_spirv, .spirv_bytes = sizeof int_dot_spirv};
  gpb_kernel *k = NULL;
  gpb_device_info info;
  bool made = create_optional_kernel(dev, &desc, "DotProduct", &k, &info);
  CHECK(info.integer_dot_product == made); // the device's description says which
  CHECK(!info.integer_dot_product_accelerated || info.integer_dot_product);
  if (!made) {
    fixture_close(dev);
    return;
  }
  enum { N = 256 };
  uint32_t words[2 * N];
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 2 * N; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    words[i] = (uint32_t)x;
  }
  words[0] = words[1] = 0x80808080u; // -128 . -128; 128 . 128
  words[2] = words[3] = 0xffffffffu; // -1 . -1; 255 . 255; -1 . 255
  words[4] = 0x80808080u, words[5] = 0xffffffffu;
  gpb_stream *s = NULL;
  gpb_buffer *a = NULL, *out = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  CHECK_OK(gpb_buffer_create(dev, sizeof words, GPB_MEMORY_PRIVATE, &a));
  CHECK_OK(gpb_buffer_create(dev, 3 * N * sizeof(int32_t), GPB_MEMORY_PRIVATE, &out));
  CHECK_OK(gpb_stream_copy_to_device(s, words, a, 0, sizeof words));
  uint32_t n = N;
  gpb_arg args[2] = {{a, 0, sizeof words}, {out, 0, 3 * N * sizeof(int32_t)}};
  gpb_dispatch d = {.kernel = k,
                    .groups = {N / 64, 1, 1},
                    .args = args,
                    .arg_count = 2,
                    .push_constants = &n,
                    .push_constant_bytes = sizeof n};
  CHECK_OK(gpb_stream_dispatch(s, &d));
  int32_t got[3 * N];
  CHECK_OK(gpb_stream_copy_to_host(s, out, 0, got, sizeof got));
  int wrong = 0;
  for (int i = 0; i < N; i++) {
    uint32_t u = words[2 * i], v = words[2 * i + 1];
    int32_t ss = 0, uu = 0, su = 0;
    for (int b = 0; b < 4; b++) {
      ss += byte_s(u, b) * byte_s(v, b);
      uu += byte_u(u, b) * byte_u(v, b);
      su += byte_s(u, b) * byte_u(v, b);
    }
    wrong += got[3 * i] != ss || got[3 * i + 1] != uu || got[3 * i + 2] != su;
  }
  CHECK(wrong == 0);
  CHECK(got[0] == 4 * 128 * 128 && got[1] == 4 * 128 * 128 && got[2] == -4 * 128 * 128);
  CHECK(got[3] == 4 && got[4] == 4 * 255 * 255 && got[5] == -4 * 255 && got[8] == -4 * 128 * 255);
  CHECK_OK(gpb_buffer_free(a));
  CHECK_OK(gpb_buffer_free(out));
  CHECK_OK(gpb_kernel_destroy(k));
  CHECK_OK(gpb_stream_destroy(s));
  fixture_close(dev);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_reflection),
                                    TEST(test_unsupported_layouts),
                                    TEST(test_pipeline_cache_shares_modules),
                                    TEST(test_load_from_file),
                                    TEST(test_admission),
                                    TEST(test_shader_clock),
                                    TEST(test_atomic_float_add),
                                    TEST(test_int_dot)};
  return RUN_TESTS(tests);
}
