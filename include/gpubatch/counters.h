// gpubatch/counters.h: what a stream has done, counted.
//
// Each stream keeps these counters; read them with gpb_stream_get_counters
// and zero them with gpb_stream_reset_counters (gpubatch/stream.h). The
// first eight carry the names of TVM's Metal profile counters, so figures
// can be compared one to one.
#ifndef GPUBATCH_COUNTERS_H
#define GPUBATCH_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "gpubatch/version.h"

#ifdef __cplusplus
extern "C" {
#endif

// X-macro: one line per counter, (name, meaning). Used to declare the struct
// and the name table, so the two cannot drift apart.
#define GPB_COUNTER_LIST(X)                                                                                            \
  X(dispatches, "kernel dispatches recorded or replayed")                                                              \
  X(flushes, "pending batches submitted (any reason)")                                                                 \
  X(syncs, "stream syncs that waited for the GPU")                                                                     \
  X(blits, "copy and buffer-update commands recorded")                                                                 \
  X(gpu_to_cpu, "device->host copies")                                                                                 \
  X(cpu_to_gpu, "host->device copies")                                                                                 \
  X(gpu_to_gpu, "device->device copies")                                                                               \
  X(free_syncs, "buffer frees that had to wait for GPU work")                                                          \
  X(submits, "vkQueueSubmit calls")                                                                                    \
  X(waits, "host waits on the stream's timeline")                                                                      \
  X(barriers, "pipeline barriers recorded between commands")                                                           \
  X(barriers_elided, "commands recorded with no barrier: no hazard")                                                   \
  X(flush_readback, "flushes caused by a device->host copy or host access")                                            \
  X(flush_free, "flushes caused by freeing a buffer pending work uses")                                                \
  X(flush_sync, "flushes caused by stream or device sync")                                                             \
  X(flush_cap, "flushes caused by the batch reaching its dispatch cap")                                                \
  X(flush_staging, "flushes caused by a full staging pool")                                                            \
  X(flush_immediate, "flushes made by immediate mode after each command")                                              \
  X(flush_wait, "flushes made so another stream can wait on this one")                                                 \
  X(staging_bytes, "bytes uploaded through staging buffers")                                                           \
  X(staging_waits, "waits for an in-flight batch to free a staging buffer")                                            \
  X(inline_bytes, "bytes uploaded inline in the command buffer (vkCmdUpdateBuffer)")                                   \
  X(direct_bytes, "bytes written by the host straight into shared buffers")                                            \
  X(replays, "programs replayed (gpubatch/program.h)")

typedef struct gpb_counters {
#define GPB_COUNTER_FIELD(name, doc) uint64_t name;
  GPB_COUNTER_LIST(GPB_COUNTER_FIELD)
#undef GPB_COUNTER_FIELD
} gpb_counters;

// Number of counters in gpb_counters.
GPB_API size_t gpb_counter_count(void);
// Name of counter `index` ("dispatches"), or NULL past the end.
GPB_API const char *gpb_counter_name(size_t index);
// Value of counter `index` in `counters`; 0 past the end.
GPB_API uint64_t gpb_counter_value(const gpb_counters *counters, size_t index);

#ifdef __cplusplus
}
#endif
#endif
