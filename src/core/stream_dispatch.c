// Dispatch: the kernel's arguments checked against its interface and the
// device's limits, then one GPB_CMD_DISPATCH for the record path. The
// buffer checks are shared with the copies (gpb_stream_resolve_range).
#include "core/stream_internal.h"

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
  if (!buf) return gpb_stream_fail_handle(s, name, GPB_HANDLE_BUFFER, handle);
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
  if (!k) return gpb_stream_fail_handle(s, "dispatch", GPB_HANDLE_KERNEL, d->kernel);
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
