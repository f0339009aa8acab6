// Choosing the process's backend from the registry: see core/backend.h.
#include "core/backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/error.h"

static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static const gpb_backend *active;

static const gpb_backend *first_with_devices(void) {
  if (!gpb_backends[0] || !gpb_backends[1]) return gpb_backends[0]; // one entry: no probing
  for (size_t i = 0; gpb_backends[i]; i++) {
    uint32_t count = 0;
    char err[GPB_MSG_MAX];
    if (gpb_backends[i]->device_count(&count, err) == GPB_OK && count > 0) return gpb_backends[i];
  }
  return gpb_backends[0];
}

gpb_status gpb_backend_active(const gpb_backend **out_backend) {
  pthread_mutex_lock(&active_lock);
  const gpb_backend *be = active;
  gpb_status st = GPB_OK;
  if (!be) {
    const char *want = getenv("GPB_BACKEND");
    if (want && *want) {
      for (size_t i = 0; !be && gpb_backends[i]; i++) {
        if (strcmp(gpb_backends[i]->name, want) == 0) be = gpb_backends[i];
      }
      if (!be) {
        char names[128] = "";
        size_t len = 0;
        for (size_t i = 0; gpb_backends[i] && len < sizeof names; i++)
          len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", gpb_backends[i]->name);
        st = gpb_fail(NULL, GPB_ERROR_NOT_FOUND, "GPB_BACKEND=%s: no such backend (built with: %s)", want, names);
      }
    } else {
      be = first_with_devices();
      if (!be) st = gpb_fail(NULL, GPB_ERROR_NOT_FOUND, "no backend was built into gpubatch");
    }
    active = be;
  }
  pthread_mutex_unlock(&active_lock);
  *out_backend = be;
  return st;
}

void gpb_backend_set_active(const gpb_backend *backend) {
  pthread_mutex_lock(&active_lock);
  active = backend;
  pthread_mutex_unlock(&active_lock);
}

gpb_be_device *gpb_backend_device_of(const gpb_device *device, const gpb_backend *backend) {
  gpb_device_obj *dev = gpb_device_obj_of(device);
  return dev && dev->be == backend ? dev->impl : NULL;
}
