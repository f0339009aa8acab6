// The hazard tracker against a brute-force oracle (no GPU needed).
//
// For random command sequences over a few buffers with random, often
// overlapping and touching, byte ranges, the stream's rule (barrier before a
// command that conflicts with anything since the last barrier) is run with
// the real tracker and with a naive list of every access since the last
// barrier. The two must place barriers at exactly the same commands, and
// every pair of commands with a hazard must have a barrier between them.
#include "check.h"
#include "core/hazard.h"

#define MAX_CMDS 64
#define MAX_ACC 4

typedef struct cmd {
  gpb_access acc[MAX_ACC];
  size_t n;
} cmd;

static uint64_t rng_state;
static uint64_t rng(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static bool pair_conflicts(const gpb_access *a, const gpb_access *b) {
  return a->buffer_id == b->buffer_id && (a->write || b->write) &&
         gpb_ranges_overlap(a->begin, a->end, b->begin, b->end);
}

static bool cmds_conflict(const cmd *x, const cmd *y) {
  for (size_t i = 0; i < x->n; i++)
    for (size_t j = 0; j < y->n; j++)
      if (pair_conflicts(&x->acc[i], &y->acc[j])) return true;
  return false;
}

static void random_program(cmd *cmds, size_t count, uint64_t buffers, uint64_t span) {
  for (size_t c = 0; c < count; c++) {
    cmds[c].n = 1 + rng() % MAX_ACC;
    for (size_t i = 0; i < cmds[c].n; i++) {
      uint64_t begin = (rng() % span) & ~3ull; // 4-byte grid: touching ranges are common
      uint64_t len = 4 + (rng() % (span / 4)) / 4 * 4;
      cmds[c].acc[i] =
          (gpb_access){.buffer_id = 1 + rng() % buffers, .begin = begin, .end = begin + len, .write = rng() % 3 == 0};
    }
  }
}

static void test_oracle_random_programs(void) {
  gpb_hazard_tracker t;
  gpb_hazard_init(&t);
  cmd cmds[MAX_CMDS];
  int programs = 0, barriers = 0, elided = 0;
  for (uint64_t seed = 1; seed <= 3000; seed++) {
    rng_state = seed;
    size_t count = 2 + rng() % (MAX_CMDS - 1);
    random_program(cmds, count, 1 + rng() % 4, 64 + rng() % 512);
    bool barrier_before[MAX_CMDS] = {false};
    size_t since = 0; // first command after the last barrier (naive oracle)
    gpb_hazard_reset(&t);
    for (size_t c = 0; c < count; c++) {
      bool tracker = gpb_hazard_conflicts(&t, cmds[c].acc, cmds[c].n);
      bool naive = false;
      for (size_t p = since; p < c && !naive; p++) naive = cmds_conflict(&cmds[p], &cmds[c]);
      if (tracker != naive) {
        fprintf(stderr, "seed %llu command %zu: tracker says %d, oracle says %d\n", (unsigned long long)seed, c,
                tracker, naive);
        check_failures++;
        break;
      }
      if (tracker) {
        barrier_before[c] = true;
        gpb_hazard_reset(&t);
        since = c;
        barriers++;
      } else if (c > 0) {
        elided++;
      }
      CHECK_OK(gpb_hazard_add(&t, cmds[c].acc, cmds[c].n));
    }
    // Every hazardous pair (i, j) has a barrier before some k in (i, j].
    for (size_t i = 0; i < count; i++) {
      for (size_t j = i + 1; j < count; j++) {
        if (!cmds_conflict(&cmds[i], &cmds[j])) continue;
        bool covered = false;
        for (size_t k = i + 1; k <= j && !covered; k++) covered = barrier_before[k];
        if (!covered) {
          fprintf(stderr, "seed %llu: hazard between commands %zu and %zu has no barrier\n", (unsigned long long)seed,
                  i, j);
          check_failures++;
        }
      }
    }
    programs++;
  }
  printf("  %d programs, %d barriers, %d elided\n", programs, barriers, elided);
  CHECK(barriers > 0 && elided > 0); // the generator exercises both outcomes
  gpb_hazard_release(&t);
}

static void test_basic_cases(void) {
  gpb_hazard_tracker t;
  gpb_hazard_init(&t);
  gpb_access w01 = {1, 0, 100, true}, r01 = {1, 0, 100, false}, r_other = {2, 0, 100, false};
  gpb_access r_after = {1, 100, 200, false}, w_touch = {1, 100, 101, true}, r_inside = {1, 50, 51, false};
  CHECK_OK(gpb_hazard_add(&t, &w01, 1));
  CHECK(gpb_hazard_conflicts(&t, &r01, 1));      // read after write
  CHECK(gpb_hazard_conflicts(&t, &r_inside, 1)); // sub-range
  CHECK(!gpb_hazard_conflicts(&t, &r_other, 1)); // other buffer
  CHECK(!gpb_hazard_conflicts(&t, &r_after, 1)); // adjacent, no shared byte
  gpb_hazard_reset(&t);
  CHECK(!gpb_hazard_conflicts(&t, &r01, 1));
  CHECK_OK(gpb_hazard_add(&t, &r01, 1));
  CHECK(!gpb_hazard_conflicts(&t, &r01, 1)); // read after read
  CHECK(gpb_hazard_conflicts(&t, &w01, 1));  // write after read
  CHECK(!gpb_hazard_conflicts(&t, &w_touch, 1));
  // Aliasing: two accesses of one command to one buffer count for both.
  gpb_access both[2] = {{3, 0, 8, false}, {3, 4, 12, true}};
  gpb_hazard_reset(&t);
  CHECK_OK(gpb_hazard_add(&t, both, 2));
  gpb_access r3 = {3, 0, 4, false}, r3b = {3, 8, 12, false};
  CHECK(!gpb_hazard_conflicts(&t, &r3, 1));
  CHECK(gpb_hazard_conflicts(&t, &r3b, 1));
  gpb_hazard_release(&t);
}

static void test_many_buffers_and_epochs(void) {
  // Thousands of distinct buffers (growth) and many resets (epochs).
  gpb_hazard_tracker t;
  gpb_hazard_init(&t);
  for (uint64_t round = 0; round < 50; round++) {
    for (uint64_t id = 1; id <= 2000; id++) {
      gpb_access a = {id, 0, 16, true};
      CHECK(!gpb_hazard_conflicts(&t, &a, 1));
      CHECK_OK(gpb_hazard_add(&t, &a, 1));
    }
    gpb_access again = {777, 8, 9, false};
    CHECK(gpb_hazard_conflicts(&t, &again, 1));
    gpb_hazard_reset(&t);
    CHECK(!gpb_hazard_conflicts(&t, &again, 1));
  }
  gpb_hazard_release(&t);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_basic_cases), TEST(test_oracle_random_programs),
                                    TEST(test_many_buffers_and_epochs)};
  return RUN_TESTS(tests);
}
