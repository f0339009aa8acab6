// Fault injection at every Vulkan call site: a representative workload
// (allocations, inline and staged uploads, dispatches, device copies,
// readbacks, shared-buffer access, frees, syncs, stream and kernel teardown)
// runs once per (site, call number, result) with exactly that Vulkan call
// failing. Each run must end in a status (never a crash, hang or abort),
// returned by the very call during which the fault fired (or by
// gpb_device_close for its own vkDeviceWaitIdle), the
// message must name the Vulkan call, a device-lost stream must stay failed,
// the device must still close, and the validation layer must stay silent.
// Under ASan (scripts/test.sh) LeakSanitizer checks that nothing leaks.
#include "core/internal.h"
#include "fault_step.h"
#include "gpu_fixture.h"
#include "vulkan/vk_internal.h"

#define N 256u

static bool fault_fired(gpb_device *dev) { return atomic_load(&gpb_device_obj_of(dev)->impl->fault.armed_site) == -1; }

#define STEP(expr, stream) FAULT_STEP(o, fault_fired(dev), expr, stream)

// Stops at the first failure; leaves cleanup to gpb_device_close.
static void workload(gpb_device *dev, gpb_stream **out_stream, fault_outcome *o) {
  gpb_stream *s = NULL;
  STEP(gpb_stream_create(dev, &(gpb_stream_options){.staging_buffer_bytes = 64 * 1024, .staging_max_buffers = 2}, &s),
       NULL);
  *out_stream = s;
  gpb_kernel *add = NULL, *fill = NULL;
  gpb_kernel_desc d1 = {.name = "add_one", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  gpb_kernel_desc d2 = {.name = "fill", .spirv = fill_spirv, .spirv_bytes = sizeof fill_spirv};
  STEP(gpb_kernel_create(dev, &d1, &add), NULL);
  STEP(gpb_kernel_create(dev, &d2, &fill), NULL);
  gpb_buffer *x = NULL, *big = NULL, *sh = NULL;
  STEP(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x), NULL);
  STEP(gpb_buffer_create(dev, 256 * 1024, GPB_MEMORY_PRIVATE, &big), NULL);
  STEP(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_SHARED, &sh), NULL);
  static uint32_t host[64 * 1024];
  for (uint32_t i = 0; i < 64 * 1024; i++) host[i] = i;
  STEP(gpb_stream_copy_to_device(s, host, x, 0, 4 * N), s);        // inline
  STEP(gpb_stream_copy_to_device(s, host, big, 0, 256 * 1024), s); // staged, 4 chunks, 2 slots
  STEP(dispatch_fill(s, fill, sh, 0, N, 5), s);
  for (int i = 0; i < 3; i++) STEP(dispatch_add_one(s, add, x, 0, N), s);
  STEP(gpb_stream_copy_buffer(s, x, 0, big, 0, 4 * N), s);
  uint32_t back[N];
  STEP(gpb_stream_copy_to_host(s, x, 0, back, sizeof back), s);
  CHECK_EQ(back[7], 7 + 3);
  uint32_t *p = NULL;
  STEP(gpb_buffer_map(sh, GPB_HOST_READ, (void **)&p), s);
  CHECK_EQ(p[3], 8);
  STEP(dispatch_add_one(s, add, x, 0, N), s);
  STEP(gpb_buffer_free(x), s); // pending work uses it: flush + wait
  STEP(gpb_stream_copy_to_host(s, big, 0, back, sizeof back), s);
  CHECK_EQ(back[7], 7 + 3);
  STEP(gpb_buffer_free(big), s);
  STEP(gpb_stream_sync(s), s);
  STEP(gpb_kernel_destroy(fill), NULL);
  *out_stream = NULL;
  STEP(gpb_stream_destroy(s), NULL); // the stream is gone even when this fails
}

