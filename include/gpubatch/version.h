// gpubatch/version.h: the library's version and how its symbols are exported.
//
// GPB_VERSION_* describe the headers being compiled against; gpb_version()
// describes the library actually linked or loaded. A program built against
// one shared library and run against another can compare them:
//   if (GPB_VERSION_MAJOR(gpb_version()) != GPB_VERSION_MAJOR_NUMBER) ...
// The shared library's soname carries the major version (libgpubatch.so.0).
// CMake reads the version from this file (project(gpubatch VERSION ...)).
#ifndef GPUBATCH_VERSION_H
#define GPUBATCH_VERSION_H

#include <stdint.h>

#define GPB_VERSION_MAJOR_NUMBER 0
#define GPB_VERSION_MINOR_NUMBER 4
#define GPB_VERSION_PATCH_NUMBER 0
#define GPB_VERSION_STRING "0.4.0"

// One 32-bit value per version, ordered as the versions are: 10 bits of
// major, 10 of minor, 12 of patch.
#define GPB_MAKE_VERSION(major, minor, patch)                                                                          \
  ((((uint32_t)(major)) << 22) | (((uint32_t)(minor)) << 12) | ((uint32_t)(patch)))
#define GPB_VERSION_MAJOR(version) ((uint32_t)(version) >> 22)
#define GPB_VERSION_MINOR(version) (((uint32_t)(version) >> 12) & 0x3ffu)
#define GPB_VERSION_PATCH(version) ((uint32_t)(version)&0xfffu)
#define GPB_VERSION GPB_MAKE_VERSION(GPB_VERSION_MAJOR_NUMBER, GPB_VERSION_MINOR_NUMBER, GPB_VERSION_PATCH_NUMBER)

// Marks the public API. The library is compiled with hidden visibility, so
// the shared library exports these functions and nothing else (not its
// Vulkan loader, SPIRV-Tools or internal functions).
#if defined(__GNUC__) || defined(__clang__)
#define GPB_API __attribute__((visibility("default")))
#else
#define GPB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

// The linked library's version, GPB_MAKE_VERSION encoding.
GPB_API uint32_t gpb_version(void);
// The linked library's version as text ("0.4.0"); static storage.
GPB_API const char *gpb_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
