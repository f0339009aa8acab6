// Kernels: code in (SPIR-V today), the backend's reflection of its interface
// and a cached pipeline out.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernel.h"

static uint64_t fnv1a(const void *data, size_t n, uint64_t h) {
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

// Finds or creates the device's pipeline for this code and entry point, and
// takes ownership of `words` (`bytes` long). Device lock held.
static gpb_status pipeline_get_locked(gpb_device_obj *dev, uint32_t *words, size_t bytes, const gpb_kernel_info *info,
                                      gpb_pipeline_entry **out, char *err) {
  uint64_t hash = fnv1a(info->entry_point, strlen(info->entry_point), fnv1a(words, bytes, 0xcbf29ce484222325ull));
  for (gpb_pipeline_entry *e = dev->pipelines; e; e = e->next) {
    if (e->hash == hash && e->bytes == bytes && strcmp(e->info.entry_point, info->entry_point) == 0 &&
        memcmp(e->code, words, bytes) == 0) {
      e->refs++;
      *out = e;
      free(words);
      return GPB_OK;
    }
  }
  gpb_pipeline_entry *e = calloc(1, sizeof *e);
  if (!e) {
    free(words);
    gpb_format(err, GPB_MSG_MAX, "out of host memory");
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  gpb_be_kernel_code code = {GPB_BE_KERNEL_SPIRV, words, bytes, info->entry_point};
  gpb_status st = dev->be->pipeline_create(dev->impl, &code, info, &e->impl, err);
  if (st != GPB_OK) {
    free(words);
    free(e);
    return st;
  }
  e->hash = hash;
  e->code = words;
  e->bytes = bytes;
  e->info = *info;
  e->refs = 1;
  e->next = dev->pipelines;
  dev->pipelines = e;
  *out = e;
  return GPB_OK;
}

static void pipeline_put_locked(gpb_device_obj *dev, gpb_pipeline_entry *entry) {
  if (--entry->refs > 0) return;
  for (gpb_pipeline_entry **link = &dev->pipelines; *link; link = &(*link)->next) {
    if (*link == entry) {
      *link = entry->next;
      break;
    }
  }
  dev->be->pipeline_destroy(dev->impl, entry->impl);
  free(entry->code);
  free(entry);
}

gpb_status gpb_kernel_create(gpb_device *device, const gpb_kernel_desc *desc, gpb_kernel **out_kernel) {
  if (!out_kernel) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_kernel_create: out_kernel is NULL");
  *out_kernel = NULL;
  gpb_device_obj *dev;
  gpb_status st = gpb_device_resolve(device, "gpb_kernel_create", &dev);
  if (st != GPB_OK) return st;
  if (!desc) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_kernel_create: desc is NULL");
  const char *entry = desc->entry_point ? desc->entry_point : "main";
  const char *name = desc->name ? desc->name : entry;
  if (!desc->spirv || desc->spirv_bytes == 0 || desc->spirv_bytes % 4 != 0) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_SPIRV,
                    "kernel '%s': SPIR-V must be a non-empty multiple of 4 bytes (got %zu)", name, desc->spirv_bytes);
  }
  if (strlen(entry) >= sizeof(((gpb_kernel_info *)0)->entry_point)) {
    return gpb_fail(dev->last_error, GPB_ERROR_INVALID_ARGUMENT, "kernel '%s': entry point name too long", name);
  }
  uint32_t *words = malloc(desc->spirv_bytes); // aligned copy; the cache keeps it
  gpb_kernel_obj *k = calloc(1, sizeof *k);
  if (!words || !k) {
    free(words);
    free(k);
    return gpb_fail(dev->last_error, GPB_ERROR_OUT_OF_HOST_MEMORY, "kernel '%s': out of host memory", name);
  }
  memcpy(words, desc->spirv, desc->spirv_bytes);
  gpb_format(k->info.name, sizeof k->info.name, "%s", name);
  gpb_format(k->info.entry_point, sizeof k->info.entry_point, "%s", entry);
  char err[GPB_MSG_MAX] = "";
  gpb_be_kernel_code code = {GPB_BE_KERNEL_SPIRV, words, desc->spirv_bytes, entry};
  st = dev->be->kernel_reflect(dev->impl, &code, &k->info, err);
  const uint32_t *wg = k->info.workgroup_size;
  uint64_t invocations = (uint64_t)wg[0] * wg[1] * wg[2];
  if (st == GPB_OK && (wg[0] == 0 || wg[1] == 0 || wg[2] == 0)) {
    gpb_format(err, sizeof err, "workgroup size %ux%ux%u has a zero dimension", wg[0], wg[1], wg[2]);
    st = GPB_ERROR_INVALID_SPIRV;
  } else if (st == GPB_OK &&
             (wg[0] > dev->info.max_workgroup_size[0] || wg[1] > dev->info.max_workgroup_size[1] ||
              wg[2] > dev->info.max_workgroup_size[2] || invocations > dev->info.max_workgroup_invocations)) {
    gpb_format(err, sizeof err, "workgroup size %ux%ux%u exceeds the device's limits (%ux%ux%u, %u invocations)", wg[0],
               wg[1], wg[2], dev->info.max_workgroup_size[0], dev->info.max_workgroup_size[1],
               dev->info.max_workgroup_size[2], dev->info.max_workgroup_invocations);
    st = GPB_ERROR_UNSUPPORTED;
  } else if (st == GPB_OK && k->info.shared_memory_bytes > dev->info.max_shared_memory_bytes) {
    gpb_format(err, sizeof err, "%llu bytes of shared memory; the device allows %u per workgroup",
               (unsigned long long)k->info.shared_memory_bytes, dev->info.max_shared_memory_bytes);
    st = GPB_ERROR_UNSUPPORTED;
  } else if (st == GPB_OK && k->info.push_constant_bytes > dev->info.max_push_constant_bytes) {
    gpb_format(err, sizeof err, "%u push-constant bytes; the device allows %u", k->info.push_constant_bytes,
               dev->info.max_push_constant_bytes);
    st = GPB_ERROR_UNSUPPORTED;
  }
  if (st != GPB_OK) {
    free(words);
    free(k);
    return gpb_fail(dev->last_error, st, "kernel '%s': %s", name, err);
  }
  uintptr_t handle;
  if (gpb_handle_create(GPB_HANDLE_KERNEL, k, &handle) != GPB_OK) {
    free(words);
    free(k);
    return gpb_fail(dev->last_error, GPB_ERROR_OUT_OF_HOST_MEMORY, "kernel '%s': no handle left (out of host memory)",
                    name);
  }
  k->handle = (gpb_kernel *)handle;
  pthread_mutex_lock(&dev->lock);
  st = pipeline_get_locked(dev, words, desc->spirv_bytes, &k->info, &k->pipeline, err);
  if (st == GPB_OK) {
    k->device = dev;
    gpb_uses_init(&k->uses);
    k->next = dev->kernels;
    if (dev->kernels) dev->kernels->prev = k;
    dev->kernels = k;
  }
  pthread_mutex_unlock(&dev->lock);
  if (st != GPB_OK) {
    gpb_handle_destroy(handle);
    free(k);
    return gpb_fail(dev->last_error, st, "kernel '%s': creating pipeline: %s", name, err);
  }
  *out_kernel = k->handle;
  return GPB_OK;
}

