// Internal: the Vulkan backend's objects. Raw Vulkan is used only in
// src/vulkan/. Device-level functions are called through the device's volk
// table (per device, so several devices can be open) and, for calls that
// return a VkResult, through VK_CALL so tests can inject failures.
#ifndef GPB_VULKAN_INTERNAL_H
#define GPB_VULKAN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <volk.h>

#include "core/backend.h"
#include "core/error.h"
#include "vulkan/vk_fault.h"

#define GPB_VK_MAX_QUEUES 8

struct gpb_be_device {
  VkInstance instance;
  VkPhysicalDevice physical;
  VkDevice device;
  struct VolkDeviceTable vk;
  VkPhysicalDeviceMemoryProperties memory;
  VkDeviceSize max_allocation;
  uint32_t max_push_descriptors;
  uint32_t queue_family;
  uint32_t queue_count;
  VkQueue queues[GPB_VK_MAX_QUEUES];
  pthread_mutex_t queue_locks[GPB_VK_MAX_QUEUES]; // VkQueue is externally synchronized
  VkPipelineCache pipeline_cache;
  uint32_t api_version;  // the instance's: which SPIR-V versions kernels may use
  uint64_t wait_spin_ns; // poll a timeline this long before blocking on it
  float timestamp_period_ns;
  uint32_t timestamp_valid_bits; // of the queue family; 0: no timestamps
  bool calibrated_timestamps;    // VK_EXT_calibrated_timestamps with device and CLOCK_MONOTONIC domains
  // What kernels may use: the shader features enabled at device creation
  // and the subgroup operations the device supports in compute shaders.
  VkPhysicalDeviceFeatures2 enabled;
  VkPhysicalDeviceVulkan11Features enabled11;
  VkPhysicalDeviceVulkan12Features enabled12;
  VkPhysicalDeviceShaderClockFeaturesKHR enabled_clock;              // all VK_FALSE without VK_KHR_shader_clock
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT enabled_atomic_float; // only the float32 buffer add, where present
  bool enabled_int_dot;                                              // VK_KHR_shader_integer_dot_product
  VkSubgroupFeatureFlags subgroup_ops;

  VkDebugUtilsMessengerEXT messenger;
  PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
  atomic_uint_fast64_t validation_messages; // the backend's diagnostics_count
  gpb_message_fn on_message;
  void *on_message_user;

  gpb_vk_fault fault;
};

struct gpb_be_buffer {
  VkBuffer buffer;
  VkDeviceMemory memory;
  VkDeviceSize size;
};

struct gpb_be_pipeline {
  VkShaderModule module;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
  uint32_t binding_count;
  uint32_t bindings[GPB_MAX_BINDINGS];
};

struct gpb_be_timeline {
  VkSemaphore semaphore;
  uint32_t queue;
};

struct gpb_be_batch {
  gpb_be_device *device;
  VkCommandPool pool;
  VkCommandBuffer cmd;
  VkPipeline bound;    // skip rebinding the same pipeline
  VkQueryPool queries; // timestamps, when tracing
  uint32_t query_capacity;
};

// True when a test asked for this call to fail now (see vk_fault.h).
bool gpb_vk_fault_fire(gpb_vk_fault *fault, gpb_vk_site site);
#define VK_CALL(dev, site, expr) (gpb_vk_fault_fire(&(dev)->fault, (site)) ? (dev)->fault.result : (expr))

// Maps a VkResult to a status and writes "<call>: <VK_ERROR_...>" to err.
gpb_status gpb_vk_status(VkResult result, const char *call, char *err);
const char *gpb_vk_result_name(VkResult result);

// The backend's table (vk_device.c), for its registry entry and test hooks.
extern const gpb_backend gpb_vulkan_backend;

// Loads the Vulkan loader once per process (volk). Thread-safe.
gpb_status gpb_vk_load(char *err);

#endif

// Backend entry points, by file (the table is in vk_device.c).
gpb_status gpb_vk_buffer_create(gpb_be_device *d, uint64_t size, gpb_be_memory memory, gpb_be_buffer **out,
                                void **out_mapped, char *err);
void gpb_vk_buffer_destroy(gpb_be_device *d, gpb_be_buffer *b);
gpb_status gpb_vk_kernel_reflect(gpb_be_device *d, const gpb_be_kernel_code *code, gpb_kernel_info *out_info,
                                 char *err);
gpb_status gpb_vk_pipeline_create(gpb_be_device *d, const gpb_be_kernel_code *code, const gpb_kernel_info *info,
                                  gpb_be_pipeline **out, char *err);
void gpb_vk_pipeline_destroy(gpb_be_device *d, gpb_be_pipeline *p);
gpb_status gpb_vk_timeline_create(gpb_be_device *d, uint32_t queue, gpb_be_timeline **out, char *err);
void gpb_vk_timeline_destroy(gpb_be_device *d, gpb_be_timeline *t);
gpb_status gpb_vk_timeline_completed(gpb_be_device *d, gpb_be_timeline *t, uint64_t *out, char *err);
gpb_status gpb_vk_timeline_wait(gpb_be_device *d, gpb_be_timeline *t, uint64_t value, uint64_t timeout_ns, char *err);
gpb_status gpb_vk_batch_create(gpb_be_device *d, gpb_be_batch **out, char *err);
void gpb_vk_batch_destroy(gpb_be_device *d, gpb_be_batch *b);
gpb_status gpb_vk_batch_begin(gpb_be_device *d, gpb_be_batch *b, char *err);
void gpb_vk_cmd_dispatch(gpb_be_batch *b, gpb_be_pipeline *p, const uint32_t groups[3], const gpb_be_arg *args,
                         uint32_t arg_count, const void *push, uint32_t push_bytes);
void gpb_vk_cmd_copy(gpb_be_batch *b, gpb_be_buffer *src, uint64_t src_offset, gpb_be_buffer *dst, uint64_t dst_offset,
                     uint64_t bytes);
void gpb_vk_cmd_update(gpb_be_batch *b, gpb_be_buffer *dst, uint64_t offset, const void *data, uint64_t bytes);
void gpb_vk_cmd_barrier(gpb_be_batch *b);
gpb_status gpb_vk_program_begin(gpb_be_device *d, gpb_be_batch **out, char *err);
gpb_status gpb_vk_program_end(gpb_be_device *d, gpb_be_batch *b, char *err);
void gpb_vk_cmd_execute(gpb_be_batch *b, gpb_be_batch *program);
gpb_status gpb_vk_batch_timestamps_begin(gpb_be_device *d, gpb_be_batch *b, uint32_t capacity, char *err);
void gpb_vk_cmd_timestamp(gpb_be_batch *b, uint32_t index);
gpb_status gpb_vk_batch_timestamps_read(gpb_be_device *d, gpb_be_batch *b, uint32_t count, uint64_t *out_ns, char *err);
gpb_status gpb_vk_timestamp_calibrate(gpb_be_device *d, uint64_t *out_gpu_ns, uint64_t *out_host_ns, char *err);
gpb_status gpb_vk_batch_submit(gpb_be_device *d, gpb_be_batch *b, gpb_be_timeline *t, uint64_t signal,
                               const gpb_be_wait *waits, uint32_t wait_count, char *err);
