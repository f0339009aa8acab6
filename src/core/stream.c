// Streams: the batching state machine. See gpubatch/stream.h for the rules.
//
// A stream owns at most one pending batch (open command buffer). Commands go
// into it through the one record path (stream_record.c), preceded by a
// barrier when the hazard tracker finds a conflict. flush_locked submits it
// with the next serial on the stream's timeline; wait_serial_locked waits
// for a serial on the host. In-flight batches are recycled once the timeline
// passes their serial. Dispatch's argument checks are here, the copies' in
// stream_copy.c; what the files share, in stream_internal.h.
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/stream_internal.h"

// ---- errors ---------------------------------------------------------------

gpb_status gpb_stream_fail(gpb_stream_obj *s, gpb_status st, const char *fmt, ...) {
  char msg[GPB_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gpb_fail(s->last_error, st, "%s: %s", s->label, msg);
}

// Describes a batch for error messages: "batch 3 (12 dispatches of 'a', 'b'; last 'b')".
static void describe_batch(const gpb_batch *b, char *out, size_t cap) {
  char names[300] = "";
  size_t len = 0;
  for (uint32_t i = 0; i < b->names.count && len < sizeof names; i++) {
    len += (size_t)snprintf(names + len, sizeof names - len, "%s'%s'", i ? ", " : "", b->names.first[i]);
  }
  if (b->dispatches == 0) {
    gpb_format(out, cap, "batch %llu (%u copies, no kernels)", (unsigned long long)b->serial, b->commands);
  } else {
    gpb_format(out, cap, "batch %llu (%u dispatches of %s%s; last kernel '%s')", (unsigned long long)b->serial,
               b->dispatches, names, b->names.count == 4 ? ", ..." : "", b->names.last);
  }
}

// Makes the stream's error sticky; later calls fail fast with this cause.
static gpb_status make_sticky(gpb_stream_obj *s, gpb_status st, const char *msg) {
  if (s->sticky == GPB_OK) {
    s->sticky = st;
    gpb_format(s->sticky_msg, sizeof s->sticky_msg, "%s: %s", s->label, msg);
  }
  return gpb_fail_msg(s->last_error, st, s->sticky_msg);
}

gpb_status gpb_stream_check_sticky(gpb_stream_obj *s) {
  if (s->sticky == GPB_OK) return GPB_OK;
  return gpb_fail(s->last_error, s->sticky, "%s failed earlier: %s", s->label, s->sticky_msg);
}

// ---- batches --------------------------------------------------------------

// Tracing: turns a completed batch's timestamps into GPU events on the host
// clock (see core/trace.h): through a calibrated pair of clock readings, else
// by taking the batch's end as the moment the host saw it complete.
static void trace_gpu_spans(gpb_stream_obj *s, gpb_batch *b) {
  uint64_t ns[GPB_TRACE_TIMESTAMPS];
  char err[GPB_MSG_MAX];
  uint32_t n = b->traced_commands;
  const gpb_backend *be = s->device->be;
  if (n == 0 || be->batch_timestamps_read(s->device->impl, b->impl, n + 1, ns, err) != GPB_OK) return;
  uint64_t gpu_ns = 0, host_ns = 0;
  double offset = be->timestamp_calibrate && be->timestamp_calibrate(s->device->impl, &gpu_ns, &host_ns, err) == GPB_OK
                      ? ((double)host_ns - (double)gpu_ns) / 1e3
                      : gpb_trace_now_us() - (double)ns[n] / 1e3;
  for (uint32_t i = 0; i < n; i++) {
    char args[64];
    gpb_format(args, sizeof args, "\"batch\": %llu, \"command\": %u", (unsigned long long)b->serial, i);
    double start = (double)ns[i] / 1e3 + offset, end = (double)ns[i + 1] / 1e3 + offset;
    gpb_trace_event(s->device->trace, true, s->id, b->traced_names[i], "gpu", start, end > start ? end - start : 0,
                    args);
  }
}

// Moves finished batches to the free list, keeping the most recently finished
// one back: its command buffer is reused only once a later batch of the
// stream has finished too. Lavapipe (Mesa 22.3.6) still touches a command
// buffer after signaling the timeline for it, and resetting it at that moment
// crashed its queue thread under load (seen with `gpubatch selftest` on a
// loaded 2-core machine; fine with this one batch of slack).
static void retire_completed(gpb_stream_obj *s) {
  if (s->device->trace) { // spans as soon as a batch finished, not when it is recycled
    for (gpb_batch *b = s->inflight_head; b && b->serial <= s->completed_serial; b = b->next) {
      if (b->traced) trace_gpu_spans(s, b);
      b->traced = false;
    }
  }
  while (s->inflight_head && s->inflight_head->serial < s->completed_serial) {
    gpb_batch *b = s->inflight_head;
    s->inflight_head = b->next;
    if (!s->inflight_head) s->inflight_tail = NULL;
    s->inflight_count--;
    b->next = s->free_batches;
    s->free_batches = b;
  }
}

gpb_status gpb_stream_refresh_completed(gpb_stream_obj *s) {
  if (s->completed_serial == s->submitted_serial) return GPB_OK;
  char err[GPB_MSG_MAX] = "";
  uint64_t value = 0;
  gpb_status st = s->device->be->timeline_completed(s->device->impl, s->timeline, &value, err);
  if (st != GPB_OK) return make_sticky(s, st, err);
  if (value > s->completed_serial) s->completed_serial = value;
  retire_completed(s);
  return GPB_OK;
}

static const struct {
  const char *name;
  size_t counter; // offset in gpb_counters
} flush_reasons[] = {
#define GPB_FLUSH_REASON_ROW(suffix, name, counter) {name, offsetof(gpb_counters, counter)},
    GPB_FLUSH_REASON_LIST(GPB_FLUSH_REASON_ROW)
#undef GPB_FLUSH_REASON_ROW
};

static const char *flush_reason_name(gpb_flush_reason reason) {
  return (unsigned)reason < sizeof flush_reasons / sizeof flush_reasons[0] ? flush_reasons[reason].name : "?";
}

static uint64_t *flush_counter(gpb_stream_obj *s, gpb_flush_reason reason) {
  return (uint64_t *)((char *)&s->counters + flush_reasons[reason].counter);
}

// Remembers that batch `serial` waits on the timelines in s->waits.
static void note_waited(gpb_stream_obj *s, uint64_t serial) {
  for (uint32_t i = 0; i < s->wait_count; i++) {
    uint32_t j = 0;
    while (j < s->waited_count && s->waited[j].timeline != s->waits[i].timeline) j++;
    if (j == s->waited_count) {
      if (s->waited_count == s->waited_cap) {
        uint32_t cap = s->waited_cap ? s->waited_cap * 2 : 4;
        gpb_be_wait *w = realloc(s->waited, cap * sizeof *w);
        if (!w) {
          s->waited_untracked = true;
          continue;
        }
        s->waited = w;
        s->waited_cap = cap;
      }
      s->waited[s->waited_count++].timeline = s->waits[i].timeline;
    }
    s->waited[j].value = serial;
  }
}

gpb_status gpb_stream_flush_locked(gpb_stream_obj *s, gpb_flush_reason reason) {
  gpb_status st = gpb_stream_check_sticky(s);
  if (st != GPB_OK || !s->pending) return st;
  gpb_batch *b = s->pending;
  s->pending = NULL;
  char err[GPB_MSG_MAX] = "";
  double t0 = s->device->trace ? gpb_trace_now_us() : 0;
  st = s->device->be->batch_submit(s->device->impl, b->impl, s->timeline, b->serial, s->waits, s->wait_count, err);
  if (s->device->trace) {
    char args[128];
    gpb_format(args, sizeof args, "\"reason\": \"%s\", \"batch\": %llu, \"dispatches\": %u, \"commands\": %u",
               flush_reason_name(reason), (unsigned long long)b->serial, b->dispatches, b->commands);
    gpb_trace_event(s->device->trace, false, s->id, "submit", "flush", t0, gpb_trace_now_us() - t0, args);
  }
  if (st != GPB_OK) {
    char what[400];
    describe_batch(b, what, sizeof what);
    b->next = s->free_batches;
    s->free_batches = b;
    gpb_staging_forget_unsubmitted(&s->staging, s->submitted_serial);
    char msg[GPB_MSG_MAX];
    gpb_format(msg, sizeof msg, "submitting %s failed: %s", what, err);
    return make_sticky(s, st, msg);
  }
  s->submitted_serial = b->serial;
  note_waited(s, b->serial);
  s->wait_count = 0;
  if (s->inflight_tail)
    s->inflight_tail->next = b;
  else
    s->inflight_head = b;
  s->inflight_tail = b;
  s->inflight_count++;
  s->counters.flushes++;
  s->counters.submits++;
  (*flush_counter(s, reason))++;
  return GPB_OK;
}

// Waits, whatever the stream's error, until the batches up to `serial` that
// were submitted are done, or the device says it cannot tell (lost): after a
// failure the caller may release memory those batches use, which is only
// valid once they finished. Best effort: errors here change nothing.
static void drain_submitted(gpb_stream_obj *s, uint64_t serial) {
  if (serial > s->submitted_serial) serial = s->submitted_serial;
  if (serial <= s->completed_serial) return;
  char err[GPB_MSG_MAX];
  gpb_device_obj *dev = s->device;
  if (dev->be->timeline_wait(dev->impl, s->timeline, serial, dev->wait_timeout_ns, err) != GPB_OK) {
    dev->be->device_wait_idle(dev->impl, err);
    return;
  }
  s->completed_serial = serial;
  retire_completed(s);
}

gpb_status gpb_stream_wait_serial_locked(gpb_stream_obj *s, uint64_t serial) {
  // Work that was never submitted (a failed stream) cannot be waited for.
  if (serial > s->submitted_serial) serial = s->submitted_serial;
  if (s->sticky != GPB_OK) {
    drain_submitted(s, serial);
    return gpb_stream_check_sticky(s);
  }
  gpb_status st = serial > s->completed_serial ? gpb_stream_refresh_completed(s) : GPB_OK;
  if (st == GPB_OK && serial > s->completed_serial) {
    char err[GPB_MSG_MAX] = "";
    s->counters.waits++;
    double t0 = s->device->trace ? gpb_trace_now_us() : 0;
    st = s->device->be->timeline_wait(s->device->impl, s->timeline, serial, s->device->wait_timeout_ns, err);
    if (s->device->trace) {
      char args[48];
      gpb_format(args, sizeof args, "\"batch\": %llu", (unsigned long long)serial);
      gpb_trace_event(s->device->trace, false, s->id, "wait", "wait", t0, gpb_trace_now_us() - t0, args);
    }
    if (st == GPB_OK) {
      s->completed_serial = serial;
      retire_completed(s);
    } else {
      // Blame the oldest batch that had not finished (the list starts with
      // the last finished one: see retire_completed).
      char what[400] = "work";
      const gpb_batch *oldest = s->inflight_head;
      while (oldest && oldest->serial <= s->completed_serial) oldest = oldest->next;
      if (oldest) describe_batch(oldest, what, sizeof what);
      if (st == GPB_ERROR_TIMEOUT) return gpb_stream_fail(s, st, "waiting for %s: %s", what, err);
      char msg[GPB_MSG_MAX];
      gpb_format(msg, sizeof msg, "%s failed while running: %s", what, err);
      st = make_sticky(s, st, msg);
    }
  }
  if (st != GPB_OK) drain_submitted(s, serial); // the stream just failed
  return st;
}

// ---- arguments ------------------------------------------------------------

// Commands that a capturing stream refuses (gpubatch/program.h).
gpb_status gpb_stream_refuse_if_capturing(gpb_stream_obj *s, const char *op) {
  if (!s->capture) return GPB_OK;
  return gpb_stream_fail(s, GPB_ERROR_FAILED_PRECONDITION,
                         "%s: the stream is capturing a program (end the capture first)", op);
}

// Fails a call on `s` given a handle that is not live (NULL:
// GPB_ERROR_INVALID_ARGUMENT, else GPB_ERROR_INVALID_HANDLE); `what` names it.
static gpb_status stream_fail_handle(gpb_stream_obj *s, const char *what, gpb_handle_type type, const void *handle) {
  char op[GPB_MSG_MAX];
  gpb_format(op, sizeof op, "%s: %s", s->label, what);
  return gpb_handle_fail(s->last_error, op, type, (uintptr_t)handle);
}

// Names a buffer argument in messages: "<op>: <what>", or "<op> '<kernel>':
// argument N (binding B)" when `what` is NULL.
static void arg_name(char *out, size_t cap, const char *op, const char *what, const gpb_kernel_obj *kernel,
                     uint32_t arg) {
  if (what)
    gpb_format(out, cap, "%s: %s", op, what);
  else
    gpb_format(out, cap, "%s '%s': argument %u (binding %u)", op, kernel->info.name, arg,
               kernel->info.bindings[arg].binding);
}

// Resolves a buffer handle given to a call on `s`: it must be live and of
// the stream's device. The message is composed only on failure (this runs
// for every argument of every dispatch).
static gpb_status resolve_buffer(gpb_stream_obj *s, const char *op, const char *what, const gpb_kernel_obj *kernel,
                                 uint32_t arg, const gpb_buffer *handle, gpb_buffer_obj **out_buf) {
  gpb_buffer_obj *buf = gpb_buffer_obj_of(handle);
  *out_buf = NULL;
  if (buf && buf->device == s->device) {
    *out_buf = buf;
    return GPB_OK;
  }
  char name[160];
  arg_name(name, sizeof name, op, what, kernel, arg);
  if (!buf) return stream_fail_handle(s, name, GPB_HANDLE_BUFFER, handle);
  return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT, "%s: buffer belongs to %s, the stream to %s", name,
                         buf->device->label, s->device->label);
}

