// The batching rules of gpubatch/stream.h, each checked on results AND
// counters, on the default device with the validation layer on.
#include "core/internal.h"
#include "core/stream_internal.h"
#include "gpu_fixture.h"
#include "stream_probe.h"

#define N 256u

static gpb_stream *new_stream(gpb_device *dev, const gpb_stream_options *o) {
  gpb_stream *s = NULL;
  CHECK_OK(gpb_stream_create(dev, o, &s));
  return s;
}

static void upload_zeros(gpb_stream *s, gpb_buffer *b, uint64_t bytes) {
  uint32_t *z = calloc(1, bytes);
  CHECK_OK(gpb_stream_copy_to_device(s, z, b, 0, bytes));
  free(z);
}

// Rule 1: N launches then sync is one submission.
static void test_launches_then_sync_is_one_submit(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev, &(gpb_stream_options){.max_batch_dispatches = UINT32_MAX});
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  upload_zeros(s, x, 4 * N);
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_reset_counters(s));
  for (int i = 0; i < 100; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.submits, 0); // nothing submitted while the CPU needs no result
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.dispatches, 100);
  CHECK_EQ(c.submits, 1);
  CHECK_EQ(c.flushes, 1);
  CHECK_EQ(c.flush_sync, 1);
  CHECK_EQ(c.syncs, 1);
  CHECK_EQ(c.barriers, 99); // each dispatch reads what the previous wrote
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 100);
  fixture_close(dev);
}

// Rule 2: a device->host copy flushes and waits; its data is current.
static void test_readback_flushes(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  upload_zeros(s, x, 4 * N);
  for (int i = 0; i < 7; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 7);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.submits, 1);
  CHECK_EQ(c.flush_readback, 1);
  CHECK_EQ(c.gpu_to_cpu, 1);
  CHECK_EQ(c.cpu_to_gpu, 1);
  CHECK_EQ(gpb_stream_obj_of(s)->batches.completed_serial,
           gpb_stream_obj_of(s)->batches.submitted_serial); // waited for the batch
  // Sub-range readback with an offset.
  CHECK_OK(gpb_stream_copy_to_host(s, x, 40, host, 8));
  CHECK_EQ(host[0], 7);
  fixture_close(dev);
}

// Rule 2: freeing a buffer no pending work uses costs no sync; freeing one
// that pending work uses flushes and waits (free_syncs).
static void test_free_syncs_only_when_used(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *used, *unused, *never;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &used));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &unused));
  CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_SHARED, &never));
  upload_zeros(s, used, 4 * N);
  upload_zeros(s, unused, 4 * N);
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(dispatch_add_one(s, k, used, 0, N)); // pending work uses `used` only
  CHECK_OK(gpb_buffer_free(never));
  CHECK_OK(gpb_buffer_free(unused));
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 0);
  CHECK_EQ(c.submits, 0); // the pending batch was left alone
  CHECK_OK(gpb_buffer_free(used));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 1);
  CHECK_EQ(c.flush_free, 1);
  CHECK_EQ(c.submits, 1);
  // Freeing after the work finished needs no sync.
  gpb_buffer *later;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &later));
  upload_zeros(s, later, 4 * N);
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(gpb_buffer_free(later));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 0);
  fixture_close(dev);
}

