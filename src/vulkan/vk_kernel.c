// Vulkan compute pipelines with push-descriptor set layouts.
#include <stdlib.h>

#include "spirv/spirv_reflect.h"
#include "vulkan/vk_internal.h"

void gpb_vk_pipeline_destroy(gpb_be_device *d, gpb_be_pipeline *p) {
  if (!p) return;
  if (p->pipeline) d->vk.vkDestroyPipeline(d->device, p->pipeline, NULL);
  if (p->layout) d->vk.vkDestroyPipelineLayout(d->device, p->layout, NULL);
  if (p->set_layout) d->vk.vkDestroyDescriptorSetLayout(d->device, p->set_layout, NULL);
  if (p->module) d->vk.vkDestroyShaderModule(d->device, p->module, NULL);
  free(p);
}

// SPIR-V capabilities with what lets a kernel on this device declare them.
enum {
  NEVER,
  ALWAYS,
  FEATURE_INT64,
  FEATURE_FLOAT64,
  FEATURE_INT16,
  FEATURE_FLOAT16,
  FEATURE_INT8,
  FEATURE_16BIT_STORAGE,
  FEATURE_8BIT_STORAGE,
  FEATURE_SHADER_CLOCK,
  FEATURE_ATOMIC_FLOAT32_ADD,
  FEATURE_INT_DOT,
  SUBGROUP
};
static const struct {
  uint32_t capability;
  const char *name;
  int needs;
  VkSubgroupFeatureFlags subgroup;
} k_capabilities[] = {
    {0, "Matrix", ALWAYS, 0},
    {1, "Shader", ALWAYS, 0},
    {9, "Float16", FEATURE_FLOAT16, 0},
    {10, "Float64", FEATURE_FLOAT64, 0},
    {11, "Int64", FEATURE_INT64, 0},
    {12, "Int64Atomics", NEVER, 0},
    {22, "Int16", FEATURE_INT16, 0},
    {39, "Int8", FEATURE_INT8, 0},
    {61, "GroupNonUniform", SUBGROUP, VK_SUBGROUP_FEATURE_BASIC_BIT},
    {62, "GroupNonUniformVote", SUBGROUP, VK_SUBGROUP_FEATURE_VOTE_BIT},
    {63, "GroupNonUniformArithmetic", SUBGROUP, VK_SUBGROUP_FEATURE_ARITHMETIC_BIT},
    {64, "GroupNonUniformBallot", SUBGROUP, VK_SUBGROUP_FEATURE_BALLOT_BIT},
    {65, "GroupNonUniformShuffle", SUBGROUP, VK_SUBGROUP_FEATURE_SHUFFLE_BIT},
    {66, "GroupNonUniformShuffleRelative", SUBGROUP, VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT},
    {67, "GroupNonUniformClustered", SUBGROUP, VK_SUBGROUP_FEATURE_CLUSTERED_BIT},
    {68, "GroupNonUniformQuad", SUBGROUP, VK_SUBGROUP_FEATURE_QUAD_BIT},
    {4433, "StorageBuffer16BitAccess", FEATURE_16BIT_STORAGE, 0},
    {4448, "StorageBuffer8BitAccess", FEATURE_8BIT_STORAGE, 0},
    // Either clock's feature (the validation layer checks each read's scope
    // against its own).
    {5055, "ShaderClockKHR", FEATURE_SHADER_CLOCK, 0},
    {6033, "AtomicFloat32AddEXT", FEATURE_ATOMIC_FLOAT32_ADD, 0},
    // SPV_KHR_integer_dot_product: dot products of 4-component vectors of
    // 8-bit integers packed in 32-bit words (and of int8 vectors where
    // Int8 is enabled too).
    {6016, "DotProductInputAll", FEATURE_INT_DOT, 0},
    {6017, "DotProductInput4x8Bit", FEATURE_INT_DOT, 0},
    {6018, "DotProductInput4x8BitPacked", FEATURE_INT_DOT, 0},
    {6019, "DotProduct", FEATURE_INT_DOT, 0},
    // Refused by name: the features they need are not enabled.
    {4441, "VariablePointersStorageBuffer", NEVER, 0},
    {4442, "VariablePointers", NEVER, 0},
    {5301, "ShaderNonUniform", NEVER, 0},
    {5302, "RuntimeDescriptorArray", NEVER, 0},
    {5345, "VulkanMemoryModel", NEVER, 0},
    {5347, "PhysicalStorageBufferAddresses", NEVER, 0},
};

