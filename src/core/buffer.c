// Buffers, and the record of which unfinished GPU work uses a resource.
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

void gpb_uses_init(gpb_uses *uses) {
  memset(uses, 0, sizeof *uses);
  pthread_mutex_init(&uses->lock, NULL);
}

void gpb_uses_release(gpb_uses *uses) {
  free(uses->items);
  pthread_mutex_destroy(&uses->lock);
}

gpb_status gpb_uses_note(gpb_uses *uses, uint64_t stream_id, uint64_t serial, bool write) {
  gpb_status st = GPB_OK;
  pthread_mutex_lock(&uses->lock);
  gpb_use *use = NULL;
  for (uint32_t i = 0; i < uses->count; i++) {
    if (uses->items[i].stream_id == stream_id) {
      use = &uses->items[i];
      break;
    }
  }
  if (!use) {
    if (uses->count == uses->cap) {
      uint32_t cap = uses->cap ? uses->cap * 2 : 2;
      gpb_use *items = realloc(uses->items, cap * sizeof *items);
      if (!items) {
        st = GPB_ERROR_OUT_OF_HOST_MEMORY;
        goto out;
      }
      uses->items = items;
      uses->cap = cap;
    }
    use = &uses->items[uses->count++];
    *use = (gpb_use){.stream_id = stream_id};
  }
  if (write)
    use->write_serial = serial;
  else
    use->read_serial = serial;
out:
  pthread_mutex_unlock(&uses->lock);
  return st;
}

uint32_t gpb_uses_note_all(const gpb_use_note *notes, uint32_t count, uint64_t stream_id, uint64_t serial) {
  for (uint32_t i = 0; i < count; i++) {
    if (gpb_uses_note(notes[i].uses, stream_id, serial, notes[i].write) != GPB_OK) return i;
  }
  return count;
}

static void count_flush_wait(gpb_stream_obj *s, gpb_flush_reason reason) {
  if (reason == GPB_FLUSH_FREE) s->counters.free_syncs++;
}

gpb_status gpb_uses_wait(gpb_device_obj *device, gpb_uses *uses, gpb_host_access access, gpb_flush_reason reason,
                         bool *out_waited, char *err_msg) {
  bool waited = false;
  gpb_status first = GPB_OK;
  pthread_mutex_lock(&device->lock);
  pthread_mutex_lock(&uses->lock);
  uint32_t count = uses->count;
  gpb_use local[8];
  gpb_use *items = count <= 8 ? local : malloc(count * sizeof *items);
  if (!items) {
    pthread_mutex_unlock(&uses->lock);
    pthread_mutex_unlock(&device->lock);
    return gpb_fail(err_msg, GPB_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
  }
  if (count) memcpy(items, uses->items, count * sizeof *items);
  pthread_mutex_unlock(&uses->lock);

  for (uint32_t i = 0; i < count; i++) {
    uint64_t serial = items[i].write_serial;
    if ((access & GPB_HOST_WRITE) && items[i].read_serial > serial) serial = items[i].read_serial;
    if (serial == 0) continue;
    gpb_stream_obj *s = gpb_device_find_stream_locked(device, items[i].stream_id);
    if (!s) continue; // destroyed streams finished all their work
    pthread_mutex_lock(&s->lock);
    gpb_status st = GPB_OK;
    if (serial > s->completed_serial) {
      waited = true;
      count_flush_wait(s, reason);
      if (serial > s->submitted_serial) st = gpb_stream_flush_locked(s, reason);
      if (st == GPB_OK) st = gpb_stream_wait_serial_locked(s, serial);
    }
    if (st != GPB_OK && first == GPB_OK) {
      first = st;
      gpb_format(err_msg, GPB_MSG_MAX, "%s", gpb_last_error());
    }
    pthread_mutex_unlock(&s->lock);
  }
  pthread_mutex_unlock(&device->lock);
  if (items != local) free(items);
  if (out_waited) *out_waited = waited;
  if (first != GPB_OK) return gpb_fail_msg(NULL, first, err_msg);
  return GPB_OK;
}

gpb_status gpb_buffer_create(gpb_device *device, uint64_t size, gpb_memory_kind kind, gpb_buffer **out_buffer) {
  if (!out_buffer) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_buffer_create: out_buffer is NULL");
  *out_buffer = NULL;
  gpb_device_obj *dev;
  gpb_status st = gpb_device_resolve(device, "gpb_buffer_create", &dev);
  if (st != GPB_OK) return st;
  if (size == 0) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT, "buffer of 0 bytes: size must be > 0");
  }
  if (kind != GPB_MEMORY_PRIVATE && kind != GPB_MEMORY_SHARED) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT, "buffer of %llu bytes: unknown memory kind %d",
                    (unsigned long long)size, (int)kind);
  }
  gpb_buffer_obj *buf = calloc(1, sizeof *buf);
  if (!buf) return gpb_fail(dev->last_error, GPB_ERROR_OUT_OF_HOST_MEMORY, "buffer: out of host memory");
  char err[GPB_MSG_MAX] = "";
  void *mapped = NULL;
  st = dev->be->buffer_create(dev->impl, size, (gpb_be_memory)kind, &buf->impl, &mapped, err);
  if (st != GPB_OK) {
    free(buf);
    return gpb_fail(dev->last_error, st, "%s buffer of %llu bytes: %s",
                    kind == GPB_MEMORY_SHARED ? "shared" : "private", (unsigned long long)size, err);
  }
  uintptr_t handle;
  if (gpb_handle_create(GPB_HANDLE_BUFFER, buf, &handle) != GPB_OK) {
    dev->be->buffer_destroy(dev->impl, buf->impl);
    free(buf);
    return gpb_fail(dev->last_error, GPB_ERROR_OUT_OF_HOST_MEMORY, "buffer: no handle left (out of host memory)");
  }
  buf->handle = (gpb_buffer *)handle;
  buf->device = dev;
  buf->mapped = mapped;
  buf->size = size;
  buf->kind = kind;
  buf->id = gpb_next_id();
  gpb_uses_init(&buf->uses);
  pthread_mutex_lock(&dev->lock);
  buf->next = dev->buffers;
  if (dev->buffers) dev->buffers->prev = buf;
  dev->buffers = buf;
  pthread_mutex_unlock(&dev->lock);
  *out_buffer = buf->handle;
  return GPB_OK;
}

