// Internal: the staging pool's policy, apart from the memory it manages.
//
// A stream uploads host data to device-local buffers through host-visible
// staging buffers. GPU copies read them later, when the batch runs, so a
// staging buffer is busy until the batch that last used it (its serial) has
// completed on the stream's timeline. The TVM Metal code reset its pool after
// a flush without waiting for the GPU, so new uploads could overwrite bytes
// the GPU had not read yet; here a slot is reused only once the timeline says
// its batch is complete.
//
// Bounded: at most `max_buffers` buffers and `max_bytes` bytes. Several small
// uploads of one batch share a buffer (bump allocation). When no slot fits,
// gpb_staging_plan_upload says what the stream must do: create a buffer, drop
// a free but too small one and plan again, or flush (if the pending batch
// holds the oldest slot) and wait for the oldest busy slot's batch.
// Not thread-safe: owned by one stream, under its lock.
#ifndef GPB_CORE_STAGING_H
#define GPB_CORE_STAGING_H

#include <stdint.h>

#include "gpubatch/status.h"

typedef struct gpb_staging_slot {
  void *memory;    // backend buffer
  uint8_t *mapped; // host pointer
  uint64_t size;
  uint64_t used;        // bytes handed out to the batch in busy_serial
  uint64_t busy_serial; // batch that last used it; 0 = never used
} gpb_staging_slot;

typedef struct gpb_staging_pool {
  gpb_staging_slot *slots;
  uint32_t count;
  uint32_t max_buffers;
  uint64_t max_bytes;
  uint64_t buffer_bytes; // largest single staging buffer
  uint64_t total_bytes;
} gpb_staging_pool;

typedef enum gpb_staging_action {
  GPB_STAGING_USE,    // slot `slot` has room at `offset`
  GPB_STAGING_CREATE, // create a new slot of `size` bytes
  GPB_STAGING_DROP,   // destroy free, too small slot `slot`, then plan again
  GPB_STAGING_WAIT,   // wait for `serial` (flush first if it is not yet submitted)
} gpb_staging_action;

typedef struct gpb_staging_plan {
  gpb_staging_action action;
  uint32_t slot;
  uint64_t offset;
  uint64_t size;
  uint64_t serial;
} gpb_staging_plan;

#define GPB_STAGING_ALIGN 16u
#define GPB_STAGING_MIN_BUFFER (64u * 1024u)

// Decides how to place `bytes` (<= pool->buffer_bytes) for the batch with
// serial `pending_serial`, given that every batch up to `completed_serial`
// has finished.
gpb_staging_plan gpb_staging_plan_upload(const gpb_staging_pool *pool, uint64_t bytes, uint64_t pending_serial,
                                         uint64_t completed_serial);

// Size of a new staging buffer for an upload of `bytes`.
uint64_t gpb_staging_buffer_size(const gpb_staging_pool *pool, uint64_t bytes);

// Marks `bytes` at plan.offset of slot plan.slot as used by `pending_serial`.
void gpb_staging_commit(gpb_staging_pool *pool, uint32_t slot, uint64_t offset, uint64_t bytes,
                        uint64_t pending_serial);

// Removes slot `slot` from the pool (the caller destroys its memory first).
void gpb_staging_remove(gpb_staging_pool *pool, uint32_t slot);

// Makes slots whose batch never ran (serial > last_submitted) free again,
// after a failed submission.
void gpb_staging_forget_unsubmitted(gpb_staging_pool *pool, uint64_t last_submitted);

#endif
