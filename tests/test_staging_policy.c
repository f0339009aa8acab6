// The staging pool's decisions, without a GPU: a slot is reused only after
// the batch that used it completed (TVM reset its pool without waiting), the
// pool stays within its bounds, and small uploads share a buffer.
#include "check.h"
#include "core/staging.h"

static gpb_staging_pool make_pool(uint32_t max_buffers, uint64_t max_bytes, uint64_t buffer_bytes) {
  gpb_staging_pool p = {.max_buffers = max_buffers, .max_bytes = max_bytes, .buffer_bytes = buffer_bytes};
  p.slots = calloc(max_buffers + 1, sizeof *p.slots);
  return p;
}

// Applies a plan like the stream does (without memory); returns the slot used.
static uint32_t apply(gpb_staging_pool *p, gpb_staging_plan plan, uint64_t bytes, uint64_t pending) {
  if (plan.action == GPB_STAGING_CREATE) {
    p->slots[p->count] = (gpb_staging_slot){.size = plan.size};
    p->total_bytes += plan.size;
    plan.slot = p->count++;
    plan.offset = 0;
  }
  gpb_staging_commit(p, plan.slot, plan.offset, bytes, pending);
  return plan.slot;
}

static void test_busy_slot_is_not_reused_until_complete(void) {
  gpb_staging_pool p = make_pool(1, 1 << 20, 1 << 20);
  // Batch 1 uses the only slot.
  gpb_staging_plan plan = gpb_staging_plan_upload(&p, 1 << 20, 1, 0);
  CHECK_EQ(plan.action, GPB_STAGING_CREATE);
  apply(&p, plan, 1 << 20, 1);
  // Batch 1 submitted (pending is now 2) but not complete (completed 0):
  // the slot must not be handed out; the plan is to wait for batch 1.
  plan = gpb_staging_plan_upload(&p, 1 << 20, 2, 0);
  CHECK_EQ(plan.action, GPB_STAGING_WAIT);
  CHECK_EQ(plan.serial, 1);
  // Once batch 1 completed, the slot is reused.
  plan = gpb_staging_plan_upload(&p, 1 << 20, 2, 1);
  CHECK_EQ(plan.action, GPB_STAGING_USE);
  CHECK_EQ(plan.slot, 0);
  free(p.slots);
}

static void test_cap_of_64_buffers(void) {
  gpb_staging_pool p = make_pool(64, 1ull << 40, 64 * 1024);
  for (int i = 0; i < 64; i++) {
    gpb_staging_plan plan = gpb_staging_plan_upload(&p, 64 * 1024, 1, 0);
    CHECK_EQ(plan.action, GPB_STAGING_CREATE);
    apply(&p, plan, 64 * 1024, 1);
  }
  CHECK_EQ(p.count, 64);
  // The 65th upload of the same pending batch: wait for batch 1 itself,
  // which the stream must flush first (serial 1 is the pending one).
  gpb_staging_plan plan = gpb_staging_plan_upload(&p, 64 * 1024, 1, 0);
  CHECK_EQ(plan.action, GPB_STAGING_WAIT);
  CHECK_EQ(plan.serial, 1);
  free(p.slots);
}

static void test_small_uploads_share_a_buffer(void) {
  gpb_staging_pool p = make_pool(4, 1 << 20, 1 << 20);
  gpb_staging_plan plan = gpb_staging_plan_upload(&p, 100, 1, 0);
  uint32_t first = apply(&p, plan, 100, 1);
  for (int i = 0; i < 50; i++) {
    plan = gpb_staging_plan_upload(&p, 100, 1, 0);
    CHECK_EQ(plan.action, GPB_STAGING_USE);
    CHECK_EQ(plan.slot, first);
    CHECK(plan.offset % GPB_STAGING_ALIGN == 0);
    CHECK(plan.offset >= 100);
    apply(&p, plan, 100, 1);
  }
  CHECK_EQ(p.count, 1);
  free(p.slots);
}

static void test_byte_bound_drops_small_free_slots(void) {
  // 2 free 64 KiB slots, a byte bound of 192 KiB, then a 128 KiB upload:
  // one small slot must go before a big one can be made.
  gpb_staging_pool p = make_pool(8, 192 * 1024, 128 * 1024);
  for (int i = 0; i < 2; i++) { // both in batch 1, which then completes
    gpb_staging_plan plan = gpb_staging_plan_upload(&p, 64 * 1024, 1, 0);
    apply(&p, plan, 64 * 1024, 1);
  }
  CHECK_EQ(p.count, 2);
  gpb_staging_plan plan = gpb_staging_plan_upload(&p, 128 * 1024, 2, 1);
  CHECK_EQ(plan.action, GPB_STAGING_DROP);
  gpb_staging_remove(&p, plan.slot);
  plan = gpb_staging_plan_upload(&p, 128 * 1024, 2, 1);
  CHECK_EQ(plan.action, GPB_STAGING_CREATE);
  CHECK(p.total_bytes + plan.size <= p.max_bytes);
  free(p.slots);
}

static void test_failed_submission_frees_slots(void) {
  gpb_staging_pool p = make_pool(1, 1 << 20, 1 << 20);
  apply(&p, gpb_staging_plan_upload(&p, 60 * 1024, 1, 0), 60 * 1024, 1); // one 64 KiB slot
  // Without the failure, the full slot of pending batch 1 could not be reused.
  CHECK_EQ(gpb_staging_plan_upload(&p, 64 * 1024, 1, 0).action, GPB_STAGING_WAIT);
  gpb_staging_forget_unsubmitted(&p, 0); // batch 1 never reached the GPU
  gpb_staging_plan plan = gpb_staging_plan_upload(&p, 64 * 1024, 1, 0);
  CHECK_EQ(plan.action, GPB_STAGING_USE);
  free(p.slots);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_busy_slot_is_not_reused_until_complete), TEST(test_cap_of_64_buffers),
                                    TEST(test_small_uploads_share_a_buffer),
                                    TEST(test_byte_bound_drops_small_free_slots),
                                    TEST(test_failed_submission_frees_slots)};
  return RUN_TESTS(tests);
}
