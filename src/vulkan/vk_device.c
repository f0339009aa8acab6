// Vulkan instances and devices: enumeration, opening, validation messages.
#include <stdlib.h>
#include <string.h>

#include "vulkan/vk_internal.h"

#define MAX_DEVICES 16
#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

// ---- instance ---------------------------------------------------------------

static bool has_instance_layer(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
  VkLayerProperties *props = calloc(n, sizeof *props);
  bool found = false;
  if (props && vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS) {
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].layerName, name) == 0;
  }
  free(props);
  return found;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                       VkDebugUtilsMessageTypeFlagsEXT types,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  gpb_be_device *d = user;
  int level = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? 2 : 1;
  atomic_fetch_add(&d->validation_messages, 1);
  if (d->on_message) d->on_message(d->on_message_user, level, data && data->pMessage ? data->pMessage : "");
  return VK_FALSE;
}

// volk keeps instance-level functions in globals. With the loader these are
// its trampolines, valid for every instance, so they are loaded once, from
// the first instance, and never rewritten while other threads call them.
// Extension functions are looked up per instance instead (create_instance).
static pthread_mutex_t instance_functions_lock = PTHREAD_MUTEX_INITIALIZER;
static bool instance_functions_loaded;

static void load_instance_functions(VkInstance instance) {
  pthread_mutex_lock(&instance_functions_lock);
  if (!instance_functions_loaded) volkLoadInstanceOnly(instance);
  instance_functions_loaded = true;
  pthread_mutex_unlock(&instance_functions_lock);
}

// Warnings and errors of every type, counted on `d` (on_debug_message).
static VkDebugUtilsMessengerCreateInfoEXT messenger_info(gpb_be_device *d) {
  return (VkDebugUtilsMessengerCreateInfoEXT){.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
                                              .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                                                 VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
                                              .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                                                             VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                                             VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
                                              .pfnUserCallback = on_debug_message,
                                              .pUserData = d};
}

// `d` receives the messages of vkCreateInstance itself (validation only).
static gpb_status create_instance(bool validation, gpb_be_device *d, VkInstance *out, char *err) {
  gpb_status st = gpb_vk_load(err);
  if (st != GPB_OK) return st;
  if (vkEnumerateInstanceVersion) {
    uint32_t version = 0;
    vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_2) {
      gpb_format(err, GPB_MSG_MAX, "the Vulkan loader supports %u.%u; gpubatch needs 1.2",
                 VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
      return GPB_ERROR_UNSUPPORTED;
    }
  }
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "gpubatch",
                           .pEngineName = "gpubatch",
                           .apiVersion = VK_API_VERSION_1_2};
  const char *layers[1] = {VALIDATION_LAYER};
  const char *exts[2] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
  VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                      .enabledValidationFeatureCount = 1,
                                      .pEnabledValidationFeatures = enables};
  VkDebugUtilsMessengerCreateInfoEXT messenger = messenger_info(d);
  VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
  if (validation) {
    if (!has_instance_layer(VALIDATION_LAYER)) {
      gpb_format(err, GPB_MSG_MAX, "validation asked for, but %s is not installed (vulkan-validationlayers)",
                 VALIDATION_LAYER);
      return GPB_ERROR_UNSUPPORTED;
    }
    features.pNext = &messenger; // messages during vkCreateInstance are caught too
    info.pNext = &features;
    info.enabledLayerCount = 1;
    info.ppEnabledLayerNames = layers;
    info.enabledExtensionCount = 2;
    info.ppEnabledExtensionNames = exts;
  }
  VkResult r = vkCreateInstance(&info, NULL, out);
  if (r != VK_SUCCESS) {
    *out = VK_NULL_HANDLE;
    return gpb_vk_status(r, "vkCreateInstance", err);
  }
  load_instance_functions(*out);
  return GPB_OK;
}

