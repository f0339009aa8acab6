// Freeing, destroying and mapping: the calls that wait for the GPU work
// still using an object (its gpb_uses) before they release or hand it to
// the host. They sit above the streams (they flush and wait them, through
// gpb_streams_wait_uses) and below nothing: buffer.c, kernel.c and program.c
// keep the objects themselves and never call a stream.
#include <stdlib.h>

#include "core/buffer.h"
#include "core/device.h"
#include "core/kernel.h"
#include "core/program.h"
#include "core/stream.h"

// ---- buffers ----------------------------------------------------------------

gpb_status gpb_buffer_free(gpb_buffer *buffer) {
  if (!buffer) return GPB_OK;
  gpb_buffer_obj *buf;
  gpb_status st = gpb_buffer_resolve(buffer, "gpb_buffer_free", &buf);
  if (st != GPB_OK) return st;
  gpb_device_obj *dev = buf->device;
  if (atomic_load(&buf->program_refs) > 0) {
    return gpb_fail(dev->last_error, GPB_ERROR_FAILED_PRECONDITION,
                    "freeing a buffer of %llu bytes that %u program(s) use: destroy them first",
                    (unsigned long long)buf->size, atomic_load(&buf->program_refs));
  }
  char err[GPB_MSG_MAX] = "";
  // Work that never ran (a failed stream) does not hold the buffer: the wait
  // reports the stream's error, and the memory is released all the same.
  st = gpb_streams_wait_uses(dev, &buf->uses, GPB_HOST_WRITE, GPB_FLUSH_FREE, NULL, err);
  if (st == GPB_ERROR_TIMEOUT) {
    // The GPU may still use it: keep it, the caller can free it again.
    return gpb_fail(dev->last_error, st, "freeing buffer of %llu bytes: %s; the buffer is still allocated",
                    (unsigned long long)buf->size, err);
  }
  pthread_mutex_lock(&dev->lock);
  // Immediate mode syncs on every free, like runtimes without batching.
  for (uint32_t i = 0; i < dev->stream_count; i++) {
    gpb_stream_obj *s = dev->streams[i];
    pthread_mutex_lock(&s->lock);
    if (s->config.mode == GPB_MODE_IMMEDIATE) {
      s->counters.free_syncs++;
      gpb_status sync = gpb_stream_wait_serial_locked(s, s->batches.submitted_serial);
      if (sync != GPB_OK && st == GPB_OK) {
        st = sync;
        gpb_format(err, sizeof err, "%s", gpb_last_error());
      }
    }
    pthread_mutex_unlock(&s->lock);
  }
  gpb_buffer_release_locked(buf);
  pthread_mutex_unlock(&dev->lock);
  if (st != GPB_OK) return gpb_fail(dev->last_error, st, "freeing buffer: %s", err);
  return GPB_OK;
}

gpb_status gpb_buffer_map(gpb_buffer *buffer, gpb_host_access access, void **out_ptr) {
  if (!out_ptr) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_buffer_map: out_ptr is NULL");
  *out_ptr = NULL;
  gpb_buffer_obj *buf;
  gpb_status st = gpb_buffer_resolve(buffer, "gpb_buffer_map", &buf);
  if (st != GPB_OK) return st;
  gpb_device_obj *dev = buf->device;
  if (buf->kind != GPB_MEMORY_SHARED) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT,
                    "mapping a private buffer of %llu bytes: only shared buffers are host-visible",
                    (unsigned long long)buf->size);
  }
  if (access != GPB_HOST_READ && access != GPB_HOST_WRITE && access != (GPB_HOST_READ | GPB_HOST_WRITE)) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT, "mapping a buffer: unknown access %d", (int)access);
  }
  char err[GPB_MSG_MAX] = "";
  st = gpb_streams_wait_uses(dev, &buf->uses, access, GPB_FLUSH_READBACK, NULL, err);
  if (st != GPB_OK) return gpb_fail(dev->last_error, st, "mapping a shared buffer: %s", err);
  *out_ptr = buf->mapped;
  return GPB_OK;
}

// ---- kernels ----------------------------------------------------------------

gpb_status gpb_kernel_destroy(gpb_kernel *kernel) {
  if (!kernel) return GPB_OK;
  gpb_kernel_obj *k;
  gpb_status st = gpb_kernel_resolve(kernel, "gpb_kernel_destroy", &k);
  if (st != GPB_OK) return st;
  gpb_device_obj *dev = k->device;
  if (atomic_load(&k->program_refs) > 0) {
    return gpb_fail(dev->last_error, GPB_ERROR_FAILED_PRECONDITION,
                    "destroying kernel '%s', which %u program(s) use: destroy them first", k->info.name,
                    atomic_load(&k->program_refs));
  }
  char err[GPB_MSG_MAX] = "";
  // Recorded dispatches still reference the pipeline: let them run first.
  st = gpb_streams_wait_uses(dev, &k->uses, GPB_HOST_WRITE, GPB_FLUSH_SYNC, NULL, err);
  if (st == GPB_ERROR_TIMEOUT) {
    return gpb_fail(dev->last_error, st, "destroying kernel '%s': %s; the kernel is still alive", k->info.name, err);
  }
  char what[GPB_MSG_MAX];
  gpb_format(what, sizeof what, "destroying kernel '%s'", k->info.name);
  pthread_mutex_lock(&dev->lock);
  gpb_kernel_release_locked(k);
  pthread_mutex_unlock(&dev->lock);
  if (st != GPB_OK) return gpb_fail(dev->last_error, st, "%s: %s", what, err);
  return GPB_OK;
}

// ---- programs ---------------------------------------------------------------

gpb_status gpb_program_destroy(gpb_program *program) {
  if (!program) return GPB_OK;
  gpb_program_obj *p;
  gpb_status st = gpb_program_resolve(program, "gpb_program_destroy", &p);
  if (st != GPB_OK) return st;
  gpb_device_obj *dev = p->device;
  if (p->capturing_on) {
    return gpb_fail(dev->last_error, GPB_ERROR_FAILED_PRECONDITION, "destroying a program still being captured");
  }
  char err[GPB_MSG_MAX] = "";
  st = gpb_streams_wait_uses(dev, &p->uses, GPB_HOST_WRITE, GPB_FLUSH_SYNC, NULL, err);
  if (st == GPB_ERROR_TIMEOUT) {
    return gpb_fail(dev->last_error, st, "destroying a program: %s; the program is still alive", err);
  }
  // Its command buffer may still be touched by the driver right after the
  // last replay finished (see retire_completed in stream.c).
  char idle_err[GPB_MSG_MAX];
  if (p->uses.count > 0 && dev->be->device_wait_idle(dev->impl, idle_err) != GPB_OK && st == GPB_OK) {
    st = GPB_ERROR_DEVICE_LOST; // the device cannot say the replays are done: report it
    gpb_format(err, sizeof err, "%s", idle_err);
  }
  pthread_mutex_lock(&dev->lock);
  gpb_program_release_locked(p);
  pthread_mutex_unlock(&dev->lock);
  if (st != GPB_OK) return gpb_fail(dev->last_error, st, "destroying a program: %s", err);
  return GPB_OK;
}
