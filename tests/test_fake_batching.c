// Batching and barrier placement, read from the fake backend's log: what
// the core submits, when, and with which commands and barriers.
#include "fake/fake_fixture.h"

#define N 256u

static const gpb_fake_submission *last_submission(gpb_fake_device *f) {
  uint32_t n = gpb_fake_submission_count(f);
  return n ? gpb_fake_submission_at(f, n - 1) : NULL;
}

// Commands coalesce into one batch, submitted only when the host needs a
// result (a readback): nothing reaches the backend before.
static void test_commands_coalesce_until_readback(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 100));
  for (int i = 0; i < 9; i++) CHECK_OK(dispatch_add_one(s, add, x, 0, N));
  CHECK_EQ(gpb_fake_submission_count(f), 0);
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK_EQ(gpb_fake_submission_count(f), 1);
  const gpb_fake_submission *sub = last_submission(f);
  CHECK(sub != NULL);
  if (sub) {
    CHECK_EQ(gpb_fake_count_kind(sub, GPB_FAKE_DISPATCH), 10);
    CHECK_EQ(gpb_fake_count_kind(sub, GPB_FAKE_COPY), 1);
    // Every command reads what the previous one wrote: a barrier before each but the first.
    CHECK_EQ(gpb_fake_count_kind(sub, GPB_FAKE_BARRIER), 10);
    CHECK_EQ(sub->signal, 1);
    CHECK_EQ(sub->wait_count, 0);
    CHECK(sub->command_count > 0 && sub->commands[0].kind == GPB_FAKE_DISPATCH &&
          strcmp(sub->commands[0].kernel, "fill") == 0);
    CHECK_EQ(sub->commands[0].args[0].buffer, gpb_fake_buffer_id(x));
  }
  CHECK_EQ(back[0], 109);
  CHECK_EQ(back[N - 1], 100 + N - 1 + 9);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.submits, 1);
  CHECK_EQ(c.flush_readback, 1);
  // A sync with nothing pending submits nothing.
  CHECK_OK(gpb_stream_sync(s));
  CHECK_EQ(gpb_fake_submission_count(f), 1);
  CHECK_OK(gpb_buffer_free(x));
  fake_close(dev);
}

// The dispatch cap submits early, every `max_batch_dispatches`; immediate
// mode submits each command.
static void test_early_submission_thresholds(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = NULL, *imm = NULL;
  CHECK_OK(gpb_stream_create(dev, &(gpb_stream_options){.max_batch_dispatches = 4}, &s));
  CHECK_OK(gpb_stream_create(dev, &(gpb_stream_options){.mode = GPB_MODE_IMMEDIATE}, &imm));
  gpb_kernel *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  for (int i = 0; i < 10; i++) CHECK_OK(dispatch_add_one(s, add, x, 0, N));
  CHECK_EQ(gpb_fake_submission_count(f), 2); // at 4 and 8
  for (uint32_t i = 0; i < 2; i++) CHECK_EQ(gpb_fake_count_kind(gpb_fake_submission_at(f, i), GPB_FAKE_DISPATCH), 4);
  CHECK_OK(gpb_stream_sync(s));
  CHECK_EQ(gpb_fake_submission_count(f), 3);
  CHECK_EQ(gpb_fake_count_kind(gpb_fake_submission_at(f, 2), GPB_FAKE_DISPATCH), 2);
  CHECK_EQ(gpb_fake_submission_at(f, 2)->signal, 3);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.flush_cap, 2);
  CHECK_EQ(c.flush_sync, 1);

  gpb_fake_log_clear(f);
  for (int i = 0; i < 3; i++) CHECK_OK(dispatch_add_one(imm, add, x, 0, N));
  CHECK_EQ(gpb_fake_submission_count(f), 3);
  for (uint32_t i = 0; i < 3; i++) {
    const gpb_fake_submission *sub = gpb_fake_submission_at(f, i);
    CHECK_EQ(sub->command_count, 1);
    CHECK_EQ(sub->signal, i + 1);
  }
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(imm, x, 0, back, sizeof back));
  CHECK_EQ(back[5], 0xcdcdcdcdu + 13); // the fake's poison, never written, plus 13 increments
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_destroy(imm));
  CHECK_OK(gpb_stream_destroy(s));
  fake_close(dev);
}