void gpb_buffer_release_locked(gpb_buffer_obj *buf) {
  gpb_device_obj *dev = buf->device;
  gpb_handle_destroy((uintptr_t)buf->handle);
  if (buf->prev)
    buf->prev->next = buf->next;
  else
    dev->buffers = buf->next;
  if (buf->next) buf->next->prev = buf->prev;
  dev->be->buffer_destroy(dev->impl, buf->impl);
  gpb_uses_release(&buf->uses);
  free(buf);
}

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
  st = gpb_uses_wait(dev, &buf->uses, GPB_HOST_WRITE, GPB_FLUSH_FREE, NULL, err);
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
    if (s->mode == GPB_MODE_IMMEDIATE) {
      s->counters.free_syncs++;
      gpb_status sync = gpb_stream_wait_serial_locked(s, s->submitted_serial);
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

// The getters return a neutral value for a handle that is not live, with the
// reason in gpb_last_error (NULL leaves no message).

uint64_t gpb_buffer_size(const gpb_buffer *buffer) {
  gpb_buffer_obj *buf;
  if (!buffer || gpb_buffer_resolve(buffer, "gpb_buffer_size", &buf) != GPB_OK) return 0;
  return buf->size;
}

gpb_memory_kind gpb_buffer_kind(const gpb_buffer *buffer) {
  gpb_buffer_obj *buf;
  if (!buffer || gpb_buffer_resolve(buffer, "gpb_buffer_kind", &buf) != GPB_OK) return GPB_MEMORY_PRIVATE;
  return buf->kind;
}

gpb_device *gpb_buffer_device(const gpb_buffer *buffer) {
  gpb_buffer_obj *buf;
  if (!buffer || gpb_buffer_resolve(buffer, "gpb_buffer_device", &buf) != GPB_OK) return NULL;
  return buf->device->handle;
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
  st = gpb_uses_wait(dev, &buf->uses, access, GPB_FLUSH_READBACK, NULL, err);
  if (st != GPB_OK) return gpb_fail(dev->last_error, st, "mapping a shared buffer: %s", err);
  *out_ptr = buf->mapped;
  return GPB_OK;
}
