// Keeps the Vulkan driver and layer libraries mapped after the loader
// unloads them, so LeakSanitizer can name their frames and tests/lsan.supp
// can set aside what they leak by library name (lavapipe leaks 128 bytes per
// VkInstance by itself). Tests pin always; programs only under ASan. It lives
// with the tests, whose suppressions it serves; the programs (gpubatch,
// gpubatch-llama) reach it through the gpb_asan_pin CMake target.
#ifndef GPB_TESTS_ASAN_PIN_H
#define GPB_TESTS_ASAN_PIN_H

#include <dlfcn.h>
#include <stddef.h>

static inline void pin_driver_libraries(void) {
  static const char *const libs[] = {"libvulkan_lvp.so", "libVkLayer_khronos_validation.so",
                                     "libVkLayer_MESA_device_select.so"};
  for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) dlopen(libs[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
}

static inline void asan_pin_driver_libraries(void) {
#if defined(__SANITIZE_ADDRESS__)
  pin_driver_libraries();
#endif
}

#endif
