// The fake backend: see fake_backend.h.
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake/fake_internal.h"
#include "spirv/spirv_reflect.h"

// ---- helpers ------------------------------------------------------------------

static gpb_status table_add(table *t, void *item, uint64_t *out_id) {
  if (t->count == t->cap) {
    uint64_t cap = t->cap ? t->cap * 2 : 16;
    void **items = realloc(t->items, cap * sizeof *items);
    if (!items) return GPB_ERROR_OUT_OF_HOST_MEMORY;
    t->items = items;
    t->cap = cap;
  }
  t->items[t->count++] = item;
  *out_id = t->count;
  return GPB_OK;
}

void *gpb_fake_table_get(const table *t, uint64_t id) { return id >= 1 && id <= t->count ? t->items[id - 1] : NULL; }
static void table_clear(table *t, uint64_t id) {
  if (id >= 1 && id <= t->count) t->items[id - 1] = NULL;
}

// A lifetime or usage error of the core: counted, and reported like a
// validation-layer message. Device lock held.
static void violation(gpb_fake_device *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(gpb_fake_device *f, const char *fmt, ...) {
  char msg[GPB_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  f->violations++;
  atomic_fetch_add(&gpb_fake_process_violation_count, 1);
  if (f->on_message)
    f->on_message(f->on_message_user, 2, msg);
  else
    fprintf(stderr, "fake backend: %s\n", msg);
}

// Counts a call of `entry`; returns the armed fault's status when it fires.
static gpb_status fault_hit(gpb_fake_device *f, gpb_fake_entry entry, char *err) {
  f->calls[entry]++;
  if (f->armed != (int)entry || --f->countdown > 0) return GPB_OK;
  f->armed = -1;
  f->fired = true;
  gpb_format(err, GPB_MSG_MAX, "fake %s: injected %s", gpb_fake_entry_name(entry), gpb_status_name(f->fault_status));
  return f->fault_status;
}

static gpb_status out_of_memory(char *err, const char *what) {
  gpb_format(err, GPB_MSG_MAX, "fake %s: out of host memory", what);
  return GPB_ERROR_OUT_OF_HOST_MEMORY;
}

static void free_buffer(gpb_fake_device *f, fake_buffer *b) {
  table_clear(&f->buffers, b->id);
  free(b->data);
  free(b);
}

void gpb_fake_free_cmds(gpb_fake_cmd *cmds, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    free(cmds[i].args);
    free(cmds[i].data);
  }
  free(cmds);
}

static void free_batch(gpb_fake_device *f, fake_batch *b) {
  table_clear(&f->batches, b->id);
  gpb_fake_free_cmds(b->cmds, b->count);
  free(b);
}

// ---- pending uses ---------------------------------------------------------------

// Adds `delta` to the pending count of everything `cmds` use (programs
// included); at -1, frees what was destroyed while in use.
static void hold_cmds(gpb_fake_device *f, const gpb_fake_cmd *cmds, uint32_t count, int delta);

static void hold_buffer(gpb_fake_device *f, uint64_t id, int delta) {
  fake_buffer *b = gpb_fake_table_get(&f->buffers, id);
  if (!b) return;
  b->pending += (uint32_t)delta;
  if (b->pending == 0 && b->destroyed) free_buffer(f, b);
}

static void hold_cmds(gpb_fake_device *f, const gpb_fake_cmd *cmds, uint32_t count, int delta) {
  for (uint32_t i = 0; i < count; i++) {
    const gpb_fake_cmd *c = &cmds[i];
    switch (c->kind) {
    case GPB_FAKE_DISPATCH: {
      fake_pipeline *p = gpb_fake_table_get(&f->pipelines, c->pipeline);
      if (p) {
        p->pending += (uint32_t)delta;
        if (p->pending == 0 && p->destroyed) {
          table_clear(&f->pipelines, p->id);
          free(p);
        }
      }
      for (uint32_t a = 0; a < c->arg_count; a++) hold_buffer(f, c->args[a].buffer, delta);
      break;
    }
    case GPB_FAKE_COPY:
      hold_buffer(f, c->src.buffer, delta);
      hold_buffer(f, c->dst.buffer, delta);
      break;
    case GPB_FAKE_UPDATE: hold_buffer(f, c->dst.buffer, delta); break;
    case GPB_FAKE_EXECUTE: {
      fake_batch *p = gpb_fake_table_get(&f->batches, c->program);
      if (!p) break;
      hold_cmds(f, p->cmds, p->count, delta);
      p->pending += (uint32_t)delta;
      if (p->pending == 0 && p->destroyed) free_batch(f, p);
      break;
    }
    case GPB_FAKE_BARRIER:
    case GPB_FAKE_TIMESTAMP: break;
    }
  }
}

// ---- execution ------------------------------------------------------------------

// The bytes of `r`, or NULL (a violation) when it is not inside a live buffer.
static uint8_t *range_data(gpb_fake_device *f, const gpb_fake_range *r, const char *what) {
  fake_buffer *b = gpb_fake_table_get(&f->buffers, r->buffer); // one destroyed too early is kept (and was reported)
  if (!b) {
    violation(f, "%s: buffer %llu is gone", what, (unsigned long long)r->buffer);
    return NULL;
  }
  if (r->offset > b->size || r->size > b->size - r->offset) {
    violation(f, "%s: range [%llu, +%llu) past the end of buffer %llu (%llu bytes)", what,
              (unsigned long long)r->offset, (unsigned long long)r->size, (unsigned long long)r->buffer,
              (unsigned long long)b->size);
    return NULL;
  }
  return b->data + r->offset;
}

static void execute_cmds(gpb_fake_device *f, const gpb_fake_cmd *cmds, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    const gpb_fake_cmd *c = &cmds[i];
    switch (c->kind) {
    case GPB_FAKE_DISPATCH: {
      fake_pipeline *p = gpb_fake_table_get(&f->pipelines, c->pipeline);
      if (!p) {
        violation(f, "dispatch of '%s': its pipeline is gone", c->kernel);
        break;
      }
      if (!p->fn) break;
      gpb_fake_arg args[GPB_MAX_BINDINGS];
      bool ok = c->arg_count <= GPB_MAX_BINDINGS;
      for (uint32_t a = 0; ok && a < c->arg_count; a++) {
        args[a].data = range_data(f, &c->args[a], "dispatch");
        args[a].size = c->args[a].size;
        ok = args[a].data != NULL;
      }
      if (!ok) break;
      gpb_fake_invocation inv = {.kernel = p->name,
                                 .groups = {c->groups[0], c->groups[1], c->groups[2]},
                                 .workgroup_size = {p->workgroup_size[0], p->workgroup_size[1], p->workgroup_size[2]},
                                 .args = args,
                                 .arg_count = c->arg_count,
                                 .push_constants = c->push,
                                 .push_constant_bytes = c->push_bytes};
      p->fn(p->user, &inv);
      break;
    }
    case GPB_FAKE_COPY: {
      uint8_t *src = range_data(f, &c->src, "copy source"), *dst = range_data(f, &c->dst, "copy destination");
      if (src && dst) memmove(dst, src, c->src.size);
      break;
    }
    case GPB_FAKE_UPDATE: {
      uint8_t *dst = range_data(f, &c->dst, "update");
      if (dst) memcpy(dst, c->data, c->dst.size);
      break;
    }
    case GPB_FAKE_EXECUTE: {
      fake_batch *p = gpb_fake_table_get(&f->batches, c->program);
      if (!p)
        violation(f, "program %llu is gone", (unsigned long long)c->program);
      else
        execute_cmds(f, p->cmds, p->count);
      break;
    }
    case GPB_FAKE_BARRIER:
    case GPB_FAKE_TIMESTAMP: break;
    }
  }
}

