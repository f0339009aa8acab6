// Vulkan buffers: one VkBuffer with its own VkDeviceMemory each.
#include <stdlib.h>

#include "vulkan/vk_internal.h"

// Memory type allowed by `bits` with all of `required`, preferring `preferred`.
static uint32_t pick_memory_type(const VkPhysicalDeviceMemoryProperties *mem, uint32_t bits,
                                 VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) {
  uint32_t fallback = UINT32_MAX;
  for (uint32_t i = 0; i < mem->memoryTypeCount; i++) {
    VkMemoryPropertyFlags f = mem->memoryTypes[i].propertyFlags;
    if (!(bits & (1u << i)) || (f & required) != required) continue;
    if ((f & preferred) == preferred) return i;
    if (fallback == UINT32_MAX) fallback = i;
  }
  return fallback;
}

void gpb_vk_buffer_destroy(gpb_be_device *d, gpb_be_buffer *b) {
  if (!b) return;
  if (b->buffer) d->vk.vkDestroyBuffer(d->device, b->buffer, NULL);
  if (b->memory) d->vk.vkFreeMemory(d->device, b->memory, NULL); // also unmaps
  free(b);
}

gpb_status gpb_vk_buffer_create(gpb_be_device *d, uint64_t size, gpb_be_memory memory, gpb_be_buffer **out,
                                void **out_mapped, char *err) {
  if (d->max_allocation && size > d->max_allocation) {
    gpb_format(err, GPB_MSG_MAX, "larger than the device's largest allocation (%llu bytes)",
               (unsigned long long)d->max_allocation);
    return GPB_ERROR_OUT_OF_DEVICE_MEMORY;
  }
  gpb_be_buffer *b = calloc(1, sizeof *b);
  if (!b) {
    gpb_format(err, GPB_MSG_MAX, "out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  b->size = size;
  VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkResult r = VK_CALL(d, GPB_VK_CREATE_BUFFER, d->vk.vkCreateBuffer(d->device, &info, NULL, &b->buffer));
  if (r != VK_SUCCESS) {
    b->buffer = VK_NULL_HANDLE;
    gpb_vk_buffer_destroy(d, b);
    return gpb_vk_status(r, "vkCreateBuffer", err);
  }
  VkMemoryRequirements req;
  d->vk.vkGetBufferMemoryRequirements(d->device, b->buffer, &req);
  VkMemoryPropertyFlags required = 0, preferred = 0;
  switch (memory) {
  case GPB_BE_MEMORY_PRIVATE: preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT; break;
  case GPB_BE_MEMORY_SHARED:
  case GPB_BE_MEMORY_UPLOAD:
    required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    preferred = required;
    break;
  case GPB_BE_MEMORY_READBACK:
    required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    preferred = required | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    break;
  }
  uint32_t type = pick_memory_type(&d->memory, req.memoryTypeBits, required, preferred);
  if (type == UINT32_MAX) {
    gpb_vk_buffer_destroy(d, b);
    gpb_format(err, GPB_MSG_MAX, "no memory type fits (required flags 0x%x)", (unsigned)required);
    return GPB_ERROR_UNSUPPORTED;
  }
  VkMemoryAllocateInfo alloc = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = type};
  r = VK_CALL(d, GPB_VK_ALLOCATE_MEMORY, d->vk.vkAllocateMemory(d->device, &alloc, NULL, &b->memory));
  if (r != VK_SUCCESS) {
    b->memory = VK_NULL_HANDLE;
    gpb_vk_buffer_destroy(d, b);
    return gpb_vk_status(r, "vkAllocateMemory", err);
  }
  r = VK_CALL(d, GPB_VK_BIND_BUFFER_MEMORY, d->vk.vkBindBufferMemory(d->device, b->buffer, b->memory, 0));
  if (r != VK_SUCCESS) {
    gpb_vk_buffer_destroy(d, b);
    return gpb_vk_status(r, "vkBindBufferMemory", err);
  }
  *out_mapped = NULL;
  if (required & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    r = VK_CALL(d, GPB_VK_MAP_MEMORY, d->vk.vkMapMemory(d->device, b->memory, 0, VK_WHOLE_SIZE, 0, out_mapped));
    if (r != VK_SUCCESS) {
      gpb_vk_buffer_destroy(d, b);
      return gpb_vk_status(r, "vkMapMemory", err);
    }
  }
  *out = b;
  return GPB_OK;
}