// The device's own messenger on a validation instance: messages about its
// objects are counted on it (and any other device's on the same instance).
static gpb_status create_messenger(VkInstance instance, gpb_be_device *d, char *err) {
  VkDebugUtilsMessengerCreateInfoEXT messenger = messenger_info(d);
  PFN_vkCreateDebugUtilsMessengerEXT create =
      (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT");
  d->destroy_messenger =
      (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT");
  VkResult r = create ? create(instance, &messenger, NULL, &d->messenger) : VK_ERROR_EXTENSION_NOT_PRESENT;
  if (r != VK_SUCCESS) {
    d->messenger = VK_NULL_HANDLE;
    return gpb_vk_status(r, "vkCreateDebugUtilsMessengerEXT", err);
  }
  return GPB_OK;
}

// One VkInstance per process and validation setting, created on first use
// and kept until the process exits; devices and the enumeration share it.
// Reason: with the NVIDIA driver 580.159.04 the 29th vkCreateInstance of a
// process fails (VK_ERROR_INCOMPATIBLE_DRIVER; the loader cannot get the
// driver's vkCreateInstance any more), even when every earlier instance was
// destroyed, so a program that opens and closes devices would stop opening
// them. A failed creation is not kept: the next open tries again.
static pthread_mutex_t shared_instances_lock = PTHREAD_MUTEX_INITIALIZER;
static VkInstance shared_instances[2]; // [validation]
static uint32_t instances_created;     // for tests (vk_fault.h)

uint32_t gpb_vk_instances_created(void) {
  pthread_mutex_lock(&shared_instances_lock);
  uint32_t n = instances_created;
  pthread_mutex_unlock(&shared_instances_lock);
  return n;
}

static gpb_status acquire_instance(bool validation, gpb_be_device *d, VkInstance *out, char *err) {
  pthread_mutex_lock(&shared_instances_lock);
  gpb_status st = GPB_OK;
  if (!shared_instances[validation]) {
    st = create_instance(validation, d, &shared_instances[validation], err);
    if (st == GPB_OK) instances_created++;
  }
  *out = shared_instances[validation];
  // Messengers are made and destroyed under the lock too: the validation
  // layer keeps them in the shared instance.
  if (st == GPB_OK && validation) st = create_messenger(*out, d, err);
  pthread_mutex_unlock(&shared_instances_lock);
  return st;
}

// ---- enumeration (once per process) -----------------------------------------

static pthread_once_t enum_once = PTHREAD_ONCE_INIT;
static gpb_status enum_status;
static char enum_error[GPB_MSG_MAX];
static uint32_t enum_count;
static gpb_device_info enum_infos[MAX_DEVICES];

static bool has_device_extension(VkPhysicalDevice pd, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS) return false;
  VkExtensionProperties *props = calloc(n ? n : 1, sizeof *props);
  bool found = false;
  if (props && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, props) == VK_SUCCESS) {
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, name) == 0;
  }
  free(props);
  return found;
}