gpb_status gpb_kernel_create_from_file(gpb_device *device, const char *path, const char *entry_point, const char *name,
                                       gpb_kernel **out_kernel) {
  if (!out_kernel) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_kernel_create_from_file: out_kernel is NULL");
  *out_kernel = NULL;
  gpb_device_obj *dev;
  gpb_status st = gpb_device_resolve(device, "gpb_kernel_create_from_file", &dev);
  if (st != GPB_OK) return st;
  if (!path) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_kernel_create_from_file: path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f) {
    return gpb_fail(dev->last_error, errno == ENOENT ? GPB_ERROR_NOT_FOUND : GPB_ERROR_IO, "kernel file '%s': %s", path,
                    strerror(errno));
  }
  void *bytes = NULL;
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (size > 0 && size < (1l << 30) && fseek(f, 0, SEEK_SET) == 0) {
    bytes = malloc((size_t)size);
    if (bytes && fread(bytes, 1, (size_t)size, f) != (size_t)size) {
      free(bytes);
      bytes = NULL;
    }
  }
  fclose(f);
  if (!bytes) {
    return gpb_fail(dev->last_error, size == 0 ? GPB_ERROR_INVALID_SPIRV : GPB_ERROR_IO,
                    "kernel file '%s': could not be read (%ld bytes)", path, size);
  }
  char base[64];
  if (!name) {
    const char *slash = strrchr(path, '/');
    gpb_format(base, sizeof base, "%s", slash ? slash + 1 : path);
    char *dot = strrchr(base, '.');
    if (dot && dot != base) *dot = '\0';
    name = base;
  }
  gpb_kernel_desc desc = {.name = name, .spirv = bytes, .spirv_bytes = (size_t)size, .entry_point = entry_point};
  st = gpb_kernel_create(device, &desc, out_kernel);
  free(bytes);
  return st;
}

void gpb_kernel_release_locked(gpb_kernel_obj *k) {
  gpb_device_obj *dev = k->device;
  gpb_handle_destroy((uintptr_t)k->handle);
  if (k->prev)
    k->prev->next = k->next;
  else
    dev->kernels = k->next;
  if (k->next) k->next->prev = k->prev;
  pipeline_put_locked(dev, k->pipeline);
  gpb_uses_release(&k->uses);
  free(k);
}

gpb_status gpb_kernel_get_info(const gpb_kernel *kernel, gpb_kernel_info *out_info) {
  gpb_kernel_obj *k;
  gpb_status st = gpb_kernel_resolve(kernel, "gpb_kernel_get_info", &k);
  if (st != GPB_OK) return st;
  if (!out_info) return gpb_fail(NULL, GPB_ERROR_INVALID_ARGUMENT, "gpb_kernel_get_info: out_info is NULL");
  *out_info = k->info;
  return GPB_OK;
}

void gpb_kernel_names_add(gpb_kernel_names *n, const char *name) {
  if (!name || n->last == name) return;
  n->last = name;
  for (uint32_t i = 0; i < n->count; i++) {
    if (n->first[i] == name) return;
  }
  if (n->count < 4) n->first[n->count++] = name;
}