// The Vulkan function each site stands for, as messages name it.
static const char *site_call(gpb_vk_site site) {
  switch (site) {
  case GPB_VK_ALLOCATE_MEMORY: return "vkAllocateMemory";
  case GPB_VK_CREATE_BUFFER: return "vkCreateBuffer";
  case GPB_VK_BIND_BUFFER_MEMORY: return "vkBindBufferMemory";
  case GPB_VK_MAP_MEMORY: return "vkMapMemory";
  case GPB_VK_CREATE_SHADER_MODULE: return "vkCreateShaderModule";
  case GPB_VK_CREATE_SET_LAYOUT: return "vkCreateDescriptorSetLayout";
  case GPB_VK_CREATE_PIPELINE_LAYOUT: return "vkCreatePipelineLayout";
  case GPB_VK_CREATE_PIPELINE: return "vkCreateComputePipelines";
  case GPB_VK_CREATE_COMMAND_POOL: return "vkCreateCommandPool";
  case GPB_VK_ALLOCATE_COMMAND_BUFFER: return "vkAllocateCommandBuffers";
  case GPB_VK_RESET_COMMAND_POOL: return "vkResetCommandPool";
  case GPB_VK_BEGIN_COMMAND_BUFFER: return "vkBeginCommandBuffer";
  case GPB_VK_END_COMMAND_BUFFER: return "vkEndCommandBuffer";
  case GPB_VK_QUEUE_SUBMIT: return "vkQueueSubmit";
  case GPB_VK_CREATE_SEMAPHORE: return "vkCreateSemaphore";
  case GPB_VK_GET_SEMAPHORE_VALUE: return "vkGetSemaphoreCounterValue";
  case GPB_VK_WAIT_SEMAPHORES: return "vkWaitSemaphores";
  case GPB_VK_DEVICE_WAIT_IDLE: return "vkDeviceWaitIdle";
  default: return "?";
  }
}

static int runs, fired_runs, surfaced, not_fired, at_close;

// One run with call `nth` of `site` failing with `result`.
static void inject_once(gpb_vk_site site, uint64_t nth, VkResult result) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_vk_fault_arm(dev, site, nth, result);
  fault_outcome o = {GPB_OK, "", NULL, 0, 0, 0, NULL};
  gpb_stream *s = NULL;
  workload(dev, &s, &o);
  bool fired = fault_fired(dev);
  runs++;
  char where[160];
  snprintf(where, sizeof where, "site %s call %llu result %s", gpb_vk_site_name(site), (unsigned long long)nth,
           gpb_vk_result_name(result));
  // A fault during a call fails that call: the error is not dropped, nor
  // left for a later call or gpb_device_close to report.
  if (o.fired_step != 0) {
    fired_runs++;
    if (o.failed_step != o.fired_step) {
      fprintf(stderr, "%s: fired during call %d (%s) but %s\n", where, o.fired_step, o.fired_call,
              o.failed_step ? "a later call failed" : "no call of the workload failed");
      check_failures++;
      // The call went on as if its wait had succeeded (a free released
      // memory the GPU may still use): the process cannot go on safely.
      check_abandon("test_sweep_every_call_site", "an error was dropped");
    }
  }
  if (fired && o.status != GPB_OK) {
    surfaced++;
    if (!strstr(o.message, site_call(site))) {
      fprintf(stderr, "%s: message does not name %s: %s\n", where, site_call(site), o.message);
      check_failures++;
    }
    if (o.status == GPB_ERROR_DEVICE_LOST && o.failed_stream) {
      // Sticky: the stream keeps failing with the first cause.
      gpb_status again = gpb_stream_sync(o.failed_stream);
      if (again != GPB_ERROR_DEVICE_LOST || !strstr(gpb_stream_last_error(o.failed_stream), site_call(site))) {
        fprintf(stderr, "%s: stream not sticky after device loss: %s %s\n", where, gpb_status_name(again),
                gpb_stream_last_error(o.failed_stream));
        check_failures++;
      }
      if (site == GPB_VK_QUEUE_SUBMIT || site == GPB_VK_WAIT_SEMAPHORES) CHECK_MSG(o.message, "kernel");
    }
  }
  uint64_t messages = gpb_device_validation_message_count(dev);
  gpb_status closed = gpb_device_close(dev); // must return, whatever happened
  if (!fired) {
    if (site == GPB_VK_DEVICE_WAIT_IDLE) {
      if (closed == GPB_OK) {
        fprintf(stderr, "%s: gpb_device_close swallowed the failure of its vkDeviceWaitIdle\n", where);
        check_failures++;
      }
      at_close++;
    } else if (site == GPB_VK_WAIT_SEMAPHORES || site == GPB_VK_GET_SEMAPHORE_VALUE) {
      // A batch that finished before the host asked needs no wait: how many
      // waits and polls a run makes depends on timing.
      not_fired++;
    } else {
      fprintf(stderr, "%s: did not fire: the workload made fewer calls than in the clean run\n", where);
      check_failures++;
    }
  }
  if (messages != 0) {
    fprintf(stderr, "%s: %llu validation messages\n", where, (unsigned long long)messages);
    check_failures++;
  }
}