// Checks that [offset, offset + bytes) lies in `buf`; names it as arg_name does.
static gpb_status check_range(gpb_stream_obj *s, const char *op, const char *what, const gpb_kernel_obj *kernel,
                              uint32_t arg, const gpb_buffer_obj *buf, uint64_t offset, uint64_t bytes) {
  if (offset <= buf->size && bytes <= buf->size - offset) return GPB_OK;
  char name[160];
  arg_name(name, sizeof name, op, what, kernel, arg);
  return gpb_stream_fail(s, GPB_ERROR_OUT_OF_RANGE, "%s: range [%llu, +%llu) is past the end of the %llu-byte buffer",
                         name, (unsigned long long)offset, (unsigned long long)bytes, (unsigned long long)buf->size);
}

// A buffer handle and a range of it, for the copies: resolve_buffer, then
// check_range.
gpb_status gpb_stream_resolve_range(gpb_stream_obj *s, const char *op, const char *what, const gpb_buffer *handle,
                                    uint64_t offset, uint64_t bytes, gpb_buffer_obj **out_buf) {
  gpb_status st = resolve_buffer(s, op, what, NULL, 0, handle, out_buf);
  if (st == GPB_OK) st = check_range(s, op, what, NULL, 0, *out_buf, offset, bytes);
  return st;
}

