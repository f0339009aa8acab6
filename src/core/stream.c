// Streams: the batching state machine. See gpubatch/stream.h for the rules.
//
// A stream owns at most one pending batch (open command buffer). Commands go
// into it through the one record path (stream_record.c), preceded by a
// barrier when the hazard tracker finds a conflict; stream_submit.c submits
// and waits for batches. This file has the stream's sync and cross-stream
// order, the waits of frees and host access, and its lifetime.
// The public commands are in stream_dispatch.c, stream_copy.c and
// stream_capture.c; what the files share, in stream_internal.h.
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stream_internal.h"

// ---- sync and cross-stream order ------------------------------------------

gpb_status gpb_stream_flush(gpb_stream *stream) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_flush", &s);
  if (st != GPB_OK) return st;
  pthread_mutex_lock(&s->lock);
  st = gpb_stream_refuse_if_capturing(s, "flush");
  if (st == GPB_OK) st = gpb_stream_flush_locked(s, GPB_FLUSH_SYNC);
  pthread_mutex_unlock(&s->lock);
  return st;
}

gpb_status gpb_stream_sync_internal(gpb_stream_obj *s) {
  pthread_mutex_lock(&s->lock);
  s->counters.syncs++;
  gpb_status st = gpb_stream_refuse_if_capturing(s, "sync");
  if (st == GPB_OK) st = gpb_stream_flush_locked(s, GPB_FLUSH_SYNC);
  if (st == GPB_OK) st = gpb_stream_wait_serial_locked(s, s->batches.submitted_serial);
  pthread_mutex_unlock(&s->lock);
  return st;
}

gpb_status gpb_stream_sync(gpb_stream *stream) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_sync", &s);
  if (st != GPB_OK) return st;
  return gpb_stream_sync_internal(s);
}

gpb_status gpb_stream_wait_stream(gpb_stream *waiter_stream, gpb_stream *signaler_stream) {
  gpb_stream_obj *waiter;
  gpb_status st = gpb_stream_resolve(waiter_stream, "gpb_stream_wait_stream", &waiter);
  if (st != GPB_OK) return st;
  gpb_stream_obj *signaler = gpb_stream_obj_of(signaler_stream);
  if (!signaler) return gpb_stream_fail_handle(waiter, "waiting on another stream", GPB_HANDLE_STREAM, signaler_stream);
  if (waiter->device != signaler->device) {
    return gpb_stream_fail(waiter, GPB_ERROR_INVALID_ARGUMENT, "waiting on %s: it belongs to %s, the waiter to %s",
                           signaler->label, signaler->device->label, waiter->device->label);
  }
  pthread_mutex_lock(&waiter->lock);
  gpb_status capturing = gpb_stream_refuse_if_capturing(waiter, "waiting on another stream");
  pthread_mutex_unlock(&waiter->lock);
  if (capturing != GPB_OK) return capturing;
  if (waiter == signaler) return GPB_OK; // a stream is already ordered with itself
  pthread_mutex_lock(&signaler->lock);
  st = gpb_stream_flush_locked(signaler, GPB_FLUSH_WAIT);
  uint64_t value = signaler->batches.submitted_serial;
  bool done = value <= signaler->batches.completed_serial;
  pthread_mutex_unlock(&signaler->lock);
  if (st != GPB_OK) return gpb_stream_fail(waiter, st, "waiting on %s: %s", signaler->label, gpb_last_error());
  if (done) return GPB_OK;
  pthread_mutex_lock(&waiter->lock);
  st = gpb_stream_check_sticky(waiter);
  uint32_t i = 0;
  while (st == GPB_OK && i < waiter->order.wait_count && waiter->order.waits[i].timeline != signaler->batches.timeline)
    i++;
  if (st == GPB_OK && i == waiter->order.wait_count) {
    if (waiter->order.wait_count == waiter->order.wait_cap) {
      uint32_t cap = waiter->order.wait_cap ? waiter->order.wait_cap * 2 : 4;
      gpb_be_wait *w = realloc(waiter->order.waits, cap * sizeof *w);
      if (!w)
        st =
            gpb_stream_fail(waiter, GPB_ERROR_OUT_OF_HOST_MEMORY, "waiting on %s: out of host memory", signaler->label);
      else {
        waiter->order.waits = w;
        waiter->order.wait_cap = cap;
      }
    }
    if (st == GPB_OK) waiter->order.waits[waiter->order.wait_count++] = (gpb_be_wait){signaler->batches.timeline, 0};
  }
  if (st == GPB_OK && waiter->order.waits[i].value < value) waiter->order.waits[i].value = value;
  pthread_mutex_unlock(&waiter->lock);
  return st;
}