// Where the barriers go: only before a command with a hazard against the
// commands since the last barrier (read-after-write, write-after-read,
// write-after-write); never for reads after reads or disjoint ranges.
static void test_barriers_only_at_hazards(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_buffer *a = NULL, *b = NULL, *c = NULL;
  CHECK_OK(gpb_buffer_create(dev, 8 * N, GPB_MEMORY_PRIVATE, &a));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &b));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &c));
  // Each command's accesses, and what the tracker must decide:
  // 0: write a[0, N)
  // 1: write a[N, 2N): disjoint from 0, no barrier
  // 2: write b: no barrier
  // 3: read a[0, N) (after 0 wrote it), read+write c: barrier
  // 4: read a[N, 2N) (reads after reads), write b (written before the barrier): no barrier
  // 5: copy: read b (after 4 wrote it), write c (after 3 wrote it): barrier
  // 6: write a[0, N) (3 read it, before the last barrier): no barrier
  // 7: write b (5 read it since the last barrier: write after read): barrier
  CHECK_OK(dispatch_fill(s, fill, a, 0, N, 1));
  CHECK_OK(dispatch_fill(s, fill, a, 4 * N, N, 2));
  CHECK_OK(dispatch_fill(s, fill, b, 0, N, 3));
  CHECK_OK(dispatch_axpy(s, axpy, a, 0, c, 0, N, 1));
  CHECK_OK(dispatch_axpy(s, axpy, a, 4 * N, b, 0, N, 1));
  CHECK_OK(gpb_stream_copy_buffer(s, b, 0, c, 0, 4 * N));
  CHECK_OK(dispatch_fill(s, fill, a, 0, N, 9));
  CHECK_OK(dispatch_fill(s, fill, b, 0, N, 4));
  CHECK_OK(gpb_stream_flush(s));
  const gpb_fake_submission *sub = last_submission(f);
  CHECK(sub != NULL);
  if (sub) {
    const gpb_fake_cmd_kind D = GPB_FAKE_DISPATCH, B = GPB_FAKE_BARRIER, C = GPB_FAKE_COPY;
    const gpb_fake_cmd_kind expect[] = {D, D, D, B, D, D, B, C, D, B, D};
    CHECK_EQ(sub->command_count, sizeof expect / sizeof expect[0]);
    for (uint32_t i = 0; i < sub->command_count && i < sizeof expect / sizeof expect[0]; i++) {
      if (sub->commands[i].kind != expect[i]) {
        fprintf(stderr, "command %u is a %s, expected a %s\n", i, gpb_fake_cmd_kind_name(sub->commands[i].kind),
                gpb_fake_cmd_kind_name(expect[i]));
        check_failures++;
      }
    }
  }
  gpb_counters cn;
  CHECK_OK(gpb_stream_get_counters(s, &cn));
  CHECK_EQ(cn.barriers, 3);
  CHECK_EQ(cn.barriers_elided, 4);
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, c, 0, back, sizeof back));
  CHECK_EQ(back[3], (3 + 3) + (2 + 3)); // b = 3+i, then b += a[N+i] = 2+i; c = b
  CHECK_OK(gpb_buffer_free(a));
  CHECK_OK(gpb_buffer_free(b));
  CHECK_OK(gpb_buffer_free(c));
  fake_close(dev);
}

// A stream that waits on another submits with a wait on the other's
// timeline value, which the signaler flushed first; the waiter's batch runs
// after it even when the device holds the work back.
static void test_cross_stream_wait(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *a = NULL, *b = NULL;
  CHECK_OK(gpb_stream_create(dev, NULL, &a));
  CHECK_OK(gpb_stream_create(dev, NULL, &b));
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  gpb_fake_hold(f, true);
  CHECK_OK(dispatch_fill(a, fill, x, 0, N, 40));
  CHECK_OK(gpb_stream_wait_stream(b, a));
  CHECK_EQ(gpb_fake_submission_count(f), 1); // the signaler flushed
  const gpb_fake_submission *sa = gpb_fake_submission_at(f, 0);
  CHECK_OK(dispatch_add_one(b, add, x, 0, N));
  CHECK_OK(gpb_stream_flush(b));
  CHECK_EQ(gpb_fake_submission_count(f), 2);
  const gpb_fake_submission *sb = gpb_fake_submission_at(f, 1);
  CHECK(sa->timeline != sb->timeline);
  CHECK_EQ(sb->wait_count, 1);
  if (sb->wait_count == 1) {
    CHECK_EQ(sb->waits[0].timeline, sa->timeline);
    CHECK_EQ(sb->waits[0].value, sa->signal);
  }
  CHECK_EQ(gpb_fake_queued(f), 2);
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(b, x, 0, back, sizeof back));
  CHECK_EQ(back[7], 48);
  CHECK_EQ(gpb_fake_queued(f), 0);
  // Already waited for: the next batch of b carries no wait.
  CHECK_OK(dispatch_add_one(b, add, x, 0, N));
  CHECK_OK(gpb_stream_flush(b));
  CHECK_EQ(last_submission(f)->wait_count, 0);
  gpb_fake_hold(f, false);
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_destroy(a));
  CHECK_OK(gpb_stream_destroy(b));
  fake_close(dev);
}

