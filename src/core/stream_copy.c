// Stream copies: host->device (inline, staged, or straight into a shared
// buffer), device->host (through the stream's readback buffer, or straight
// from a shared one) and device->device. See gpubatch/stream.h.
#include <stdlib.h>
#include <string.h>

#include "core/stream_internal.h"

// ---- copies ---------------------------------------------------------------

// Places `bytes` (<= staging buffer size) in a staging slot of the pending
// batch, flushing and waiting when the pool is full. Stream lock held.
static gpb_status staging_acquire(gpb_stream_obj *s, uint64_t bytes, gpb_staging_plan *out) {
  char err[GPB_MSG_MAX] = "";
  for (;;) {
    gpb_status st = gpb_stream_refresh_completed(s);
    if (st != GPB_OK) return st;
    uint64_t pending_serial = s->batches.submitted_serial + 1;
    gpb_staging_plan plan =
        gpb_staging_plan_upload(&s->transfer.staging, bytes, pending_serial, s->batches.completed_serial);
    switch (plan.action) {
    case GPB_STAGING_USE: *out = plan; return GPB_OK;
    case GPB_STAGING_CREATE: {
      gpb_staging_pool *pool = &s->transfer.staging;
      gpb_staging_slot *slots = realloc(pool->slots, (pool->count + 1) * sizeof *slots);
      if (!slots) return gpb_stream_fail(s, GPB_ERROR_OUT_OF_HOST_MEMORY, "staging pool: out of host memory");
      pool->slots = slots;
      gpb_staging_slot *slot = &slots[pool->count];
      *slot = (gpb_staging_slot){.size = plan.size};
      void *mapped = NULL;
      st = s->device->be->buffer_create(s->device->impl, plan.size, GPB_BE_MEMORY_UPLOAD,
                                        (gpb_be_buffer **)&slot->memory, &mapped, err);
      if (st != GPB_OK)
        return gpb_stream_fail(s, st, "creating a %llu-byte staging buffer: %s", (unsigned long long)plan.size, err);
      slot->mapped = mapped;
      pool->total_bytes += plan.size;
      out->action = GPB_STAGING_USE;
      out->slot = pool->count++;
      out->offset = 0;
      return GPB_OK;
    }
    case GPB_STAGING_DROP:
      s->device->be->buffer_destroy(s->device->impl, s->transfer.staging.slots[plan.slot].memory);
      gpb_staging_remove(&s->transfer.staging, plan.slot);
      break;
    case GPB_STAGING_WAIT:
      if (plan.serial > s->batches.submitted_serial) {
        st = gpb_stream_flush_locked(s, GPB_FLUSH_STAGING);
        if (st != GPB_OK) return st;
      }
      s->counters.staging_waits++;
      st = gpb_stream_wait_serial_locked(s, plan.serial);
      if (st != GPB_OK) return st;
      break;
    }
  }
}

// Records an upload of host bytes into a private buffer (or one with
// unfinished GPU uses). Stream lock held.
static gpb_status upload_locked(gpb_stream_obj *s, const uint8_t *src, gpb_buffer_obj *dst, uint64_t offset,
                                uint64_t bytes) {
  gpb_buffer_obj *const bufs[1] = {dst};
  if (bytes <= s->config.inline_upload_max_bytes && bytes % 4 == 0 && offset % 4 == 0) {
    gpb_access acc = {dst->id, offset, offset + bytes, true};
    gpb_cmd cmd = {.kind = GPB_CMD_UPLOAD_INLINE,
                   .name = "upload (inline)",
                   .accesses = &acc,
                   .buffers = bufs,
                   .access_count = 1,
                   .update = {.dst = dst->impl, .offset = offset, .bytes = bytes, .data = src}};
    return gpb_stream_record(s, &cmd);
  }
  for (uint64_t done = 0; done < bytes;) {
    uint64_t n = bytes - done;
    if (n > s->transfer.staging.buffer_bytes) n = s->transfer.staging.buffer_bytes;
    gpb_staging_plan plan = {0};
    gpb_status st = staging_acquire(s, n, &plan);
    if (st != GPB_OK) return st;
    gpb_staging_slot *slot = &s->transfer.staging.slots[plan.slot];
    memcpy(slot->mapped + plan.offset, src + done, n);
    gpb_access acc = {dst->id, offset + done, offset + done + n, true};
    gpb_cmd cmd = {.kind = GPB_CMD_UPLOAD_STAGED,
                   .name = "upload (staged)",
                   .accesses = &acc,
                   .buffers = bufs,
                   .access_count = 1,
                   .copy = {.src = slot->memory,
                            .dst = dst->impl,
                            .src_offset = plan.offset,
                            .dst_offset = offset + done,
                            .bytes = n,
                            .staging_slot = plan.slot}};
    st = gpb_stream_record(s, &cmd);
    if (st != GPB_OK) return st;
    done += n;
  }
  return GPB_OK;
}

