// Vulkan command buffers (batches), recording, submission, timelines.
#include <stdlib.h>
#include <time.h>

#include "vulkan/vk_internal.h"

// Every compute and transfer access, for barriers between commands.
#define WORK_STAGES (VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT)
#define WORK_WRITES (VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)
#define WORK_ACCESS                                                                                                    \
  (VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)

// ---- timelines --------------------------------------------------------------

gpb_status gpb_vk_timeline_create(gpb_be_device *d, uint32_t queue, gpb_be_timeline **out, char *err) {
  gpb_be_timeline *t = calloc(1, sizeof *t);
  if (!t) {
    gpb_format(err, GPB_MSG_MAX, "out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  VkSemaphoreTypeCreateInfo type = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                    .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
                                    .initialValue = 0};
  VkSemaphoreCreateInfo info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
  VkResult r = VK_CALL(d, GPB_VK_CREATE_SEMAPHORE, d->vk.vkCreateSemaphore(d->device, &info, NULL, &t->semaphore));
  if (r != VK_SUCCESS) {
    free(t);
    return gpb_vk_status(r, "vkCreateSemaphore (timeline)", err);
  }
  t->queue = queue;
  *out = t;
  return GPB_OK;
}

void gpb_vk_timeline_destroy(gpb_be_device *d, gpb_be_timeline *t) {
  if (!t) return;
  d->vk.vkDestroySemaphore(d->device, t->semaphore, NULL);
  free(t);
}

gpb_status gpb_vk_timeline_completed(gpb_be_device *d, gpb_be_timeline *t, uint64_t *out, char *err) {
  VkResult r = VK_CALL(d, GPB_VK_GET_SEMAPHORE_VALUE, d->vk.vkGetSemaphoreCounterValue(d->device, t->semaphore, out));
  return gpb_vk_status(r, "vkGetSemaphoreCounterValue", err);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Polls the timeline for up to d->wait_spin_ns, then blocks: waking a thread
// blocked in vkWaitSemaphores costs tens of microseconds on some drivers,
// more than a short GPU batch takes (bench/results/history.md).
gpb_status gpb_vk_timeline_wait(gpb_be_device *d, gpb_be_timeline *t, uint64_t value, uint64_t timeout_ns, char *err) {
  if (d->wait_spin_ns > 0) {
    uint64_t start = now_ns();
    do {
      uint64_t current = 0;
      VkResult r =
          VK_CALL(d, GPB_VK_GET_SEMAPHORE_VALUE, d->vk.vkGetSemaphoreCounterValue(d->device, t->semaphore, &current));
      if (r != VK_SUCCESS) return gpb_vk_status(r, "vkGetSemaphoreCounterValue", err);
      if (current >= value) return GPB_OK;
    } while (now_ns() - start < d->wait_spin_ns);
  }
  VkSemaphoreWaitInfo info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                              .semaphoreCount = 1,
                              .pSemaphores = &t->semaphore,
                              .pValues = &value};
  VkResult r = VK_CALL(d, GPB_VK_WAIT_SEMAPHORES, d->vk.vkWaitSemaphores(d->device, &info, timeout_ns));
  return gpb_vk_status(r, "vkWaitSemaphores", err);
}

// ---- batches ------------------------------------------------------------------

static gpb_status batch_create_level(gpb_be_device *d, VkCommandBufferLevel level, gpb_be_batch **out, char *err);

gpb_status gpb_vk_batch_create(gpb_be_device *d, gpb_be_batch **out, char *err) {
  return batch_create_level(d, VK_COMMAND_BUFFER_LEVEL_PRIMARY, out, err);
}

static gpb_status batch_create_level(gpb_be_device *d, VkCommandBufferLevel level, gpb_be_batch **out, char *err) {
  gpb_be_batch *b = calloc(1, sizeof *b);
  if (!b) {
    gpb_format(err, GPB_MSG_MAX, "out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  b->device = d;
  VkCommandPoolCreateInfo pinfo = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                   .queueFamilyIndex = d->queue_family};
  VkResult r = VK_CALL(d, GPB_VK_CREATE_COMMAND_POOL, d->vk.vkCreateCommandPool(d->device, &pinfo, NULL, &b->pool));
  if (r != VK_SUCCESS) {
    free(b);
    return gpb_vk_status(r, "vkCreateCommandPool", err);
  }
  VkCommandBufferAllocateInfo ainfo = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = b->pool,
                                       .level = level,
                                       .commandBufferCount = 1};
  r = VK_CALL(d, GPB_VK_ALLOCATE_COMMAND_BUFFER, d->vk.vkAllocateCommandBuffers(d->device, &ainfo, &b->cmd));
  if (r != VK_SUCCESS) {
    d->vk.vkDestroyCommandPool(d->device, b->pool, NULL);
    free(b);
    return gpb_vk_status(r, "vkAllocateCommandBuffers", err);
  }
  *out = b;
  return GPB_OK;
}

void gpb_vk_batch_destroy(gpb_be_device *d, gpb_be_batch *b) {
  if (!b) return;
  if (b->queries) d->vk.vkDestroyQueryPool(d->device, b->queries, NULL);
  d->vk.vkDestroyCommandPool(d->device, b->pool, NULL); // frees its command buffer
  free(b);
}

gpb_status gpb_vk_batch_begin(gpb_be_device *d, gpb_be_batch *b, char *err) {
  VkResult r = VK_CALL(d, GPB_VK_RESET_COMMAND_POOL, d->vk.vkResetCommandPool(d->device, b->pool, 0));
  if (r != VK_SUCCESS) return gpb_vk_status(r, "vkResetCommandPool", err);
  VkCommandBufferBeginInfo info = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  r = VK_CALL(d, GPB_VK_BEGIN_COMMAND_BUFFER, d->vk.vkBeginCommandBuffer(b->cmd, &info));
  if (r != VK_SUCCESS) return gpb_vk_status(r, "vkBeginCommandBuffer", err);
  b->bound = VK_NULL_HANDLE;
  return GPB_OK;
}

gpb_status gpb_vk_program_begin(gpb_be_device *d, gpb_be_batch **out, char *err) {
  gpb_be_batch *b = NULL;
  gpb_status st = batch_create_level(d, VK_COMMAND_BUFFER_LEVEL_SECONDARY, &b, err);
  if (st != GPB_OK) return st;
  VkCommandBufferInheritanceInfo inherit = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_INHERITANCE_INFO};
  // Simultaneous use: one program may sit in several unfinished batches.
  VkCommandBufferBeginInfo info = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT,
                                   .pInheritanceInfo = &inherit};
  VkResult r = VK_CALL(d, GPB_VK_BEGIN_COMMAND_BUFFER, d->vk.vkBeginCommandBuffer(b->cmd, &info));
  if (r != VK_SUCCESS) {
    gpb_vk_batch_destroy(d, b);
    return gpb_vk_status(r, "vkBeginCommandBuffer (program)", err);
  }
  *out = b;
  return GPB_OK;
}