// Rule 2 for work that only reads: freeing a buffer that pending work reads
// (a copy's source, a kernel's read-only argument) waits for that work, as
// do destroying a kernel or a program that pending work runs. Each object is
// used behind a long spin kernel, so the work is certainly pending at the
// free; the data read must arrive intact, with no validation message.
static void test_free_waits_for_pending_readers(void) {
  int failures = check_failures;
#define STOP_IF_NOT_WAITED()                                                                                           \
  if (check_failures != failures) check_abandon(__func__, "freed while the GPU may still read it")
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev, NULL);
  gpb_kernel *spin = FIXTURE_KERNEL(dev, spin);
  gpb_kernel *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_kernel *add = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *busy, *src, *dst, *x, *y;
  CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_PRIVATE, &busy));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &src));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &dst));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &y));
  uint32_t data[N], host[N];
  for (uint32_t i = 0; i < N; i++) data[i] = 1000 + i;
  CHECK_OK(gpb_stream_copy_to_device(s, data, src, 0, sizeof data));
  CHECK_OK(gpb_stream_copy_to_device(s, data, x, 0, sizeof data));
  upload_zeros(s, dst, 4 * N);
  upload_zeros(s, y, 4 * N);
  CHECK_OK(gpb_stream_sync(s)); // the writes are done: only reads stay pending
  gpb_counters c;

  // A copy's source.
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(dispatch_spin(s, spin, busy, 64, 1));
  CHECK_OK(gpb_stream_copy_buffer(s, src, 0, dst, 0, 4 * N));
  CHECK_OK(gpb_stream_flush(s));
  CHECK(still_running(s)); // else the free below proves nothing
  CHECK_OK(gpb_buffer_free(src));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 1);
  CHECK_EQ(c.waits, 1);
  STOP_IF_NOT_WAITED();
  CHECK(!still_running(s));
  CHECK_OK(gpb_stream_copy_to_host(s, dst, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 1000 + i);

  // A kernel's read-only argument, still unsubmitted: the free flushes too.
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(dispatch_spin(s, spin, busy, 64, 2));
  CHECK_OK(dispatch_axpy(s, axpy, x, 0, y, 0, N, 3));
  CHECK_OK(gpb_buffer_free(x));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 1);
  CHECK_EQ(c.flush_free, 1);
  CHECK_EQ(c.waits, 1);
  STOP_IF_NOT_WAITED();
  CHECK_OK(gpb_stream_copy_to_host(s, y, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 3 * (1000 + i));

  // A kernel that pending work runs.
  gpb_kernel_desc desc = {.name = "add_one_2", .spirv = add_one_spirv, .spirv_bytes = sizeof add_one_spirv};
  gpb_kernel *k2 = NULL;
  CHECK_OK(gpb_kernel_create(dev, &desc, &k2));
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(dispatch_spin(s, spin, busy, 64, 3));
  CHECK_OK(dispatch_add_one(s, k2, dst, 0, N));
  CHECK_OK(gpb_stream_flush(s));
  CHECK(still_running(s));
  CHECK_OK(gpb_kernel_destroy(k2));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.waits, 1);
  STOP_IF_NOT_WAITED();
  CHECK(!still_running(s));
  CHECK_OK(gpb_stream_copy_to_host(s, dst, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 1000 + i + 1);

  // A program that a pending replay runs.
  gpb_program *p = NULL;
  CHECK_OK(gpb_stream_begin_capture(s));
  CHECK_OK(dispatch_add_one(s, add, dst, 0, N));
  CHECK_OK(gpb_stream_end_capture(s, &p));
  CHECK_OK(gpb_stream_reset_counters(s));
  CHECK_OK(dispatch_spin(s, spin, busy, 64, 4));
  CHECK_OK(gpb_stream_replay(s, p));
  CHECK_OK(gpb_stream_flush(s));
  CHECK(still_running(s));
  CHECK_OK(gpb_program_destroy(p));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.waits, 1);
  STOP_IF_NOT_WAITED();
  CHECK(!still_running(s));
  CHECK_OK(gpb_stream_copy_to_host(s, dst, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 1000 + i + 2);
  fixture_close(dev);
#undef STOP_IF_NOT_WAITED
}

// Rule 3: with a 64-buffer pool, the 65th staged upload before a sync
// flushes and waits for a slot, and all 65 uploads arrive intact.
static void test_65th_staged_upload_flushes(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  const uint64_t chunk = 64 * 1024;
  gpb_stream *s = new_stream(dev, &(gpb_stream_options){.staging_max_buffers = 64,
                                                        .staging_buffer_bytes = chunk,
                                                        .inline_upload_max_bytes = GPB_NO_INLINE_UPLOADS});
  gpb_buffer *dst;
  CHECK_OK(gpb_buffer_create(dev, 65 * chunk, GPB_MEMORY_PRIVATE, &dst));
  uint32_t *data = malloc(65 * chunk);
  for (uint64_t i = 0; i < 65 * chunk / 4; i++) data[i] = (uint32_t)(i * 2654435761u);
  for (int u = 0; u < 65; u++) {
    CHECK_OK(gpb_stream_copy_to_device(s, (uint8_t *)data + u * chunk, dst, u * chunk, chunk));
    gpb_counters c;
    CHECK_OK(gpb_stream_get_counters(s, &c));
    CHECK_EQ(c.submits, u < 64 ? 0 : 1); // 64 fit; the 65th needs a slot back
  }
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.flush_staging, 1);
  CHECK_EQ(c.staging_waits, 1);
  CHECK_EQ(c.staging_bytes, 65 * chunk);
  CHECK_EQ(c.cpu_to_gpu, 65);
  uint32_t *back = malloc(65 * chunk);
  CHECK_OK(gpb_stream_copy_to_host(s, dst, 0, back, 65 * chunk));
  CHECK(memcmp(back, data, 65 * chunk) == 0);
  free(data);
  free(back);
  fixture_close(dev);
}

