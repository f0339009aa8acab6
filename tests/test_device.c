// Device enumeration, the default device, and several open devices.
#include "gpu_fixture.h"
#include "vulkan/vk_internal.h"

static void test_enumerate_and_default(void) {
  uint32_t count = 0;
  CHECK_OK(gpb_device_count(&count));
  CHECK(count >= 1);
  uint32_t def = 99;
  CHECK_OK(gpb_device_default_index(&def));
  CHECK(def < count);
  gpb_device_info info;
  CHECK_OK(gpb_device_get_info(def, &info));
  CHECK(info.usable);
  CHECK(info.name[0] != '\0');
  CHECK(info.heap_count >= 1);
  CHECK(info.max_workgroup_invocations >= 64);
  CHECK(info.min_storage_buffer_offset_alignment >= 1);
  // Vulkan: a power of 2 (lavapipe 4 to 16 by its vector width, NVIDIA 32).
  CHECK(info.subgroup_size >= 1 && (info.subgroup_size & (info.subgroup_size - 1)) == 0);
  gpb_device_info none;
  CHECK_STATUS(gpb_device_get_info(count, &none), GPB_ERROR_NOT_FOUND);
  CHECK_STATUS(gpb_device_count(NULL), GPB_ERROR_INVALID_ARGUMENT);
  // A discrete GPU is preferred when there is one.
  for (uint32_t i = 0; i < count; i++) {
    gpb_device_info other;
    CHECK_OK(gpb_device_get_info(i, &other));
    if (other.usable && other.type == GPB_DEVICE_DISCRETE_GPU) CHECK_EQ(info.type, GPB_DEVICE_DISCRETE_GPU);
  }
}

static void test_env_override(void) {
  uint32_t count = 0, index = 0;
  CHECK_OK(gpb_device_count(&count));
  setenv("GPB_DEVICE", "0", 1);
  CHECK_OK(gpb_device_default_index(&index));
  CHECK_EQ(index, 0);
  setenv("GPB_DEVICE", "12345", 1);
  CHECK_STATUS(gpb_device_default_index(&index), GPB_ERROR_NOT_FOUND);
  CHECK_MSG(gpb_last_error(), "GPB_DEVICE=12345");
  setenv("GPB_DEVICE", "zero", 1);
  CHECK_STATUS(gpb_device_default_index(&index), GPB_ERROR_NOT_FOUND);
  gpb_device *dev = NULL;
  CHECK_STATUS(gpb_device_open_default(NULL, &dev), GPB_ERROR_NOT_FOUND);
  CHECK(dev == NULL);
  unsetenv("GPB_DEVICE");
  CHECK_STATUS(gpb_device_open(count + 3, NULL, &dev), GPB_ERROR_NOT_FOUND);
  CHECK_MSG(gpb_last_error(), "no such device");
}

static void test_two_devices_at_once(void) {
  gpb_device *a = fixture_open(), *b = fixture_open();
  if (!a || !b) return;
  gpb_kernel *ka = FIXTURE_KERNEL(a, add_one), *kb = FIXTURE_KERNEL(b, add_one);
  gpb_buffer *xa, *xb;
  CHECK_OK(gpb_buffer_create(a, 256, GPB_MEMORY_SHARED, &xa));
  CHECK_OK(gpb_buffer_create(b, 256, GPB_MEMORY_SHARED, &xb));
  uint32_t zero[64] = {0}, back[64];
  CHECK_OK(gpb_stream_copy_to_device(gpb_device_default_stream(a), zero, xa, 0, sizeof zero));
  CHECK_OK(gpb_stream_copy_to_device(gpb_device_default_stream(b), zero, xb, 0, sizeof zero));
  for (int i = 0; i < 3; i++) CHECK_OK(dispatch_add_one(gpb_device_default_stream(a), ka, xa, 0, 64));
  for (int i = 0; i < 5; i++) CHECK_OK(dispatch_add_one(gpb_device_default_stream(b), kb, xb, 0, 64));
  CHECK_OK(gpb_device_sync(a));
  CHECK_OK(gpb_stream_copy_to_host(gpb_device_default_stream(a), xa, 0, back, sizeof back));
  CHECK_EQ(back[10], 3);
  fixture_close(a); // b keeps working after a is gone
  CHECK_OK(gpb_stream_copy_to_host(gpb_device_default_stream(b), xb, 0, back, sizeof back));
  CHECK_EQ(back[10], 5);
  fixture_close(b);
}

// The NVIDIA driver 580 refuses the 29th vkCreateInstance of a process, so
// devices share one instance per validation setting: many opens and closes,
// with and without validation, create at most two.
static void test_many_opens_share_instances(void) {
  for (int i = 0; i < 40; i++) {
    gpb_device_options opts = {.validation = i % 2 == 0 && getenv("GPB_TEST_NO_VALIDATION") == NULL};
    gpb_device *dev = NULL;
    CHECK_OK(gpb_device_open_default(&opts, &dev));
    CHECK_OK(gpb_device_close(dev));
  }
  CHECK(gpb_vk_instances_created() <= 2);
}

