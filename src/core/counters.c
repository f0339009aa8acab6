// Counter names, generated from the same list as the struct.
#include "gpubatch/counters.h"

static const char *const counter_names[] = {
#define GPB_COUNTER_NAME(name, doc) #name,
    GPB_COUNTER_LIST(GPB_COUNTER_NAME)
#undef GPB_COUNTER_NAME
};

#define COUNTER_COUNT (sizeof counter_names / sizeof counter_names[0])
_Static_assert(COUNTER_COUNT * sizeof(uint64_t) == sizeof(gpb_counters),
               "gpb_counters must hold exactly the listed uint64_t counters");

size_t gpb_counter_count(void) { return COUNTER_COUNT; }

const char *gpb_counter_name(size_t index) { return index < COUNTER_COUNT ? counter_names[index] : NULL; }

uint64_t gpb_counter_value(const gpb_counters *counters, size_t index) {
  if (!counters || index >= COUNTER_COUNT) return 0;
  const uint64_t *values = (const uint64_t *)counters;
  return values[index];
}