// Rule 3, the TVM bug: after a flush (no wait) the pool must not hand out a
// staging buffer the GPU has not read yet. Batch 1 = long spin kernel, then
// a staged copy of A. While it runs, a second upload of B needs the only
// slot: gpubatch waits; TVM's reset-on-flush would have overwritten A.
static void test_staging_not_reused_while_gpu_reads(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  const uint64_t bytes = 64 * 1024;
  gpb_stream *s = new_stream(dev, &(gpb_stream_options){.staging_max_buffers = 1,
                                                        .staging_buffer_bytes = bytes,
                                                        .staging_max_bytes = bytes,
                                                        .inline_upload_max_bytes = GPB_NO_INLINE_UPLOADS});
  gpb_kernel *spin = FIXTURE_KERNEL(dev, spin);
  gpb_buffer *busy, *a, *b;
  CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_PRIVATE, &busy));
  CHECK_OK(gpb_buffer_create(dev, bytes, GPB_MEMORY_PRIVATE, &a));
  CHECK_OK(gpb_buffer_create(dev, bytes, GPB_MEMORY_PRIVATE, &b));
  uint8_t *data_a = malloc(bytes), *data_b = malloc(bytes), *back = malloc(bytes);
  memset(data_a, 0xAA, bytes);
  memset(data_b, 0xBB, bytes);
  // Long enough (~70 ms on lavapipe, under a ms on an H100) that the batch
  // is still running when the host asks for the slot again (checked).
  CHECK_OK(dispatch_spin(s, spin, busy, 64, 1));
  // The copy depends on nothing the spin touches, but stays in its batch.
  CHECK_OK(gpb_stream_copy_to_device(s, data_a, a, 0, bytes));
  CHECK_OK(gpb_stream_flush(s)); // submitted, not waited
  CHECK(still_running(s));       // else the wait below cannot be seen
  CHECK_OK(gpb_stream_copy_to_device(s, data_b, b, 0, bytes));
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.staging_waits, 1); // the only slot was still being read
  CHECK_EQ(c.flush_staging, 0); // the slot's batch was already submitted
  CHECK_OK(gpb_stream_copy_to_host(s, a, 0, back, bytes));
  CHECK(memcmp(back, data_a, bytes) == 0);
  CHECK_OK(gpb_stream_copy_to_host(s, b, 0, back, bytes));
  CHECK(memcmp(back, data_b, bytes) == 0);
  free(data_a);
  free(data_b);
  free(back);
  fixture_close(dev);
}

// Small uploads go inline (vkCmdUpdateBuffer) and stay ordered with dispatches.
static void test_inline_uploads_ordered(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  uint32_t host[N];
  for (uint32_t round = 0; round < 5; round++) {
    for (uint32_t i = 0; i < N; i++) host[i] = round * 1000 + i;
    CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, sizeof host)); // overwrites last round's result
    CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  }
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.inline_bytes, 5 * sizeof host);
  CHECK_EQ(c.staging_bytes, 0);
  CHECK_EQ(c.submits, 0);
  CHECK_EQ(c.barriers, 9); // each upload after a dispatch, each dispatch after an upload
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 4000 + i + 1);
  // An unaligned upload goes through staging instead.
  uint8_t odd[3] = {1, 2, 3};
  CHECK_OK(gpb_stream_copy_to_device(s, odd, x, 1, 3));
  uint8_t back[4];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, back, 4));
  CHECK(back[1] == 1 && back[2] == 2 && back[3] == 3);
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.staging_bytes, 3);
  fixture_close(dev);
}