// ---- waiting for a resource's users ----------------------------------------

static gpb_stream_obj *find_stream_locked(gpb_device_obj *dev, uint64_t stream_id) {
  for (uint32_t i = 0; i < dev->stream_count; i++) {
    if (dev->streams[i]->id == stream_id) return dev->streams[i];
  }
  return NULL;
}

static void count_flush_wait(gpb_stream_obj *s, gpb_flush_reason reason) {
  if (reason == GPB_FLUSH_FREE) s->counters.free_syncs++;
}

gpb_status gpb_streams_wait_uses(gpb_device_obj *device, gpb_uses *uses, gpb_host_access access,
                                 gpb_flush_reason reason, bool *out_waited, char *err_msg) {
  bool waited = false;
  gpb_status first = GPB_OK;
  pthread_mutex_lock(&device->lock);
  gpb_use local[8];
  uint32_t count = 0;
  gpb_use *items = gpb_uses_snapshot(uses, local, 8, &count);
  if (!items) {
    pthread_mutex_unlock(&device->lock);
    return gpb_fail(err_msg, GPB_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
  }

  for (uint32_t i = 0; i < count; i++) {
    uint64_t serial = items[i].write_serial;
    if ((access & GPB_HOST_WRITE) && items[i].read_serial > serial) serial = items[i].read_serial;
    if (serial == 0) continue;
    gpb_stream_obj *s = find_stream_locked(device, items[i].stream_id);
    if (!s) continue; // destroyed streams finished all their work
    pthread_mutex_lock(&s->lock);
    gpb_status st = GPB_OK;
    if (serial > s->batches.completed_serial) {
      waited = true;
      count_flush_wait(s, reason);
      if (serial > s->batches.submitted_serial) st = gpb_stream_flush_locked(s, reason);
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

// ---- lifetime -------------------------------------------------------------

gpb_status gpb_stream_create_internal(gpb_device_obj *dev, const gpb_stream_options *options, bool is_default,
                                      gpb_stream_obj **out_stream) {
  gpb_stream_options o = options ? *options : (gpb_stream_options){0};
  if (o.mode == GPB_MODE_DEFAULT) o.mode = dev->default_mode;
  if (o.mode != GPB_MODE_BATCHED && o.mode != GPB_MODE_IMMEDIATE) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT, "new stream: unknown mode %d", (int)o.mode);
  }
  if (o.barriers != GPB_BARRIERS_TRACKED && o.barriers != GPB_BARRIERS_ALWAYS) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT, "new stream: unknown barrier policy %d",
                    (int)o.barriers);
  }
  if (o.max_batch_dispatches == 0) o.max_batch_dispatches = GPB_DEFAULT_MAX_BATCH_DISPATCHES;
  if (o.staging_max_buffers == 0) o.staging_max_buffers = 64;
  if (o.staging_max_bytes == 0) o.staging_max_bytes = 64ull << 20;
  if (o.staging_buffer_bytes == 0) o.staging_buffer_bytes = 8ull << 20;
  if (o.staging_buffer_bytes > o.staging_max_bytes) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT,
                    "new stream: staging buffer size %llu exceeds the pool's byte bound %llu",
                    (unsigned long long)o.staging_buffer_bytes, (unsigned long long)o.staging_max_bytes);
  }
  if (o.inline_upload_max_bytes == 0) o.inline_upload_max_bytes = 4096;
  if (o.inline_upload_max_bytes == GPB_NO_INLINE_UPLOADS)
    o.inline_upload_max_bytes = 0;
  else if (o.inline_upload_max_bytes > 65536 || o.inline_upload_max_bytes % 4 != 0) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT,
                    "new stream: inline upload limit %u must be a multiple of 4 up to 65536",
                    o.inline_upload_max_bytes);
  }

  gpb_stream_obj *s = calloc(1, sizeof *s);
  uintptr_t handle = 0;
  if (!s || gpb_handle_create(GPB_HANDLE_STREAM, s, &handle) != GPB_OK) {
    free(s);
    return gpb_fail(dev->last_error, GPB_ERROR_OUT_OF_HOST_MEMORY, "new stream: out of host memory");
  }
  s->handle = (gpb_stream *)handle;
  s->device = dev;
  s->id = gpb_next_id();
  s->is_default = is_default;
  s->config.mode = o.mode;
  s->config.barrier_policy = o.barriers;
  s->config.max_batch_dispatches = o.max_batch_dispatches;
  s->config.inline_upload_max_bytes = o.inline_upload_max_bytes;
  s->transfer.staging.max_buffers = o.staging_max_buffers;
  s->transfer.staging.max_bytes = o.staging_max_bytes;
  s->transfer.staging.buffer_bytes = o.staging_buffer_bytes;
  gpb_hazard_init(&s->record.hazards);
  pthread_mutex_init(&s->lock, NULL);

  pthread_mutex_lock(&dev->lock);
  uint32_t queue = dev->next_queue++ % dev->queue_count;
  gpb_format(s->label, sizeof s->label, is_default ? "default stream" : "stream %u", dev->next_queue - 1);
  char err[GPB_MSG_MAX] = "";
  gpb_status st = dev->be->timeline_create(dev->impl, queue, &s->batches.timeline, err);
  if (st == GPB_OK && dev->stream_count == dev->stream_cap) {
    uint32_t cap = dev->stream_cap ? dev->stream_cap * 2 : 4;
    gpb_stream_obj **streams = realloc(dev->streams, cap * sizeof *streams);
    if (!streams) {
      st = GPB_ERROR_OUT_OF_HOST_MEMORY;
      gpb_format(err, sizeof err, "out of host memory");
    } else {
      dev->streams = streams;
      dev->stream_cap = cap;
    }
  }
  if (st == GPB_OK) dev->streams[dev->stream_count++] = s;
  pthread_mutex_unlock(&dev->lock);
  if (st == GPB_OK && dev->trace) gpb_trace_name_track(dev->trace, s->id, s->label);
  if (st != GPB_OK) {
    char ignored[GPB_MSG_MAX];
    gpb_stream_release(s, ignored);
    return gpb_fail(dev->last_error, st, "new stream: %s", err);
  }
  *out_stream = s;
  return GPB_OK;
}