// Explains why argument `i` of a dispatch of `k` is refused (not its range).
static gpb_status arg_fail(gpb_stream_obj *s, const gpb_kernel_obj *k, uint32_t i, uint64_t offset, uint64_t size) {
  const gpb_kernel_binding *bind = &k->info.bindings[i];
  const gpb_device_info *info = &s->device->info;
  char what[160];
  gpb_format(what, sizeof what, "dispatch of '%s': argument %u (binding %u)", k->info.name, i, bind->binding);
  if (size == 0) return gpb_stream_fail(s, GPB_ERROR_OUT_OF_RANGE, "%s is empty", what);
  if (offset % info->min_storage_buffer_offset_alignment != 0) {
    return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT,
                           "%s offset %llu is not a multiple of the device's %llu-byte storage alignment", what,
                           (unsigned long long)offset, (unsigned long long)info->min_storage_buffer_offset_alignment);
  }
  if (size < bind->min_size) {
    return gpb_stream_fail(s, GPB_ERROR_OUT_OF_RANGE, "%s has %llu bytes, the kernel's block needs at least %llu", what,
                           (unsigned long long)size, (unsigned long long)bind->min_size);
  }
  return gpb_stream_fail(s, GPB_ERROR_UNSUPPORTED, "%s has %llu bytes, more than the device's %llu-byte storage range",
                         what, (unsigned long long)size, (unsigned long long)info->max_storage_buffer_range);
}