// Rule 4: reading a shared buffer waits for pending work that writes it.
static void test_shared_buffer_access_waits_for_writers(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill);
  gpb_buffer *sh;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_SHARED, &sh));
  CHECK_OK(dispatch_fill(s, fill, sh, 0, N, 10));
  for (int i = 0; i < 3; i++) CHECK_OK(dispatch_add_one(s, k, sh, 0, N));
  uint32_t *p = NULL;
  CHECK_OK(gpb_buffer_map(sh, GPB_HOST_READ, (void **)&p));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(p[i], 10 + i + 3);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.flush_readback, 1);
  // Host writes, then GPU work sees them.
  CHECK_OK(gpb_buffer_map(sh, GPB_HOST_WRITE, (void **)&p));
  for (uint32_t i = 0; i < N; i++) p[i] = 5;
  CHECK_OK(dispatch_add_one(s, k, sh, 0, N));
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, sh, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 6);
  // copy_to_device into a shared buffer with pending readers waits first.
  CHECK_OK(dispatch_add_one(s, k, sh, 0, N));
  uint32_t sevens[N];
  for (uint32_t i = 0; i < N; i++) sevens[i] = 70;
  CHECK_OK(gpb_stream_copy_to_device(s, sevens, sh, 0, sizeof sevens));
  CHECK_OK(gpb_stream_copy_to_host(s, sh, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 70);
  gpb_buffer *priv;
  CHECK_OK(gpb_buffer_create(dev, 16, GPB_MEMORY_PRIVATE, &priv));
  CHECK_STATUS(gpb_buffer_map(priv, GPB_HOST_READ, (void **)&p), GPB_ERROR_INVALID_ARGUMENT);
  fixture_close(dev);
}

// Barriers only where a hazard exists.
static void test_barriers_only_on_hazards(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev, &(gpb_stream_options){.max_batch_dispatches = UINT32_MAX});
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_kernel *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_device_info info;
  CHECK_OK(gpb_device_query(dev, &info));
  uint64_t stride = 4 * N;
  while (stride % info.min_storage_buffer_offset_alignment) stride += 4 * N;
  gpb_buffer *big, *x;
  CHECK_OK(gpb_buffer_create(dev, 8 * stride, GPB_MEMORY_PRIVATE, &big));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  uint32_t *zero = calloc(8, stride);
  CHECK_OK(gpb_stream_copy_to_device(s, zero, big, 0, 8 * stride));
  uint32_t ones[N];
  for (uint32_t i = 0; i < N; i++) ones[i] = 1;
  CHECK_OK(gpb_stream_copy_to_device(s, ones, x, 0, sizeof ones));
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_reset_counters(s));
  // 8 dispatches on disjoint sub-ranges: independent, no barrier.
  for (int i = 0; i < 8; i++) CHECK_OK(dispatch_add_one(s, k, big, i * stride, N));
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.barriers, 0);
  CHECK_EQ(c.barriers_elided, 7);
  // 8 axpy into the 8 ranges all reading x (read-only): still no barrier
  // between them, but one before the first (it rewrites range 0).
  for (int i = 0; i < 8; i++) CHECK_OK(dispatch_axpy(s, axpy, x, 0, big, i * stride, N, (uint32_t)i + 1));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.barriers, 1);
  // A write to x after its readers: write-after-read needs a barrier.
  CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.barriers, 2);
  uint32_t *back = malloc(8 * stride);
  CHECK_OK(gpb_stream_copy_to_host(s, big, 0, back, 8 * stride));
  for (uint32_t r = 0; r < 8; r++)
    for (uint32_t i = 0; i < N; i++) CHECK_EQ(back[r * stride / 4 + i], 1 + (r + 1));
  free(back);
  free(zero);
  fixture_close(dev);
}