// Picks the queue family for compute; UINT32_MAX if none.
static uint32_t compute_family(VkPhysicalDevice pd, uint32_t *out_queue_count) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
  VkQueueFamilyProperties props[16];
  if (n > 16) n = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, props);
  for (uint32_t i = 0; i < n; i++) {
    if ((props[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && props[i].queueCount > 0) {
      *out_queue_count = props[i].queueCount;
      return i;
    }
  }
  return UINT32_MAX;
}

static void describe(VkPhysicalDevice pd, uint32_t index, gpb_device_info *info) {
  VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceProperties2 props2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &driver};
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(pd, &props);
  bool v12 = props.apiVersion >= VK_API_VERSION_1_2;
  if (v12) vkGetPhysicalDeviceProperties2(pd, &props2);
  memset(info, 0, sizeof *info);
  info->index = index;
  gpb_format(info->name, sizeof info->name, "%s", props.deviceName);
  switch (props.deviceType) {
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info->type = GPB_DEVICE_INTEGRATED_GPU; break;
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info->type = GPB_DEVICE_DISCRETE_GPU; break;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info->type = GPB_DEVICE_VIRTUAL_GPU; break;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: info->type = GPB_DEVICE_CPU; break;
  default: info->type = GPB_DEVICE_OTHER; break;
  }
  info->vendor_id = props.vendorID;
  info->device_id = props.deviceID;
  info->api_version = props.apiVersion;
  info->kernel_api_version = VK_API_VERSION_1_2; // the instance's apiVersion (acquire_instance)
  info->driver_version = props.driverVersion;
  if (v12) {
    gpb_format(info->driver_name, sizeof info->driver_name, "%s", driver.driverName);
    gpb_format(info->driver_info, sizeof info->driver_info, "%s", driver.driverInfo);
  }
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  info->heap_count = mem.memoryHeapCount < GPB_MAX_HEAPS ? mem.memoryHeapCount : GPB_MAX_HEAPS;
  for (uint32_t i = 0; i < info->heap_count; i++) {
    info->heaps[i].size = mem.memoryHeaps[i].size;
    info->heaps[i].device_local = (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
  }
  const VkPhysicalDeviceLimits *lim = &props.limits;
  for (int i = 0; i < 3; i++) {
    info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
    info->max_workgroup_size[i] = lim->maxComputeWorkGroupSize[i];
  }
  info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
  info->max_push_constant_bytes = lim->maxPushConstantsSize;
  info->max_shared_memory_bytes = lim->maxComputeSharedMemorySize;
  info->max_storage_buffer_range = lim->maxStorageBufferRange;
  info->min_storage_buffer_offset_alignment = lim->minStorageBufferOffsetAlignment;
  info->timestamp_period_ns = lim->timestampPeriod;
  if (v12 && has_device_extension(pd, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sm};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    info->compute_units = sm.shaderSMCount;
  }
  if (v12) {
    VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &subgroup};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    info->subgroup_size = subgroup.subgroupSize;
  }
  if (v12 && has_device_extension(pd, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR dot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &dot};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    VkPhysicalDeviceShaderIntegerDotProductPropertiesKHR fast = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES_KHR};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &fast};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    info->integer_dot_product = dot.shaderIntegerDotProduct;
    info->integer_dot_product_accelerated =
        dot.shaderIntegerDotProduct && fast.integerDotProduct4x8BitPackedSignedAccelerated;
  }

  // What gpubatch needs from it.
  uint32_t queues = 0;
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
  if (v12) vkGetPhysicalDeviceFeatures2(pd, &f2);
  info->usable = false;
  if (!v12)
    gpb_format(info->unusable_reason, sizeof info->unusable_reason, "Vulkan 1.2 not supported");
  else if (compute_family(pd, &queues) == UINT32_MAX)
    gpb_format(info->unusable_reason, sizeof info->unusable_reason, "no compute queue");
  else if (!f12.timelineSemaphore)
    gpb_format(info->unusable_reason, sizeof info->unusable_reason, "no timeline semaphores");
  else if (!has_device_extension(pd, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME))
    gpb_format(info->unusable_reason, sizeof info->unusable_reason, "no VK_KHR_push_descriptor");
  else
    info->usable = true;
}

// Whether the device can read its timestamp clock together with the host's
// CLOCK_MONOTONIC (VK_EXT_calibrated_timestamps).
static bool has_monotonic_calibration(VkPhysicalDevice pd) {
  if (!has_device_extension(pd, VK_EXT_CALIBRATED_TIMESTAMPS_EXTENSION_NAME) ||
      !vkGetPhysicalDeviceCalibrateableTimeDomainsEXT)
    return false;
  VkTimeDomainEXT domains[8];
  uint32_t n = 8;
  VkResult r = vkGetPhysicalDeviceCalibrateableTimeDomainsEXT(pd, &n, domains);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return false;
  bool device = false, monotonic = false;
  for (uint32_t i = 0; i < n; i++) {
    device = device || domains[i] == VK_TIME_DOMAIN_DEVICE_EXT;
    monotonic = monotonic || domains[i] == VK_TIME_DOMAIN_CLOCK_MONOTONIC_EXT;
  }
  return device && monotonic;
}

static void enumerate_once(void) {
  gpb_be_device scratch = {0};
  VkInstance instance;
  enum_status = acquire_instance(false, &scratch, &instance, enum_error);
  if (enum_status != GPB_OK) return;
  VkPhysicalDevice pds[MAX_DEVICES];
  uint32_t n = MAX_DEVICES;
  VkResult r = vkEnumeratePhysicalDevices(instance, &n, pds);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    enum_status = gpb_vk_status(r, "vkEnumeratePhysicalDevices", enum_error);
  } else {
    enum_count = n;
    for (uint32_t i = 0; i < n; i++) describe(pds[i], i, &enum_infos[i]);
  }
}

static gpb_status vk_device_count(uint32_t *out, char *err) {
  pthread_once(&enum_once, enumerate_once);
  if (enum_status != GPB_OK) {
    // No loader or no driver: zero devices, not an error, for listing.
    if (enum_status == GPB_ERROR_NOT_FOUND || enum_status == GPB_ERROR_UNSUPPORTED) {
      *out = 0;
      return GPB_OK;
    }
    gpb_format(err, GPB_MSG_MAX, "%s", enum_error);
    return enum_status;
  }
  *out = enum_count;
  return GPB_OK;
}

