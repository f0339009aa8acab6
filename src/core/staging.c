// Staging pool policy: see staging.h.
#include "core/staging.h"

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t gpb_staging_buffer_size(const gpb_staging_pool *pool, uint64_t bytes) {
  uint64_t size = GPB_STAGING_MIN_BUFFER;
  while (size < bytes) size *= 2;
  if (size > pool->buffer_bytes) size = pool->buffer_bytes;
  if (size < bytes) size = bytes;
  return size;
}

gpb_staging_plan gpb_staging_plan_upload(const gpb_staging_pool *pool, uint64_t bytes, uint64_t pending_serial,
                                         uint64_t completed_serial) {
  gpb_staging_plan plan = {0};
  // 1. Room left in a slot this batch already writes to.
  for (uint32_t i = 0; i < pool->count; i++) {
    const gpb_staging_slot *s = &pool->slots[i];
    if (s->busy_serial != pending_serial) continue;
    uint64_t offset = align_up(s->used, GPB_STAGING_ALIGN);
    if (offset + bytes <= s->size) {
      plan.action = GPB_STAGING_USE;
      plan.slot = i;
      plan.offset = offset;
      return plan;
    }
  }
  // 2. A free slot big enough (smallest such), else remember a free small one.
  uint32_t best = UINT32_MAX, small_free = UINT32_MAX;
  for (uint32_t i = 0; i < pool->count; i++) {
    const gpb_staging_slot *s = &pool->slots[i];
    if (s->busy_serial > completed_serial) continue;
    if (s->size >= bytes) {
      if (best == UINT32_MAX || s->size < pool->slots[best].size) best = i;
    } else if (small_free == UINT32_MAX || s->size < pool->slots[small_free].size) {
      small_free = i;
    }
  }
  if (best != UINT32_MAX) {
    plan.action = GPB_STAGING_USE;
    plan.slot = best;
    plan.offset = 0;
    return plan;
  }
  uint64_t size = gpb_staging_buffer_size(pool, bytes);
  // 3. Grow within the bounds.
  if (pool->count < pool->max_buffers && pool->total_bytes + size <= pool->max_bytes) {
    plan.action = GPB_STAGING_CREATE;
    plan.size = size;
    return plan;
  }
  // 4. Drop a free slot that is too small to make room (the stream re-plans).
  if (small_free != UINT32_MAX) {
    plan.action = GPB_STAGING_DROP;
    plan.slot = small_free;
    return plan;
  }
  // 5. Wait for the oldest busy slot. One exists: every free slot fits (step
  //    2) or was dropped (step 4), and an empty pool can always create since
  //    buffer_bytes <= max_bytes and max_buffers >= 1.
  uint32_t oldest = 0;
  for (uint32_t i = 1; i < pool->count; i++) {
    if (pool->slots[i].busy_serial < pool->slots[oldest].busy_serial) oldest = i;
  }
  plan.action = GPB_STAGING_WAIT;
  plan.slot = oldest;
  plan.serial = pool->slots[oldest].busy_serial;
  return plan;
}

void gpb_staging_commit(gpb_staging_pool *pool, uint32_t slot, uint64_t offset, uint64_t bytes,
                        uint64_t pending_serial) {
  gpb_staging_slot *s = &pool->slots[slot];
  if (s->busy_serial != pending_serial) s->used = 0;
  s->busy_serial = pending_serial;
  s->used = offset + bytes;
}

void gpb_staging_forget_unsubmitted(gpb_staging_pool *pool, uint64_t last_submitted) {
  for (uint32_t i = 0; i < pool->count; i++) {
    if (pool->slots[i].busy_serial > last_submitted) {
      pool->slots[i].busy_serial = 0;
      pool->slots[i].used = 0;
    }
  }
}

void gpb_staging_remove(gpb_staging_pool *pool, uint32_t slot) {
  pool->total_bytes -= pool->slots[slot].size;
  pool->slots[slot] = pool->slots[pool->count - 1];
  pool->count--;
}