// Runs the oldest queued submission. Device lock held.
void gpb_fake_run_one(gpb_fake_device *f) {
  fake_sub *s = f->log[f->queue_head++];
  for (uint32_t i = 0; i < s->pub.wait_count; i++) {
    fake_timeline *t = gpb_fake_table_get(&f->timelines, s->pub.waits[i].timeline);
    if (!t || t->completed < s->pub.waits[i].value)
      violation(f, "batch %llu waits for timeline %llu to reach %llu, which no earlier submission signals",
                (unsigned long long)s->pub.batch, (unsigned long long)s->pub.waits[i].timeline,
                (unsigned long long)s->pub.waits[i].value);
  }
  execute_cmds(f, s->pub.commands, s->pub.command_count);
  s->pub.executed = true;
  hold_cmds(f, s->pub.commands, s->pub.command_count, -1);
  fake_timeline *t = gpb_fake_table_get(&f->timelines, s->pub.timeline);
  if (t) {
    if (s->pub.signal > t->completed) t->completed = s->pub.signal;
    t->pending--;
    if (t->pending == 0 && t->destroyed) {
      table_clear(&f->timelines, t->id);
      free(t);
    }
  }
  for (uint32_t i = 0; i < s->pub.wait_count; i++) {
    fake_timeline *w = gpb_fake_table_get(&f->timelines, s->pub.waits[i].timeline);
    if (!w) continue;
    w->pending--;
    if (w->pending == 0 && w->destroyed) {
      table_clear(&f->timelines, w->id);
      free(w);
    }
  }
  fake_batch *b = s->batch;
  if (b && --b->pending == 0) {
    if (b->destroyed)
      free_batch(f, b);
    else
      b->state = BATCH_INITIAL;
  }
  s->batch = NULL;
}