static bool capability_enabled(const gpb_be_device *d, int needs, VkSubgroupFeatureFlags subgroup) {
  switch (needs) {
  case ALWAYS: return true;
  case FEATURE_INT64: return d->enabled.features.shaderInt64;
  case FEATURE_FLOAT64: return d->enabled.features.shaderFloat64;
  case FEATURE_INT16: return d->enabled.features.shaderInt16;
  case FEATURE_FLOAT16: return d->enabled12.shaderFloat16;
  case FEATURE_INT8: return d->enabled12.shaderInt8;
  case FEATURE_16BIT_STORAGE: return d->enabled11.storageBuffer16BitAccess;
  case FEATURE_8BIT_STORAGE: return d->enabled12.storageBuffer8BitAccess;
  case FEATURE_SHADER_CLOCK: return d->enabled_clock.shaderSubgroupClock || d->enabled_clock.shaderDeviceClock;
  case FEATURE_ATOMIC_FLOAT32_ADD: return d->enabled_atomic_float.shaderBufferFloat32AtomicAdd;
  case FEATURE_INT_DOT: return d->enabled_int_dot;
  case SUBGROUP: return (d->subgroup_ops & subgroup) == subgroup;
  default: return false;
  }
}

// Every capability the module declares must be one the device was created
// with: a driver runs a kernel that uses a feature nobody enabled (a buffer
// device address dispatched that way killed the process), so such a kernel
// is refused here, by the capability's name. Capabilities not in the table
// are refused too. The (validated) module declares them first.
static gpb_status check_capabilities(const gpb_be_device *d, const uint32_t *w, size_t n, char *err) {
  enum { OP_CAPABILITY = 17, OP_FUNCTION = 54 };
  for (size_t i = 5; i < n;) {
    uint32_t op = w[i] & 0xffff, count = w[i] >> 16;
    if (count == 0 || i + count > n || op == OP_FUNCTION) break;
    if (op == OP_CAPABILITY && count >= 2) {
      uint32_t cap = w[i + 1];
      const char *name = NULL;
      bool ok = false;
      for (size_t k = 0; k < sizeof k_capabilities / sizeof k_capabilities[0]; k++) {
        if (k_capabilities[k].capability != cap) continue;
        name = k_capabilities[k].name;
        ok = capability_enabled(d, k_capabilities[k].needs, k_capabilities[k].subgroup);
      }
      if (!ok) {
        if (name)
          gpb_format(err, GPB_MSG_MAX, "declares SPIR-V capability %s, which this device was not created with", name);
        else
          gpb_format(err, GPB_MSG_MAX, "declares SPIR-V capability %u, which gpubatch does not enable", cap);
        return GPB_ERROR_UNSUPPORTED;
      }
    }
    i += count;
  }
  return GPB_OK;
}

// The declaration (before the first function) of type `id` (kind 't':
// OpTypeVoid..OpTypeForwardPointer, result in word 1) or of composite
// constant `id` (kind 'c': OpConstantComposite, OpSpecConstantComposite,
// result in word 2); its index, or 0.
static size_t find_declaration(const uint32_t *w, size_t n, uint32_t id, char kind) {
  enum { OP_TYPE_FIRST = 19, OP_TYPE_LAST = 39, OP_CONSTANT_COMPOSITE = 44, OP_SPEC_CONSTANT_COMPOSITE = 51 };
  enum { OP_FUNCTION = 54 };
  for (size_t i = 5; i < n;) {
    uint32_t op = w[i] & 0xffff, count = w[i] >> 16;
    if (count == 0 || i + count > n || op == OP_FUNCTION) break;
    if (kind == 't' && op >= OP_TYPE_FIRST && op <= OP_TYPE_LAST && count >= 2 && w[i + 1] == id) return i;
    if (kind == 'c' && (op == OP_CONSTANT_COMPOSITE || op == OP_SPEC_CONSTANT_COMPOSITE) && count >= 3 &&
        w[i + 2] == id)
      return i;
    i += count;
  }
  return 0;
}