static gpb_status vk_device_info(uint32_t index, gpb_device_info *out, char *err) {
  uint32_t n = 0;
  gpb_status st = vk_device_count(&n, err);
  if (st != GPB_OK) return st;
  if (index >= n) {
    gpb_format(err, GPB_MSG_MAX, "no such device (%u found)%s%s", n, n ? "" : ": ", n ? "" : enum_error);
    return GPB_ERROR_NOT_FOUND;
  }
  *out = enum_infos[index];
  return GPB_OK;
}

// ---- open / close -------------------------------------------------------------

static void vk_device_close(gpb_be_device *d) {
  if (!d) return;
  if (d->device) {
    if (d->pipeline_cache) d->vk.vkDestroyPipelineCache(d->device, d->pipeline_cache, NULL);
    d->vk.vkDestroyDevice(d->device, NULL);
  }
  for (uint32_t i = 0; i < d->queue_count; i++) pthread_mutex_destroy(&d->queue_locks[i]);
  if (d->messenger && d->destroy_messenger) {
    pthread_mutex_lock(&shared_instances_lock);
    d->destroy_messenger(d->instance, d->messenger, NULL);
    pthread_mutex_unlock(&shared_instances_lock);
  }
  free(d); // the instance stays (acquire_instance)
}

// Appends Vulkan structure `next` (sType and pNext first) to the chain
// whose last structure is *tail, and makes it the last.
static void chain_append(VkBaseOutStructure **tail, void *next) {
  (*tail)->pNext = next;
  *tail = next;
}

