// Bad input gets a specific status and leaves the stream usable; a failed
// submission makes the stream's error sticky and names the kernels.
#include "core/internal.h"
#include "core/stream_internal.h"
#include "gpu_fixture.h"
#include "stream_probe.h"
#include "vulkan/vk_internal.h"

#define N 64u

static bool fault_fired(gpb_device *dev) { return atomic_load(&gpb_device_obj_of(dev)->impl->fault.armed_site) == -1; }

// The stream still works: 3 add_one dispatches give 3.
static void check_stream_usable(gpb_device *dev, gpb_stream *s, gpb_kernel *k) {
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  uint32_t host[N] = {0};
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, sizeof host));
  for (int i = 0; i < 3; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 3);
  CHECK_OK(gpb_buffer_free(x));
}

static void test_bad_arguments(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_kernel *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_buffer *x, *small;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 8, GPB_MEMORY_PRIVATE, &small));
  uint32_t host[N] = {0};
  add_one_params p = {N};
  gpb_arg arg = {x, 0, 0};
  gpb_dispatch good = {.kernel = k,
                       .groups = {1, 1, 1},
                       .args = &arg,
                       .arg_count = 1,
                       .push_constants = &p,
                       .push_constant_bytes = sizeof p};
  gpb_dispatch d;

  // NULLs
  CHECK_STATUS(gpb_stream_dispatch(NULL, &good), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(gpb_stream_dispatch(s, NULL), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.kernel = NULL;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  gpb_arg null_arg = {NULL, 0, 0};
  d = good, d.args = &null_arg;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_stream_last_error(s), "buffer is NULL");
  CHECK_STATUS(gpb_stream_copy_to_device(s, NULL, x, 0, 4), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(gpb_stream_copy_to_host(s, x, 0, NULL, 4), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(gpb_buffer_create(dev, 16, GPB_MEMORY_PRIVATE, NULL), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(gpb_buffer_create(NULL, 16, GPB_MEMORY_PRIVATE, &small), GPB_ERROR_INVALID_ARGUMENT);
  CHECK(small == NULL); // out parameters are cleared on failure
  CHECK_OK(gpb_buffer_create(dev, 8, GPB_MEMORY_PRIVATE, &small));
  // Wrong sizes and counts
  CHECK_STATUS(gpb_buffer_create(dev, 0, GPB_MEMORY_PRIVATE, &x), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(gpb_buffer_create(dev, 16, (gpb_memory_kind)7, &x), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x)); // x was cleared above
  arg.buffer = x;
  d = good, d.arg_count = 2;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_stream_last_error(s), "'add_one': 2 buffer arguments given, the kernel has 1 bindings");
  d = good, d.push_constant_bytes = 8;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_MSG(gpb_stream_last_error(s), "push-constant");
  d = good, d.push_constants = NULL;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.groups[1] = 0;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  d = good, d.groups[0] = UINT32_MAX;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
  // Offsets and ranges past the end, overflowing, misaligned
  gpb_arg past = {x, 0, 4 * N + 4};
  d = good, d.args = &past;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_OUT_OF_RANGE);
  CHECK_MSG(gpb_stream_last_error(s), "past the end");
  gpb_arg overflow = {x, 16, UINT64_MAX - 8};
  d = good, d.args = &overflow;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_OUT_OF_RANGE);
  gpb_arg at_end = {x, 4 * N, 0};
  d = good, d.args = &at_end;
  CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_OUT_OF_RANGE);
  gpb_arg misaligned = {x, 4, 16};
  d = good, d.args = &misaligned;
  gpb_device_info info;
  CHECK_OK(gpb_device_query(dev, &info));
  if (info.min_storage_buffer_offset_alignment > 4) {
    CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(gpb_stream_last_error(s), "alignment");
  }
  CHECK_STATUS(gpb_stream_copy_to_device(s, host, x, 4 * N - 4, 8), GPB_ERROR_OUT_OF_RANGE);
  CHECK_STATUS(gpb_stream_copy_to_device(s, host, x, UINT64_MAX, 8), GPB_ERROR_OUT_OF_RANGE);
  CHECK_STATUS(gpb_stream_copy_to_host(s, x, 1, host, 4 * N), GPB_ERROR_OUT_OF_RANGE);
  CHECK_STATUS(gpb_stream_copy_buffer(s, x, 0, small, 4, 8), GPB_ERROR_OUT_OF_RANGE);
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, 0)); // zero bytes: nothing to do
  // A buffer smaller than the kernel's fixed block: axpy's blocks are arrays,
  // so any non-empty range is accepted; an empty one is not.
  gpb_arg two[2] = {{small, 0, 8}, {x, 0, 8}};
  axpy_params ap = {2, 1};
  gpb_dispatch da = {.kernel = axpy,
                     .groups = {1, 1, 1},
                     .args = two,
                     .arg_count = 2,
                     .push_constants = &ap,
                     .push_constant_bytes = sizeof ap};
  CHECK_OK(gpb_stream_dispatch(s, &da));
  // Buffers and kernels of another device
  gpb_device *other = fixture_open();
  if (other) {
    gpb_buffer *foreign;
    CHECK_OK(gpb_buffer_create(other, 4 * N, GPB_MEMORY_PRIVATE, &foreign));
    gpb_arg fa = {foreign, 0, 0};
    d = good, d.args = &fa;
    CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(gpb_stream_last_error(s), ", the stream to device ");
    CHECK_STATUS(gpb_stream_copy_buffer(s, x, 0, foreign, 0, 16), GPB_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(gpb_stream_copy_to_host(s, foreign, 0, host, 16), GPB_ERROR_INVALID_ARGUMENT);
    gpb_kernel *fk = FIXTURE_KERNEL(other, add_one);
    d = good, d.kernel = fk;
    CHECK_STATUS(gpb_stream_dispatch(s, &d), GPB_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(gpb_stream_wait_stream(s, gpb_device_default_stream(other)), GPB_ERROR_INVALID_ARGUMENT);
    fixture_close(other);
  }
  // Default stream cannot be destroyed; bad stream options are refused.
  CHECK_STATUS(gpb_stream_destroy(s), GPB_ERROR_INVALID_ARGUMENT);
  gpb_stream *bad = NULL;
  CHECK_STATUS(gpb_stream_create(dev, &(gpb_stream_options){.inline_upload_max_bytes = 70000}, &bad),
               GPB_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(gpb_stream_create(dev, &(gpb_stream_options){.mode = (gpb_mode)9}, &bad), GPB_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(
      gpb_stream_create(dev, &(gpb_stream_options){.staging_buffer_bytes = 1 << 20, .staging_max_bytes = 1024}, &bad),
      GPB_ERROR_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  // Freeing NULL is fine.
  CHECK_OK(gpb_buffer_free(NULL));
  CHECK_OK(gpb_kernel_destroy(NULL));
  CHECK_OK(gpb_stream_destroy(NULL));
  check_stream_usable(dev, s, k);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.dispatches, 4); // only the valid axpy and the usability check's 3
  fixture_close(dev);
}

static void test_garbage_spirv(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *k = NULL;
  uint32_t garbage[64];
  for (int i = 0; i < 64; i++) garbage[i] = 0xdeadbeefu * (uint32_t)(i + 1);
  gpb_kernel_desc desc = {.name = "garbage", .spirv = garbage, .spirv_bytes = sizeof garbage};
  CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), GPB_ERROR_INVALID_SPIRV);
  CHECK_MSG(gpb_device_last_error(dev), "kernel 'garbage'");
  garbage[0] = 0x07230203; // right magic, garbage after it
  CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), GPB_ERROR_INVALID_SPIRV);
  desc.spirv_bytes = 7;
  CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), GPB_ERROR_INVALID_SPIRV);
  desc.spirv = NULL;
  CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), GPB_ERROR_INVALID_SPIRV);
  // Truncations of a real module.
  for (size_t words = 1; words < sizeof add_one_spirv / 4; words += 3) {
    gpb_kernel_desc t = {.name = "truncated", .spirv = add_one_spirv, .spirv_bytes = words * 4};
    gpb_status st = gpb_kernel_create(dev, &t, &k);
    CHECK(st != GPB_OK);
  }
  desc = (gpb_kernel_desc){
      .name = "wrong entry", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv, .entry_point = "nope"};
  CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), GPB_ERROR_NOT_FOUND);
  CHECK(k == NULL);
  check_stream_usable(dev, gpb_device_default_stream(dev), FIXTURE_KERNEL(dev, add_one));
  fixture_close(dev);
}

