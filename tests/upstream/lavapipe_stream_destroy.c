// Minimal reproduction: destroy a timeline semaphore (and reset the command
// buffer) as soon as the host has seen the semaphore reach the value the
// last submission signals. Valid Vulkan: the host observed the batch's
// signal operation, the last thing the batch does. Build and run:
//
//   cc -O1 -g -fsanitize=address tests/upstream/lavapipe_stream_destroy.c -lvulkan -o /tmp/lvp_destroy
//   /tmp/lvp_destroy 20000        # iterations; 0 exit status = no crash
//
// With `idle` as the second argument it calls vkQueueWaitIdle before each
// destroy (what gpubatch's gpb_stream_release does, via vkDeviceWaitIdle).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

#define CHECK_VK(expr)                                                                                                 \
  do {                                                                                                                 \
    VkResult r_ = (expr);                                                                                              \
    if (r_ != VK_SUCCESS) {                                                                                            \
      fprintf(stderr, "%s:%d: %s = %d\n", __FILE__, __LINE__, #expr, (int)r_);                                        \
      exit(2);                                                                                                         \
    }                                                                                                                  \
  } while (0)

int main(int argc, char **argv) {
  int iterations = argc > 1 ? atoi(argv[1]) : 20000;
  int idle = argc > 2 && strcmp(argv[2], "idle") == 0;
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
  VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                            .size = 1 << 16,
                            .usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT};
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
      VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                .semaphoreCount = 1,
                                .pSemaphores = &sem,
                                .pValues = &value};
      CHECK_VK(vkWaitSemaphores(dev, &wi, UINT64_MAX));
      // The batch signaled `value`: it has completed, so the command buffer
      // may be reset and, after the last one, the semaphore destroyed.
      if (value == 1) CHECK_VK(vkResetCommandPool(dev, pool, 0));
    }
    if (idle) CHECK_VK(vkQueueWaitIdle(queue));
    vkDestroySemaphore(dev, sem, NULL);
    vkDestroyCommandPool(dev, pool, NULL);
  }
  vkDestroyBuffer(dev, buf, NULL);
  vkFreeMemory(dev, mem, NULL);
  vkDestroyDevice(dev, NULL);
  vkDestroyInstance(inst, NULL);
  printf("%d iterations, no crash\n", iterations);
  return 0;
}
