// kernel_stats: the driver's own statistics of compute kernels (registers a
// lane, shared memory, binary size: whatever the driver reports through
// VK_KHR_pipeline_executable_properties), one line per SPIR-V file:
//
//   gpubatch-kernel-stats [--device I] FILE.spv...
//
// A kernel's registers decide how many of its workgroups an SM holds, which
// the persistent plan's speed hangs on (bench/results/history.md), so
// kernel variants are compared by these lines as well as by their timings.
// Each file becomes a pipeline whose layout gpubatch's own reflection
// (gpb_spirv_reflect: the module validated, then its set-0 storage buffers
// and push constants read) gives, as gpb_kernel_create would. The device
// is made with two optional features where the device has them, float
// atomics on storage buffers (split-K kernels add their parts of one
// vector so) and packed 8-bit integer dot products (the quantized layers'
// --int-dot kernels); a kernel that needs another (the clock builds'
// ShaderClockKHR) is compiled without it (the validation layer says so).
#include "asan_pin.h"
#include "core/error.h" // GPB_MSG_MAX: gpb_spirv_reflect's message size
#include "spirv/spirv_reflect.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <volk.h>

static bool fail(const char *what, VkResult r) {
  fprintf(stderr, "kernel_stats: %s failed (VkResult %d)\n", what, (int)r);
  return false;
}

static uint32_t *read_file(const char *path, size_t *bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint32_t *code = NULL;
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (size > 0 && size % 4 == 0 && fseek(f, 0, SEEK_SET) == 0 && (code = malloc((size_t)size)) &&
      fread(code, 1, (size_t)size, f) != (size_t)size) {
    free(code);
    code = NULL;
  }
  fclose(f);
  *bytes = size > 0 ? (size_t)size : 0;
  return code;
}

static void print_stat(const VkPipelineExecutableStatisticKHR *s) {
  printf(" %s=", s->name);
  switch (s->format) {
  case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: printf("%u", s->value.b32); break;
  case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: printf("%lld", (long long)s->value.i64); break;
  case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: printf("%llu", (unsigned long long)s->value.u64); break;
  default: printf("%g", s->value.f64); break;
  }
}

// One file's line (its pipeline made, with the driver's statistics if
// `stats`); false, with a message, where it could not be made.
static bool stats_of(VkDevice dev, const char *path, bool stats) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t bytes;
  uint32_t *code = read_file(path, &bytes);
  if (!code) {
    fprintf(stderr, "kernel_stats: %s: not a readable SPIR-V file\n", path);
    return false;
  }
  gpb_kernel_info info;
  char why[GPB_MSG_MAX] = "";
  if (gpb_spirv_reflect(code, bytes / 4, "main", VK_API_VERSION_1_2, &info, why) != GPB_OK) {
    fprintf(stderr, "kernel_stats: %s: %s\n", path, why);
    free(code);
    return false;
  }
  VkDescriptorSetLayoutBinding bindings[GPB_MAX_BINDINGS];
  for (uint32_t i = 0; i < info.binding_count; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding){info.bindings[i].binding, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                                 VK_SHADER_STAGE_COMPUTE_BIT, NULL};
  VkShaderModule sm = VK_NULL_HANDLE;
  VkDescriptorSetLayout dsl = VK_NULL_HANDLE;
  VkPipelineLayout pl = VK_NULL_HANDLE;
  VkPipeline pipe = VK_NULL_HANDLE;
  VkResult r;
  bool ok = false;
  VkShaderModuleCreateInfo smi = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = bytes, .pCode = code};
  VkDescriptorSetLayoutCreateInfo dli = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                         .bindingCount = info.binding_count, .pBindings = bindings};
  VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, info.push_constant_bytes};
  if ((r = vkCreateShaderModule(dev, &smi, NULL, &sm)) != VK_SUCCESS) {
    fail("vkCreateShaderModule", r);
  } else if ((r = vkCreateDescriptorSetLayout(dev, &dli, NULL, &dsl)) != VK_SUCCESS) {
    fail("vkCreateDescriptorSetLayout", r);
  } else {
    VkPipelineLayoutCreateInfo pli = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                      .pSetLayouts = &dsl, .pushConstantRangeCount = info.push_constant_bytes ? 1 : 0,
                                      .pPushConstantRanges = &pcr};
    VkComputePipelineCreateInfo cpi = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                       .flags = stats ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0,
                                       .stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                 .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = sm, .pName = "main"}};
    if ((r = vkCreatePipelineLayout(dev, &pli, NULL, &pl)) != VK_SUCCESS) {
      fail("vkCreatePipelineLayout", r);
    } else if ((cpi.layout = pl, r = vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpi, NULL, &pipe)) !=
               VK_SUCCESS) {
      fail("vkCreateComputePipelines", r);
    } else if (!stats) {
      printf("%s: pipeline made\n", base);
      ok = true;
    } else {
      VkPipelineExecutableInfoKHR ei = {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, .pipeline = pipe};
      VkPipelineExecutableStatisticKHR st[64];
      uint32_t n = 64;
      for (uint32_t i = 0; i < n; i++)
        st[i] = (VkPipelineExecutableStatisticKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
      r = vkGetPipelineExecutableStatisticsKHR(dev, &ei, &n, st);
      if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        fail("vkGetPipelineExecutableStatisticsKHR", r);
      } else {
        printf("%s:", base);
        for (uint32_t i = 0; i < n; i++) print_stat(&st[i]);
        printf("\n");
        ok = true;
      }
    }
  }
  if (pipe) vkDestroyPipeline(dev, pipe, NULL);
  if (pl) vkDestroyPipelineLayout(dev, pl, NULL);
  if (dsl) vkDestroyDescriptorSetLayout(dev, dsl, NULL);
  if (sm) vkDestroyShaderModule(dev, sm, NULL);
  free(code);
  return ok;
}

