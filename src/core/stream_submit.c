// Submitting and waiting for a stream's batches: the pending batch goes to
// the queue with the next serial of the stream's timeline (flush_locked);
// the host waits for a serial (wait_serial_locked); batches the timeline
// passed are recycled. A failed submission or wait makes the stream's error
// sticky. Every function with the stream lock held.
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/stream_internal.h"

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
    for (gpb_batch *b = s->batches.inflight_head; b && b->serial <= s->batches.completed_serial; b = b->next) {
      if (b->traced) trace_gpu_spans(s, b);
      b->traced = false;
    }
  }
  while (s->batches.inflight_head && s->batches.inflight_head->serial < s->batches.completed_serial) {
    gpb_batch *b = s->batches.inflight_head;
    s->batches.inflight_head = b->next;
    if (!s->batches.inflight_head) s->batches.inflight_tail = NULL;
    s->batches.inflight_count--;
    b->next = s->batches.free_batches;
    s->batches.free_batches = b;
  }
}

gpb_status gpb_stream_refresh_completed(gpb_stream_obj *s) {
  if (s->batches.completed_serial == s->batches.submitted_serial) return GPB_OK;
  char err[GPB_MSG_MAX] = "";
  uint64_t value = 0;
  gpb_status st = s->device->be->timeline_completed(s->device->impl, s->batches.timeline, &value, err);
  if (st != GPB_OK) return gpb_stream_make_sticky(s, st, err);
  if (value > s->batches.completed_serial) s->batches.completed_serial = value;
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

// Remembers that batch `serial` waits on the timelines in s->order.waits.
static void note_waited(gpb_stream_obj *s, uint64_t serial) {
  for (uint32_t i = 0; i < s->order.wait_count; i++) {
    uint32_t j = 0;
    while (j < s->order.waited_count && s->order.waited[j].timeline != s->order.waits[i].timeline) j++;
    if (j == s->order.waited_count) {
      if (s->order.waited_count == s->order.waited_cap) {
        uint32_t cap = s->order.waited_cap ? s->order.waited_cap * 2 : 4;
        gpb_be_wait *w = realloc(s->order.waited, cap * sizeof *w);
        if (!w) {
          s->order.waited_untracked = true;
          continue;
        }
        s->order.waited = w;
        s->order.waited_cap = cap;
      }
      s->order.waited[s->order.waited_count++].timeline = s->order.waits[i].timeline;
    }
    s->order.waited[j].value = serial;
  }
}

gpb_status gpb_stream_flush_locked(gpb_stream_obj *s, gpb_flush_reason reason) {
  gpb_status st = gpb_stream_check_sticky(s);
  if (st != GPB_OK || !s->batches.pending) return st;
  gpb_batch *b = s->batches.pending;
  s->batches.pending = NULL;
  char err[GPB_MSG_MAX] = "";
  double t0 = s->device->trace ? gpb_trace_now_us() : 0;
  st = s->device->be->batch_submit(s->device->impl, b->impl, s->batches.timeline, b->serial, s->order.waits,
                                   s->order.wait_count, err);
  if (s->device->trace) {
    char args[128];
    gpb_format(args, sizeof args, "\"reason\": \"%s\", \"batch\": %llu, \"dispatches\": %u, \"commands\": %u",
               flush_reason_name(reason), (unsigned long long)b->serial, b->dispatches, b->commands);
    gpb_trace_event(s->device->trace, false, s->id, "submit", "flush", t0, gpb_trace_now_us() - t0, args);
  }
  if (st != GPB_OK) {
    char what[400];
    describe_batch(b, what, sizeof what);
    b->next = s->batches.free_batches;
    s->batches.free_batches = b;
    gpb_staging_forget_unsubmitted(&s->transfer.staging, s->batches.submitted_serial);
    char msg[GPB_MSG_MAX];
    gpb_format(msg, sizeof msg, "submitting %s failed: %s", what, err);
    return gpb_stream_make_sticky(s, st, msg);
  }
  s->batches.submitted_serial = b->serial;
  note_waited(s, b->serial);
  s->order.wait_count = 0;
  if (s->batches.inflight_tail)
    s->batches.inflight_tail->next = b;
  else
    s->batches.inflight_head = b;
  s->batches.inflight_tail = b;
  s->batches.inflight_count++;
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
  if (serial > s->batches.submitted_serial) serial = s->batches.submitted_serial;
  if (serial <= s->batches.completed_serial) return;
  char err[GPB_MSG_MAX];
  gpb_device_obj *dev = s->device;
  if (dev->be->timeline_wait(dev->impl, s->batches.timeline, serial, dev->wait_timeout_ns, err) != GPB_OK) {
    dev->be->device_wait_idle(dev->impl, err);
    return;
  }
  s->batches.completed_serial = serial;
  retire_completed(s);
}

gpb_status gpb_stream_wait_serial_locked(gpb_stream_obj *s, uint64_t serial) {
  // Work that was never submitted (a failed stream) cannot be waited for.
  if (serial > s->batches.submitted_serial) serial = s->batches.submitted_serial;
  if (s->sticky != GPB_OK) {
    drain_submitted(s, serial);
    return gpb_stream_check_sticky(s);
  }
  gpb_status st = serial > s->batches.completed_serial ? gpb_stream_refresh_completed(s) : GPB_OK;
  if (st == GPB_OK && serial > s->batches.completed_serial) {
    char err[GPB_MSG_MAX] = "";
    s->counters.waits++;
    double t0 = s->device->trace ? gpb_trace_now_us() : 0;
    st = s->device->be->timeline_wait(s->device->impl, s->batches.timeline, serial, s->device->wait_timeout_ns, err);
    if (s->device->trace) {
      char args[48];
      gpb_format(args, sizeof args, "\"batch\": %llu", (unsigned long long)serial);
      gpb_trace_event(s->device->trace, false, s->id, "wait", "wait", t0, gpb_trace_now_us() - t0, args);
    }
    if (st == GPB_OK) {
      s->batches.completed_serial = serial;
      retire_completed(s);
    } else {
      // Blame the oldest batch that had not finished (the list starts with
      // the last finished one: see retire_completed).
      char what[400] = "work";
      const gpb_batch *oldest = s->batches.inflight_head;
      while (oldest && oldest->serial <= s->batches.completed_serial) oldest = oldest->next;
      if (oldest) describe_batch(oldest, what, sizeof what);
      if (st == GPB_ERROR_TIMEOUT) return gpb_stream_fail(s, st, "waiting for %s: %s", what, err);
      char msg[GPB_MSG_MAX];
      gpb_format(msg, sizeof msg, "%s failed while running: %s", what, err);
      st = gpb_stream_make_sticky(s, st, msg);
    }
  }
  if (st != GPB_OK) drain_submitted(s, serial); // the stream just failed
  return st;
}
