// Chrome trace-event recorder: see trace.h.
#include "core/trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

typedef struct trace_event {
  char name[64];
  char category[16];
  char args[160];
  double start_us, duration_us;
  uint64_t tid;
  bool gpu;
  bool metadata; // a track name
} trace_event;

struct gpb_trace {
  pthread_mutex_t lock;
  char *path;
  trace_event *events;
  size_t count, cap;
  size_t dropped; // events lost to allocation failure
};

double gpb_trace_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

gpb_status gpb_trace_open(const char *path, gpb_trace **out, char *err) {
  gpb_trace *t = calloc(1, sizeof *t);
  char *copy = t ? strdup(path) : NULL;
  if (!t || !copy) {
    free(t);
    gpb_format(err, GPB_MSG_MAX, "trace: out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  // Fail now, not at close, if the file cannot be written.
  FILE *f = fopen(path, "w");
  if (!f) {
    gpb_format(err, GPB_MSG_MAX, "trace file '%s': %s", path, strerror(errno));
    free(copy);
    free(t);
    return GPB_ERROR_IO;
  }
  fclose(f);
  pthread_mutex_init(&t->lock, NULL);
  t->path = copy;
  *out = t;
  return GPB_OK;
}

static void add(gpb_trace *t, const trace_event *e) {
  pthread_mutex_lock(&t->lock);
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4096;
    trace_event *grown = realloc(t->events, cap * sizeof *grown);
    if (!grown) {
      t->dropped++;
      pthread_mutex_unlock(&t->lock);
      return;
    }
    t->events = grown;
    t->cap = cap;
  }
  t->events[t->count++] = *e;
  pthread_mutex_unlock(&t->lock);
}

void gpb_trace_event(gpb_trace *t, bool gpu, uint64_t tid, const char *name, const char *category, double start_us,
                     double duration_us, const char *args) {
  trace_event e = {.start_us = start_us, .duration_us = duration_us, .tid = tid, .gpu = gpu};
  gpb_format(e.name, sizeof e.name, "%s", name ? name : "?");
  gpb_format(e.category, sizeof e.category, "%s", category);
  gpb_format(e.args, sizeof e.args, "%s", args ? args : "");
  add(t, &e);
}

void gpb_trace_name_track(gpb_trace *t, uint64_t tid, const char *name) {
  for (int gpu = 0; gpu < 2; gpu++) {
    trace_event e = {.tid = tid, .gpu = gpu, .metadata = true};
    gpb_format(e.name, sizeof e.name, "%s%s", name, gpu ? " (GPU)" : "");
    add(t, &e);
  }
}

static void write_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

gpb_status gpb_trace_close(gpb_trace *t, char *err) {
  if (!t) return GPB_OK;
  gpb_status st = GPB_OK;
  FILE *f = fopen(t->path, "w");
  if (!f) {
    gpb_format(err, GPB_MSG_MAX, "trace file '%s': %s", t->path, strerror(errno));
    st = GPB_ERROR_IO;
  } else {
    fprintf(f, "{\"displayTimeUnit\": \"ns\", \"otherData\": {\"dropped_events\": %zu}, \"traceEvents\": [\n",
            t->dropped);
    fprintf(f, "{\"ph\": \"M\", \"pid\": 1, \"name\": \"process_name\", \"args\": {\"name\": \"host\"}},\n");
    fprintf(f, "{\"ph\": \"M\", \"pid\": 2, \"name\": \"process_name\", \"args\": {\"name\": \"GPU\"}}");
    for (size_t i = 0; i < t->count; i++) {
      const trace_event *e = &t->events[i];
      if (e->metadata) {
        fprintf(f, ",\n{\"ph\": \"M\", \"pid\": %d, \"tid\": %llu, \"name\": \"thread_name\", \"args\": {\"name\": ",
                e->gpu ? 2 : 1, (unsigned long long)e->tid);
        write_string(f, e->name);
        fprintf(f, "}}");
        continue;
      }
      fprintf(f,
              ",\n{\"ph\": \"X\", \"pid\": %d, \"tid\": %llu, \"ts\": %.3f, \"dur\": %.3f, \"cat\": ", e->gpu ? 2 : 1,
              (unsigned long long)e->tid, e->start_us, e->duration_us);
      write_string(f, e->category);
      fprintf(f, ", \"name\": ");
      write_string(f, e->name);
      fprintf(f, ", \"args\": {%s}}", e->args);
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) {
      gpb_format(err, GPB_MSG_MAX, "trace file '%s': write failed", t->path);
      st = GPB_ERROR_IO;
    }
  }
  pthread_mutex_destroy(&t->lock);
  free(t->events);
  free(t->path);
  free(t);
  return st;
}
