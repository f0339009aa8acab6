// Recording: the one path every command takes from a public call to the
// backend, whether it lands in the stream's pending batch or in the program
// the stream captures.
//
// A public call validates its arguments and describes the command
// (gpb_cmd); gpb_stream_record picks the target, asks the target's hazard
// tracker whether a barrier must come first, notes which resources the
// command uses (for frees and host access: gpb_uses; for a program: its
// references), records it, counts it, timestamps it when tracing, and ends
// it (immediate mode and the dispatch cap submit here).
#include <stdlib.h>
#include <string.h>

#include "core/stream_internal.h"

// Where a command goes: the pending batch or the program being captured.
// Each has its own hazard tracker; only the batch counts barriers.
typedef struct record_target {
  gpb_be_batch *impl;
  gpb_hazard_tracker *hazards;
  uint32_t commands;        // recorded in it so far
  gpb_batch *batch;         // the pending batch, or NULL
  gpb_program_obj *program; // the program being captured, or NULL
} record_target;

// Opens the pending batch (or returns the open one).
static gpb_status batch_open(gpb_stream_obj *s, gpb_batch **out) {
  if (s->batches.pending) {
    *out = s->batches.pending;
    return GPB_OK;
  }
  gpb_status st = gpb_stream_refresh_completed(s);
  if (st == GPB_OK && !s->batches.free_batches && s->batches.inflight_count >= GPB_MAX_INFLIGHT_BATCHES &&
      s->batches.inflight_head->next) {
    st = gpb_stream_wait_serial_locked(
        s, s->batches.inflight_head->next->serial); // frees the oldest (see retire_completed)
  }
  if (st != GPB_OK) return st;
  gpb_batch *b = s->batches.free_batches;
  char err[GPB_MSG_MAX] = "";
  if (b) {
    s->batches.free_batches = b->next;
  } else {
    b = calloc(1, sizeof *b);
    if (!b) return gpb_stream_fail(s, GPB_ERROR_OUT_OF_HOST_MEMORY, "new batch: out of host memory");
    st = s->device->be->batch_create(s->device->impl, &b->impl, err);
    if (st != GPB_OK) {
      free(b);
      return gpb_stream_fail(s, st, "creating a command buffer: %s", err);
    }
  }
  st = s->device->be->batch_begin(s->device->impl, b->impl, err);
  if (st != GPB_OK) {
    b->next = s->batches.free_batches;
    s->batches.free_batches = b;
    return gpb_stream_fail(s, st, "beginning a command buffer: %s", err);
  }
  b->serial = s->batches.submitted_serial + 1;
  b->dispatches = b->commands = 0;
  b->names = (gpb_kernel_names){0};
  b->traced = false;
  b->traced_commands = 0;
  b->barrier_count = 0;
  if (s->device->trace && s->device->be->batch_timestamps_begin) {
    if (!b->traced_names) b->traced_names = calloc(GPB_TRACE_TIMESTAMPS, sizeof *b->traced_names);
    b->traced = b->traced_names &&
                s->device->be->batch_timestamps_begin(s->device->impl, b->impl, GPB_TRACE_TIMESTAMPS, err) == GPB_OK;
    if (b->traced) s->device->be->cmd_timestamp(b->impl, 0);
  }
  b->next = NULL;
  s->batches.pending = b;
  gpb_hazard_reset(&s->record.hazards);
  *out = b;
  return GPB_OK;
}

static gpb_status target_open(gpb_stream_obj *s, record_target *t) {
  gpb_program_obj *p = s->record.capture;
  if (p) {
    *t = (record_target){.impl = p->impl, .hazards = &p->hazards, .commands = p->commands, .program = p};
    return GPB_OK;
  }
  gpb_batch *b;
  gpb_status st = batch_open(s, &b);
  if (st != GPB_OK) return st;
  *t = (record_target){.impl = b->impl, .hazards = &s->record.hazards, .commands = b->commands, .batch = b};
  return GPB_OK;
}

