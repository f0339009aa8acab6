// Internal: which commands of a batch need a barrier before them.
//
// The tracker holds what the commands since the last barrier read and wrote,
// per buffer, as merged byte intervals. A new command conflicts when one of
// its accesses overlaps a recorded one and at least one of the two writes
// (read-after-write, write-after-read, write-after-write). The stream records
// a barrier before a conflicting command, which covers everything before it,
// so it then resets the tracker and adds that command's accesses.
//
// Merging overlapping or touching intervals of the same kind keeps the test
// exact: [x, y) overlaps a union of intervals iff it overlaps one of them.
// Reset is O(1) (an epoch bump), so a barrier costs nothing to track.
// Not thread-safe: each stream owns one, under the stream's lock.
#ifndef GPB_CORE_HAZARD_H
#define GPB_CORE_HAZARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpubatch/status.h"

typedef struct gpb_access {
  uint64_t buffer_id;
  uint64_t begin, end; // bytes [begin, end)
  bool write;
} gpb_access;

typedef struct gpb_hazard_slot {
  uint64_t buffer_id;
  uint32_t epoch;
  uint32_t reads;  // head of the read-interval list in `intervals`, or UINT32_MAX
  uint32_t writes; // head of the write-interval list
} gpb_hazard_slot;

typedef struct gpb_hazard_interval {
  uint64_t begin, end;
  uint32_t next;
} gpb_hazard_interval;

typedef struct gpb_hazard_tracker {
  gpb_hazard_slot *slots; // open addressing, power-of-two capacity
  uint32_t slot_cap, slot_used;
  uint32_t epoch;
  gpb_hazard_interval *intervals;
  uint32_t interval_count, interval_cap;
} gpb_hazard_tracker;

void gpb_hazard_init(gpb_hazard_tracker *t);
void gpb_hazard_release(gpb_hazard_tracker *t);

// True when any of `accesses` conflicts with what the tracker holds.
bool gpb_hazard_conflicts(const gpb_hazard_tracker *t, const gpb_access *accesses, size_t count);

// Adds the accesses of one command. Fails only on allocation failure, and
// then leaves the tracker reset (a barrier must be recorded: safe default).
gpb_status gpb_hazard_add(gpb_hazard_tracker *t, const gpb_access *accesses, size_t count);

// The one call a recorder makes per command: whether a barrier must
// precede a command with these accesses, and the tracker updated as if it
// were recorded. `follows` says the command follows others since the
// tracker was reset (the first one needs no barrier); `always` asks for a
// barrier before every following command (GPB_BARRIERS_ALWAYS). On a barrier
// the tracker forgets what came before it. Fails only on allocation failure,
// leaving the tracker reset: then a barrier must precede the command whatever
// *out_barrier says.
gpb_status gpb_hazard_next(gpb_hazard_tracker *t, const gpb_access *accesses, size_t count, bool follows, bool always,
                           bool *out_barrier);

// Forgets everything (after a barrier or at a batch boundary).
void gpb_hazard_reset(gpb_hazard_tracker *t);

// True when [a_begin, a_end) and [b_begin, b_end) share a byte.
static inline bool gpb_ranges_overlap(uint64_t a_begin, uint64_t a_end, uint64_t b_begin, uint64_t b_end) {
  return a_begin < b_end && b_begin < a_end;
}

#endif