// A WorkgroupSize built-in made of signed integers is valid SPIR-V for
// Vulkan, but Mesa's spirv_to_nir (lavapipe, 22.3) fails on it at pipeline
// creation with a driver error message. glslc emits unsigned ones, so
// gpubatch admits only those, on every device, rather than let one driver's
// failure decide.
static gpb_status check_workgroup_size_type(const uint32_t *w, size_t n, char *err) {
  enum { OP_DECORATE = 71, DECORATION_BUILTIN = 11, BUILTIN_WORKGROUP_SIZE = 25, OP_FUNCTION = 54 };
  enum { OP_TYPE_INT = 21, OP_TYPE_VECTOR = 23 };
  for (size_t i = 5; i < n;) {
    uint32_t op = w[i] & 0xffff, count = w[i] >> 16;
    if (count == 0 || i + count > n || op == OP_FUNCTION) break;
    if (op == OP_DECORATE && count >= 4 && w[i + 2] == DECORATION_BUILTIN && w[i + 3] == BUILTIN_WORKGROUP_SIZE) {
      size_t c = find_declaration(w, n, w[i + 1], 'c');
      size_t v = c ? find_declaration(w, n, w[c + 1], 't') : 0;
      if (v && (w[v] & 0xffff) == OP_TYPE_VECTOR && (w[v] >> 16) >= 3) {
        size_t t = find_declaration(w, n, w[v + 2], 't');
        if (t && (w[t] & 0xffff) == OP_TYPE_INT && (w[t] >> 16) >= 4 && w[t + 3] != 0) {
          gpb_format(err, GPB_MSG_MAX,
                     "declares its WorkgroupSize built-in as signed integers; gpubatch admits unsigned ones only "
                     "(what glslc emits; Mesa's lavapipe cannot compile signed ones)");
          return GPB_ERROR_UNSUPPORTED;
        }
      }
    }
    i += count;
  }
  return GPB_OK;
}

// Memory semantics are a bit mask of which SPIR-V defines bits 1-4 and 6-15
// (acquire/release orderings, storage classes, availability, volatile);
// SPIRV-Tools accepts others, and Mesa's spirv_to_nir warns through the
// debug messenger that it ignores them. A kernel naming undefined bits means
// something nobody implements, so it is refused. The semantics operand of
// barriers and atomics is the id of a (spec) constant.
static gpb_status check_memory_semantics(const uint32_t *w, size_t n, char *err) {
  enum { OP_CONSTANT = 43, OP_SPEC_CONSTANT = 50, OP_CONTROL_BARRIER = 224, OP_MEMORY_BARRIER = 225 };
  enum { OP_ATOMIC_LOAD = 227, OP_ATOMIC_STORE = 228, OP_ATOMIC_COMPARE_EXCHANGE_WEAK = 231, OP_ATOMIC_XOR = 242 };
  enum { OP_ATOMIC_FLAG_TEST_AND_SET = 318, OP_ATOMIC_FLAG_CLEAR = 319, OP_ATOMIC_FMIN = 5614, OP_ATOMIC_FADD = 6035 };
  const uint32_t defined = 0xffdeu; // bits 1-4, 6-15
  for (size_t i = 5; i < n;) {
    uint32_t op = w[i] & 0xffff, count = w[i] >> 16;
    if (count == 0 || i + count > n) break;
    uint32_t ids[2] = {0, 0}; // word offsets of the semantics operands
    if (op == OP_CONTROL_BARRIER) {
      ids[0] = 3;
    } else if (op == OP_MEMORY_BARRIER || op == OP_ATOMIC_STORE || op == OP_ATOMIC_FLAG_CLEAR) {
      ids[0] = op == OP_MEMORY_BARRIER ? 2 : 3;
    } else if ((op >= OP_ATOMIC_LOAD && op <= OP_ATOMIC_XOR) || op == OP_ATOMIC_FLAG_TEST_AND_SET ||
               op == OP_ATOMIC_FMIN || op == OP_ATOMIC_FMIN + 1 || op == OP_ATOMIC_FADD) {
      ids[0] = 5;
      if (op >= OP_ATOMIC_COMPARE_EXCHANGE_WEAK - 1 && op <= OP_ATOMIC_COMPARE_EXCHANGE_WEAK) ids[1] = 6;
    }
    for (int k = 0; k < 2 && ids[k]; k++) {
      if (ids[k] >= count) continue;
      uint32_t id = w[i + ids[k]];
      for (size_t j = 5; j < n;) {
        uint32_t op2 = w[j] & 0xffff, count2 = w[j] >> 16;
        if (count2 == 0 || j + count2 > n) break;
        if ((op2 == OP_CONSTANT || op2 == OP_SPEC_CONSTANT) && count2 >= 4 && w[j + 2] == id &&
            (w[j + 3] & ~defined) != 0) {
          gpb_format(err, GPB_MSG_MAX,
                     "uses memory semantics 0x%x, with bits SPIR-V does not define (0x%x); drivers ignore them",
                     w[j + 3], w[j + 3] & ~defined);
          return GPB_ERROR_UNSUPPORTED;
        }
        j += count2;
      }
    }
    i += count;
  }
  return GPB_OK;
}

