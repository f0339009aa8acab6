// Staging on the fake backend: uploads inline or through a bounded pool of
// staging buffers, large ones in pieces, slots reused only once the batch
// that read them ran. The fake runs a copy when its batch executes, so a
// slot overwritten too early shows up as wrong data.
#include "fake/fake_fixture.h"

#define KB 1024u

static uint32_t host[64 * KB]; // 256 KiB of words

static void fill_host(uint32_t seed) {
  for (uint32_t i = 0; i < 64 * KB; i++) host[i] = seed * 0x9e3779b9u + i;
}

static bool matches(const uint32_t *got, uint32_t seed, uint32_t words) {
  for (uint32_t i = 0; i < words; i++)
    if (got[i] != seed * 0x9e3779b9u + i) return false;
  return true;
}

// A small upload is an UPDATE command with the bytes inside the batch; no
// staging buffer is created.
static void test_small_upload_inline(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 4 * KB, GPB_MEMORY_PRIVATE, &x));
  uint64_t creates = gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE);
  fill_host(1);
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, 4 * KB));
  CHECK_EQ(gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE), creates);
  static uint32_t back[KB];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK(matches(back, 1, KB));
  const gpb_fake_submission *sub = gpb_fake_submission_at(f, 0);
  CHECK(sub && sub->command_count >= 1 && sub->commands[0].kind == GPB_FAKE_UPDATE);
  if (sub && sub->command_count >= 1) CHECK_EQ(sub->commands[0].dst.size, 4 * KB);
  CHECK_OK(gpb_buffer_free(x));
  fake_close(dev);
}

// An upload larger than a staging buffer goes in pieces of at most that
// size, each a COPY into its own range of the destination, no barrier
// between them (they write disjoint bytes).
static void test_large_upload_in_pieces(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(dev, &(gpb_stream_options){.staging_buffer_bytes = 64 * KB}, &s));
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 256 * KB, GPB_MEMORY_PRIVATE, &x));
  fill_host(2);
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, 256 * KB));
  CHECK_OK(gpb_stream_flush(s));
  const gpb_fake_submission *sub = gpb_fake_submission_at(f, 0);
  CHECK(sub != NULL);
  if (sub) {
    CHECK_EQ(sub->command_count, 4);
    for (uint32_t i = 0; i < sub->command_count; i++) {
      const gpb_fake_cmd *c = &sub->commands[i];
      CHECK_EQ(c->kind, GPB_FAKE_COPY);
      CHECK_EQ(c->dst.buffer, gpb_fake_buffer_id(x));
      CHECK_EQ(c->dst.offset, i * 64ull * KB);
      CHECK_EQ(c->dst.size, 64 * KB);
    }
  }
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.staging_bytes, 256 * KB);
  static uint32_t back[64 * KB];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK(matches(back, 2, 64 * KB));
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_destroy(s));
  fake_close(dev);
}

// A pool of two slots while the GPU is busy: the third piece needs a slot
// the pending batch holds, so the stream submits (flush_staging) and waits
// for that batch, exactly once, and the data arrives intact. After a sync
// the slots are reused: no new staging buffer.
static void test_bounded_pool_waits_and_reuses(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = NULL;
  CHECK_OK(
      gpb_stream_create(dev, &(gpb_stream_options){.staging_buffer_bytes = 64 * KB, .staging_max_buffers = 2}, &s));
  gpb_buffer *x = NULL;
  CHECK_OK(gpb_buffer_create(dev, 256 * KB, GPB_MEMORY_PRIVATE, &x));
  uint64_t creates = gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE);
  gpb_fake_hold(f, true);
  fill_host(3);
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, 256 * KB));
  CHECK_EQ(gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE) - creates, 2);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.flush_staging, 1);
  CHECK_EQ(c.staging_waits, 1);
  CHECK_EQ(gpb_fake_blocking_waits(f), 1);
  CHECK_EQ(gpb_fake_submission_count(f), 1);
  CHECK_EQ(gpb_fake_count_kind(gpb_fake_submission_at(f, 0), GPB_FAKE_COPY), 2);
  // The host's bytes change right after the call: the copies must not read them.
  fill_host(4);
  static uint32_t back[64 * KB];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK(matches(back, 3, 64 * KB));
  // Slots whose batches ran are reused: no new staging buffer.
  CHECK_OK(gpb_stream_sync(s));
  creates = gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE);
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, 128 * KB));
  CHECK_EQ(gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE), creates);
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK(matches(back, 4, 32 * KB));
  gpb_fake_hold(f, false);
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_destroy(s));
  fake_close(dev);
}

// A slot whose batch was submitted but has not run is not reused: the next
// batch's upload takes a new slot, and the queued copy still reads the
// bytes it was given.
static void test_slot_not_reused_while_queued(void) {
  gpb_fake_device *f;
  gpb_device *dev = fake_open(&f);
  if (!dev) return;
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(dev, &(gpb_stream_options){.staging_buffer_bytes = 64 * KB}, &s));
  gpb_buffer *x = NULL, *y = NULL;
  CHECK_OK(gpb_buffer_create(dev, 64 * KB, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 64 * KB, GPB_MEMORY_PRIVATE, &y));
  uint64_t creates = gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE);
  gpb_fake_hold(f, true);
  fill_host(5);
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, 64 * KB));
  CHECK_OK(gpb_stream_flush(s));
  fill_host(6);
  CHECK_OK(gpb_stream_copy_to_device(s, host, y, 0, 64 * KB));
  CHECK_EQ(gpb_fake_queued(f), 1); // the first copy has not run
  CHECK_EQ(gpb_fake_calls(f, GPB_FAKE_BUFFER_CREATE) - creates, 2);
  static uint32_t back[16 * KB];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, sizeof back));
  CHECK(matches(back, 5, 16 * KB));
  CHECK_OK(gpb_stream_copy_to_host(s, y, 0, back, sizeof back));
  CHECK(matches(back, 6, 16 * KB));
  gpb_fake_hold(f, false);
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_buffer_free(y));
  CHECK_OK(gpb_stream_destroy(s));
  fake_close(dev);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_small_upload_inline),
      TEST(test_large_upload_in_pieces),
      TEST(test_bounded_pool_waits_and_reuses),
      TEST(test_slot_not_reused_while_queued),
  };
  return RUN_TESTS(tests);
}
