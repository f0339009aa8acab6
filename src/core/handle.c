// The handle table: public handles in, objects out. See core/handle.h.
#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/handle.h"

static_assert(sizeof(uintptr_t) == 8, "gpubatch handles need a 64-bit uintptr_t (see core/handle.h)");

#define TAG_SHIFT 60
#define GENERATION_SHIFT 32
#define GENERATION_MASK 0x0fffffffu
#define CHUNK_SLOTS 1024u
#define CHUNK_COUNT (GPB_HANDLE_SLOTS / CHUNK_SLOTS)

typedef struct handle_slot {
  _Atomic uintptr_t live; // the handle value it holds; 0 when free
  _Atomic(void *) object;
  uint32_t generation; // of the slot's next handle (table lock)
  uint32_t next_free;  // index + 1 of the next free slot, 0 at the end (table lock)
} handle_slot;

static _Atomic(handle_slot *) chunks[CHUNK_COUNT];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t slots_used; // slots handed out at least once (table lock)
static uint32_t free_head;  // index + 1 of the first free slot, 0 if none (table lock)

static const struct {
  const char *name;
  const char *ended_by; // how a handle of this type stops being live
} handle_types[] = {
    [GPB_HANDLE_DEVICE] = {"device", "closed"},
    [GPB_HANDLE_BUFFER] = {"buffer", "freed, or closed with its device"},
    [GPB_HANDLE_KERNEL] = {"kernel", "destroyed, or closed with its device"},
    [GPB_HANDLE_STREAM] = {"stream", "destroyed, or closed with its device"},
    [GPB_HANDLE_PROGRAM] = {"program", "destroyed, or closed with its device"},
};

static uint32_t index_of(uintptr_t handle) { return (uint32_t)handle; }
static uintptr_t tag_of(uintptr_t handle) { return handle >> TAG_SHIFT; }

// The slot at `index`, or NULL where no chunk was allocated.
static handle_slot *slot_at(uint32_t index) {
  if (index >= GPB_HANDLE_SLOTS) return NULL;
  handle_slot *chunk = atomic_load_explicit(&chunks[index / CHUNK_SLOTS], memory_order_acquire);
  return chunk ? &chunk[index % CHUNK_SLOTS] : NULL;
}

// A slot that was never used, table lock held: the next one, in a new chunk
// if need be. UINT32_MAX when the table is full or out of memory.
static uint32_t slot_new_locked(void) {
  if (slots_used == GPB_HANDLE_SLOTS) return UINT32_MAX;
  _Atomic(handle_slot *) *chunk = &chunks[slots_used / CHUNK_SLOTS];
  if (!atomic_load_explicit(chunk, memory_order_relaxed)) {
    handle_slot *fresh = calloc(CHUNK_SLOTS, sizeof *fresh); // kept for the life of the process
    if (!fresh) return UINT32_MAX;
    atomic_store_explicit(chunk, fresh, memory_order_release);
  }
  return slots_used++;
}

gpb_status gpb_handle_create(gpb_handle_type type, void *object, uintptr_t *out_handle) {
  *out_handle = 0;
  pthread_mutex_lock(&table_lock);
  uint32_t index;
  if (free_head) {
    index = free_head - 1;
    free_head = slot_at(index)->next_free;
  } else {
    index = slot_new_locked();
  }
  if (index == UINT32_MAX) {
    pthread_mutex_unlock(&table_lock);
    return GPB_ERROR_OUT_OF_HOST_MEMORY;
  }
  handle_slot *slot = slot_at(index);
  uintptr_t handle = (uintptr_t)type << TAG_SHIFT | (uintptr_t)slot->generation << GENERATION_SHIFT | index;
  atomic_store_explicit(&slot->object, object, memory_order_relaxed);
  atomic_store_explicit(&slot->live, handle, memory_order_release); // publishes the object
  pthread_mutex_unlock(&table_lock);
  *out_handle = handle;
  return GPB_OK;
}

void *gpb_handle_lookup(uintptr_t handle, gpb_handle_type type) {
  if (tag_of(handle) != (uintptr_t)type) return NULL;
  handle_slot *slot = slot_at(index_of(handle));
  if (!slot || atomic_load_explicit(&slot->live, memory_order_acquire) != handle) return NULL;
  return atomic_load_explicit(&slot->object, memory_order_relaxed);
}

void gpb_handle_destroy(uintptr_t handle) {
  if (handle == 0) return;
  pthread_mutex_lock(&table_lock);
  handle_slot *slot = slot_at(index_of(handle));
  if (slot && atomic_load_explicit(&slot->live, memory_order_relaxed) == handle) {
    atomic_store_explicit(&slot->live, 0, memory_order_release);
    atomic_store_explicit(&slot->object, NULL, memory_order_relaxed);
    slot->generation = (slot->generation + 1) & GENERATION_MASK;
    if (slot->generation != 0) { // else retired: each of its values was given out once
      slot->next_free = free_head;
      free_head = index_of(handle) + 1;
    }
  }
  pthread_mutex_unlock(&table_lock);
}

// "<type> handle 0x... is not a live <type>: <reason>", or "<type> is NULL".
static void describe(char *out, size_t cap, gpb_handle_type type, uintptr_t handle) {
  const char *name = handle_types[type].name;
  if (handle == 0) {
    gpb_format(out, cap, "%s is NULL", name);
    return;
  }
  uintptr_t tag = tag_of(handle);
  pthread_mutex_lock(&table_lock);
  bool issued = index_of(handle) < slots_used;
  pthread_mutex_unlock(&table_lock);
  char reason[64];
  if (tag == (uintptr_t)type && issued)
    gpb_format(reason, sizeof reason, "%s", handle_types[type].ended_by);
  else if (tag >= GPB_HANDLE_DEVICE && tag <= GPB_HANDLE_PROGRAM && tag != (uintptr_t)type)
    gpb_format(reason, sizeof reason, "it is a %s handle", handle_types[tag].name);
  else
    gpb_format(reason, sizeof reason, "not a handle gpubatch gave out");
  gpb_format(out, cap, "%s handle 0x%016" PRIxPTR " is not a live %s: %s", name, handle, name, reason);
}

gpb_status gpb_handle_fail(char *object_msg, const char *op, gpb_handle_type type, uintptr_t handle) {
  char what[200];
  describe(what, sizeof what, type, handle);
  return gpb_fail(object_msg, handle ? GPB_ERROR_INVALID_HANDLE : GPB_ERROR_INVALID_ARGUMENT, "%s: %s", op, what);
}

static atomic_uint_fast64_t id_counter = 1;

uint64_t gpb_next_id(void) { return atomic_fetch_add(&id_counter, 1); }
