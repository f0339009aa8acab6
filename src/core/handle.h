// Internal: the handle table, which turns public handles into objects.
//
// A public handle (gpb_device *, gpb_buffer *, gpb_kernel *, gpb_stream *,
// gpb_program *) is never the object's address: it is an integer cast to the
// public pointer type, and the library never dereferences it. Its 64 bits are
//
//   type tag (4 bits, never 0) | generation (28 bits) | slot index (32 bits)
//
// The table is process-wide. A slot holds one live object and the handle
// value it was given; freeing the object empties the slot and bumps its
// generation, so the old value never matches again, even once the slot holds
// a new object. A lookup accepts a handle only if its slot holds exactly that
// value, which refuses, deterministically (not by luck):
//   - a handle of a freed, destroyed or closed object (use after free),
//     freed again (double free), or released with its device;
//   - a handle of another type cast to this one (the tag differs);
//   - a value that is no handle at all: a real pointer has tag 0 (user-space
//     addresses are below 2^47), and an index past the table finds no slot.
// A slot whose generation has gone through all 2^28 values is retired, not
// reused, so a stale handle can never come back to life.
//
// Slots live in chunks that never move: an array of chunk pointers, a chunk
// allocated the first time a slot in it is needed and kept for the life of
// the process (LeakSanitizer sees them reachable). Creating and freeing
// handles takes the table's mutex; a lookup takes no lock: a bounds check and
// three atomic loads (chunk, slot value, object), cheap enough for every
// buffer argument of every dispatch. A lookup racing with the free of the
// same handle is the caller's error (the headers say so); the table stays
// consistent, the object may not.
//
// Handles need a 64-bit uintptr_t (checked at compile time in handle.c).
#ifndef GPB_CORE_HANDLE_H
#define GPB_CORE_HANDLE_H

#include <stdint.h>

#include "gpubatch/status.h"

typedef enum gpb_handle_type {
  GPB_HANDLE_DEVICE = 1,
  GPB_HANDLE_BUFFER,
  GPB_HANDLE_KERNEL,
  GPB_HANDLE_STREAM,
  GPB_HANDLE_PROGRAM,
} gpb_handle_type;

// Slots in the table (4,194,304): at most this many objects live at once.
#define GPB_HANDLE_SLOTS (4096u * 1024u)

// Gives `object` a new handle of `type`. GPB_ERROR_OUT_OF_HOST_MEMORY when a
// chunk cannot be allocated or GPB_HANDLE_SLOTS objects are live; the
// caller composes the message.
gpb_status gpb_handle_create(gpb_handle_type type, void *object, uintptr_t *out_handle);

// The object behind `handle` if it is a live handle of `type`, else NULL.
void *gpb_handle_lookup(uintptr_t handle, gpb_handle_type type);

// Ends `handle`: lookups refuse it from now on. A handle that is not live is
// ignored (the library only passes its own).
void gpb_handle_destroy(uintptr_t handle);

// For a public call given a handle that gpb_handle_lookup refused: fails
// with GPB_ERROR_INVALID_ARGUMENT when it is NULL ("<op>: buffer is NULL"),
// else GPB_ERROR_INVALID_HANDLE with the reason ("<op>: buffer handle 0x...
// is not a live buffer: freed, or closed with its device"). The message
// goes to the thread's slot and to `object_msg` when not NULL.
gpb_status gpb_handle_fail(char *object_msg, const char *op, gpb_handle_type type, uintptr_t handle);

// A number unique in the process, never 0: buffers' and streams' ids.
uint64_t gpb_next_id(void);

#endif