// A failed submission: the stream's error is sticky and names the kernels
// of the failing batch; other streams keep working.
static void test_failed_submit_is_sticky_and_named(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s, *other;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  CHECK_OK(gpb_stream_create(dev, NULL, &other));
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 0));
  CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  gpb_vk_fault_arm(dev, GPB_VK_QUEUE_SUBMIT, 1, VK_ERROR_DEVICE_LOST);
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_DEVICE_LOST);
  const char *msg = gpb_stream_last_error(s);
  CHECK_MSG(msg, "vkQueueSubmit: VK_ERROR_DEVICE_LOST");
  CHECK_MSG(msg, "'fill'");
  CHECK_MSG(msg, "last kernel 'add_one'");
  CHECK_MSG(msg, "2 dispatches");
  CHECK_MSG(gpb_last_error(), "'add_one'");
  // Sticky: later calls fail fast with the first cause.
  CHECK_STATUS(dispatch_add_one(s, k, x, 0, N), GPB_ERROR_DEVICE_LOST);
  CHECK_MSG(gpb_stream_last_error(s), "failed earlier");
  CHECK_MSG(gpb_stream_last_error(s), "last kernel 'add_one'");
  uint32_t host[N];
  CHECK_STATUS(gpb_stream_copy_to_host(s, x, 0, host, sizeof host), GPB_ERROR_DEVICE_LOST);
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_DEVICE_LOST);
  // The buffer the failed batch used can still be freed.
  CHECK_STATUS(gpb_buffer_free(x), GPB_ERROR_DEVICE_LOST);
  // Another stream of the device is unaffected (the fault was injected).
  check_stream_usable(dev, other, k);
  CHECK_STATUS(gpb_stream_destroy(s), GPB_ERROR_DEVICE_LOST);
  fixture_close(dev);
}

