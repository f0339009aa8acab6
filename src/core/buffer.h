// Internal: the buffer object behind gpb_buffer. Created in buffer.c;
// freed and mapped in release.c (those wait for the GPU work using it).
#ifndef GPB_CORE_BUFFER_H
#define GPB_CORE_BUFFER_H

#include <stdatomic.h>

#include "core/device.h"
#include "core/uses.h"

struct gpb_buffer_obj {
  gpb_buffer *handle;
  gpb_device_obj *device;
  gpb_be_buffer *impl;
  uint8_t *mapped; // SHARED only
  uint64_t size;
  uint64_t id; // unique in the process (gpb_next_id); keys the hazard tracker
  gpb_memory_kind kind;
  gpb_uses uses;
  atomic_uint program_refs;    // programs that use it: it cannot be freed
  gpb_buffer_obj *prev, *next; // device->buffers
};

GPB_DEFINE_RESOLVERS(buffer, GPB_HANDLE_BUFFER)

// Releases the buffer, its memory and its handle; no GPU work may use it.
// Device lock held.
void gpb_buffer_release_locked(gpb_buffer_obj *buffer);

#endif