// A copy to or from a SHARED buffer is a host access, as gpb_buffer_map: it
// waits for the GPU work that conflicts with `access`, then copies
// directly. Refused while the stream captures.
static gpb_status copy_shared(gpb_stream_obj *s, const char *op, gpb_buffer_obj *buf, gpb_host_access access, void *to,
                              const void *from, uint64_t bytes) {
  pthread_mutex_lock(&s->lock);
  gpb_status st = gpb_stream_refuse_if_capturing(s, op);
  pthread_mutex_unlock(&s->lock);
  if (st != GPB_OK) return st;
  char err[GPB_MSG_MAX] = "";
  st = gpb_streams_wait_uses(s->device, &buf->uses, access, GPB_FLUSH_READBACK, NULL, err);
  pthread_mutex_lock(&s->lock);
  if (st != GPB_OK) {
    st = gpb_stream_fail(s, st, "%s: %s", op, err);
  } else {
    memcpy(to, from, bytes);
    if (access == GPB_HOST_WRITE) {
      s->counters.cpu_to_gpu++;
      s->counters.direct_bytes += bytes;
    } else {
      s->counters.gpu_to_cpu++;
    }
  }
  pthread_mutex_unlock(&s->lock);
  return st;
}

// What both host copies begin with (`access`: GPB_HOST_WRITE for
// host->device, GPB_HOST_READ for device->host): the stream, the host pointer
// and the buffer's range checked, and a copy that a SHARED buffer allows done
// right here. *out_buffer is NULL when nothing is left to record (a refusal,
// zero bytes, or the shared copy done); the status says how it went.
static gpb_status host_copy_start(gpb_stream *stream, const char *api, gpb_host_access access, void *host_dst,
                                  const void *host_src, gpb_buffer *buffer, uint64_t offset, uint64_t bytes,
                                  gpb_stream_obj **out_stream, gpb_buffer_obj **out_buffer) {
  bool upload = access == GPB_HOST_WRITE;
  const char *op = upload ? "host->device copy" : "device->host copy";
  *out_buffer = NULL;
  gpb_status st = gpb_stream_resolve(stream, api, out_stream);
  if (st != GPB_OK) return st;
  gpb_stream_obj *s = *out_stream;
  if (upload ? !host_src : !host_dst)
    return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT, "%s: %s pointer is NULL", op,
                           upload ? "source" : "destination");
  gpb_buffer_obj *buf;
  st = gpb_stream_resolve_range(s, op, upload ? "destination" : "source", buffer, offset, bytes, &buf);
  if (st != GPB_OK || bytes == 0) return st;
  if (buf->kind == GPB_MEMORY_SHARED)
    return upload ? copy_shared(s, op, buf, access, buf->mapped + offset, host_src, bytes)
                  : copy_shared(s, op, buf, access, host_dst, buf->mapped + offset, bytes);
  *out_buffer = buf;
  return GPB_OK;
}

gpb_status gpb_stream_copy_to_device(gpb_stream *stream, const void *src, gpb_buffer *dst, uint64_t dst_offset,
                                     uint64_t bytes) {
  gpb_stream_obj *s;
  gpb_buffer_obj *dst_buf;
  gpb_status st = host_copy_start(stream, "gpb_stream_copy_to_device", GPB_HOST_WRITE, NULL, src, dst, dst_offset,
                                  bytes, &s, &dst_buf);
  if (!dst_buf) return st;
  pthread_mutex_lock(&s->lock);
  st = gpb_stream_check_sticky(s);
  if (st == GPB_OK) st = gpb_stream_refuse_if_capturing(s, "host->device copy");
  if (st == GPB_OK) {
    s->counters.cpu_to_gpu++;
    st = upload_locked(s, src, dst_buf, dst_offset, bytes);
  }
  // Immediate mode waits for every upload, as unbatched runtimes do.
  if (st == GPB_OK && s->config.mode == GPB_MODE_IMMEDIATE)
    st = gpb_stream_wait_serial_locked(s, s->batches.submitted_serial);
  pthread_mutex_unlock(&s->lock);
  return st;
}

