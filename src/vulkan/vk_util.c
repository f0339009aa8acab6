// Vulkan results, loader start-up and the fault-injection hook.
#include <string.h>

#include "vulkan/vk_internal.h"

const char *gpb_vk_result_name(VkResult r) {
  switch (r) {
// One statement per name (the ';' outside the macro keeps clang-format stable).
#define NAME(x)                                                                                                        \
  case x: return #x
    NAME(VK_SUCCESS);
    NAME(VK_NOT_READY);
    NAME(VK_TIMEOUT);
    NAME(VK_INCOMPLETE);
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY);
    NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY);
    NAME(VK_ERROR_INITIALIZATION_FAILED);
    NAME(VK_ERROR_DEVICE_LOST);
    NAME(VK_ERROR_MEMORY_MAP_FAILED);
    NAME(VK_ERROR_LAYER_NOT_PRESENT);
    NAME(VK_ERROR_EXTENSION_NOT_PRESENT);
    NAME(VK_ERROR_FEATURE_NOT_PRESENT);
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER);
    NAME(VK_ERROR_TOO_MANY_OBJECTS);
    NAME(VK_ERROR_FORMAT_NOT_SUPPORTED);
    NAME(VK_ERROR_FRAGMENTED_POOL);
    NAME(VK_ERROR_UNKNOWN);
    NAME(VK_ERROR_OUT_OF_POOL_MEMORY);
    NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE);
    NAME(VK_ERROR_FRAGMENTATION);
    NAME(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS);
    NAME(VK_PIPELINE_COMPILE_REQUIRED);
    NAME(VK_ERROR_INVALID_SHADER_NV);
#undef NAME
  default: return "VK_ERROR_(unnamed)";
  }
}

gpb_status gpb_vk_status(VkResult r, const char *call, char *err) {
  gpb_format(err, GPB_MSG_MAX, "%s: %s", call, gpb_vk_result_name(r));
  switch (r) {
  case VK_SUCCESS: return GPB_OK;
  case VK_TIMEOUT: return GPB_ERROR_TIMEOUT;
  case VK_ERROR_OUT_OF_HOST_MEMORY: return GPB_ERROR_OUT_OF_HOST_MEMORY;
  case VK_ERROR_OUT_OF_DEVICE_MEMORY:
  case VK_ERROR_OUT_OF_POOL_MEMORY:
  case VK_ERROR_FRAGMENTATION:
  case VK_ERROR_TOO_MANY_OBJECTS: return GPB_ERROR_OUT_OF_DEVICE_MEMORY;
  case VK_ERROR_DEVICE_LOST: return GPB_ERROR_DEVICE_LOST;
  case VK_ERROR_INCOMPATIBLE_DRIVER:
  case VK_ERROR_LAYER_NOT_PRESENT:
  case VK_ERROR_EXTENSION_NOT_PRESENT:
  case VK_ERROR_FEATURE_NOT_PRESENT: return GPB_ERROR_UNSUPPORTED;
  default: return GPB_ERROR_VULKAN;
  }
}

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static VkResult load_result = VK_ERROR_INITIALIZATION_FAILED;

static void load_loader(void) { load_result = volkInitialize(); }

gpb_status gpb_vk_load(char *err) {
  pthread_once(&load_once, load_loader);
  if (load_result != VK_SUCCESS) {
    gpb_format(err, GPB_MSG_MAX, "the Vulkan loader (libvulkan.so.1) could not be loaded; install libvulkan1");
    return GPB_ERROR_NOT_FOUND;
  }
  return GPB_OK;
}

bool gpb_vk_fault_fire(gpb_vk_fault *f, gpb_vk_site site) {
  atomic_fetch_add_explicit(&f->calls[site], 1, memory_order_relaxed);
  if (atomic_load_explicit(&f->armed_site, memory_order_relaxed) != (int)site) return false;
  if (atomic_fetch_sub(&f->countdown, 1) != 1) return false;
  atomic_store(&f->armed_site, -1);
  return true;
}

// Test hooks: a device handle that is not live is ignored (0 calls).
void gpb_vk_fault_arm(gpb_device *device, gpb_vk_site site, uint64_t nth, VkResult result) {
  gpb_be_device *d = gpb_backend_device_of(device, &gpb_vulkan_backend);
  if (!d) return;
  gpb_vk_fault *f = &d->fault;
  atomic_store(&f->armed_site, -1);
  f->result = result;
  atomic_store(&f->countdown, nth ? nth : 1);
  atomic_store(&f->armed_site, (int)site);
}

void gpb_vk_fault_disarm(gpb_device *device) {
  gpb_be_device *d = gpb_backend_device_of(device, &gpb_vulkan_backend);
  if (d) atomic_store(&d->fault.armed_site, -1);
}

uint64_t gpb_vk_fault_calls(gpb_device *device, gpb_vk_site site) {
  gpb_be_device *d = gpb_backend_device_of(device, &gpb_vulkan_backend);
  return d ? atomic_load(&d->fault.calls[site]) : 0;
}

const char *gpb_vk_site_name(gpb_vk_site site) {
  static const char *const names[] = {
#define GPB_VK_SITE_NAME(name) #name,
      GPB_VK_SITE_LIST(GPB_VK_SITE_NAME)
#undef GPB_VK_SITE_NAME
  };
  return site < GPB_VK_SITE_COUNT ? names[site] : "?";
}
