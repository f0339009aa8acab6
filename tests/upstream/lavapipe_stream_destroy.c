// Minimal reproduction (tests/upstream/lavapipe-stream-destroy.md): destroy
// a timeline semaphore as soon as the host has seen the last batch that
// refers to it complete. Each iteration is one "stream" (a timeline, a
// command pool) with two batches; with `cross`, each batch is followed by a
// batch of another "stream" that waits for it, and the host waits for that
// one. Valid Vulkan (the validation layer stays silent), yet with `cross`
// lavapipe (Mesa 22.3.6) crashes (SIGSEGV, heap corruption) or hangs within
// a few hundred iterations. With `idle`, vkQueueWaitIdle before each destroy
// (what gpubatch's gpb_stream_release does, through vkDeviceWaitIdle) runs
// clean.
//
//   cc -O1 -g tests/upstream/lavapipe_stream_destroy.c -lvulkan -o /tmp/lvp_destroy
//   /tmp/lvp_destroy 20000             # one stream alone: no crash
//   /tmp/lvp_destroy 20000 cross       # crash or hang
//   /tmp/lvp_destroy 20000 cross idle  # no crash
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

#define CHECK_VK(expr)                                                                                                 \
  do {                                                                                                                 \
    VkResult r_ = (expr);                                                                                              \
    if (r_ != VK_SUCCESS) {                                                                                            \
      fprintf(stderr, "%s:%d: %s = %d\n", __FILE__, __LINE__, #expr, (int)r_);                                         \
      exit(2);                                                                                                         \
    }                                                                                                                  \
  } while (0)

int main(int argc, char **argv) {
  int iterations = argc > 1 ? atoi(argv[1]) : 20000;
  int idle = 0, cross = 0;
  for (int i = 2; i < argc; i++) {
    idle |= strcmp(argv[i], "idle") == 0;
    cross |= strcmp(argv[i], "cross") == 0;
  }
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_2};
  VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
  VkInstance inst;
  CHECK_VK(vkCreateInstance(&ici, NULL, &inst));
  uint32_t n = 1;
  VkPhysicalDevice phys;
  VkResult er = vkEnumeratePhysicalDevices(inst, &n, &phys);
  if ((er != VK_SUCCESS && er != VK_INCOMPLETE) || n == 0) return 2;
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(phys, &props);
  printf("device: %s, driver version 0x%x\n", props.deviceName, props.driverVersion);
  float prio = 1;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = 0,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                          .timelineSemaphore = VK_TRUE};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .pNext = &f12,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qci};
  VkDevice dev;
  CHECK_VK(vkCreateDevice(phys, &dci, NULL, &dev));
  VkQueue queue;
  vkGetDeviceQueue(dev, 0, 0, &queue);
  VkBufferCreateInfo bci = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 1 << 16, .usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT};
  VkBuffer buf;
  CHECK_VK(vkCreateBuffer(dev, &bci, NULL, &buf));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, buf, &req);
  VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size};
  VkDeviceMemory mem;
  CHECK_VK(vkAllocateMemory(dev, &mai, NULL, &mem));
  CHECK_VK(vkBindBufferMemory(dev, buf, mem, 0));
  for (int it = 0; it < iterations; it++) {
    // One "stream": a timeline, a command pool and buffer, two batches.
    VkSemaphoreTypeCreateInfo type = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
    VkSemaphore sem;
    CHECK_VK(vkCreateSemaphore(dev, &sci, NULL, &sem));
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .queueFamilyIndex = 0};
    VkCommandPool pool;
    CHECK_VK(vkCreateCommandPool(dev, &pci, NULL, &pool));
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    VkCommandBuffer cmd;
    CHECK_VK(vkAllocateCommandBuffers(dev, &cai, &cmd));
    VkSemaphore waiter;
    CHECK_VK(vkCreateSemaphore(dev, &sci, NULL, &waiter));
    for (uint64_t value = 1; value <= 2; value++) {
      VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                     .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
      CHECK_VK(vkBeginCommandBuffer(cmd, &bi));
      vkCmdFillBuffer(cmd, buf, 0, VK_WHOLE_SIZE, (uint32_t)it);
      CHECK_VK(vkEndCommandBuffer(cmd));
      uint64_t wait_value = value - 1;
      VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
      VkTimelineSemaphoreSubmitInfo tsi = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                           .waitSemaphoreValueCount = value > 1,
                                           .pWaitSemaphoreValues = &wait_value,
                                           .signalSemaphoreValueCount = 1,
                                           .pSignalSemaphoreValues = &value};
      VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                         .pNext = &tsi,
                         .waitSemaphoreCount = value > 1,
                         .pWaitSemaphores = &sem,
                         .pWaitDstStageMask = &stage,
                         .commandBufferCount = 1,
                         .pCommandBuffers = &cmd,
                         .signalSemaphoreCount = 1,
                         .pSignalSemaphores = &sem};
      CHECK_VK(vkQueueSubmit(queue, 1, &si, VK_NULL_HANDLE));
      // Another stream's batch (no commands) waits for it; the host waits
      // for that one: both batches have completed when the wait returns.
      VkTimelineSemaphoreSubmitInfo tsi2 = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                            .waitSemaphoreValueCount = 1,
                                            .pWaitSemaphoreValues = &value,
                                            .signalSemaphoreValueCount = 1,
                                            .pSignalSemaphoreValues = &value};
      VkSubmitInfo si2 = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                          .pNext = &tsi2,
                          .waitSemaphoreCount = 1,
                          .pWaitSemaphores = &sem,
                          .pWaitDstStageMask = &stage,
                          .signalSemaphoreCount = 1,
                          .pSignalSemaphores = &waiter};
      if (cross) CHECK_VK(vkQueueSubmit(queue, 1, &si2, VK_NULL_HANDLE));
      VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                .semaphoreCount = 1,
                                .pSemaphores = cross ? &waiter : &sem,
                                .pValues = &value};
      CHECK_VK(vkWaitSemaphores(dev, &wi, UINT64_MAX));
      // The batch signaled `value`: it has completed, so the command buffer
      // may be reset and, after the last one, the semaphore destroyed.
      if (value == 1) CHECK_VK(vkResetCommandPool(dev, pool, 0));
    }
    if (idle) CHECK_VK(vkQueueWaitIdle(queue));
    vkDestroySemaphore(dev, sem, NULL);
    vkDestroySemaphore(dev, waiter, NULL);
    vkDestroyCommandPool(dev, pool, NULL);
  }
  vkDestroyBuffer(dev, buf, NULL);
  vkFreeMemory(dev, mem, NULL);
  vkDestroyDevice(dev, NULL);
  vkDestroyInstance(inst, NULL);
  printf("%d iterations, no crash\n", iterations);
  return 0;
}