static void test_default_mode_from_env(void) {
  setenv("GPB_MODE", "immediate", 1);
  gpb_device *dev = fixture_open();
  unsetenv("GPB_MODE");
  if (!dev) return;
  CHECK_EQ(gpb_stream_mode(gpb_device_default_stream(dev)), GPB_MODE_IMMEDIATE);
  gpb_stream *s;
  CHECK_OK(gpb_stream_create(dev, &(gpb_stream_options){.mode = GPB_MODE_BATCHED}, &s));
  CHECK_EQ(gpb_stream_mode(s), GPB_MODE_BATCHED);
  fixture_close(dev);
  dev = fixture_open();
  if (!dev) return;
  CHECK_EQ(gpb_stream_mode(gpb_device_default_stream(dev)), GPB_MODE_BATCHED);
  fixture_close(dev);
}

static void test_status_names_and_counters(void) {
  CHECK(strcmp(gpb_status_name(GPB_OK), "GPB_OK") == 0);
  CHECK(strcmp(gpb_status_name(GPB_ERROR_DEVICE_LOST), "GPB_ERROR_DEVICE_LOST") == 0);
  CHECK(strcmp(gpb_status_name((gpb_status)999), "GPB_ERROR_UNKNOWN") == 0);
  // Added at the end of the enum: the earlier values keep their numbers.
  CHECK_EQ(GPB_ERROR_VULKAN, 12);
  CHECK_EQ(GPB_ERROR_INVALID_HANDLE, 13);
  CHECK(strcmp(gpb_status_name(GPB_ERROR_INVALID_HANDLE), "GPB_ERROR_INVALID_HANDLE") == 0);
  const char *seed_names[] = {"dispatches", "flushes",    "syncs",   "blits",         "gpu_to_cpu", "cpu_to_gpu",
                              "gpu_to_gpu", "free_syncs", "submits", "staging_bytes", "barriers",   "barriers_elided"};
  for (size_t n = 0; n < sizeof seed_names / sizeof seed_names[0]; n++) {
    bool found = false;
    for (size_t i = 0; i < gpb_counter_count(); i++) found |= strcmp(gpb_counter_name(i), seed_names[n]) == 0;
    CHECK(found);
  }
  CHECK(gpb_counter_name(gpb_counter_count()) == NULL);
  gpb_counters c = {0};
  c.submits = 42;
  for (size_t i = 0; i < gpb_counter_count(); i++) {
    if (strcmp(gpb_counter_name(i), "submits") == 0) CHECK_EQ(gpb_counter_value(&c, i), 42);
  }
}

// CPU time of the calling thread: a host wait that polls spends it, one that
// blocks does not.
static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Waits for spin kernels on a device opened with `spin_us`, with enough work
// to wait at least 20 ms; returns the waiting thread's CPU time / wall time.
static double wait_cpu_share(uint32_t spin_us) {
  gpb_device_options opts = {.validation = getenv("GPB_TEST_NO_VALIDATION") == NULL,
                             .on_message = fixture_on_message,
                             .wait_spin_us = spin_us};
  gpb_device *dev = NULL;
  CHECK_OK(gpb_device_open_default(&opts, &dev));
  if (!dev) return -1;
  gpb_kernel *spin = FIXTURE_KERNEL(dev, spin);
  gpb_buffer *out = NULL;
  CHECK_OK(gpb_buffer_create(dev, 64, GPB_MEMORY_PRIVATE, &out));
  gpb_stream *s = gpb_device_default_stream(dev);
  double share = -1;
  for (uint32_t groups = 16; groups <= 1u << 16; groups *= 4) {
    CHECK_OK(dispatch_spin(s, spin, out, groups, 1));
    double wall0 = wall_s(), cpu0 = thread_cpu_s();
    CHECK_OK(gpb_stream_sync(s));
    double wall = wall_s() - wall0, cpu = thread_cpu_s() - cpu0;
    if (wall >= 0.02) {
      share = cpu / wall;
      break;
    }
  }
  CHECK(share >= 0); // the work took 20 ms or more
  fixture_close(dev);
  return share;
}

static void test_wait_spin_option(void) {
  unsetenv("GPB_WAIT_SPIN_US");
  double blocking = wait_cpu_share(UINT32_MAX), polling = wait_cpu_share(10u * 1000 * 1000);
  printf("waiting thread's CPU share: never polling %.2f, polling up to 10 s %.2f\n", blocking, polling);
  // A polling thread shares the cores with the device's own threads on a CPU
  // device (2 cores in CI): a fifth of the wall time is already many
  // times what a blocked thread spends.
  CHECK(blocking >= 0 && blocking < 0.1);
  CHECK(polling > 0.2);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_enumerate_and_default),     TEST(test_env_override),
                                    TEST(test_two_devices_at_once),       TEST(test_default_mode_from_env),
                                    TEST(test_status_names_and_counters), TEST(test_many_opens_share_instances),
                                    TEST(test_wait_spin_option)};
  return RUN_TESTS(tests);
}