void gpb_fake_run_all(gpb_fake_device *f) {
  while (f->queue_head < f->log_count) gpb_fake_run_one(f);
}

// ---- devices ------------------------------------------------------------------

static void fill_info(gpb_device_info *info) {
  memset(info, 0, sizeof *info);
  gpb_format(info->name, sizeof info->name, "gpubatch fake device");
  info->type = GPB_DEVICE_CPU;
  info->api_version = (1u << 22) | (2u << 12);        // 1.2 in the VK_MAKE_API_VERSION encoding
  info->kernel_api_version = (1u << 22) | (2u << 12); // the rules reflection validates kernels under
  gpb_format(info->driver_name, sizeof info->driver_name, "fake");
  gpb_format(info->driver_info, sizeof info->driver_info, "host memory, host kernels (tests/fake)");
  info->heap_count = 1;
  info->heaps[0] = (gpb_memory_heap){FAKE_HEAP_BYTES, true};
  for (int i = 0; i < 3; i++) info->max_workgroup_count[i] = 65535;
  info->max_workgroup_size[0] = info->max_workgroup_size[1] = 1024;
  info->max_workgroup_size[2] = 64;
  info->max_workgroup_invocations = 1024;
  info->max_push_constant_bytes = 128;
  info->max_shared_memory_bytes = 32768;
  info->subgroup_size = 32;
  info->max_storage_buffer_range = 128ull << 20;
  info->min_storage_buffer_offset_alignment = 16;
  info->timestamp_period_ns = 1;
  info->usable = true;
}

static gpb_status fake_device_count(uint32_t *out_count, char *err) {
  *out_count = 1;
  return GPB_OK;
}

static gpb_status fake_device_info(uint32_t index, gpb_device_info *out_info, char *err) {
  if (index != 0) {
    gpb_format(err, GPB_MSG_MAX, "no such device (the fake backend has 1)");
    return GPB_ERROR_NOT_FOUND;
  }
  fill_info(out_info);
  return GPB_OK;
}

static gpb_status fake_device_open(uint32_t index, const gpb_device_options *options, gpb_be_device **out_device,
                                   gpb_device_info *out_info, uint32_t *out_queue_count, char *err) {
  gpb_status st = fake_device_info(index, out_info, err);
  if (st != GPB_OK) return st;
  gpb_fake_device *f = calloc(1, sizeof *f);
  if (!f) return out_of_memory(err, "device_open");
  pthread_mutex_init(&f->lock, NULL);
  f->armed = -1;
  f->kernel_api_version = out_info->kernel_api_version;
  f->on_message = options->on_message;
  f->on_message_user = options->on_message_user;
  *out_queue_count = 2; // streams alternate between two queues, as on GPUs with several
  *out_device = (gpb_be_device *)f;
  return GPB_OK;
}

static uint32_t live_count(const table *t) {
  uint32_t n = 0;
  for (uint64_t i = 0; i < t->count; i++) n += t->items[i] != NULL;
  return n;
}