gpb_status gpb_vk_program_end(gpb_be_device *d, gpb_be_batch *b, char *err) {
  VkResult r = VK_CALL(d, GPB_VK_END_COMMAND_BUFFER, d->vk.vkEndCommandBuffer(b->cmd));
  return gpb_vk_status(r, "vkEndCommandBuffer (program)", err);
}

void gpb_vk_cmd_execute(gpb_be_batch *b, gpb_be_batch *program) {
  b->device->vk.vkCmdExecuteCommands(b->cmd, 1, &program->cmd);
  b->bound = VK_NULL_HANDLE; // pipeline state after a secondary is undefined
}

void gpb_vk_cmd_dispatch(gpb_be_batch *b, gpb_be_pipeline *p, const uint32_t groups[3], const gpb_be_arg *args,
                         uint32_t arg_count, const void *push, uint32_t push_bytes) {
  const struct VolkDeviceTable *vk = &b->device->vk;
  if (b->bound != p->pipeline) {
    vk->vkCmdBindPipeline(b->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    b->bound = p->pipeline;
  }
  if (arg_count > 0) {
    VkDescriptorBufferInfo infos[GPB_MAX_BINDINGS];
    VkWriteDescriptorSet writes[GPB_MAX_BINDINGS];
    for (uint32_t i = 0; i < arg_count; i++) {
      infos[i] =
          (VkDescriptorBufferInfo){.buffer = args[i].buffer->buffer, .offset = args[i].offset, .range = args[i].size};
      writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                         .dstBinding = p->bindings[i],
                                         .descriptorCount = 1,
                                         .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                         .pBufferInfo = &infos[i]};
    }
    vk->vkCmdPushDescriptorSetKHR(b->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, arg_count, writes);
  }
  if (push_bytes > 0) vk->vkCmdPushConstants(b->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vk->vkCmdDispatch(b->cmd, groups[0], groups[1], groups[2]);
}

void gpb_vk_cmd_copy(gpb_be_batch *b, gpb_be_buffer *src, uint64_t src_offset, gpb_be_buffer *dst, uint64_t dst_offset,
                     uint64_t bytes) {
  VkBufferCopy region = {.srcOffset = src_offset, .dstOffset = dst_offset, .size = bytes};
  b->device->vk.vkCmdCopyBuffer(b->cmd, src->buffer, dst->buffer, 1, &region);
}

void gpb_vk_cmd_update(gpb_be_batch *b, gpb_be_buffer *dst, uint64_t offset, const void *data, uint64_t bytes) {
  b->device->vk.vkCmdUpdateBuffer(b->cmd, dst->buffer, offset, bytes, data);
}

void gpb_vk_cmd_barrier(gpb_be_batch *b) {
  VkMemoryBarrier barrier = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = WORK_WRITES, .dstAccessMask = WORK_ACCESS};
  b->device->vk.vkCmdPipelineBarrier(b->cmd, WORK_STAGES, WORK_STAGES, 0, 1, &barrier, 0, NULL, 0, NULL);
}