// A device-lost wait names the batch that was running.
static void test_failed_wait_names_running_batch(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_kernel *spin = FIXTURE_KERNEL(dev, spin);
  gpb_buffer *x, *busy;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_PRIVATE, &busy));
  CHECK_OK(dispatch_spin(s, spin, busy, 64, 1)); // the batch is still running at the sync
  CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  CHECK_OK(gpb_stream_flush(s));
  CHECK(still_running(s));
  gpb_vk_fault_arm(dev, GPB_VK_WAIT_SEMAPHORES, 1, VK_ERROR_DEVICE_LOST);
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_DEVICE_LOST);
  CHECK(fault_fired(dev));
  CHECK_MSG(gpb_stream_last_error(s), "batch 1 (2 dispatches of 'spin', 'add_one'; last kernel 'add_one')");
  CHECK_MSG(gpb_stream_last_error(s), "failed while running");
  gpb_vk_fault_disarm(dev);
  // Closing the device reports the stream's failure, and still releases all.
  uint64_t messages = gpb_device_validation_message_count(dev);
  CHECK_STATUS(gpb_device_close(dev), GPB_ERROR_DEVICE_LOST);
  CHECK_EQ(messages, 0);
}

static void test_timeout_is_not_sticky(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s;
  CHECK_OK(gpb_stream_create(dev, NULL, &s));
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_kernel *spin = FIXTURE_KERNEL(dev, spin);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_spin(s, spin, x, 64, 0));
  CHECK_OK(gpb_stream_flush(s));
  CHECK(still_running(s)); // the sync must wait
  gpb_vk_fault_arm(dev, GPB_VK_WAIT_SEMAPHORES, 1, VK_TIMEOUT);
  CHECK_STATUS(gpb_stream_sync(s), GPB_ERROR_TIMEOUT);
  CHECK(fault_fired(dev));
  CHECK_MSG(gpb_stream_last_error(s), "waiting for batch 1");
  CHECK_OK(gpb_stream_sync(s)); // waiting again works
  check_stream_usable(dev, s, k);
  // A free whose wait times out keeps the buffer: the GPU may still use it.
  CHECK_OK(dispatch_spin(s, spin, x, 64, 0));
  CHECK_OK(gpb_stream_flush(s));
  CHECK(still_running(s)); // the free must wait
  gpb_vk_fault_arm(dev, GPB_VK_WAIT_SEMAPHORES, 1, VK_TIMEOUT);
  int failures = check_failures;
  CHECK_STATUS(gpb_buffer_free(x), GPB_ERROR_TIMEOUT);
  if (check_failures != failures) check_abandon(__func__, "the buffer was freed while the GPU may still use it");
  CHECK(fault_fired(dev));
  CHECK_MSG(gpb_device_last_error(dev), "still allocated");
  CHECK_OK(dispatch_add_one(s, k, x, 0, N)); // still a valid buffer
  CHECK_OK(gpb_buffer_free(x));
  gpb_vk_fault_disarm(dev);
  fixture_close(dev);
}