gpb_status gpb_stream_create(gpb_device *device, const gpb_stream_options *options, gpb_stream **out_stream) {
  if (!out_stream) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_stream_create: out_stream is NULL");
  *out_stream = NULL;
  gpb_device_obj *dev;
  gpb_status st = gpb_device_resolve(device, "gpb_stream_create", &dev);
  if (st != GPB_OK) return st;
  gpb_stream_obj *s;
  st = gpb_stream_create_internal(dev, options, false, &s);
  if (st == GPB_OK) *out_stream = s->handle;
  return st;
}

static void destroy_batch_list(gpb_stream_obj *s, gpb_batch *b) {
  while (b) {
    gpb_batch *next = b->next;
    s->device->be->batch_destroy(s->device->impl, b->impl);
    free(b->traced_names);
    free(b->barrier_before);
    free(b);
    b = next;
  }
}

gpb_status gpb_stream_release(gpb_stream_obj *s, char *err) {
  gpb_device_obj *dev = s->device;
  gpb_handle_destroy((uintptr_t)s->handle);
  // Submitted work may still run (a failed stream), and the last finished
  // batch may still be touched by the driver (see retire_completed): let the
  // device go idle before freeing command buffers and the timeline. Lavapipe
  // (Mesa 22.3) touches a timeline semaphore after the batches that waited
  // on it completed: destroying it at once corrupts its heap
  // (tests/upstream/lavapipe-stream-destroy.md).
  gpb_status idle = s->batches.timeline ? dev->be->device_wait_idle(dev->impl, err) : GPB_OK;
  if (s->batches.pending) s->batches.pending->next = NULL;
  destroy_batch_list(s, s->batches.pending);
  destroy_batch_list(s, s->batches.inflight_head);
  destroy_batch_list(s, s->batches.free_batches);
  for (uint32_t i = 0; i < s->transfer.staging.count; i++)
    dev->be->buffer_destroy(dev->impl, s->transfer.staging.slots[i].memory);
  free(s->transfer.staging.slots);
  if (s->transfer.readback) dev->be->buffer_destroy(dev->impl, s->transfer.readback);
  if (s->batches.timeline) dev->be->timeline_destroy(dev->impl, s->batches.timeline);
  gpb_hazard_release(&s->record.hazards);
  free(s->order.waits);
  free(s->order.waited);
  pthread_mutex_destroy(&s->lock);
  free(s);
  return idle;
}