// Records a barrier before the target's next command (and, for tests, where
// in a batch).
static void record_barrier(gpb_stream_obj *s, const record_target *t) {
  s->device->be->cmd_barrier(t->impl);
  gpb_batch *b = t->batch;
  if (!b) return;
  s->counters.barriers++;
  if (!s->record.record_barriers) return;
  if (b->barrier_count == b->barrier_cap) {
    uint32_t cap = b->barrier_cap ? b->barrier_cap * 2 : 64;
    uint32_t *before = realloc(b->barrier_before, cap * sizeof *before);
    if (!before) return; // a debug record only: the query then shows fewer
    b->barrier_before = before;
    b->barrier_cap = cap;
  }
  b->barrier_before[b->barrier_count++] = b->commands;
}

void gpb_stream_debug_barriers(const gpb_stream_obj *s, const uint32_t **out_before, uint32_t *out_count,
                               uint32_t *out_commands) {
  const gpb_batch *b = s->batches.pending;
  *out_before = b ? b->barrier_before : NULL;
  *out_count = b ? b->barrier_count : 0;
  *out_commands = b ? b->commands : 0;
}

// The barrier before the command, where the target's hazard tracker asks for
// one (or the stream's policy puts one everywhere).
static gpb_status place_barrier(gpb_stream_obj *s, const record_target *t, const gpb_access *acc, size_t n) {
  bool barrier = false;
  gpb_status st =
      gpb_hazard_next(t->hazards, acc, n, t->commands > 0, s->config.barrier_policy == GPB_BARRIERS_ALWAYS, &barrier);
  if (barrier)
    record_barrier(s, t);
  else if (t->batch && t->commands > 0)
    s->counters.barriers_elided++;
  if (st != GPB_OK) {
    // The tracker forgot what came before: a barrier keeps the next command safe.
    record_barrier(s, t);
    return t->batch ? gpb_stream_fail(s, st, "hazard tracking: out of host memory")
                    : gpb_fail(NULL, st, "out of host memory");
  }
  return GPB_OK;
}

// Notes what the command uses: in a batch, for the waits of frees and host
// access (gpb_uses); in a program, as its references (held until it is
// destroyed) and its replay footprint.
static gpb_status note_uses(gpb_stream_obj *s, const record_target *t, const gpb_cmd *c) {
  if (t->program) {
    gpb_program_obj *p = t->program;
    gpb_status st = gpb_program_note_accesses(p, c->accesses, c->access_count);
    if (st == GPB_OK && c->kind == GPB_CMD_DISPATCH) st = gpb_program_note_ref(p, NULL, c->dispatch.kernel, false);
    for (uint32_t i = 0; st == GPB_OK && i < c->access_count; i++)
      st = gpb_program_note_ref(p, c->buffers[i], NULL, c->accesses[i].write);
    return st;
  }
  const gpb_use_note *notes;
  uint32_t count;
  gpb_use_note local[GPB_MAX_BINDINGS + 1];
  if (c->kind == GPB_CMD_EXECUTE) {
    notes = c->execute.program->replay_uses;
    count = c->execute.program->replay_use_count;
  } else {
    count = 0;
    if (c->kind == GPB_CMD_DISPATCH) local[count++] = (gpb_use_note){&c->dispatch.kernel->uses, false, "kernel"};
    for (uint32_t i = 0; i < c->access_count; i++)
      local[count++] = (gpb_use_note){&c->buffers[i]->uses, c->accesses[i].write, "buffer"};
    notes = local;
  }
  uint32_t failed = gpb_uses_note_all(notes, count, s->id, t->batch->serial);
  if (failed == count) return GPB_OK;
  return gpb_stream_fail(s, GPB_ERROR_OUT_OF_HOST_MEMORY, "tracking %s use: out of host memory", notes[failed].what);
}

static void emit(const gpb_backend *be, gpb_be_batch *impl, const gpb_cmd *c) {
  switch (c->kind) {
  case GPB_CMD_DISPATCH:
    be->cmd_dispatch(impl, c->dispatch.kernel->pipeline->impl, c->dispatch.groups, c->dispatch.args, c->access_count,
                     c->dispatch.push_constants, c->dispatch.push_constant_bytes);
    break;
  case GPB_CMD_COPY:
  case GPB_CMD_UPLOAD_STAGED:
  case GPB_CMD_READBACK:
    be->cmd_copy(impl, c->copy.src, c->copy.src_offset, c->copy.dst, c->copy.dst_offset, c->copy.bytes);
    break;
  case GPB_CMD_UPLOAD_INLINE:
    be->cmd_update(impl, c->update.dst, c->update.offset, c->update.data, c->update.bytes);
    break;
  case GPB_CMD_EXECUTE: be->cmd_execute(impl, c->execute.program->impl); break;
  }
}