static void fake_device_close(gpb_be_device *device) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  pthread_mutex_lock(&f->lock);
  if (f->queue_head < f->log_count)
    violation(f, "device closed with %u submissions not run", f->log_count - f->queue_head);
  gpb_fake_run_all(f);
  uint32_t buffers = live_count(&f->buffers), pipelines = live_count(&f->pipelines),
           timelines = live_count(&f->timelines), batches = live_count(&f->batches);
  if (buffers || pipelines || timelines || batches)
    violation(f, "device closed with objects alive: %u buffers, %u pipelines, %u timelines, %u batches", buffers,
              pipelines, timelines, batches);
  for (uint64_t i = 0; i < f->buffers.count; i++) {
    fake_buffer *b = f->buffers.items[i];
    if (b) free_buffer(f, b);
  }
  for (uint64_t i = 0; i < f->pipelines.count; i++) free(f->pipelines.items[i]);
  for (uint64_t i = 0; i < f->timelines.count; i++) free(f->timelines.items[i]);
  for (uint64_t i = 0; i < f->batches.count; i++) {
    fake_batch *b = f->batches.items[i];
    if (b) free_batch(f, b);
  }
  free(f->buffers.items);
  free(f->pipelines.items);
  free(f->timelines.items);
  free(f->batches.items);
  for (uint32_t i = 0; i < f->log_count; i++) {
    gpb_fake_free_cmds(f->log[i]->pub.commands, f->log[i]->pub.command_count);
    free(f->log[i]->pub.waits);
    free(f->log[i]);
  }
  free(f->log);
  pthread_mutex_unlock(&f->lock);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

static gpb_status fake_device_wait_idle(gpb_be_device *device, char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_DEVICE_WAIT_IDLE, err);
  if (st == GPB_OK) gpb_fake_run_all(f);
  pthread_mutex_unlock(&f->lock);
  return st;
}

uint64_t gpb_fake_diagnostics(const gpb_be_device *device) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  pthread_mutex_lock(&f->lock);
  uint64_t n = f->violations;
  pthread_mutex_unlock(&f->lock);
  return n;
}

// ---- buffers ------------------------------------------------------------------

static gpb_status fake_buffer_create(gpb_be_device *device, uint64_t size, gpb_be_memory memory,
                                     gpb_be_buffer **out_buffer, void **out_mapped, char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_BUFFER_CREATE, err);
  fake_buffer *b = NULL;
  if (st == GPB_OK && size > FAKE_HEAP_BYTES) {
    gpb_format(err, GPB_MSG_MAX, "fake buffer_create: %llu bytes do not fit the fake's %llu-byte heap",
               (unsigned long long)size, (unsigned long long)FAKE_HEAP_BYTES);
    st = GPB_ERROR_OUT_OF_DEVICE_MEMORY;
  }
  if (st == GPB_OK) {
    b = calloc(1, sizeof *b);
    if (b) b->data = malloc(size);
    if (!b || !b->data || table_add(&f->buffers, b, &b->id) != GPB_OK) {
      if (b) free(b->data);
      free(b);
      b = NULL;
      gpb_format(err, GPB_MSG_MAX, "fake buffer_create: no host memory for %llu bytes", (unsigned long long)size);
      st = GPB_ERROR_OUT_OF_DEVICE_MEMORY;
    }
  }
  if (st == GPB_OK) {
    b->memory = memory;
    b->size = size;
    memset(b->data, FAKE_POISON, size);
    *out_buffer = (gpb_be_buffer *)b;
    *out_mapped = memory == GPB_BE_MEMORY_PRIVATE ? NULL : b->data;
  }
  pthread_mutex_unlock(&f->lock);
  return st;
}

static void fake_buffer_destroy(gpb_be_device *device, gpb_be_buffer *buffer) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_buffer *b = (fake_buffer *)buffer;
  pthread_mutex_lock(&f->lock);
  if (b->pending > 0) {
    violation(f, "buffer %llu (%llu bytes) destroyed while %u submitted batches that use it have not run",
              (unsigned long long)b->id, (unsigned long long)b->size, b->pending);
    b->destroyed = true; // freed once they ran
  } else {
    free_buffer(f, b);
  }
  pthread_mutex_unlock(&f->lock);
}

// ---- pipelines ----------------------------------------------------------------

