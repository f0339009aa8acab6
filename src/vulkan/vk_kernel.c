// Vulkan compute pipelines with push-descriptor set layouts.
#include <stdlib.h>

#include "vulkan/vk_internal.h"

void gpb_vk_pipeline_destroy(gpb_be_device *d, gpb_be_pipeline *p) {
  if (!p) return;
  if (p->pipeline) d->vk.vkDestroyPipeline(d->device, p->pipeline, NULL);
  if (p->layout) d->vk.vkDestroyPipelineLayout(d->device, p->layout, NULL);
  if (p->set_layout) d->vk.vkDestroyDescriptorSetLayout(d->device, p->set_layout, NULL);
  if (p->module) d->vk.vkDestroyShaderModule(d->device, p->module, NULL);
  free(p);
}

gpb_status gpb_vk_pipeline_create(gpb_be_device *d, const uint32_t *words, size_t word_count,
                                  const gpb_kernel_info *info, gpb_be_pipeline **out, char *err) {
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