// Device->device copies are recorded, ordered and counted.
static void test_device_to_device_copy(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = gpb_device_default_stream(dev);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *a, *b;
  CHECK_OK(gpb_buffer_create(dev, 8 * N, GPB_MEMORY_PRIVATE, &a));
  CHECK_OK(gpb_buffer_create(dev, 8 * N, GPB_MEMORY_PRIVATE, &b));
  CHECK_OK(dispatch_fill(s, fill, a, 0, 2 * N, 100));
  CHECK_OK(gpb_stream_copy_buffer(s, a, 4 * N, b, 0, 4 * N)); // second half of a -> first half of b
  CHECK_OK(dispatch_add_one(s, k, b, 0, N));
  CHECK_OK(gpb_stream_copy_buffer(s, a, 0, a, 4 * N, 4 * N));                          // within one buffer, disjoint
  CHECK_STATUS(gpb_stream_copy_buffer(s, a, 0, a, 4, 64), GPB_ERROR_INVALID_ARGUMENT); // overlap
  uint32_t host[2 * N];
  CHECK_OK(gpb_stream_copy_to_host(s, b, 0, host, 4 * N));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 100 + N + i + 1);
  CHECK_OK(gpb_stream_copy_to_host(s, a, 0, host, 8 * N));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[N + i], 100 + i);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.gpu_to_gpu, 2);
  CHECK_EQ(c.submits, 2); // one per readback
  fixture_close(dev);
}

// Rule 6: immediate mode submits every command and waits for uploads.
static void test_immediate_mode(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev, &(gpb_stream_options){.mode = GPB_MODE_IMMEDIATE});
  CHECK_EQ(gpb_stream_mode(s), GPB_MODE_IMMEDIATE);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  upload_zeros(s, x, 4 * N);
  for (int i = 0; i < 10; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 10);
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.submits, 12); // 1 upload + 10 dispatches + 1 readback
  CHECK_EQ(c.flush_immediate, 11);
  CHECK_EQ(c.barriers, 0); // one command per command buffer
  // Uploads are waited for: after one returns, its batch has completed.
  CHECK_OK(gpb_stream_copy_to_device(s, host, x, 0, sizeof host));
  CHECK_EQ(gpb_stream_obj_of(s)->batches.completed_serial, gpb_stream_obj_of(s)->batches.submitted_serial);
  // Every free syncs in immediate mode, used or not.
  gpb_buffer *unused;
  CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_PRIVATE, &unused));
  CHECK_OK(gpb_buffer_free(unused));
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.free_syncs, 1);
  fixture_close(dev);
}

// However far the host runs ahead, a stream keeps at most
// GPB_MAX_INFLIGHT_BATCHES submitted batches unfinished (bounded memory).
static void test_inflight_batches_are_bounded(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev, &(gpb_stream_options){.mode = GPB_MODE_IMMEDIATE});
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  upload_zeros(s, x, 4 * N);
  uint32_t most = 0;
  for (int i = 0; i < 300; i++) {
    CHECK_OK(dispatch_add_one(s, k, x, 0, N));
    if (gpb_stream_obj_of(s)->batches.inflight_count > most) most = gpb_stream_obj_of(s)->batches.inflight_count;
  }
  CHECK(most <= GPB_MAX_INFLIGHT_BATCHES);
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  CHECK_EQ(host[N - 1], 300);
  fixture_close(dev);
}

// Cross-stream order: B waits for A's work so far, without a host wait.
static void test_wait_stream(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *a = new_stream(dev, NULL), *b = new_stream(dev, NULL);
  gpb_kernel *fill = FIXTURE_KERNEL(dev, fill);
  gpb_kernel *axpy = FIXTURE_KERNEL(dev, axpy);
  gpb_buffer *x, *y;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &y));
  CHECK_OK(dispatch_fill(b, fill, y, 0, N, 0));
  CHECK_OK(dispatch_fill(a, fill, x, 0, N, 1000));
  CHECK_OK(gpb_stream_wait_stream(b, a));
  gpb_counters ca;
  CHECK_OK(gpb_stream_get_counters(a, &ca));
  CHECK_EQ(ca.flush_wait, 1);
  CHECK_EQ(ca.waits, 0); // the host did not wait
  CHECK_OK(dispatch_axpy(b, axpy, x, 0, y, 0, N, 2));
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(b, y, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], i + 2 * (1000 + i)); // fill wrote i
  CHECK_STATUS(gpb_stream_wait_stream(a, a), GPB_OK);
  // Destroying the signaler while b still holds a wait on it is safe.
  CHECK_OK(dispatch_fill(a, fill, x, 0, N, 5));
  CHECK_OK(gpb_stream_wait_stream(b, a));
  CHECK_OK(gpb_stream_destroy(a));
  CHECK_OK(dispatch_axpy(b, axpy, x, 0, y, 0, N, 1));
  CHECK_OK(gpb_stream_copy_to_host(b, y, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], i + 2 * (1000 + i) + 5 + i);
  fixture_close(dev);
}