// The fake takes SPIR-V, like the Vulkan backend, so the test kernels are
// reflected (and refused) as they are there.
static gpb_status spirv_code(const gpb_be_kernel_code *code, const uint32_t **words, size_t *word_count, char *err) {
  if (code->format != GPB_BE_KERNEL_SPIRV || code->bytes % 4 != 0) {
    gpb_format(err, GPB_MSG_MAX, "fake: kernel code of format %d is not SPIR-V", (int)code->format);
    return GPB_ERROR_UNSUPPORTED;
  }
  *words = code->code;
  *word_count = code->bytes / 4;
  return GPB_OK;
}

static gpb_status fake_kernel_reflect(gpb_be_device *device, const gpb_be_kernel_code *code, gpb_kernel_info *out_info,
                                      char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_KERNEL_REFLECT, err);
  uint32_t api = f->kernel_api_version;
  pthread_mutex_unlock(&f->lock);
  const uint32_t *words = NULL;
  size_t word_count = 0;
  if (st == GPB_OK) st = spirv_code(code, &words, &word_count, err);
  if (st == GPB_OK) st = gpb_spirv_reflect(words, word_count, code->entry_point, api, out_info, err);
  return st;
}

static gpb_status fake_pipeline_create(gpb_be_device *device, const gpb_be_kernel_code *code,
                                       const gpb_kernel_info *info, gpb_be_pipeline **out_pipeline, char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  const uint32_t *words = NULL;
  size_t word_count = 0;
  gpb_status st = spirv_code(code, &words, &word_count, err);
  if (st != GPB_OK) return st;
  pthread_mutex_lock(&f->lock);
  st = fault_hit(f, GPB_FAKE_PIPELINE_CREATE, err);
  fake_pipeline *p = NULL;
  if (st == GPB_OK) {
    p = calloc(1, sizeof *p);
    if (!p || table_add(&f->pipelines, p, &p->id) != GPB_OK) {
      free(p);
      st = out_of_memory(err, "pipeline_create");
    }
  }
  if (st == GPB_OK) {
    gpb_format(p->name, sizeof p->name, "%s", info->name);
    memcpy(p->workgroup_size, info->workgroup_size, sizeof p->workgroup_size);
    gpb_fake_kernel_find(info->name, &p->fn, &p->user);
    if (!p->fn) gpb_fake_kernel_find(info->entry_point, &p->fn, &p->user);
    *out_pipeline = (gpb_be_pipeline *)p;
  }
  pthread_mutex_unlock(&f->lock);
  return st;
}

static void fake_pipeline_destroy(gpb_be_device *device, gpb_be_pipeline *pipeline) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_pipeline *p = (fake_pipeline *)pipeline;
  pthread_mutex_lock(&f->lock);
  if (p->pending > 0) {
    violation(f, "pipeline of '%s' destroyed while %u submitted dispatches have not run", p->name, p->pending);
    p->destroyed = true;
  } else {
    table_clear(&f->pipelines, p->id);
    free(p);
  }
  pthread_mutex_unlock(&f->lock);
}

// ---- timelines ----------------------------------------------------------------

static gpb_status fake_timeline_create(gpb_be_device *device, uint32_t queue, gpb_be_timeline **out_timeline,
                                       char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_TIMELINE_CREATE, err);
  fake_timeline *t = NULL;
  if (st == GPB_OK) {
    t = calloc(1, sizeof *t);
    if (!t || table_add(&f->timelines, t, &t->id) != GPB_OK) {
      free(t);
      st = out_of_memory(err, "timeline_create");
    }
  }
  if (st == GPB_OK) *out_timeline = (gpb_be_timeline *)t;
  pthread_mutex_unlock(&f->lock);
  return st;
}

static void fake_timeline_destroy(gpb_be_device *device, gpb_be_timeline *timeline) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_timeline *t = (fake_timeline *)timeline;
  pthread_mutex_lock(&f->lock);
  if (t->pending > 0) {
    violation(f, "timeline %llu destroyed while %u submitted batches that signal or wait on it have not run",
              (unsigned long long)t->id, t->pending);
    t->destroyed = true;
  } else {
    table_clear(&f->timelines, t->id);
    free(t);
  }
  pthread_mutex_unlock(&f->lock);
}

static gpb_status fake_timeline_completed(gpb_be_device *device, gpb_be_timeline *timeline, uint64_t *out_value,
                                          char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_timeline *t = (fake_timeline *)timeline;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_TIMELINE_COMPLETED, err);
  if (st == GPB_OK) *out_value = t->completed;
  pthread_mutex_unlock(&f->lock);
  return st;
}