gpb_status gpb_stream_destroy(gpb_stream *stream) {
  if (!stream) return GPB_OK;
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_destroy", &s);
  if (st != GPB_OK) return st;
  gpb_device_obj *dev = s->device;
  if (s->is_default) {
    return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT,
                           "the default stream lives as long as its device and cannot be destroyed");
  }
  pthread_mutex_lock(&s->lock);
  gpb_status capturing = gpb_stream_refuse_if_capturing(s, "destroying the stream");
  pthread_mutex_unlock(&s->lock);
  if (capturing != GPB_OK) return capturing;
  pthread_mutex_lock(&dev->lock);
  st = gpb_stream_sync_internal(s);
  char msg[GPB_MSG_MAX] = "";
  if (st != GPB_OK) gpb_format(msg, sizeof msg, "%s", gpb_last_error());
  for (uint32_t i = 0; i < dev->stream_count; i++) {
    gpb_stream_obj *other = dev->streams[i];
    if (other == s) {
      dev->streams[i--] = dev->streams[--dev->stream_count];
      continue;
    }
    // This stream's semaphore is about to go. Waits on it not yet submitted
    // are satisfied (it is synced): drop them. Batches already submitted
    // with a wait on it must finish first: a semaphore that pending work
    // refers to may not be destroyed (and a new one may reuse its handle).
    pthread_mutex_lock(&other->lock);
    for (uint32_t w = 0; w < other->order.wait_count; w++) {
      if (other->order.waits[w].timeline == s->batches.timeline)
        other->order.waits[w--] = other->order.waits[--other->order.wait_count];
    }
    uint64_t waited = other->order.waited_untracked ? other->batches.submitted_serial : 0;
    for (uint32_t w = 0; w < other->order.waited_count; w++) {
      if (other->order.waited[w].timeline != s->batches.timeline) continue;
      if (other->order.waited[w].value > waited) waited = other->order.waited[w].value;
      other->order.waited[w--] = other->order.waited[--other->order.waited_count];
    }
    if (waited > other->batches.completed_serial && gpb_stream_wait_serial_locked(other, waited) != GPB_OK &&
        st == GPB_OK) {
      st = other->sticky != GPB_OK ? other->sticky : GPB_ERROR_DEVICE_LOST;
      gpb_format(msg, sizeof msg, "%s", gpb_last_error());
    }
    pthread_mutex_unlock(&other->lock);
  }
  pthread_mutex_unlock(&dev->lock);
  char err[GPB_MSG_MAX] = "";
  gpb_status idle = gpb_stream_release(s, err);
  if (st == GPB_OK && idle != GPB_OK) {
    st = idle;
    gpb_format(msg, sizeof msg, "destroying a stream: %s", err);
  }
  if (st != GPB_OK) return gpb_fail_msg(NULL, st, msg);
  return GPB_OK;
}

// The getters return a neutral value for a handle that is not live, with the
// reason in gpb_last_error (NULL leaves no message).

gpb_device *gpb_stream_device(const gpb_stream *stream) {
  gpb_stream_obj *s;
  if (!stream || gpb_stream_resolve(stream, "gpb_stream_device", &s) != GPB_OK) return NULL;
  return s->device->handle;
}

gpb_mode gpb_stream_mode(const gpb_stream *stream) {
  gpb_stream_obj *s;
  if (!stream || gpb_stream_resolve(stream, "gpb_stream_mode", &s) != GPB_OK) return GPB_MODE_DEFAULT;
  return s->config.mode;
}

const char *gpb_stream_last_error(gpb_stream *stream) {
  gpb_stream_obj *s;
  if (!stream || gpb_stream_resolve(stream, "gpb_stream_last_error", &s) != GPB_OK) return "";
  return s->last_error;
}

gpb_status gpb_stream_get_counters(gpb_stream *stream, gpb_counters *out) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_get_counters", &s);
  if (st != GPB_OK) return st;
  if (!out) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_stream_get_counters: out_counters is NULL");
  pthread_mutex_lock(&s->lock);
  *out = s->counters;
  pthread_mutex_unlock(&s->lock);
  return GPB_OK;
}

gpb_status gpb_stream_reset_counters(gpb_stream *stream) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_reset_counters", &s);
  if (st != GPB_OK) return st;
  pthread_mutex_lock(&s->lock);
  memset(&s->counters, 0, sizeof s->counters);
  pthread_mutex_unlock(&s->lock);
  return GPB_OK;
}
