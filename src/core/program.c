// Programs: capture once, replay many. See gpubatch/program.h.
//
// While a stream captures, the record path (stream_record.c) sends its
// commands into a backend program (a secondary command buffer) instead of
// the pending batch, with the program's own hazard tracker for the barriers
// between its commands; this file keeps what the program learns (its
// footprint, its references). A replay is one command (GPB_CMD_EXECUTE) of
// the pending batch whose footprint is every access the program makes.
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/stream_internal.h"

gpb_status gpb_program_note_accesses(gpb_program_obj *p, const gpb_access *acc, size_t n) {
  if (p->access_count + n > p->access_cap) {
    uint32_t cap = p->access_cap ? p->access_cap : 16;
    while (cap < p->access_count + n) cap *= 2;
    gpb_access *grown = realloc(p->accesses, cap * sizeof *grown);
    if (!grown) return gpb_fail(NULL, GPB_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    p->accesses = grown;
    p->access_cap = cap;
  }
  memcpy(p->accesses + p->access_count, acc, n * sizeof *acc);
  p->access_count += (uint32_t)n;
  return GPB_OK;
}

gpb_status gpb_program_note_ref(gpb_program_obj *p, gpb_buffer_obj *buffer, gpb_kernel_obj *kernel, bool write) {
  for (uint32_t i = 0; i < p->ref_count; i++) {
    gpb_program_ref *r = &p->refs[i];
    if (r->buffer == buffer && r->kernel == kernel) {
      r->write |= write;
      return GPB_OK;
    }
  }
  if (p->ref_count == p->ref_cap) {
    uint32_t cap = p->ref_cap ? p->ref_cap * 2 : 8;
    gpb_program_ref *grown = realloc(p->refs, cap * sizeof *grown);
    if (!grown) return gpb_fail(NULL, GPB_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    p->refs = grown;
    p->ref_cap = cap;
  }
  p->refs[p->ref_count++] = (gpb_program_ref){.buffer = buffer, .kernel = kernel, .write = write};
  atomic_fetch_add(buffer ? &buffer->program_refs : &kernel->program_refs, 1);
  return GPB_OK;
}

// What a replay uses, noted for each replay: the program itself (so
// destroying it waits), then every buffer and kernel it references.
static gpb_status replay_uses_build(gpb_program_obj *p, char *err) {
  p->replay_uses = malloc((p->ref_count + 1) * sizeof *p->replay_uses);
  if (!p->replay_uses) {
    gpb_format(err, GPB_MSG_MAX, "out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  p->replay_uses[0] = (gpb_use_note){&p->uses, false, "program"};
  for (uint32_t i = 0; i < p->ref_count; i++) {
    const gpb_program_ref *r = &p->refs[i];
    p->replay_uses[i + 1] = r->buffer ? (gpb_use_note){&r->buffer->uses, r->write, "buffer"}
                                      : (gpb_use_note){&r->kernel->uses, false, "kernel"};
  }
  p->replay_use_count = p->ref_count + 1;
  return GPB_OK;
}

void gpb_program_release_locked(gpb_program_obj *p) {
  gpb_device_obj *dev = p->device;
  gpb_handle_destroy((uintptr_t)p->handle);
  if (p->prev)
    p->prev->next = p->next;
  else
    dev->programs = p->next;
  if (p->next) p->next->prev = p->prev;
  for (uint32_t i = 0; i < p->ref_count; i++) {
    gpb_program_ref *r = &p->refs[i];
    atomic_fetch_sub(r->buffer ? &r->buffer->program_refs : &r->kernel->program_refs, 1);
  }
  if (p->impl) dev->be->batch_destroy(dev->impl, p->impl);
  gpb_hazard_release(&p->hazards);
  gpb_uses_release(&p->uses);
  free(p->accesses);
  free(p->refs);
  free(p->replay_uses);
  free(p);
}

gpb_status gpb_stream_begin_capture(gpb_stream *stream) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_begin_capture", &s);
  if (st != GPB_OK) return st;
  gpb_device_obj *dev = s->device;
  gpb_program_obj *p = calloc(1, sizeof *p);
  uintptr_t handle = 0;
  if (!p || gpb_handle_create(GPB_HANDLE_PROGRAM, p, &handle) != GPB_OK) {
    free(p);
    return gpb_fail(s->last_error, GPB_ERROR_OUT_OF_HOST_MEMORY, "%s: new program: out of host memory", s->label);
  }
  p->handle = (gpb_program *)handle;
  p->device = dev;
  gpb_hazard_init(&p->hazards);
  gpb_uses_init(&p->uses);
  char err[GPB_MSG_MAX] = "";
  st = dev->be->program_begin(dev->impl, &p->impl, err);
  pthread_mutex_lock(&dev->lock); // programs are listed so closing the device frees them
  p->next = dev->programs;
  if (dev->programs) dev->programs->prev = p;
  dev->programs = p;
  pthread_mutex_unlock(&dev->lock);
  if (st != GPB_OK) {
    p->impl = NULL;
    pthread_mutex_lock(&dev->lock);
    gpb_program_release_locked(p);
    pthread_mutex_unlock(&dev->lock);
    return gpb_fail(s->last_error, st, "%s: beginning a capture: %s", s->label, err);
  }
  pthread_mutex_lock(&s->lock);
  if (s->sticky != GPB_OK) {
    st = gpb_fail(s->last_error, s->sticky, "%s failed earlier: %s", s->label, s->sticky_msg);
  } else if (s->capture) {
    st = gpb_fail(s->last_error, GPB_ERROR_FAILED_PRECONDITION, "%s: already capturing a program", s->label);
  } else {
    s->capture = p;
    p->capturing_on = s;
  }
  pthread_mutex_unlock(&s->lock);
  if (st != GPB_OK) {
    char msg[GPB_MSG_MAX];
    gpb_format(msg, sizeof msg, "%s", gpb_last_error());
    pthread_mutex_lock(&dev->lock);
    gpb_program_release_locked(p);
    pthread_mutex_unlock(&dev->lock);
    return gpb_fail_msg(NULL, st, msg);
  }
  return GPB_OK;
}

gpb_status gpb_stream_end_capture(gpb_stream *stream, gpb_program **out_program) {
  if (!out_program) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_stream_end_capture: out_program is NULL");
  *out_program = NULL;
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_end_capture", &s);
  if (st != GPB_OK) return st;
  pthread_mutex_lock(&s->lock);
  gpb_program_obj *p = s->capture;
  s->capture = NULL;
  pthread_mutex_unlock(&s->lock);
  if (!p) return gpb_fail(s->last_error, GPB_ERROR_FAILED_PRECONDITION, "%s: not capturing a program", s->label);
  p->capturing_on = NULL;
  gpb_hazard_release(&p->hazards);
  char err[GPB_MSG_MAX] = "";
  st = replay_uses_build(p, err);
  if (st == GPB_OK) st = s->device->be->program_end(s->device->impl, p->impl, err);
  if (st != GPB_OK) {
    pthread_mutex_lock(&s->device->lock);
    gpb_program_release_locked(p);
    pthread_mutex_unlock(&s->device->lock);
    return gpb_fail(s->last_error, st, "%s: ending a capture: %s", s->label, err);
  }
  *out_program = p->handle;
  return GPB_OK;
}

gpb_status gpb_stream_replay(gpb_stream *stream, gpb_program *program) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_replay", &s);
  if (st != GPB_OK) return st;
  gpb_program_obj *p = gpb_program_obj_of(program);
  if (!p) {
    char op[GPB_MSG_MAX];
    gpb_format(op, sizeof op, "%s: replay", s->label);
    return gpb_handle_fail(s->last_error, op, GPB_HANDLE_PROGRAM, (uintptr_t)program);
  }
  if (p->device != s->device) {
    return gpb_fail(s->last_error, GPB_ERROR_INVALID_ARGUMENT, "%s: replay of a program of %s on %s", s->label,
                    p->device->label, s->device->label);
  }
  pthread_mutex_lock(&s->lock);
  if (s->sticky != GPB_OK) {
    st = gpb_fail(s->last_error, s->sticky, "%s failed earlier: %s", s->label, s->sticky_msg);
  } else if (s->capture || p->capturing_on) {
    st = gpb_fail(s->last_error, GPB_ERROR_FAILED_PRECONDITION, "%s: replay while %s", s->label,
                  s->capture ? "the stream captures a program" : "the program is still being captured");
  }
  if (st == GPB_OK && p->commands > 0) {
    gpb_cmd cmd = {.kind = GPB_CMD_EXECUTE, .name = "replay", .execute = {p}};
    st = gpb_stream_record(s, &cmd);
  }
  if (st == GPB_OK) s->counters.replays++;
  pthread_mutex_unlock(&s->lock);
  return st;
}

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
  st = gpb_uses_wait(dev, &p->uses, GPB_HOST_WRITE, GPB_FLUSH_SYNC, NULL, err);
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

// A program handle that is not live counts 0, with the reason in
// gpb_last_error (NULL leaves no message).
uint32_t gpb_program_dispatch_count(const gpb_program *program) {
  gpb_program_obj *p;
  if (!program || gpb_program_resolve(program, "gpb_program_dispatch_count", &p) != GPB_OK) return 0;
  return p->dispatches;
}
