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

#include "core/program.h"

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

gpb_status gpb_program_create(gpb_device_obj *dev, gpb_program_obj **out) {
  gpb_program_obj *p = calloc(1, sizeof *p);
  uintptr_t handle = 0;
  if (!p || gpb_handle_create(GPB_HANDLE_PROGRAM, p, &handle) != GPB_OK) {
    free(p);
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  p->handle = (gpb_program *)handle;
  p->device = dev;
  gpb_hazard_init(&p->hazards);
  gpb_uses_init(&p->uses);
  *out = p;
  return GPB_OK;
}

gpb_status gpb_program_begin(gpb_program_obj *p, char *err) {
  gpb_device_obj *dev = p->device;
  gpb_status st = dev->be->program_begin(dev->impl, &p->impl, err);
  pthread_mutex_lock(&dev->lock); // programs are listed so closing the device frees them
  p->next = dev->programs;
  if (dev->programs) dev->programs->prev = p;
  dev->programs = p;
  if (st != GPB_OK) {
    p->impl = NULL;
    gpb_program_release_locked(p);
  }
  pthread_mutex_unlock(&dev->lock);
  return st;
}

gpb_status gpb_program_end(gpb_program_obj *p, char *err) {
  gpb_hazard_release(&p->hazards);
  gpb_status st = replay_uses_build(p, err);
  if (st == GPB_OK) st = p->device->be->program_end(p->device->impl, p->impl, err);
  return st;
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

// A program handle that is not live counts 0, with the reason in
// gpb_last_error (NULL leaves no message).
uint32_t gpb_program_dispatch_count(const gpb_program *program) {
  gpb_program_obj *p;
  if (!program || gpb_program_resolve(program, "gpb_program_dispatch_count", &p) != GPB_OK) return 0;
  return p->dispatches;
}