// Resource creation failures come back as statuses naming the operation.
static void test_creation_failures(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_buffer *b = NULL;
  gpb_vk_fault_arm(dev, GPB_VK_ALLOCATE_MEMORY, 1, VK_ERROR_OUT_OF_DEVICE_MEMORY);
  CHECK_STATUS(gpb_buffer_create(dev, 1024, GPB_MEMORY_PRIVATE, &b), GPB_ERROR_OUT_OF_DEVICE_MEMORY);
  CHECK_MSG(gpb_device_last_error(dev),
            "private buffer of 1024 bytes: vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY");
  gpb_vk_fault_arm(dev, GPB_VK_CREATE_PIPELINE, 1, VK_ERROR_OUT_OF_HOST_MEMORY);
  gpb_kernel *k = NULL;
  gpb_kernel_desc desc = {.name = "axpy", .spirv = axpy_spirv, .spirv_bytes = sizeof axpy_spirv};
  CHECK_STATUS(gpb_kernel_create(dev, &desc, &k), GPB_ERROR_OUT_OF_HOST_MEMORY);
  CHECK_MSG(gpb_device_last_error(dev), "kernel 'axpy': creating pipeline: vkCreateComputePipelines");
  CHECK_OK(gpb_kernel_create(dev, &desc, &k)); // works once the fault is gone
  // Staging buffer creation fails inside an upload: reported by the stream.
  gpb_stream *s = gpb_device_default_stream(dev);
  CHECK_OK(gpb_buffer_create(dev, 1 << 20, GPB_MEMORY_PRIVATE, &b));
  uint8_t *data = calloc(1, 1 << 20);
  gpb_vk_fault_arm(dev, GPB_VK_ALLOCATE_MEMORY, 1, VK_ERROR_OUT_OF_DEVICE_MEMORY);
  CHECK_STATUS(gpb_stream_copy_to_device(s, data, b, 0, 1 << 20), GPB_ERROR_OUT_OF_DEVICE_MEMORY);
  CHECK_MSG(gpb_stream_last_error(s), "staging buffer");
  CHECK_OK(gpb_stream_copy_to_device(s, data, b, 0, 1 << 20));
  free(data);
  check_stream_usable(dev, s, FIXTURE_KERNEL(dev, add_one));
  fixture_close(dev);
}

// The validation layer really reports to the fixture: an invalid Vulkan call
// made behind the library's back is counted.
static void test_validation_layer_is_live(void) {
  gpb_device_options opts = {.validation = true};
  gpb_device *dev = NULL;
  CHECK_OK(gpb_device_open_default(&opts, &dev));
  if (!dev) return;
  gpb_be_device *d = gpb_device_obj_of(dev)->impl;
  VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = 0,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT}; // size 0 is invalid usage
  VkBuffer buf = VK_NULL_HANDLE;
  if (d->vk.vkCreateBuffer(d->device, &info, NULL, &buf) == VK_SUCCESS) d->vk.vkDestroyBuffer(d->device, buf, NULL);
  CHECK(gpb_device_validation_message_count(dev) > 0);
  gpb_device_close(dev);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_bad_arguments),
                                    TEST(test_garbage_spirv),
                                    TEST(test_failed_submit_is_sticky_and_named),
                                    TEST(test_failed_wait_names_running_batch),
                                    TEST(test_timeout_is_not_sticky),
                                    TEST(test_creation_failures),
                                    TEST(test_validation_layer_is_live)};
  return RUN_TESTS(tests);
}
