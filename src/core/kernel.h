// Internal: the kernel object behind gpb_kernel, and the device's pipeline
// cache. Created in kernel.c; destroyed in release.c (which waits for the
// GPU work using it).
#ifndef GPB_CORE_KERNEL_H
#define GPB_CORE_KERNEL_H

#include <stdatomic.h>

#include "core/device.h"
#include "core/uses.h"

// A pipeline shared by every kernel handle of the same code and entry point.
struct gpb_pipeline_entry {
  uint64_t hash;
  uint32_t *code; // 4-byte aligned copy the backend may keep pointing at
  size_t bytes;
  gpb_kernel_info info; // as reflected (name is the first loader's)
  gpb_be_pipeline *impl;
  uint32_t refs;
  struct gpb_pipeline_entry *next;
};

struct gpb_kernel_obj {
  gpb_kernel *handle;
  gpb_device_obj *device;
  gpb_pipeline_entry *pipeline;
  gpb_kernel_info info;
  gpb_uses uses;
  atomic_uint program_refs;    // programs that use it: it cannot be destroyed
  gpb_kernel_obj *prev, *next; // device->kernels
};

GPB_DEFINE_RESOLVERS(kernel, GPB_HANDLE_KERNEL)

// Kernels of a batch or program, for error messages: the first few distinct
// names and the last. Pointers into the kernels: a kernel outlives the
// batches and programs that use it (destroying it waits for them or is
// refused).
typedef struct gpb_kernel_names {
  const char *first[4];
  uint32_t count;
  const char *last;
} gpb_kernel_names;

void gpb_kernel_names_add(gpb_kernel_names *names, const char *name);

// Releases the kernel and its handle, and its pipeline once no kernel uses
// it; no GPU work may use it. Device lock held.
void gpb_kernel_release_locked(gpb_kernel_obj *kernel);

#endif