static gpb_status readback_reserve(gpb_stream_obj *s, uint64_t bytes) {
  if (s->transfer.readback_size >= bytes) return GPB_OK;
  uint64_t size = gpb_staging_buffer_size(&s->transfer.staging, bytes);
  char err[GPB_MSG_MAX] = "";
  if (s->transfer.readback) s->device->be->buffer_destroy(s->device->impl, s->transfer.readback); // never in use here
  s->transfer.readback = NULL;
  s->transfer.readback_size = 0;
  void *mapped = NULL;
  gpb_status st =
      s->device->be->buffer_create(s->device->impl, size, GPB_BE_MEMORY_READBACK, &s->transfer.readback, &mapped, err);
  if (st != GPB_OK)
    return gpb_stream_fail(s, st, "creating a %llu-byte readback buffer: %s", (unsigned long long)size, err);
  s->transfer.readback_mapped = mapped;
  s->transfer.readback_size = size;
  return GPB_OK;
}

gpb_status gpb_stream_copy_to_host(gpb_stream *stream, gpb_buffer *src, uint64_t src_offset, void *dst,
                                   uint64_t bytes) {
  gpb_stream_obj *s;
  gpb_buffer_obj *src_buf;
  gpb_status st = host_copy_start(stream, "gpb_stream_copy_to_host", GPB_HOST_READ, dst, NULL, src, src_offset, bytes,
                                  &s, &src_buf);
  if (!src_buf) return st;
  pthread_mutex_lock(&s->lock);
  st = gpb_stream_check_sticky(s);
  if (st == GPB_OK) st = gpb_stream_refuse_if_capturing(s, "device->host copy");
  if (st == GPB_OK) s->counters.gpu_to_cpu++;
  for (uint64_t done = 0; st == GPB_OK && done < bytes;) {
    uint64_t n = bytes - done;
    if (n > s->transfer.staging.buffer_bytes) n = s->transfer.staging.buffer_bytes;
    st = readback_reserve(s, n);
    gpb_access acc = {src_buf->id, src_offset + done, src_offset + done + n, false};
    gpb_buffer_obj *const bufs[1] = {src_buf};
    gpb_cmd cmd = {
        .kind = GPB_CMD_READBACK,
        .name = "readback",
        .accesses = &acc,
        .buffers = bufs,
        .access_count = 1,
        .copy = {.src = src_buf->impl, .dst = s->transfer.readback, .src_offset = src_offset + done, .bytes = n}};
    if (st == GPB_OK) st = gpb_stream_record(s, &cmd);
    if (st != GPB_OK) break;
    st = gpb_stream_flush_locked(s, GPB_FLUSH_READBACK);
    if (st == GPB_OK) st = gpb_stream_wait_serial_locked(s, s->batches.submitted_serial);
    if (st == GPB_OK) memcpy((uint8_t *)dst + done, s->transfer.readback_mapped, n);
    done += n;
  }
  pthread_mutex_unlock(&s->lock);
  return st;
}

gpb_status gpb_stream_copy_buffer(gpb_stream *stream, gpb_buffer *src, uint64_t src_offset, gpb_buffer *dst,
                                  uint64_t dst_offset, uint64_t bytes) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_copy_buffer", &s);
  if (st != GPB_OK) return st;
  gpb_buffer_obj *src_buf = NULL, *dst_buf = NULL;
  st = gpb_stream_resolve_range(s, "device->device copy", "source", src, src_offset, bytes, &src_buf);
  if (st == GPB_OK)
    st = gpb_stream_resolve_range(s, "device->device copy", "destination", dst, dst_offset, bytes, &dst_buf);
  if (st != GPB_OK || bytes == 0) return st;
  if (src_buf == dst_buf && gpb_ranges_overlap(src_offset, src_offset + bytes, dst_offset, dst_offset + bytes)) {
    return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT, "device->device copy: source and destination ranges overlap");
  }
  gpb_access acc[2] = {{src_buf->id, src_offset, src_offset + bytes, false},
                       {dst_buf->id, dst_offset, dst_offset + bytes, true}};
  gpb_buffer_obj *const bufs[2] = {src_buf, dst_buf};
  gpb_cmd cmd = {.kind = GPB_CMD_COPY,
                 .name = "copy",
                 .accesses = acc,
                 .buffers = bufs,
                 .access_count = 2,
                 .copy = {.src = src_buf->impl,
                          .dst = dst_buf->impl,
                          .src_offset = src_offset,
                          .dst_offset = dst_offset,
                          .bytes = bytes}};
  pthread_mutex_lock(&s->lock);
  st = gpb_stream_check_sticky(s);
  if (st == GPB_OK) st = gpb_stream_record(s, &cmd);
  pthread_mutex_unlock(&s->lock);
  return st;
}