gpb_status gpb_vk_batch_submit(gpb_be_device *d, gpb_be_batch *b, gpb_be_timeline *t, uint64_t signal,
                               const gpb_be_wait *waits, uint32_t wait_count, char *err) {
  enum { MAX_WAITS = 16 };
  if (wait_count > MAX_WAITS) {
    gpb_format(err, GPB_MSG_MAX, "waits on %u streams; at most %d per submission", wait_count, MAX_WAITS);
    return GPB_ERROR_UNSUPPORTED;
  }
  // Device writes become visible to host reads once the batch completes.
  VkMemoryBarrier to_host = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                             .srcAccessMask = WORK_WRITES,
                             .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
  d->vk.vkCmdPipelineBarrier(b->cmd, WORK_STAGES, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, NULL, 0, NULL);
  VkResult r = VK_CALL(d, GPB_VK_END_COMMAND_BUFFER, d->vk.vkEndCommandBuffer(b->cmd));
  if (r != VK_SUCCESS) return gpb_vk_status(r, "vkEndCommandBuffer", err);

  // Wait for this timeline's previous batch (stream order) and other streams.
  VkSemaphore sems[MAX_WAITS + 1];
  uint64_t values[MAX_WAITS + 1];
  VkPipelineStageFlags stages[MAX_WAITS + 1];
  uint32_t n = 0;
  if (signal > 1) {
    sems[n] = t->semaphore;
    values[n++] = signal - 1;
  }
  for (uint32_t i = 0; i < wait_count; i++) {
    sems[n] = waits[i].timeline->semaphore;
    values[n++] = waits[i].value;
  }
  for (uint32_t i = 0; i < n; i++) stages[i] = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  VkTimelineSemaphoreSubmitInfo tinfo = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                         .waitSemaphoreValueCount = n,
                                         .pWaitSemaphoreValues = values,
                                         .signalSemaphoreValueCount = 1,
                                         .pSignalSemaphoreValues = &signal};
  VkSubmitInfo info = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .pNext = &tinfo,
                       .waitSemaphoreCount = n,
                       .pWaitSemaphores = sems,
                       .pWaitDstStageMask = stages,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &b->cmd,
                       .signalSemaphoreCount = 1,
                       .pSignalSemaphores = &t->semaphore};
  pthread_mutex_lock(&d->queue_locks[t->queue]);
  r = VK_CALL(d, GPB_VK_QUEUE_SUBMIT, d->vk.vkQueueSubmit(d->queues[t->queue], 1, &info, VK_NULL_HANDLE));
  pthread_mutex_unlock(&d->queue_locks[t->queue]);
  return gpb_vk_status(r, "vkQueueSubmit", err);
}

