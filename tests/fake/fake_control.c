// The fake backend's controls for tests: the log, the held queue, fault
// injection and the violation counts (fake_backend.h).
#include <stdlib.h>

#include "fake/fake_internal.h"

atomic_uint_fast64_t gpb_fake_process_violation_count;

void gpb_fake_install(bool on) { gpb_backend_set_active(on ? &gpb_fake_backend : NULL); }

gpb_fake_device *gpb_fake_of(gpb_device *device) {
  return (gpb_fake_device *)gpb_backend_device_of(device, &gpb_fake_backend);
}

uint64_t gpb_fake_buffer_id_of(const gpb_be_buffer *buffer) { return buffer ? ((const fake_buffer *)buffer)->id : 0; }

uint32_t gpb_fake_submission_count(gpb_fake_device *f) {
  pthread_mutex_lock(&f->lock);
  uint32_t n = f->log_count;
  pthread_mutex_unlock(&f->lock);
  return n;
}

const gpb_fake_submission *gpb_fake_submission_at(gpb_fake_device *f, uint32_t index) {
  pthread_mutex_lock(&f->lock);
  const gpb_fake_submission *s = index < f->log_count ? &f->log[index]->pub : NULL;
  pthread_mutex_unlock(&f->lock);
  return s;
}

void gpb_fake_log_clear(gpb_fake_device *f) {
  pthread_mutex_lock(&f->lock);
  // Queued submissions stay: they have yet to run.
  uint32_t kept = 0;
  for (uint32_t i = 0; i < f->log_count; i++) {
    fake_sub *s = f->log[i];
    if (i >= f->queue_head) {
      f->log[kept++] = s;
      continue;
    }
    gpb_fake_free_cmds(s->pub.commands, s->pub.command_count);
    free(s->pub.waits);
    free(s);
  }
  f->log_count = kept;
  f->queue_head = 0;
  pthread_mutex_unlock(&f->lock);
}

const gpb_fake_cmd *gpb_fake_program_commands(gpb_fake_device *f, uint64_t program, uint32_t *out_count) {
  pthread_mutex_lock(&f->lock);
  fake_batch *p = gpb_fake_table_get(&f->batches, program);
  *out_count = p && p->is_program ? p->count : 0;
  const gpb_fake_cmd *cmds = p && p->is_program ? p->cmds : NULL;
  pthread_mutex_unlock(&f->lock);
  return cmds;
}

uint32_t gpb_fake_count_kind(const gpb_fake_submission *s, gpb_fake_cmd_kind kind) {
  uint32_t n = 0;
  for (uint32_t i = 0; s && i < s->command_count; i++) n += s->commands[i].kind == kind;
  return n;
}

const char *gpb_fake_cmd_kind_name(gpb_fake_cmd_kind kind) {
  static const char *const names[] = {"dispatch", "copy", "update", "barrier", "execute", "timestamp"};
  return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

void gpb_fake_hold(gpb_fake_device *f, bool hold) {
  pthread_mutex_lock(&f->lock);
  f->hold = hold;
  if (!hold) gpb_fake_run_all(f);
  pthread_mutex_unlock(&f->lock);
}

uint32_t gpb_fake_run(gpb_fake_device *f, uint32_t count) {
  pthread_mutex_lock(&f->lock);
  uint32_t ran = 0;
  while (ran < count && f->queue_head < f->log_count) {
    gpb_fake_run_one(f);
    ran++;
  }
  pthread_mutex_unlock(&f->lock);
  return ran;
}

uint32_t gpb_fake_queued(gpb_fake_device *f) {
  pthread_mutex_lock(&f->lock);
  uint32_t n = f->log_count - f->queue_head;
  pthread_mutex_unlock(&f->lock);
  return n;
}

uint64_t gpb_fake_blocking_waits(gpb_fake_device *f) {
  pthread_mutex_lock(&f->lock);
  uint64_t n = f->blocking_waits;
  pthread_mutex_unlock(&f->lock);
  return n;
}

const char *gpb_fake_entry_name(gpb_fake_entry entry) {
  static const char *const names[] = {
#define GPB_FAKE_ENTRY_NAME(name, text) text,
      GPB_FAKE_ENTRY_LIST(GPB_FAKE_ENTRY_NAME)
#undef GPB_FAKE_ENTRY_NAME
  };
  return (unsigned)entry < GPB_FAKE_ENTRY_COUNT ? names[entry] : "?";
}

void gpb_fake_fail(gpb_fake_device *f, gpb_fake_entry entry, uint64_t nth, gpb_status status) {
  pthread_mutex_lock(&f->lock);
  f->armed = nth > 0 ? (int)entry : -1;
  f->countdown = nth;
  f->fault_status = status;
  f->fired = false;
  pthread_mutex_unlock(&f->lock);
}

void gpb_fake_disarm(gpb_fake_device *f) {
  pthread_mutex_lock(&f->lock);
  f->armed = -1;
  pthread_mutex_unlock(&f->lock);
}

bool gpb_fake_fault_fired(gpb_fake_device *f) {
  pthread_mutex_lock(&f->lock);
  bool fired = f->fired;
  pthread_mutex_unlock(&f->lock);
  return fired;
}

uint64_t gpb_fake_calls(gpb_fake_device *f, gpb_fake_entry entry) {
  pthread_mutex_lock(&f->lock);
  uint64_t n = (unsigned)entry < GPB_FAKE_ENTRY_COUNT ? f->calls[entry] : 0;
  pthread_mutex_unlock(&f->lock);
  return n;
}

uint64_t gpb_fake_violations(gpb_fake_device *f) { return gpb_fake_diagnostics((gpb_be_device *)f); }

uint64_t gpb_fake_process_violations(void) { return atomic_load(&gpb_fake_process_violation_count); }