int main(int argc, char **argv) {
  int first = 1;
  uint32_t index = 0;
  if (argc > 2 && strcmp(argv[1], "--device") == 0) {
    index = (uint32_t)strtoul(argv[2], NULL, 10);
    first = 3;
  }
  if (first >= argc) {
    fprintf(stderr, "usage: %s [--device I] FILE.spv...\n", argv[0]);
    return 2;
  }
  asan_pin_driver_libraries();
  VkResult r;
  if ((r = volkInitialize()) != VK_SUCCESS) return fail("loading the Vulkan loader (volkInitialize)", r), 1;
  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_2};
  VkInstanceCreateInfo ici = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
  VkInstance inst;
  if ((r = vkCreateInstance(&ici, NULL, &inst)) != VK_SUCCESS) return fail("vkCreateInstance", r), 1;
  volkLoadInstance(inst);
  VkPhysicalDevice pds[16];
  uint32_t n = 16;
  r = vkEnumeratePhysicalDevices(inst, &n, pds);
  if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || index >= n) {
    fprintf(stderr, "kernel_stats: no Vulkan device %u (%u found)\n", index, n);
    vkDestroyInstance(inst, NULL);
    return 1;
  }
  VkPhysicalDevice pd = pds[index];
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(pd, &props);
  bool atomic_float = false, int_dot = false;
  VkExtensionProperties exts[512];
  uint32_t ext_count = 512;
  r = vkEnumerateDeviceExtensionProperties(pd, NULL, &ext_count, exts);
  for (uint32_t i = 0; (r == VK_SUCCESS || r == VK_INCOMPLETE) && i < ext_count; i++) {
    atomic_float = atomic_float || strcmp(exts[i].extensionName, VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME) == 0;
    int_dot = int_dot || strcmp(exts[i].extensionName, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME) == 0;
  }
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT have_af = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT};
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR have_dot = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};
  // The queried chain holds each optional feature's structure where the
  // device has its extension (as the enabled one below).
  void *query = NULL;
  if (atomic_float) query = &have_af;
  if (int_dot) {
    have_dot.pNext = query;
    query = &have_dot;
  }
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR pe = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR, .pNext = query};
  VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &pe};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  atomic_float = atomic_float && have_af.shaderBufferFloat32AtomicAdd && have_af.shaderBufferFloat32Atomics;
  int_dot = int_dot && have_dot.shaderIntegerDotProduct;
  // Without the extension the pipelines are still made (each file's layout
  // checked), with no statistics to print.
  bool stats = pe.pipelineExecutableInfo;
  float prio = 1.0f;
  VkDeviceQueueCreateInfo qi = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueCount = 1, .pQueuePriorities = &prio};
  const char *ext[3];
  uint32_t ext_used = 0;
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT want_af = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT, .shaderBufferFloat32Atomics = VK_TRUE,
      .shaderBufferFloat32AtomicAdd = VK_TRUE};
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR want = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR, .pipelineExecutableInfo = VK_TRUE};
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR want_dot = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR, .shaderIntegerDotProduct = VK_TRUE};
  void *chain = NULL;
  if (atomic_float) {
    ext[ext_used++] = VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME;
    chain = &want_af;
  }
  if (int_dot) {
    ext[ext_used++] = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
    want_dot.pNext = chain;
    chain = &want_dot;
  }
  if (stats) {
    ext[ext_used++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
    want.pNext = chain;
    chain = &want;
  }
  VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .pNext = chain,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qi,
                            .enabledExtensionCount = ext_used,
                            .ppEnabledExtensionNames = ext};
  VkDevice dev;
  if ((r = vkCreateDevice(pd, &dci, NULL, &dev)) != VK_SUCCESS) {
    fail("vkCreateDevice", r);
    vkDestroyInstance(inst, NULL);
    return 1;
  }
  volkLoadDevice(dev);
  printf("# %s%s\n", props.deviceName, stats ? "" : " (no VK_KHR_pipeline_executable_properties: no statistics)");
  int failed = 0;
  for (int a = first; a < argc; a++) failed += !stats_of(dev, argv[a], stats);
  vkDestroyDevice(dev, NULL);
  vkDestroyInstance(inst, NULL);
  return failed ? 1 : 0;
}