// A captured program records once; each replay is one EXECUTE command of
// the pending batch, with a barrier before it where it conflicts.
static void test_program_replay_is_one_command(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill), *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_fill(s, fill, x, 0, N, 0));
  CHECK_OK(gpb_stream_begin_capture(s));
  for (int i = 0; i < 3; i++) CHECK_OK(dispatch_add_one(s, add, x, 0, N));
  gpb_program *p = NULL;
  CHECK_OK(gpb_stream_end_capture(s, &p));
  for (int i = 0; i < 4; i++) CHECK_OK(gpb_stream_replay(s, p));
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK_EQ(back[9], 9 + 12);
  const gpb_fake_submission *sub = last_submission(f);
  CHECK_EQ(gpb_fake_submission_count(f), 1);
  CHECK_EQ(gpb_fake_count_kind(sub, GPB_FAKE_EXECUTE), 4);
  CHECK_EQ(gpb_fake_count_kind(sub, GPB_FAKE_BARRIER), 5); // before each replay and the readback
  uint64_t program = 0;
  for (uint32_t i = 0; i < sub->command_count; i++)
    if (sub->commands[i].kind == GPB_FAKE_EXECUTE) program = sub->commands[i].program;
  uint32_t count = 0;
  const gpb_fake_cmd *cmds = gpb_fake_program_commands(f, program, &count);
  CHECK_EQ(count, 5); // D | D | D
  for (uint32_t i = 0; cmds && i < count; i++) CHECK_EQ(cmds[i].kind, i % 2 ? GPB_FAKE_BARRIER : GPB_FAKE_DISPATCH);
  CHECK_OK(gpb_program_destroy(p));
  CHECK_OK(gpb_buffer_free(x));
  fake_close(dev);
}

typedef struct seen {
  int calls;
  gpb_fake_invocation last;
  uint64_t arg_size;
  uint32_t push[2];
} seen;

static void custom_kernel(void *user, const gpb_fake_invocation *inv) {
  seen *s = user;
  s->calls++;
  s->last = *inv;
  s->arg_size = inv->arg_count ? inv->args[0].size : 0;
  memcpy(s->push, inv->push_constants, sizeof s->push);
  if (inv->arg_count) memset(inv->args[0].data, 0x11, inv->args[0].size);
}

// A host function registered for a kernel's name runs for each of its
// dispatches when the batch executes, with the bound ranges and push
// constants; the log names the kernel.
static void test_registered_host_kernel(void) {
  seen got = {0};
  gpb_fake_register_kernel("custom", custom_kernel, &got);
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel_desc desc = {.name = "custom", .spirv = fill_spirv, .spirv_bytes = sizeof fill_spirv};
  gpb_kernel *k = NULL;
  CHECK_OK(gpb_kernel_create(dev, &desc, &k));
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(dispatch_fill(s, k, x, 64, 32, 77));
  CHECK_EQ(got.calls, 0); // recorded, not run
  uint32_t back[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK_EQ(got.calls, 1);
  CHECK_EQ(got.last.groups[0], 1);
  CHECK_EQ(got.last.workgroup_size[0], 64);
  CHECK_EQ(got.arg_size, 128);
  CHECK_EQ(got.push[0], 32);
  CHECK_EQ(got.push[1], 77);
  CHECK_EQ(back[16], 0x11111111u);
  CHECK_EQ(back[48], 0xcdcdcdcdu); // past the bound range: untouched
  const gpb_fake_submission *sub = gpb_fake_submission_at(f, 0);
  CHECK(sub && strcmp(sub->commands[0].kernel, "custom") == 0);
  if (sub) CHECK_EQ(sub->commands[0].args[0].offset, 64);
  CHECK_OK(gpb_buffer_free(x));
  fake_close(dev);
  gpb_fake_register_kernel("custom", NULL, NULL);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_commands_coalesce_until_readback), TEST(test_early_submission_thresholds),
      TEST(test_barriers_only_at_hazards),         TEST(test_cross_stream_wait),
      TEST(test_program_replay_is_one_command),    TEST(test_registered_host_kernel),
  };
  return RUN_TESTS(tests);
}
