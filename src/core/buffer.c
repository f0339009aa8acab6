// Buffers: creation, release and getters. Freeing and mapping wait for the
// GPU work that uses a buffer: they are in release.c, above the streams.
#include <stdlib.h>
#include <string.h>

#include "core/buffer.h"

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