static void test_sweep_every_call_site(void) {
  // Count the calls of each site in one clean run.
  gpb_device *dev = fixture_open();
  if (!dev) return;
  fault_outcome clean = {GPB_OK, "", NULL, 0, 0, 0, NULL};
  gpb_stream *s = NULL;
  uint64_t at_open[GPB_VK_SITE_COUNT]; // made by gpb_device_open, before a fault can be armed
  for (int site = 0; site < GPB_VK_SITE_COUNT; site++) at_open[site] = gpb_vk_fault_calls(dev, (gpb_vk_site)site);
  workload(dev, &s, &clean);
  CHECK_OK(clean.status);
  uint64_t calls[GPB_VK_SITE_COUNT];
  for (int site = 0; site < GPB_VK_SITE_COUNT; site++)
    calls[site] = gpb_vk_fault_calls(dev, (gpb_vk_site)site) - at_open[site];
  fixture_close(dev);
  calls[GPB_VK_DEVICE_WAIT_IDLE] += 1; // and the first that gpb_device_close makes

  int sites = 0;
  for (int site = 0; site < GPB_VK_SITE_COUNT; site++) {
    if (calls[site] == 0) continue;
    sites++;
    // Every call of the site, capped so the sweep stays short; the cap
    // still covers first, middle and last calls.
    uint64_t step = calls[site] > 12 ? calls[site] / 12 : 1;
    for (uint64_t nth = 1; nth <= calls[site]; nth += step) {
      switch ((gpb_vk_site)site) {
      case GPB_VK_WAIT_SEMAPHORES:
        inject_once((gpb_vk_site)site, nth, VK_ERROR_DEVICE_LOST);
        inject_once((gpb_vk_site)site, nth, VK_TIMEOUT);
        break;
      case GPB_VK_QUEUE_SUBMIT:
      case GPB_VK_GET_SEMAPHORE_VALUE:
      case GPB_VK_DEVICE_WAIT_IDLE:
        inject_once((gpb_vk_site)site, nth, VK_ERROR_DEVICE_LOST);
        inject_once((gpb_vk_site)site, nth, VK_ERROR_OUT_OF_HOST_MEMORY);
        break;
      default:
        inject_once((gpb_vk_site)site, nth, VK_ERROR_OUT_OF_HOST_MEMORY);
        inject_once((gpb_vk_site)site, nth, VK_ERROR_OUT_OF_DEVICE_MEMORY);
        break;
      }
    }
  }
  printf("  %d call sites with calls, %d injected runs, %d fired during a call of the workload, %d surfaced as a "
         "status, %d in gpb_device_close, %d waits or polls not needed\n",
         sites, runs, fired_runs, surfaced, at_close, not_fired);
  CHECK(sites >= 15);
  // Each fault that fired during a call failed that call, one at close made
  // close fail, and every fault fired except waits and polls that a faster
  // batch made unnecessary (checked in inject_once).
  CHECK(fired_runs > 0);
  CHECK(at_close > 0);
  CHECK_EQ(fired_runs + at_close + not_fired, runs);
}

int main(int argc, char **argv) {
  // Host waits block in vkWaitSemaphores (no polling first), so every run
  // reaches the same call sites whatever the device's speed.
  setenv("GPB_WAIT_SPIN_US", "0", 1);
  static const test_case tests[] = {TEST(test_sweep_every_call_site)};
  return RUN_TESTS(tests);
}