// ---- timestamps (tracing) -----------------------------------------------------

gpb_status gpb_vk_batch_timestamps_begin(gpb_be_device *d, gpb_be_batch *b, uint32_t capacity, char *err) {
  if (d->timestamp_valid_bits == 0) {
    gpb_format(err, GPB_MSG_MAX, "the compute queue has no timestamps");
    return GPB_ERROR_UNSUPPORTED;
  }
  if (!b->queries) {
    VkQueryPoolCreateInfo info = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                  .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                  .queryCount = capacity};
    VkResult r = VK_CALL(d, GPB_VK_CREATE_QUERY_POOL, d->vk.vkCreateQueryPool(d->device, &info, NULL, &b->queries));
    if (r != VK_SUCCESS) {
      b->queries = VK_NULL_HANDLE;
      return gpb_vk_status(r, "vkCreateQueryPool", err);
    }
    b->query_capacity = capacity;
  }
  d->vk.vkCmdResetQueryPool(b->cmd, b->queries, 0, b->query_capacity);
  return GPB_OK;
}

void gpb_vk_cmd_timestamp(gpb_be_batch *b, uint32_t index) {
  // Bottom of pipe: written once every earlier command completed; adds no
  // dependency between commands, so what is measured stays as it was.
  if (b->queries && index < b->query_capacity) {
    b->device->vk.vkCmdWriteTimestamp(b->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, b->queries, index);
  }
}

// Device timestamp ticks to nanoseconds.
static uint64_t ticks_to_ns(const gpb_be_device *d, uint64_t ticks) {
  uint64_t mask = d->timestamp_valid_bits >= 64 ? UINT64_MAX : (1ull << d->timestamp_valid_bits) - 1;
  return (uint64_t)((double)(ticks & mask) * d->timestamp_period_ns);
}

gpb_status gpb_vk_batch_timestamps_read(gpb_be_device *d, gpb_be_batch *b, uint32_t count, uint64_t *out_ns,
                                        char *err) {
  if (!b->queries || count == 0) return GPB_OK;
  if (count > b->query_capacity) count = b->query_capacity;
  VkResult r = VK_CALL(d, GPB_VK_GET_QUERY_RESULTS,
                       d->vk.vkGetQueryPoolResults(d->device, b->queries, 0, count, count * sizeof(uint64_t), out_ns,
                                                   sizeof(uint64_t), VK_QUERY_RESULT_64_BIT));
  if (r != VK_SUCCESS) return gpb_vk_status(r, "vkGetQueryPoolResults", err);
  for (uint32_t i = 0; i < count; i++) out_ns[i] = ticks_to_ns(d, out_ns[i]);
  return GPB_OK;
}

gpb_status gpb_vk_timestamp_calibrate(gpb_be_device *d, uint64_t *out_gpu_ns, uint64_t *out_host_ns, char *err) {
  if (!d->calibrated_timestamps) {
    gpb_format(err, GPB_MSG_MAX, "no calibrated timestamps (VK_EXT_calibrated_timestamps with CLOCK_MONOTONIC)");
    return GPB_ERROR_UNSUPPORTED;
  }
  VkCalibratedTimestampInfoEXT infos[2] = {
      {.sType = VK_STRUCTURE_TYPE_CALIBRATED_TIMESTAMP_INFO_EXT, .timeDomain = VK_TIME_DOMAIN_DEVICE_EXT},
      {.sType = VK_STRUCTURE_TYPE_CALIBRATED_TIMESTAMP_INFO_EXT, .timeDomain = VK_TIME_DOMAIN_CLOCK_MONOTONIC_EXT}};
  uint64_t values[2], deviation = 0;
  VkResult r = d->vk.vkGetCalibratedTimestampsEXT(d->device, 2, infos, values, &deviation);
  if (r != VK_SUCCESS) return gpb_vk_status(r, "vkGetCalibratedTimestampsEXT", err);
  *out_gpu_ns = ticks_to_ns(d, values[0]);
  *out_host_ns = values[1];
  return GPB_OK;
}
