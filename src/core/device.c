// Devices: enumeration, default choice, open/close, device-wide sync.
#include <stdlib.h>
#include <string.h>

#include "core/buffer.h"
#include "core/device.h"
#include "core/kernel.h"
#include "core/program.h"
#include "core/stream.h"

static atomic_uint_fast64_t open_counter = 1;

gpb_status gpb_device_count(uint32_t *out_count) {
  char err[GPB_MSG_MAX] = "";
  if (!out_count) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_device_count: out_count is NULL");
  *out_count = 0;
  const gpb_backend *be;
  gpb_status st = gpb_backend_active(&be);
  if (st != GPB_OK) return st;
  st = be->device_count(out_count, err);
  if (st != GPB_OK) return gpb_fail(NULL, st, "enumerating devices: %s", err);
  return GPB_OK;
}

gpb_status gpb_device_get_info(uint32_t index, gpb_device_info *out_info) {
  char err[GPB_MSG_MAX] = "";
  if (!out_info) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_device_get_info: out_info is NULL");
  memset(out_info, 0, sizeof *out_info);
  const gpb_backend *be;
  gpb_status st = gpb_backend_active(&be);
  if (st != GPB_OK) return st;
  st = be->device_info(index, out_info, err);
  if (st != GPB_OK) return gpb_fail(NULL, st, "device %u: %s", index, err);
  return GPB_OK;
}

// Parses a non-negative decimal integer; false on anything else.
static bool parse_uint(const char *s, uint64_t *out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return true;
}

gpb_status gpb_device_default_index(uint32_t *out_index) {
  if (!out_index) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_device_default_index: out_index is NULL");
  uint32_t count = 0;
  gpb_status st = gpb_device_count(&count);
  if (st != GPB_OK) return st;
  const char *env = getenv("GPB_DEVICE");
  if (env && *env) {
    uint64_t v;
    if (!parse_uint(env, &v) || v >= count) {
      return gpb_fail(NULL, GPB_ERROR_NOT_FOUND, "GPB_DEVICE=%s: no such device (%u found)", env, count);
    }
    *out_index = (uint32_t)v;
    return GPB_OK;
  }
  uint32_t chosen = UINT32_MAX;
  for (uint32_t i = 0; i < count; i++) {
    gpb_device_info info;
    if (gpb_device_get_info(i, &info) != GPB_OK || !info.usable) continue;
    if (info.type == GPB_DEVICE_DISCRETE_GPU) {
      chosen = i;
      break;
    }
    if (chosen == UINT32_MAX) chosen = i;
  }
  if (chosen == UINT32_MAX) {
    const gpb_backend *be;
    st = gpb_backend_active(&be);
    if (st != GPB_OK) return st;
    return gpb_fail(NULL, GPB_ERROR_NOT_FOUND, "no usable %s device (%u found)%s%s", be->label, count,
                    be->no_device_hint ? "; " : "", be->no_device_hint ? be->no_device_hint : "");
  }
  *out_index = chosen;
  return GPB_OK;
}

static gpb_status device_release(gpb_device_obj *dev);

// The environment's settings for a device, each checked: a value the
// library does not recognise is an error naming the variable and what it
// accepts, not a silent default (GPB_MODE=immediat once ran batched).
typedef struct env_settings {
  gpb_mode mode;
  bool validation;
  uint64_t wait_timeout_ns;
  uint32_t wait_spin_us; // 0: not set
} env_settings;

static gpb_status read_env(env_settings *out) {
  *out = (env_settings){.mode = GPB_MODE_BATCHED, .wait_timeout_ns = 120ull * 1000 * 1000 * 1000};
  const char *v = getenv("GPB_MODE");
  if (v && *v) {
    if (strcmp(v, "immediate") == 0)
      out->mode = GPB_MODE_IMMEDIATE;
    else if (strcmp(v, "batched") != 0)
      return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "GPB_MODE=%s: expected immediate or batched", v);
  }
  v = getenv("GPB_VALIDATION");
  if (v && *v) {
    if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
      return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "GPB_VALIDATION=%s: expected 1 (on) or 0 (off)", v);
    out->validation = strcmp(v, "1") == 0;
  }
  uint64_t n;
  v = getenv("GPB_WAIT_TIMEOUT_MS");
  if (v && *v) {
    if (!parse_uint(v, &n) || n == 0 || n > UINT64_MAX / 1000000ull)
      return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT,
                      "GPB_WAIT_TIMEOUT_MS=%s: expected a whole number of milliseconds, at least 1", v);
    out->wait_timeout_ns = n * 1000000ull;
  }
  v = getenv("GPB_WAIT_SPIN_US");
  if (v && *v) {
    if (!parse_uint(v, &n) || n >= UINT32_MAX)
      return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT,
                      "GPB_WAIT_SPIN_US=%s: expected a whole number of microseconds (0: never poll)", v);
    out->wait_spin_us = n == 0 ? UINT32_MAX : (uint32_t)n; // the options' encoding of "never"
  }
  return GPB_OK;
}

