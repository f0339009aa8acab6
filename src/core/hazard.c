// Hazard tracking: see hazard.h.
#include "core/hazard.h"

#include <stdlib.h>
#include <string.h>

#define NO_INTERVAL UINT32_MAX

static uint32_t hash_id(uint64_t id) {
  id ^= id >> 33;
  id *= 0xff51afd7ed558ccdull;
  id ^= id >> 33;
  return (uint32_t)id;
}

void gpb_hazard_init(gpb_hazard_tracker *t) {
  memset(t, 0, sizeof *t);
  t->epoch = 1;
}

void gpb_hazard_release(gpb_hazard_tracker *t) {
  free(t->slots);
  free(t->intervals);
  gpb_hazard_init(t);
}

void gpb_hazard_reset(gpb_hazard_tracker *t) {
  t->epoch++;
  if (t->epoch == 0) { // wrapped: stale slots could look live again
    if (t->slots) memset(t->slots, 0, sizeof(gpb_hazard_slot) * t->slot_cap);
    t->epoch = 1;
  }
  t->slot_used = 0;
  t->interval_count = 0;
}

static const gpb_hazard_slot *find_slot(const gpb_hazard_tracker *t, uint64_t id) {
  if (t->slot_cap == 0) return NULL;
  uint32_t mask = t->slot_cap - 1;
  for (uint32_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
    const gpb_hazard_slot *s = &t->slots[i];
    if (s->epoch != t->epoch) return NULL;
    if (s->buffer_id == id) return s;
  }
}

static bool list_overlaps(const gpb_hazard_tracker *t, uint32_t head, uint64_t begin, uint64_t end) {
  for (uint32_t i = head; i != NO_INTERVAL; i = t->intervals[i].next) {
    if (gpb_ranges_overlap(begin, end, t->intervals[i].begin, t->intervals[i].end)) return true;
  }
  return false;
}

bool gpb_hazard_conflicts(const gpb_hazard_tracker *t, const gpb_access *accesses, size_t count) {
  for (size_t i = 0; i < count; i++) {
    const gpb_access *a = &accesses[i];
    const gpb_hazard_slot *s = find_slot(t, a->buffer_id);
    if (!s) continue;
    if (list_overlaps(t, s->writes, a->begin, a->end)) return true;
    if (a->write && list_overlaps(t, s->reads, a->begin, a->end)) return true;
  }
  return false;
}

static gpb_status grow_slots(gpb_hazard_tracker *t) {
  uint32_t cap = t->slot_cap ? t->slot_cap * 2 : 64;
  gpb_hazard_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return GPB_ERROR_OUT_OF_HOST_MEMORY;
  for (uint32_t i = 0; i < t->slot_cap; i++) {
    gpb_hazard_slot *old = &t->slots[i];
    if (old->epoch != t->epoch) continue;
    uint32_t j = hash_id(old->buffer_id) & (cap - 1);
    while (slots[j].epoch == t->epoch) j = (j + 1) & (cap - 1);
    slots[j] = *old;
  }
  free(t->slots);
  t->slots = slots;
  t->slot_cap = cap;
  return GPB_OK;
}

static gpb_hazard_slot *get_slot(gpb_hazard_tracker *t, uint64_t id) {
  if ((t->slot_used + 1) * 2 > t->slot_cap && grow_slots(t) != GPB_OK) return NULL;
  uint32_t mask = t->slot_cap - 1;
  for (uint32_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
    gpb_hazard_slot *s = &t->slots[i];
    if (s->epoch != t->epoch) {
      *s = (gpb_hazard_slot){.buffer_id = id, .epoch = t->epoch, .reads = NO_INTERVAL, .writes = NO_INTERVAL};
      t->slot_used++;
      return s;
    }
    if (s->buffer_id == id) return s;
  }
}

// Adds [begin, end) to the list at *head, absorbing every interval it
// overlaps or touches, so the list stays disjoint.
static gpb_status list_add(gpb_hazard_tracker *t, uint32_t *head, uint64_t begin, uint64_t end) {
  uint32_t *link = head;
  while (*link != NO_INTERVAL) {
    gpb_hazard_interval *iv = &t->intervals[*link];
    if (iv->begin <= end && begin <= iv->end) {
      if (iv->begin < begin) begin = iv->begin;
      if (iv->end > end) end = iv->end;
      *link = iv->next; // unlinked; its storage is reclaimed at reset
    } else {
      link = &iv->next;
    }
  }
  if (t->interval_count == t->interval_cap) {
    uint32_t cap = t->interval_cap ? t->interval_cap * 2 : 128;
    gpb_hazard_interval *ivs = realloc(t->intervals, cap * sizeof *ivs);
    if (!ivs) return GPB_ERROR_OUT_OF_HOST_MEMORY;
    t->intervals = ivs;
    t->interval_cap = cap;
  }
  uint32_t idx = t->interval_count++;
  t->intervals[idx] = (gpb_hazard_interval){.begin = begin, .end = end, .next = *head};
  *head = idx;
  return GPB_OK;
}

gpb_status gpb_hazard_add(gpb_hazard_tracker *t, const gpb_access *accesses, size_t count) {
  for (size_t i = 0; i < count; i++) {
    const gpb_access *a = &accesses[i];
    gpb_hazard_slot *s = get_slot(t, a->buffer_id);
    gpb_status st = s ? list_add(t, a->write ? &s->writes : &s->reads, a->begin, a->end) : GPB_ERROR_OUT_OF_HOST_MEMORY;
    if (st != GPB_OK) {
      gpb_hazard_reset(t);
      return st;
    }
  }
  return GPB_OK;
}

gpb_status gpb_hazard_next(gpb_hazard_tracker *t, const gpb_access *accesses, size_t count, bool follows, bool always,
                           bool *out_barrier) {
  bool barrier = follows && (always || gpb_hazard_conflicts(t, accesses, count));
  if (barrier) gpb_hazard_reset(t);
  *out_barrier = barrier;
  return gpb_hazard_add(t, accesses, count);
}