static gpb_status open_device(gpb_be_device *d, uint32_t index, gpb_device_info *info, char *err) {
  VkPhysicalDevice pds[MAX_DEVICES];
  uint32_t n = MAX_DEVICES;
  VkResult r = vkEnumeratePhysicalDevices(d->instance, &n, pds);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return gpb_vk_status(r, "vkEnumeratePhysicalDevices", err);
  if (index >= n) {
    gpb_format(err, GPB_MSG_MAX, "no such device (%u found)", n);
    return GPB_ERROR_NOT_FOUND;
  }
  d->physical = pds[index];
  describe(d->physical, index, info);
  d->api_version = info->kernel_api_version;
  if (!info->usable) {
    gpb_format(err, GPB_MSG_MAX, "'%s' cannot run gpubatch: %s", info->name, info->unusable_reason);
    return GPB_ERROR_UNSUPPORTED;
  }
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(d->physical, &props);
  VkPhysicalDevicePushDescriptorPropertiesKHR push = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PUSH_DESCRIPTOR_PROPERTIES_KHR};
  VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
                                               .pNext = &push};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
  vkGetPhysicalDeviceProperties2(d->physical, &p2);
  d->max_push_descriptors = push.maxPushDescriptors;
  d->max_allocation = m3.maxMemoryAllocationSize;
  vkGetPhysicalDeviceMemoryProperties(d->physical, &d->memory);

  uint32_t family_queues = 0;
  d->queue_family = compute_family(d->physical, &family_queues);
  VkQueueFamilyProperties families[16];
  uint32_t family_count = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(d->physical, &family_count, families);
  d->timestamp_valid_bits = d->queue_family < family_count ? families[d->queue_family].timestampValidBits : 0;
  d->timestamp_period_ns = props.limits.timestampPeriod;
  d->queue_count = family_queues < GPB_VK_MAX_QUEUES ? family_queues : GPB_VK_MAX_QUEUES;
  float priorities[GPB_VK_MAX_QUEUES] = {1, 1, 1, 1, 1, 1, 1, 1};
  VkDeviceQueueCreateInfo qinfo = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = d->queue_family,
                                   .queueCount = d->queue_count,
                                   .pQueuePriorities = priorities};
  // Enable the shader features kernels commonly need, where the device has
  // them (enabling a supported feature costs nothing; a kernel that uses one
  // not enabled is invalid).
  // Shader clocks (VK_KHR_shader_clock): for kernels that time their own
  // phases (a persistent kernel has no dispatch boundaries to trace).
  bool clock_ext = has_device_extension(d->physical, VK_KHR_SHADER_CLOCK_EXTENSION_NAME);
  // Float atomics on storage buffers (VK_EXT_shader_atomic_float): adds,
  // for kernels whose workgroups add their parts of one vector (split-K),
  // and exchanges, to set such a vector without leaving it in a cache.
  bool atomic_float_ext = has_device_extension(d->physical, VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME);
  // Integer dot products of packed 8-bit vectors
  // (VK_KHR_shader_integer_dot_product): for kernels that multiply
  // quantized weights by a vector staged as small integers, four products
  // and their sum an instruction where the device has one. describe()
  // asked for the extension and its feature.
  bool int_dot = info->integer_dot_product;
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT have_atomic_float = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT};
  VkPhysicalDeviceShaderClockFeaturesKHR have_clock = {.sType =
                                                           VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR};
  VkPhysicalDeviceVulkan12Features have12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  // Each extension's structure joins the chains (queried, then enabled)
  // only where the device has the extension.
  VkBaseOutStructure *have_tail = (VkBaseOutStructure *)&have12;
  if (clock_ext) chain_append(&have_tail, &have_clock);
  if (atomic_float_ext) chain_append(&have_tail, &have_atomic_float);
  VkPhysicalDeviceVulkan11Features have11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                             .pNext = &have12};
  VkPhysicalDeviceFeatures2 have = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &have11};
  vkGetPhysicalDeviceFeatures2(d->physical, &have);
  bool float_add = atomic_float_ext && have_atomic_float.shaderBufferFloat32AtomicAdd;
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT atomic_float = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT,
      .shaderBufferFloat32Atomics = float_add && have_atomic_float.shaderBufferFloat32Atomics,
      .shaderBufferFloat32AtomicAdd = float_add};
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR enable_int_dot = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR,
      .shaderIntegerDotProduct = int_dot};
  VkPhysicalDeviceShaderClockFeaturesKHR clock = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR,
                                                  .shaderSubgroupClock = have_clock.shaderSubgroupClock,
                                                  .shaderDeviceClock = have_clock.shaderDeviceClock};
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                          .timelineSemaphore = VK_TRUE,
                                          .shaderFloat16 = have12.shaderFloat16,
                                          .shaderInt8 = have12.shaderInt8,
                                          .storageBuffer8BitAccess = have12.storageBuffer8BitAccess};
  VkBaseOutStructure *enable_tail = (VkBaseOutStructure *)&f12;
  if (clock_ext) chain_append(&enable_tail, &clock);
  if (float_add) chain_append(&enable_tail, &atomic_float);
  if (int_dot) chain_append(&enable_tail, &enable_int_dot);
  VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                          .pNext = &f12,
                                          .storageBuffer16BitAccess = have11.storageBuffer16BitAccess};
  VkPhysicalDeviceFeatures2 features = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
  features.features.shaderInt64 = have.features.shaderInt64;
  features.features.shaderFloat64 = have.features.shaderFloat64;
  features.features.shaderInt16 = have.features.shaderInt16;
  d->enabled = features;
  d->enabled11 = f11;
  d->enabled12 = f12;
  d->enabled_clock = clock;
  d->enabled_atomic_float = atomic_float;
  d->enabled.pNext = d->enabled11.pNext = d->enabled12.pNext = d->enabled_clock.pNext = NULL;
  d->enabled_atomic_float.pNext = NULL;
  d->enabled_int_dot = int_dot;
  VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &subgroup};
  vkGetPhysicalDeviceProperties2(d->physical, &props2);
  d->subgroup_ops = subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT ? subgroup.supportedOperations : 0;
  const char *exts[5] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
  uint32_t ext_count = 1;
  if (clock_ext) exts[ext_count++] = VK_KHR_SHADER_CLOCK_EXTENSION_NAME;
  if (float_add) exts[ext_count++] = VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME;
  if (int_dot) exts[ext_count++] = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
  // Trace files place GPU spans on the host clock through calibrated
  // timestamps where the device has them (core/trace.h).
  d->calibrated_timestamps = d->timestamp_valid_bits > 0 && has_monotonic_calibration(d->physical);
  if (d->calibrated_timestamps) exts[ext_count++] = VK_EXT_CALIBRATED_TIMESTAMPS_EXTENSION_NAME;
  VkDeviceCreateInfo dinfo = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &features,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qinfo,
                              .enabledExtensionCount = ext_count,
                              .ppEnabledExtensionNames = exts};
  r = vkCreateDevice(d->physical, &dinfo, NULL, &d->device);
  if (r != VK_SUCCESS) return gpb_vk_status(r, "vkCreateDevice", err);
  volkLoadDeviceTable(&d->vk, d->device);
  for (uint32_t i = 0; i < d->queue_count; i++) {
    d->vk.vkGetDeviceQueue(d->device, d->queue_family, i, &d->queues[i]);
    pthread_mutex_init(&d->queue_locks[i], NULL);
  }
  // Spin before blocking on GPUs; never on CPU devices (lavapipe needs the
  // cores the spin would take). The device's options (or GPB_WAIT_SPIN_US,
  // which the core puts there) override this (vk_device_open).
  d->wait_spin_ns = info->type == GPB_DEVICE_CPU ? 0 : 1000 * 1000;
  VkPipelineCacheCreateInfo cinfo = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  r = d->vk.vkCreatePipelineCache(d->device, &cinfo, NULL, &d->pipeline_cache);
  if (r != VK_SUCCESS) return gpb_vk_status(r, "vkCreatePipelineCache", err);
  return GPB_OK;
}