gpb_status gpb_device_open(uint32_t index, const gpb_device_options *options, gpb_device **out_device) {
  if (!out_device) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_device_open: out_device is NULL");
  *out_device = NULL;
  gpb_device_options opts = options ? *options : (gpb_device_options){0};
  env_settings env;
  gpb_status est = read_env(&env);
  if (est != GPB_OK) return est;
  const gpb_backend *be;
  est = gpb_backend_active(&be);
  if (est != GPB_OK) return est;
  if (env.validation) opts.validation = true;
  if (!opts.wait_spin_us) opts.wait_spin_us = env.wait_spin_us; // the options win

  gpb_device_obj *dev = calloc(1, sizeof *dev);
  if (!dev) return gpb_fail(NULL, GPB_ERROR_OUT_OF_HOST_MEMORY, "device %u: out of host memory", index);
  dev->be = be;
  dev->default_mode = env.mode;
  dev->wait_timeout_ns = env.wait_timeout_ns;
  gpb_format(dev->label, sizeof dev->label, "device %u (open %llu)", index,
             (unsigned long long)atomic_fetch_add(&open_counter, 1));
  pthread_mutex_init(&dev->lock, NULL);

  char err[GPB_MSG_MAX] = "";
  const char *trace_path = opts.trace_path ? opts.trace_path : getenv("GPB_TRACE");
  if (trace_path && *trace_path) {
    gpb_status tst = gpb_trace_open(trace_path, &dev->trace, err);
    if (tst != GPB_OK) {
      pthread_mutex_destroy(&dev->lock);
      free(dev);
      return gpb_fail(NULL, tst, "device %u: %s", index, err);
    }
  }
  gpb_status st = dev->be->device_open(index, &opts, &dev->impl, &dev->info, &dev->queue_count, err);
  if (st != GPB_OK) {
    gpb_trace_close(dev->trace, err);
    pthread_mutex_destroy(&dev->lock);
    free(dev);
    return gpb_fail(NULL, st, "device %u: %s", index, err);
  }
  st = gpb_stream_create_internal(dev, NULL, true, &dev->default_stream);
  if (st != GPB_OK) {
    char msg[GPB_MSG_MAX];
    gpb_format(msg, sizeof msg, "%s", gpb_last_error());
    device_release(dev);
    return gpb_fail_msg(NULL, st, msg);
  }
  uintptr_t handle;
  if (gpb_handle_create(GPB_HANDLE_DEVICE, dev, &handle) != GPB_OK) {
    device_release(dev);
    return gpb_fail(NULL, GPB_ERROR_OUT_OF_HOST_MEMORY, "device %u: no handle left (out of host memory)", index);
  }
  dev->handle = (gpb_device *)handle;
  *out_device = dev->handle;
  return GPB_OK;
}

gpb_status gpb_device_open_default(const gpb_device_options *options, gpb_device **out_device) {
  if (!out_device) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_device_open_default: out_device is NULL");
  *out_device = NULL;
  uint32_t index;
  gpb_status st = gpb_device_default_index(&index);
  if (st != GPB_OK) return st;
  return gpb_device_open(index, options, out_device);
}