gpb_status gpb_stream_dispatch(gpb_stream *stream, const gpb_dispatch *d) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_dispatch", &s);
  if (st != GPB_OK) return st;
  if (!d) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_stream_dispatch: dispatch is NULL");
  gpb_kernel_obj *k = gpb_kernel_obj_of(d->kernel);
  if (!k) return stream_fail_handle(s, "dispatch", GPB_HANDLE_KERNEL, d->kernel);
  const char *name = k->info.name;
  if (k->device != s->device)
    return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT, "dispatch of '%s': kernel belongs to %s, the stream to %s",
                           name, k->device->label, s->device->label);
  for (int i = 0; i < 3; i++) {
    if (d->groups[i] == 0 || d->groups[i] > s->device->info.max_workgroup_count[i]) {
      return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT,
                             "dispatch of '%s': workgroup count %u in dimension %d is outside [1, %u]", name,
                             d->groups[i], i, s->device->info.max_workgroup_count[i]);
    }
  }
  if (d->arg_count != k->info.binding_count || (d->arg_count > 0 && !d->args)) {
    return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT,
                           "dispatch of '%s': %u buffer arguments given, the kernel has %u bindings", name,
                           d->args ? d->arg_count : 0, k->info.binding_count);
  }
  if (d->push_constant_bytes != k->info.push_constant_bytes || (d->push_constant_bytes > 0 && !d->push_constants)) {
    return gpb_stream_fail(s, GPB_ERROR_INVALID_ARGUMENT,
                           "dispatch of '%s': %u push-constant bytes given, the kernel takes %u", name,
                           d->push_constants ? d->push_constant_bytes : 0, k->info.push_constant_bytes);
  }
  gpb_buffer_obj *bufs[GPB_MAX_BINDINGS];
  gpb_access acc[GPB_MAX_BINDINGS];
  gpb_be_arg args[GPB_MAX_BINDINGS];
  for (uint32_t i = 0; i < d->arg_count; i++) {
    const gpb_arg *a = &d->args[i];
    const gpb_kernel_binding *bind = &k->info.bindings[i];
    st = resolve_buffer(s, "dispatch of", NULL, k, i, a->buffer, &bufs[i]);
    if (st != GPB_OK) return st;
    gpb_buffer_obj *buf = bufs[i];
    uint64_t size = a->size;
    if (size == 0 && a->offset < buf->size) size = buf->size - a->offset;
    st = check_range(s, "dispatch of", NULL, k, i, buf, a->offset, size);
    if (st != GPB_OK) return st;
    uint64_t align = s->device->info.min_storage_buffer_offset_alignment;
    if (size == 0 || (align > 1 && a->offset % align != 0) || size < bind->min_size ||
        size > s->device->info.max_storage_buffer_range) {
      return arg_fail(s, k, i, a->offset, size);
    }
    acc[i] = (gpb_access){.buffer_id = buf->id, .begin = a->offset, .end = a->offset + size, .write = !bind->read_only};
    args[i] = (gpb_be_arg){.buffer = buf->impl, .offset = a->offset, .size = size};
  }

  gpb_cmd cmd = {.kind = GPB_CMD_DISPATCH,
                 .name = name,
                 .accesses = acc,
                 .buffers = bufs,
                 .access_count = d->arg_count,
                 .dispatch = {k, d->groups, args, d->push_constants, d->push_constant_bytes}};
  double t0 = s->device->trace ? gpb_trace_now_us() : 0;
  pthread_mutex_lock(&s->lock);
  st = gpb_stream_check_sticky(s);
  if (st == GPB_OK) st = gpb_stream_record(s, &cmd);
  pthread_mutex_unlock(&s->lock);
  if (s->device->trace)
    gpb_trace_event(s->device->trace, false, s->id, name, "record", t0, gpb_trace_now_us() - t0, NULL);
  return st;
}

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
  if (st == GPB_OK) st = gpb_stream_wait_serial_locked(s, s->submitted_serial);
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
  if (!signaler) return stream_fail_handle(waiter, "waiting on another stream", GPB_HANDLE_STREAM, signaler_stream);
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
  uint64_t value = signaler->submitted_serial;
  bool done = value <= signaler->completed_serial;
  pthread_mutex_unlock(&signaler->lock);
  if (st != GPB_OK) return gpb_stream_fail(waiter, st, "waiting on %s: %s", signaler->label, gpb_last_error());
  if (done) return GPB_OK;
  pthread_mutex_lock(&waiter->lock);
  st = gpb_stream_check_sticky(waiter);
  uint32_t i = 0;
  while (st == GPB_OK && i < waiter->wait_count && waiter->waits[i].timeline != signaler->timeline) i++;
  if (st == GPB_OK && i == waiter->wait_count) {
    if (waiter->wait_count == waiter->wait_cap) {
      uint32_t cap = waiter->wait_cap ? waiter->wait_cap * 2 : 4;
      gpb_be_wait *w = realloc(waiter->waits, cap * sizeof *w);
      if (!w)
        st =
            gpb_stream_fail(waiter, GPB_ERROR_OUT_OF_HOST_MEMORY, "waiting on %s: out of host memory", signaler->label);
      else {
        waiter->waits = w;
        waiter->wait_cap = cap;
      }
    }
    if (st == GPB_OK) waiter->waits[waiter->wait_count++] = (gpb_be_wait){signaler->timeline, 0};
  }
  if (st == GPB_OK && waiter->waits[i].value < value) waiter->waits[i].value = value;
  pthread_mutex_unlock(&waiter->lock);
  return st;
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
  s->mode = o.mode;
  s->barrier_policy = o.barriers;
  s->max_batch_dispatches = o.max_batch_dispatches;
  s->inline_upload_max_bytes = o.inline_upload_max_bytes;
  s->staging.max_buffers = o.staging_max_buffers;
  s->staging.max_bytes = o.staging_max_bytes;
  s->staging.buffer_bytes = o.staging_buffer_bytes;
  gpb_hazard_init(&s->hazards);
  pthread_mutex_init(&s->lock, NULL);

  pthread_mutex_lock(&dev->lock);
  uint32_t queue = dev->next_queue++ % dev->queue_count;
  gpb_format(s->label, sizeof s->label, is_default ? "default stream" : "stream %u", dev->next_queue - 1);
  char err[GPB_MSG_MAX] = "";
  gpb_status st = dev->be->timeline_create(dev->impl, queue, &s->timeline, err);
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
  gpb_status idle = s->timeline ? dev->be->device_wait_idle(dev->impl, err) : GPB_OK;
  if (s->pending) s->pending->next = NULL;
  destroy_batch_list(s, s->pending);
  destroy_batch_list(s, s->inflight_head);
  destroy_batch_list(s, s->free_batches);
  for (uint32_t i = 0; i < s->staging.count; i++) dev->be->buffer_destroy(dev->impl, s->staging.slots[i].memory);
  free(s->staging.slots);
  if (s->readback) dev->be->buffer_destroy(dev->impl, s->readback);
  if (s->timeline) dev->be->timeline_destroy(dev->impl, s->timeline);
  gpb_hazard_release(&s->hazards);
  free(s->waits);
  free(s->waited);
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
    for (uint32_t w = 0; w < other->wait_count; w++) {
      if (other->waits[w].timeline == s->timeline) other->waits[w--] = other->waits[--other->wait_count];
    }
    uint64_t waited = other->waited_untracked ? other->submitted_serial : 0;
    for (uint32_t w = 0; w < other->waited_count; w++) {
      if (other->waited[w].timeline != s->timeline) continue;
      if (other->waited[w].value > waited) waited = other->waited[w].value;
      other->waited[w--] = other->waited[--other->waited_count];
    }
    if (waited > other->completed_serial && gpb_stream_wait_serial_locked(other, waited) != GPB_OK && st == GPB_OK) {
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
  return s->mode;
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