static gpb_status vk_device_open(uint32_t index, const gpb_device_options *options, gpb_be_device **out,
                                 gpb_device_info *info, uint32_t *out_queue_count, char *err) {
  gpb_be_device *d = calloc(1, sizeof *d);
  if (!d) {
    gpb_format(err, GPB_MSG_MAX, "out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  atomic_store(&d->fault.armed_site, -1);
  d->on_message = options->on_message;
  d->on_message_user = options->on_message_user;
  gpb_status st = acquire_instance(options->validation, d, &d->instance, err);
  if (st == GPB_OK) st = open_device(d, index, info, err);
  if (st != GPB_OK) {
    vk_device_close(d);
    return st;
  }
  if (options->wait_spin_us)
    d->wait_spin_ns = options->wait_spin_us == UINT32_MAX ? 0 : (uint64_t)options->wait_spin_us * 1000;
  *out = d;
  *out_queue_count = d->queue_count;
  return GPB_OK;
}

// vkDeviceWaitIdle needs every queue of the device externally synchronized:
// hold all queue locks (always taken in index order) around it.
static gpb_status vk_device_wait_idle(gpb_be_device *d, char *err) {
  for (uint32_t i = 0; i < d->queue_count; i++) pthread_mutex_lock(&d->queue_locks[i]);
  VkResult r = VK_CALL(d, GPB_VK_DEVICE_WAIT_IDLE, d->vk.vkDeviceWaitIdle(d->device));
  for (uint32_t i = d->queue_count; i-- > 0;) pthread_mutex_unlock(&d->queue_locks[i]);
  return gpb_vk_status(r, "vkDeviceWaitIdle", err);
}

static uint64_t vk_diagnostics_count(const gpb_be_device *d) {
  return atomic_load(&((gpb_be_device *)d)->validation_messages);
}

const gpb_backend gpb_vulkan_backend = {
    .name = "vulkan",
    .label = "Vulkan",
    .no_device_hint = "install a driver, e.g. mesa-vulkan-drivers for lavapipe",
    .device_count = vk_device_count,
    .device_info = vk_device_info,
    .device_open = vk_device_open,
    .device_close = vk_device_close,
    .device_wait_idle = vk_device_wait_idle,
    .diagnostics_count = vk_diagnostics_count,
    .buffer_create = gpb_vk_buffer_create,
    .buffer_destroy = gpb_vk_buffer_destroy,
    .kernel_reflect = gpb_vk_kernel_reflect,
    .pipeline_create = gpb_vk_pipeline_create,
    .pipeline_destroy = gpb_vk_pipeline_destroy,
    .timeline_create = gpb_vk_timeline_create,
    .timeline_destroy = gpb_vk_timeline_destroy,
    .timeline_completed = gpb_vk_timeline_completed,
    .timeline_wait = gpb_vk_timeline_wait,
    .batch_create = gpb_vk_batch_create,
    .batch_destroy = gpb_vk_batch_destroy,
    .batch_begin = gpb_vk_batch_begin,
    .cmd_dispatch = gpb_vk_cmd_dispatch,
    .cmd_copy = gpb_vk_cmd_copy,
    .cmd_update = gpb_vk_cmd_update,
    .cmd_barrier = gpb_vk_cmd_barrier,
    .program_begin = gpb_vk_program_begin,
    .program_end = gpb_vk_program_end,
    .cmd_execute = gpb_vk_cmd_execute,
    .batch_timestamps_begin = gpb_vk_batch_timestamps_begin,
    .cmd_timestamp = gpb_vk_cmd_timestamp,
    .batch_timestamps_read = gpb_vk_batch_timestamps_read,
    .timestamp_calibrate = gpb_vk_timestamp_calibrate,
    .batch_submit = gpb_vk_batch_submit,
};
