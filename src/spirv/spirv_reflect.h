// Internal: reading a compute kernel's interface from its SPIR-V, for the
// backends that take SPIR-V (the Vulkan one); the core never calls it.
//
// Validates the module with SPIRV-Tools (SPIRV-Cross assumes valid input),
// then reads it with SPIRV-Cross's C API; gpubatch never parses SPIR-V itself
// beyond the header check. Accepts only what the runtime can bind: storage buffers in
// descriptor set 0, at most one push-constant block, a GLCompute entry point.
#ifndef GPB_SPIRV_REFLECT_H
#define GPB_SPIRV_REFLECT_H

#include <stddef.h>
#include <stdint.h>

#include "gpubatch/kernel.h"

// Fills everything in `out` except `name`. On failure writes the cause to
// `err` (GPB_MSG_MAX bytes).
// `vulkan_api` (VK_MAKE_API_VERSION encoding) picks the validation rules:
// the version the device was created for (gpb_device_info.kernel_api_version).
gpb_status gpb_spirv_reflect(const uint32_t *words, size_t word_count, const char *entry_point, uint32_t vulkan_api,
                             gpb_kernel_info *out, char *err);

#endif
