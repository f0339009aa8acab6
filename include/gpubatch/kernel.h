// gpubatch/kernel.h: compute kernels from SPIR-V.
//
// A gpb_kernel is one compute entry point of a SPIR-V module, ready to
// dispatch: a VkPipeline with its layout. Its interface is read from the
// SPIR-V with SPIRV-Cross (no hand-written declarations):
//   - storage buffers in descriptor set 0, one argument each, in increasing
//     binding order; a buffer declared `readonly` (NonWritable) is only read,
//     which lets streams skip barriers between readers;
//   - the push-constant block size, which every dispatch must match;
//   - the workgroup size (local_size_x/y/z).
// Identical SPIR-V and entry point loaded twice on a device share one
// pipeline (the device's pipeline cache).
//
// Lifetime: gpb_kernel_destroy releases it (closing its device does too);
// work already recorded keeps the pipeline alive until it has run. After
// that, every call given the handle (as a dispatch's kernel too) returns
// GPB_ERROR_INVALID_HANDLE, a second destroy included (gpubatch/status.h). Thread safety: a kernel may be dispatched
// from several streams and threads at once.
#ifndef GPUBATCH_KERNEL_H
#define GPUBATCH_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpubatch/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpb_kernel gpb_kernel;

#define GPB_MAX_BINDINGS 32         // storage buffers per kernel
#define GPB_MAX_BINDING_NUMBER 1024 // binding numbers must be below this

typedef struct gpb_kernel_binding {
  uint32_t binding;      // binding number in set 0
  bool read_only;        // declared readonly (NonWritable)
  uint64_t min_size;     // bytes the block needs without its runtime array
  uint64_t array_stride; // stride of a trailing runtime array, else 0
} gpb_kernel_binding;

typedef struct gpb_kernel_info {
  char name[64];
  char entry_point[64];
  uint32_t binding_count;
  gpb_kernel_binding bindings[GPB_MAX_BINDINGS];
  uint32_t push_constant_bytes;
  uint32_t workgroup_size[3];
  uint64_t shared_memory_bytes; // Workgroup (shared) variables, without padding
} gpb_kernel_info;

typedef struct gpb_kernel_desc {
  const char *name;        // used in messages; NULL means the entry point
  const void *spirv;       // SPIR-V words (copied; may be freed after the call)
  size_t spirv_bytes;      // multiple of 4
  const char *entry_point; // NULL means "main"
} gpb_kernel_desc;

// Validates the module under the rules of the Vulkan version the device
// was created for (gpb_device_info.kernel_api_version: SPIR-V up to 1.5),
// reflects it, and creates its pipeline. A kernel the device cannot run as
// gpubatch created it is refused with GPB_ERROR_UNSUPPORTED and the reason:
// a newer SPIR-V version, a SPIR-V capability the device was not created
// with (named: e.g. PhysicalStorageBufferAddresses, never enabled; Int64
// where shaderInt64 is absent, subgroup operations the device lacks in
// compute shaders, ShaderClockKHR where it lacks VK_KHR_shader_clock,
// AtomicFloat32AddEXT where it lacks VK_EXT_shader_atomic_float's float32
// buffer add, DotProduct and its input capabilities where it lacks
// VK_KHR_shader_integer_dot_product),
// descriptor arrays (one buffer per binding), shared memory over the
// device's limit (array lengths from specialization constants counted at
// their defaults; an expression that cannot be evaluated is refused), or a
// workgroup size or push-constant block over its limits.
GPB_API gpb_status gpb_kernel_create(gpb_device *device, const gpb_kernel_desc *desc, gpb_kernel **out_kernel);

// Loads a .spv file; the kernel's name is the file name without directory
// and extension unless `name` is given.
GPB_API gpb_status gpb_kernel_create_from_file(gpb_device *device, const char *path, const char *entry_point,
                                               const char *name, gpb_kernel **out_kernel);

// Waits for recorded work that uses the kernel, then releases it. NULL is
// accepted and does nothing. On GPB_ERROR_TIMEOUT the kernel stays alive.
GPB_API gpb_status gpb_kernel_destroy(gpb_kernel *kernel);

GPB_API gpb_status gpb_kernel_get_info(const gpb_kernel *kernel, gpb_kernel_info *out_info);

#ifdef __cplusplus
}
#endif
#endif