// Vulkan takes SPIR-V only.
static gpb_status spirv_words(const gpb_be_kernel_code *code, const uint32_t **out_words, size_t *out_count,
                              char *err) {
  if (code->format != GPB_BE_KERNEL_SPIRV) {
    gpb_format(err, GPB_MSG_MAX, "kernel format %d: the Vulkan backend takes SPIR-V only", (int)code->format);
    return GPB_ERROR_UNSUPPORTED;
  }
  *out_words = code->code;
  *out_count = code->bytes / 4;
  return GPB_OK;
}

gpb_status gpb_vk_kernel_reflect(gpb_be_device *d, const gpb_be_kernel_code *code, gpb_kernel_info *out_info,
                                 char *err) {
  const uint32_t *words;
  size_t word_count;
  gpb_status st = spirv_words(code, &words, &word_count, err);
  if (st != GPB_OK) return st;
  return gpb_spirv_reflect(words, word_count, code->entry_point, d->api_version, out_info, err);
}

gpb_status gpb_vk_pipeline_create(gpb_be_device *d, const gpb_be_kernel_code *code, const gpb_kernel_info *info,
                                  gpb_be_pipeline **out, char *err) {
  const uint32_t *words;
  size_t word_count;
  gpb_status st = spirv_words(code, &words, &word_count, err);
  if (st != GPB_OK) return st;
  st = check_capabilities(d, words, word_count, err);
  if (st == GPB_OK) st = check_workgroup_size_type(words, word_count, err);
  if (st == GPB_OK) st = check_memory_semantics(words, word_count, err);
  if (st != GPB_OK) return st;
  if (info->binding_count > d->max_push_descriptors) {
    gpb_format(err, GPB_MSG_MAX, "%u buffer bindings; the device pushes at most %u", info->binding_count,
               d->max_push_descriptors);
    return GPB_ERROR_UNSUPPORTED;
  }
  gpb_be_pipeline *p = calloc(1, sizeof *p);
  if (!p) {
    gpb_format(err, GPB_MSG_MAX, "out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  VkResult r;
  const char *call = "";
  VkShaderModuleCreateInfo minfo = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = word_count * 4, .pCode = words};
  r = VK_CALL(d, GPB_VK_CREATE_SHADER_MODULE, d->vk.vkCreateShaderModule(d->device, &minfo, NULL, &p->module));
  if (r != VK_SUCCESS) {
    p->module = VK_NULL_HANDLE;
    call = "vkCreateShaderModule";
    goto fail;
  }
  VkDescriptorSetLayoutBinding bindings[GPB_MAX_BINDINGS];
  for (uint32_t i = 0; i < info->binding_count; i++) {
    bindings[i] = (VkDescriptorSetLayoutBinding){.binding = info->bindings[i].binding,
                                                 .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                 .descriptorCount = 1,
                                                 .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    p->bindings[i] = info->bindings[i].binding;
  }
  p->binding_count = info->binding_count;
  VkDescriptorSetLayoutCreateInfo sinfo = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
                                           .bindingCount = info->binding_count,
                                           .pBindings = bindings};
  r = VK_CALL(d, GPB_VK_CREATE_SET_LAYOUT, d->vk.vkCreateDescriptorSetLayout(d->device, &sinfo, NULL, &p->set_layout));
  if (r != VK_SUCCESS) {
    p->set_layout = VK_NULL_HANDLE;
    call = "vkCreateDescriptorSetLayout";
    goto fail;
  }
  VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = info->push_constant_bytes};
  VkPipelineLayoutCreateInfo linfo = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &p->set_layout,
                                      .pushConstantRangeCount = info->push_constant_bytes ? 1 : 0,
                                      .pPushConstantRanges = &range};
  r = VK_CALL(d, GPB_VK_CREATE_PIPELINE_LAYOUT, d->vk.vkCreatePipelineLayout(d->device, &linfo, NULL, &p->layout));
  if (r != VK_SUCCESS) {
    p->layout = VK_NULL_HANDLE;
    call = "vkCreatePipelineLayout";
    goto fail;
  }
  VkComputePipelineCreateInfo cinfo = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                       .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                 .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                                                 .module = p->module,
                                                 .pName = info->entry_point},
                                       .layout = p->layout};
  r = VK_CALL(d, GPB_VK_CREATE_PIPELINE,
              d->vk.vkCreateComputePipelines(d->device, d->pipeline_cache, 1, &cinfo, NULL, &p->pipeline));
  if (r != VK_SUCCESS) {
    p->pipeline = VK_NULL_HANDLE;
    call = "vkCreateComputePipelines";
    goto fail;
  }
  *out = p;
  return GPB_OK;
fail:
  gpb_vk_pipeline_destroy(d, p);
  return gpb_vk_status(r, call, err);
}
