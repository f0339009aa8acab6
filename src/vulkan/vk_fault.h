// Test-only: make the N-th Vulkan call of a kind on one device fail.
//
// The backend routes every VkResult-returning device call through VK_CALL,
// which counts calls per site and, when armed, returns the chosen result
// instead of making the call. Used by the fault-injection tests; costs one
// relaxed atomic load per call otherwise.
#ifndef GPB_VULKAN_FAULT_H
#define GPB_VULKAN_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vulkan/vulkan_core.h>

#define GPB_VK_SITE_LIST(X)                                                                                            \
  X(ALLOCATE_MEMORY)                                                                                                   \
  X(CREATE_BUFFER)                                                                                                     \
  X(BIND_BUFFER_MEMORY)                                                                                                \
  X(MAP_MEMORY)                                                                                                        \
  X(CREATE_SHADER_MODULE)                                                                                              \
  X(CREATE_SET_LAYOUT)                                                                                                 \
  X(CREATE_PIPELINE_LAYOUT)                                                                                            \
  X(CREATE_PIPELINE)                                                                                                   \
  X(CREATE_COMMAND_POOL)                                                                                               \
  X(ALLOCATE_COMMAND_BUFFER)                                                                                           \
  X(RESET_COMMAND_POOL)                                                                                                \
  X(BEGIN_COMMAND_BUFFER)                                                                                              \
  X(END_COMMAND_BUFFER)                                                                                                \
  X(QUEUE_SUBMIT)                                                                                                      \
  X(CREATE_SEMAPHORE)                                                                                                  \
  X(GET_SEMAPHORE_VALUE)                                                                                               \
  X(WAIT_SEMAPHORES)                                                                                                   \
  X(DEVICE_WAIT_IDLE)                                                                                                  \
  X(CREATE_QUERY_POOL)                                                                                                 \
  X(GET_QUERY_RESULTS)

typedef enum gpb_vk_site {
#define GPB_VK_SITE_ENUM(name) GPB_VK_##name,
  GPB_VK_SITE_LIST(GPB_VK_SITE_ENUM)
#undef GPB_VK_SITE_ENUM
      GPB_VK_SITE_COUNT
} gpb_vk_site;

typedef struct gpb_vk_fault {
  atomic_int armed_site;          // -1 when disarmed
  atomic_uint_fast64_t countdown; // fail when it reaches 0
  VkResult result;
  atomic_uint_fast64_t calls[GPB_VK_SITE_COUNT];
} gpb_vk_fault;

typedef struct gpb_device gpb_device;

// Arms device's site: its `nth` next call (1 = the next one) returns `result`.
void gpb_vk_fault_arm(gpb_device *device, gpb_vk_site site, uint64_t nth, VkResult result);
void gpb_vk_fault_disarm(gpb_device *device);
// Calls made at `site` on `device` so far.
uint64_t gpb_vk_fault_calls(gpb_device *device, gpb_vk_site site);
const char *gpb_vk_site_name(gpb_vk_site site);
// VkInstances this process created so far (at most one per validation
// setting: vk_device.c, acquire_instance).
uint32_t gpb_vk_instances_created(void);

#endif