static gpb_status fake_timeline_wait(gpb_be_device *device, gpb_be_timeline *timeline, uint64_t value,
                                     uint64_t timeout_ns, char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_timeline *t = (fake_timeline *)timeline;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_TIMELINE_WAIT, err);
  if (st == GPB_OK && t->completed < value) {
    f->blocking_waits++;
    // The "GPU" runs, in submission order, until the value is reached.
    while (t->completed < value && f->queue_head < f->log_count) gpb_fake_run_one(f);
    if (t->completed < value) {
      violation(f, "waiting for timeline %llu to reach %llu, which no submission signals", (unsigned long long)t->id,
                (unsigned long long)value);
      gpb_format(err, GPB_MSG_MAX, "fake timeline_wait: value %llu was never submitted", (unsigned long long)value);
      st = GPB_ERROR_TIMEOUT;
    }
  }
  pthread_mutex_unlock(&f->lock);
  return st;
}

// ---- batches ------------------------------------------------------------------

static gpb_status batch_new(gpb_fake_device *f, bool is_program, gpb_fake_entry entry, gpb_be_batch **out, char *err) {
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, entry, err);
  fake_batch *b = NULL;
  if (st == GPB_OK) {
    b = calloc(1, sizeof *b);
    if (!b || table_add(&f->batches, b, &b->id) != GPB_OK) {
      free(b);
      st = out_of_memory(err, gpb_fake_entry_name(entry));
    }
  }
  if (st == GPB_OK) {
    b->fake = f;
    b->is_program = is_program;
    b->state = is_program ? BATCH_RECORDING : BATCH_INITIAL;
    *out = (gpb_be_batch *)b;
  }
  pthread_mutex_unlock(&f->lock);
  return st;
}

static gpb_status fake_batch_create(gpb_be_device *device, gpb_be_batch **out_batch, char *err) {
  return batch_new((gpb_fake_device *)device, false, GPB_FAKE_BATCH_CREATE, out_batch, err);
}

static void fake_batch_destroy(gpb_be_device *device, gpb_be_batch *batch) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_batch *b = (fake_batch *)batch;
  pthread_mutex_lock(&f->lock);
  if (b->pending > 0) {
    violation(f, "%s %llu destroyed while %u submissions that run it have not run", b->is_program ? "program" : "batch",
              (unsigned long long)b->id, b->pending);
    b->destroyed = true;
  } else {
    free_batch(f, b);
  }
  pthread_mutex_unlock(&f->lock);
}

static gpb_status fake_batch_begin(gpb_be_device *device, gpb_be_batch *batch, char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_batch *b = (fake_batch *)batch;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_BATCH_BEGIN, err);
  if (st == GPB_OK) {
    if (b->pending > 0)
      violation(f, "batch %llu begun (reset) while its submission has not run", (unsigned long long)b->id);
    gpb_fake_free_cmds(b->cmds, b->count);
    b->cmds = NULL;
    b->count = b->cap = 0;
    b->out_of_memory = false;
    b->state = BATCH_RECORDING;
  }
  pthread_mutex_unlock(&f->lock);
  return st;
}

