// Capture and replay, the stream's side of programs (gpubatch/program.h):
// a capture sends the stream's commands into a program (core/program.h) in
// place of the pending batch; a replay records the program as one command.
#include <stdlib.h>

#include "core/program.h"
#include "core/stream_internal.h"

gpb_status gpb_stream_begin_capture(gpb_stream *stream) {
  gpb_stream_obj *s;
  gpb_status st = gpb_stream_resolve(stream, "gpb_stream_begin_capture", &s);
  if (st != GPB_OK) return st;
  gpb_device_obj *dev = s->device;
  gpb_program_obj *p;
  if (gpb_program_create(dev, &p) != GPB_OK)
    return gpb_fail(s->last_error, GPB_ERROR_OUT_OF_HOST_MEMORY, "%s: new program: out of host memory", s->label);
  char err[GPB_MSG_MAX] = "";
  st = gpb_program_begin(p, err);
  if (st != GPB_OK) return gpb_fail(s->last_error, st, "%s: beginning a capture: %s", s->label, err);
  pthread_mutex_lock(&s->lock);
  if (s->sticky != GPB_OK) {
    st = gpb_fail(s->last_error, s->sticky, "%s failed earlier: %s", s->label, s->sticky_msg);
  } else if (s->record.capture) {
    st = gpb_fail(s->last_error, GPB_ERROR_FAILED_PRECONDITION, "%s: already capturing a program", s->label);
  } else {
    s->record.capture = p;
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
  gpb_program_obj *p = s->record.capture;
  s->record.capture = NULL;
  pthread_mutex_unlock(&s->lock);
  if (!p) return gpb_fail(s->last_error, GPB_ERROR_FAILED_PRECONDITION, "%s: not capturing a program", s->label);
  p->capturing_on = NULL;
  char err[GPB_MSG_MAX] = "";
  st = gpb_program_end(p, err);
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
  } else if (s->record.capture || p->capturing_on) {
    st = gpb_fail(s->last_error, GPB_ERROR_FAILED_PRECONDITION, "%s: replay while %s", s->label,
                  s->record.capture ? "the stream captures a program" : "the program is still being captured");
  }
  if (st == GPB_OK && p->commands > 0) {
    gpb_cmd cmd = {.kind = GPB_CMD_EXECUTE, .name = "replay", .execute = {p}};
    st = gpb_stream_record(s, &cmd);
  }
  if (st == GPB_OK) s->counters.replays++;
  pthread_mutex_unlock(&s->lock);
  return st;
}