// Destroying a stream whose timeline another stream's submitted batch still
// waits on: the destroy must let that batch finish before the semaphore goes
// (found by `gpubatch selftest`: a new stream reused the handle, the old wait
// restarted from 0 and the queue hung).
static void test_destroy_signaler_with_submitted_waiter(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_kernel *spin = FIXTURE_KERNEL(dev, spin);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x, *y;
  CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_PRIVATE, &x));
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_SHARED, &y));
  uint32_t *host;
  CHECK_OK(gpb_buffer_map(y, GPB_HOST_WRITE, (void **)&host));
  memset(host, 0, 4 * N); // contents start undefined
  for (int round = 0; round < 3; round++) {
    gpb_stream *a, *b;
    CHECK_OK(gpb_stream_create(dev, NULL, &a));
    CHECK_OK(gpb_stream_create(dev, NULL, &b));
    CHECK_OK(dispatch_spin(b, spin, x, 1, 1));
    CHECK_OK(gpb_stream_wait_stream(a, b));
    CHECK_OK(dispatch_spin(a, spin, x, 64, 2)); // a's batch runs long after b's
    CHECK_OK(dispatch_add_one(a, k, y, 0, N));
    CHECK_OK(gpb_stream_flush(a)); // submitted with a wait on b's timeline
    CHECK_OK(gpb_stream_destroy(b));
    const gpb_stream_obj *a_obj = gpb_stream_obj_of(a);
    CHECK(a_obj->batches.completed_serial == a_obj->batches.submitted_serial); // destroy waited for a's batch
    CHECK_OK(gpb_stream_destroy(a));
  }
  CHECK_OK(gpb_buffer_map(y, GPB_HOST_READ, (void **)&host));
  CHECK_EQ(host[0], 3);
  fixture_close(dev);
}

// The batch is submitted early at the dispatch cap, with no host wait.
static void test_dispatch_cap_submits_early(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev, &(gpb_stream_options){.max_batch_dispatches = 16});
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_PRIVATE, &x));
  upload_zeros(s, x, 4 * N);
  CHECK_OK(gpb_stream_sync(s));
  CHECK_OK(gpb_stream_reset_counters(s));
  for (int i = 0; i < 100; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  gpb_counters c;
  CHECK_OK(gpb_stream_get_counters(s, &c));
  CHECK_EQ(c.flush_cap, 6); // after dispatches 16, 32, ..., 96
  CHECK_EQ(c.waits, 0);
  uint32_t host[N];
  CHECK_OK(gpb_stream_copy_to_host(s, x, 0, host, sizeof host));
  for (uint32_t i = 0; i < N; i++) CHECK_EQ(host[i], 100);
  fixture_close(dev);
}

// Closing a device with pending work flushes and waits; nothing leaks.
static void test_close_with_pending_work(void) {
  gpb_device *dev = fixture_open();
  if (!dev) return;
  gpb_stream *s = new_stream(dev, NULL);
  gpb_kernel *k = FIXTURE_KERNEL(dev, add_one);
  gpb_buffer *x;
  CHECK_OK(gpb_buffer_create(dev, 4 * N, GPB_MEMORY_SHARED, &x));
  for (int i = 0; i < 50; i++) CHECK_OK(dispatch_add_one(s, k, x, 0, N));
  fixture_close(dev); // buffers, kernels and streams still alive are released
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_launches_then_sync_is_one_submit),
                                    TEST(test_readback_flushes),
                                    TEST(test_free_syncs_only_when_used),
                                    TEST(test_free_waits_for_pending_readers),
                                    TEST(test_65th_staged_upload_flushes),
                                    TEST(test_staging_not_reused_while_gpu_reads),
                                    TEST(test_inline_uploads_ordered),
                                    TEST(test_shared_buffer_access_waits_for_writers),
                                    TEST(test_barriers_only_on_hazards),
                                    TEST(test_device_to_device_copy),
                                    TEST(test_immediate_mode),
                                    TEST(test_inflight_batches_are_bounded),
                                    TEST(test_wait_stream),
                                    TEST(test_dispatch_cap_submits_early),
                                    TEST(test_destroy_signaler_with_submitted_waiter),
                                    TEST(test_close_with_pending_work)};
  return RUN_TESTS(tests);
}