// Counts a command recorded into the pending batch `b`.
static void count_in_batch(gpb_stream_obj *s, gpb_batch *b, const gpb_cmd *c) {
  switch (c->kind) {
  case GPB_CMD_DISPATCH:
    b->dispatches++;
    gpb_kernel_names_add(&b->names, c->name);
    s->counters.dispatches++;
    break;
  case GPB_CMD_COPY:
    s->counters.blits++;
    s->counters.gpu_to_gpu++;
    break;
  case GPB_CMD_UPLOAD_INLINE:
    s->counters.blits++;
    s->counters.inline_bytes += c->update.bytes;
    break;
  case GPB_CMD_UPLOAD_STAGED:
    gpb_staging_commit(&s->transfer.staging, c->copy.staging_slot, c->copy.src_offset, c->copy.bytes, b->serial);
    s->counters.blits++;
    s->counters.staging_bytes += c->copy.bytes;
    break;
  case GPB_CMD_READBACK: s->counters.blits++; break;
  case GPB_CMD_EXECUTE: {
    const gpb_program_obj *p = c->execute.program;
    b->dispatches += p->dispatches;
    s->counters.dispatches += p->dispatches;
    for (uint32_t i = 0; i < p->names.count; i++) gpb_kernel_names_add(&b->names, p->names.first[i]);
    gpb_kernel_names_add(&b->names, p->names.last);
    break;
  }
  }
}

// Tracing: a GPU timestamp after the command just recorded.
static void trace_command(gpb_stream_obj *s, gpb_batch *b, const char *name) {
  if (!b->traced || b->traced_commands + 1 >= GPB_TRACE_TIMESTAMPS) return;
  b->traced_names[b->traced_commands++] = name;
  s->device->be->cmd_timestamp(b->impl, b->traced_commands);
}

// After a command in the pending batch: immediate mode submits it; batched
// mode submits at the cap. A readback is submitted by its caller.
static gpb_status end_command(gpb_stream_obj *s, gpb_batch *b, const gpb_cmd *c) {
  trace_command(s, b, c->name);
  b->commands++;
  if (c->kind == GPB_CMD_READBACK) return GPB_OK;
  if (s->config.mode == GPB_MODE_IMMEDIATE) return gpb_stream_flush_locked(s, GPB_FLUSH_IMMEDIATE);
  if (b->dispatches >= s->config.max_batch_dispatches) return gpb_stream_flush_locked(s, GPB_FLUSH_CAP);
  return GPB_OK;
}

// What a failed capture says it was capturing.
static gpb_status capture_fail(gpb_stream_obj *s, gpb_status st, const gpb_cmd *c) {
  if (c->kind == GPB_CMD_DISPATCH)
    return gpb_stream_fail(s, st, "capturing a dispatch of '%s': %s", c->name, gpb_last_error());
  return gpb_stream_fail(s, st, "capturing a device->device copy: %s", gpb_last_error());
}

gpb_status gpb_stream_record(gpb_stream_obj *s, const gpb_cmd *c) {
  record_target t = {0};
  gpb_status st = target_open(s, &t);
  const gpb_access *acc = c->kind == GPB_CMD_EXECUTE ? c->execute.program->accesses : c->accesses;
  size_t n = c->kind == GPB_CMD_EXECUTE ? c->execute.program->access_count : c->access_count;
  if (st == GPB_OK) st = place_barrier(s, &t, acc, n);
  if (st == GPB_OK) st = note_uses(s, &t, c);
  if (st != GPB_OK) return t.program ? capture_fail(s, st, c) : st;
  emit(s->device->be, t.impl, c);
  if (t.program) {
    t.program->commands++;
    if (c->kind == GPB_CMD_DISPATCH) {
      t.program->dispatches++;
      gpb_kernel_names_add(&t.program->names, c->name);
    }
    return GPB_OK;
  }
  count_in_batch(s, t.batch, c);
  return end_command(s, t.batch, c);
}
