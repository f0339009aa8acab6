// The record of which unfinished GPU work uses a resource: see core/uses.h.
#include "core/uses.h"

#include <stdlib.h>
#include <string.h>

void gpb_uses_init(gpb_uses *uses) {
  memset(uses, 0, sizeof *uses);
  pthread_mutex_init(&uses->lock, NULL);
}

void gpb_uses_release(gpb_uses *uses) {
  free(uses->items);
  pthread_mutex_destroy(&uses->lock);
}

gpb_status gpb_uses_note(gpb_uses *uses, uint64_t stream_id, uint64_t serial, bool write) {
  gpb_status st = GPB_OK;
  pthread_mutex_lock(&uses->lock);
  gpb_use *use = NULL;
  for (uint32_t i = 0; i < uses->count; i++) {
    if (uses->items[i].stream_id == stream_id) {
      use = &uses->items[i];
      break;
    }
  }
  if (!use) {
    if (uses->count == uses->cap) {
      uint32_t cap = uses->cap ? uses->cap * 2 : 2;
      gpb_use *items = realloc(uses->items, cap * sizeof *items);
      if (!items) {
        st = GPB_ERROR_OUT_OF_HOST_MEMORY;
        goto out;
      }
      uses->items = items;
      uses->cap = cap;
    }
    use = &uses->items[uses->count++];
    *use = (gpb_use){.stream_id = stream_id};
  }
  if (write)
    use->write_serial = serial;
  else
    use->read_serial = serial;
out:
  pthread_mutex_unlock(&uses->lock);
  return st;
}

uint32_t gpb_uses_note_all(const gpb_use_note *notes, uint32_t count, uint64_t stream_id, uint64_t serial) {
  for (uint32_t i = 0; i < count; i++) {
    if (gpb_uses_note(notes[i].uses, stream_id, serial, notes[i].write) != GPB_OK) return i;
  }
  return count;
}

gpb_use *gpb_uses_snapshot(gpb_uses *uses, gpb_use *local, uint32_t local_cap, uint32_t *out_count) {
  pthread_mutex_lock(&uses->lock);
  uint32_t count = uses->count;
  gpb_use *items = count <= local_cap ? local : malloc(count * sizeof *items);
  if (items && count) memcpy(items, uses->items, count * sizeof *items);
  pthread_mutex_unlock(&uses->lock);
  *out_count = count;
  return items;
}