// A new command at the end of an open batch; NULL when it cannot be recorded.
static gpb_fake_cmd *cmd_append(fake_batch *b, gpb_fake_cmd_kind kind) {
  gpb_fake_device *f = b->fake;
  if (b->state != BATCH_RECORDING) {
    pthread_mutex_lock(&f->lock);
    violation(f, "%s recorded into %s %llu, which is not open", gpb_fake_cmd_kind_name(kind),
              b->is_program ? "program" : "batch", (unsigned long long)b->id);
    pthread_mutex_unlock(&f->lock);
    return NULL;
  }
  if (b->count == b->cap) {
    uint32_t cap = b->cap ? b->cap * 2 : 16;
    gpb_fake_cmd *cmds = realloc(b->cmds, cap * sizeof *cmds);
    if (!cmds) {
      b->out_of_memory = true;
      return NULL;
    }
    b->cmds = cmds;
    b->cap = cap;
  }
  gpb_fake_cmd *c = &b->cmds[b->count++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  return c;
}

static uint64_t buffer_id(gpb_be_buffer *buffer) { return ((fake_buffer *)buffer)->id; }

static void fake_cmd_dispatch(gpb_be_batch *batch, gpb_be_pipeline *pipeline, const uint32_t groups[3],
                              const gpb_be_arg *args, uint32_t arg_count, const void *push_constants,
                              uint32_t push_constant_bytes) {
  fake_batch *b = (fake_batch *)batch;
  fake_pipeline *p = (fake_pipeline *)pipeline;
  gpb_fake_cmd *c = cmd_append(b, GPB_FAKE_DISPATCH);
  if (!c) return;
  c->kernel = p->name;
  c->pipeline = p->id;
  memcpy(c->groups, groups, sizeof c->groups);
  if (arg_count) {
    c->args = calloc(arg_count, sizeof *c->args);
    if (!c->args) {
      b->out_of_memory = true;
      b->count--;
      return;
    }
  }
  c->arg_count = arg_count;
  for (uint32_t i = 0; i < arg_count; i++)
    c->args[i] = (gpb_fake_range){buffer_id(args[i].buffer), args[i].offset, args[i].size};
  c->push_bytes = push_constant_bytes < sizeof c->push ? push_constant_bytes : (uint32_t)sizeof c->push;
  if (push_constants && c->push_bytes) memcpy(c->push, push_constants, c->push_bytes);
}

static void fake_cmd_copy(gpb_be_batch *batch, gpb_be_buffer *src, uint64_t src_offset, gpb_be_buffer *dst,
                          uint64_t dst_offset, uint64_t bytes) {
  gpb_fake_cmd *c = cmd_append((fake_batch *)batch, GPB_FAKE_COPY);
  if (!c) return;
  c->src = (gpb_fake_range){buffer_id(src), src_offset, bytes};
  c->dst = (gpb_fake_range){buffer_id(dst), dst_offset, bytes};
}

static void fake_cmd_update(gpb_be_batch *batch, gpb_be_buffer *dst, uint64_t offset, const void *data,
                            uint64_t bytes) {
  fake_batch *b = (fake_batch *)batch;
  gpb_fake_cmd *c = cmd_append(b, GPB_FAKE_UPDATE);
  if (!c) return;
  c->dst = (gpb_fake_range){buffer_id(dst), offset, bytes};
  c->data = malloc(bytes ? bytes : 1);
  if (!c->data) {
    b->out_of_memory = true;
    b->count--;
    return;
  }
  memcpy(c->data, data, bytes); // the command holds its own copy, as vkCmdUpdateBuffer does
}

static void fake_cmd_barrier(gpb_be_batch *batch) { cmd_append((fake_batch *)batch, GPB_FAKE_BARRIER); }

static gpb_status fake_program_begin(gpb_be_device *device, gpb_be_batch **out_program, char *err) {
  return batch_new((gpb_fake_device *)device, true, GPB_FAKE_PROGRAM_BEGIN, out_program, err);
}

static gpb_status fake_program_end(gpb_be_device *device, gpb_be_batch *program, char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_batch *p = (fake_batch *)program;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_PROGRAM_END, err);
  if (st == GPB_OK && p->out_of_memory) st = out_of_memory(err, "program_end");
  if (st == GPB_OK) p->state = BATCH_ENDED;
  pthread_mutex_unlock(&f->lock);
  return st;
}

static void fake_cmd_execute(gpb_be_batch *batch, gpb_be_batch *program) {
  fake_batch *b = (fake_batch *)batch, *p = (fake_batch *)program;
  if (p->state != BATCH_ENDED) {
    pthread_mutex_lock(&b->fake->lock);
    violation(b->fake, "program %llu executed before it was ended", (unsigned long long)p->id);
    pthread_mutex_unlock(&b->fake->lock);
  }
  gpb_fake_cmd *c = cmd_append(b, GPB_FAKE_EXECUTE);
  if (c) c->program = p->id;
}