// Drains every stream of the device, all of them even after a failure (so
// nothing is left running); returns the first failure, its message in
// first_msg.
static gpb_status sync_streams(gpb_device_obj *dev, char first_msg[GPB_MSG_MAX]) {
  gpb_status first = GPB_OK;
  pthread_mutex_lock(&dev->lock);
  for (uint32_t i = 0; i < dev->stream_count; i++) {
    gpb_status st = gpb_stream_sync_internal(dev->streams[i]);
    if (st != GPB_OK && first == GPB_OK) {
      first = st;
      gpb_format(first_msg, GPB_MSG_MAX, "%s", gpb_last_error());
    }
  }
  pthread_mutex_unlock(&dev->lock);
  return first;
}

gpb_status gpb_device_sync(gpb_device *device) {
  gpb_device_obj *dev;
  gpb_status st = gpb_device_resolve(device, "gpb_device_sync", &dev);
  if (st != GPB_OK) return st;
  char first_msg[GPB_MSG_MAX] = "";
  st = sync_streams(dev, first_msg);
  if (st != GPB_OK) return gpb_fail_msg(dev->last_error, st, first_msg);
  return GPB_OK;
}

gpb_status gpb_device_close(gpb_device *device) {
  if (!device) return GPB_OK;
  gpb_device_obj *dev;
  gpb_status st = gpb_device_resolve(device, "gpb_device_close", &dev);
  if (st != GPB_OK) return st;
  return device_release(dev);
}

// Closes the device and releases everything on it, with their handles (the
// device's first: from here on every call with it is refused).
static gpb_status device_release(gpb_device_obj *dev) {
  gpb_handle_destroy((uintptr_t)dev->handle);
  char first_msg[GPB_MSG_MAX] = "";
  gpb_status first = sync_streams(dev, first_msg); // keeps going after an error, so nothing leaks
  char err[GPB_MSG_MAX] = "";
  if (dev->be->device_wait_idle(dev->impl, err) != GPB_OK && first == GPB_OK) {
    first = GPB_ERROR_DEVICE_LOST;
    gpb_format(first_msg, sizeof first_msg, "closing device '%s': %s", dev->info.name, err);
  }
  // Everything has finished (or the device is lost): release bottom-up.
  pthread_mutex_lock(&dev->lock);
  while (dev->stream_count > 0) {
    gpb_stream_obj *s = dev->streams[--dev->stream_count];
    gpb_stream_release(s, err); // the device already went idle above
  }
  while (dev->programs) gpb_program_release_locked(dev->programs);
  while (dev->kernels) gpb_kernel_release_locked(dev->kernels);
  while (dev->buffers) gpb_buffer_release_locked(dev->buffers);
  pthread_mutex_unlock(&dev->lock);
  free(dev->streams);
  dev->be->device_close(dev->impl);
  if (dev->trace && gpb_trace_close(dev->trace, err) != GPB_OK && first == GPB_OK) {
    first = GPB_ERROR_IO;
    gpb_format(first_msg, sizeof first_msg, "closing device: %s", err);
  }
  pthread_mutex_destroy(&dev->lock);
  free(dev);
  if (first != GPB_OK) return gpb_fail_msg(NULL, first, first_msg);
  return GPB_OK;
}

// The calls below return a value: a handle that is not live gives the neutral
// value, with the reason in gpb_last_error (NULL leaves no message).

gpb_stream *gpb_device_default_stream(gpb_device *device) {
  gpb_device_obj *dev;
  if (!device || gpb_device_resolve(device, "gpb_device_default_stream", &dev) != GPB_OK) return NULL;
  return dev->default_stream->handle;
}

gpb_status gpb_device_query(const gpb_device *device, gpb_device_info *out_info) {
  gpb_device_obj *dev;
  gpb_status st = gpb_device_resolve(device, "gpb_device_query", &dev);
  if (st != GPB_OK) return st;
  if (!out_info) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_device_query: out_info is NULL");
  *out_info = dev->info;
  return GPB_OK;
}

uint64_t gpb_device_validation_message_count(const gpb_device *device) {
  gpb_device_obj *dev;
  if (!device || gpb_device_resolve(device, "gpb_device_validation_message_count", &dev) != GPB_OK) return 0;
  return dev->be->diagnostics_count ? dev->be->diagnostics_count(dev->impl) : 0;
}

const char *gpb_device_last_error(const gpb_device *device) {
  gpb_device_obj *dev;
  if (!device || gpb_device_resolve(device, "gpb_device_last_error", &dev) != GPB_OK) return "";
  return dev->last_error;
}