static gpb_status fake_batch_submit(gpb_be_device *device, gpb_be_batch *batch, gpb_be_timeline *timeline,
                                    uint64_t signal, const gpb_be_wait *waits, uint32_t wait_count, char *err) {
  gpb_fake_device *f = (gpb_fake_device *)device;
  fake_batch *b = (fake_batch *)batch;
  fake_timeline *t = (fake_timeline *)timeline;
  pthread_mutex_lock(&f->lock);
  gpb_status st = fault_hit(f, GPB_FAKE_BATCH_SUBMIT, err);
  if (st == GPB_OK && b->out_of_memory) st = out_of_memory(err, "batch_submit (recording)");
  if (st == GPB_OK && b->state != BATCH_RECORDING) {
    violation(f, "batch %llu submitted without being begun", (unsigned long long)b->id);
    gpb_format(err, GPB_MSG_MAX, "fake batch_submit: batch %llu is not open", (unsigned long long)b->id);
    st = GPB_ERROR_FAILED_PRECONDITION;
  }
  if (st == GPB_OK && signal <= t->submitted) {
    violation(f, "timeline %llu signalled to %llu after %llu", (unsigned long long)t->id, (unsigned long long)signal,
              (unsigned long long)t->submitted);
  }
  fake_sub *s = NULL;
  if (st == GPB_OK) {
    s = calloc(1, sizeof *s);
    if (s && wait_count) s->pub.waits = calloc(wait_count, sizeof *s->pub.waits);
    if (!s || (wait_count && !s->pub.waits)) {
      if (s) free(s->pub.waits);
      free(s);
      s = NULL;
      st = out_of_memory(err, "batch_submit");
    }
  }
  if (st == GPB_OK && f->log_count == f->log_cap) {
    uint32_t cap = f->log_cap ? f->log_cap * 2 : 64;
    fake_sub **log = realloc(f->log, cap * sizeof *log);
    if (!log) {
      free(s->pub.waits);
      free(s);
      st = out_of_memory(err, "batch_submit");
    } else {
      f->log = log;
      f->log_cap = cap;
    }
  }
  if (st == GPB_OK) {
    // The submission takes the batch's commands; the batch records anew after batch_begin.
    s->pub.batch = b->id;
    s->pub.timeline = t->id;
    s->pub.signal = signal;
    s->pub.wait_count = wait_count;
    for (uint32_t i = 0; i < wait_count; i++) {
      fake_timeline *w = (fake_timeline *)waits[i].timeline;
      s->pub.waits[i] = (gpb_fake_wait){w->id, waits[i].value};
      w->pending++;
    }
    s->pub.commands = b->cmds;
    s->pub.command_count = b->count;
    b->cmds = NULL;
    b->count = b->cap = 0;
    s->batch = b;
    b->state = BATCH_SUBMITTED;
    b->pending++;
    t->pending++;
    if (signal > t->submitted) t->submitted = signal;
    hold_cmds(f, s->pub.commands, s->pub.command_count, +1);
    f->log[f->log_count++] = s;
    if (!f->hold) gpb_fake_run_all(f);
  }
  pthread_mutex_unlock(&f->lock);
  return st;
}

const gpb_backend gpb_fake_backend = {
    .name = "fake",
    .label = "fake",
    .no_device_hint = NULL,
    .device_count = fake_device_count,
    .device_info = fake_device_info,
    .device_open = fake_device_open,
    .device_close = fake_device_close,
    .device_wait_idle = fake_device_wait_idle,
    .diagnostics_count = gpb_fake_diagnostics,
    .buffer_create = fake_buffer_create,
    .buffer_destroy = fake_buffer_destroy,
    .kernel_reflect = fake_kernel_reflect,
    .pipeline_create = fake_pipeline_create,
    .pipeline_destroy = fake_pipeline_destroy,
    .timeline_create = fake_timeline_create,
    .timeline_destroy = fake_timeline_destroy,
    .timeline_completed = fake_timeline_completed,
    .timeline_wait = fake_timeline_wait,
    .batch_create = fake_batch_create,
    .batch_destroy = fake_batch_destroy,
    .batch_begin = fake_batch_begin,
    .cmd_dispatch = fake_cmd_dispatch,
    .cmd_copy = fake_cmd_copy,
    .cmd_update = fake_cmd_update,
    .cmd_barrier = fake_cmd_barrier,
    .program_begin = fake_program_begin,
    .program_end = fake_program_end,
    .cmd_execute = fake_cmd_execute,
    // No timestamps: tracing records host events only.
    .batch_timestamps_begin = NULL,
    .cmd_timestamp = NULL,
    .batch_timestamps_read = NULL,
    .timestamp_calibrate = NULL,
    .batch_submit = fake_batch_submit,
};
