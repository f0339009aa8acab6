// gpubatch.h: the whole public API of gpubatch, a C11 GPU compute runtime
// that batches kernel dispatches and copies into few Vulkan submissions.
//
// add_one.comp adds 1 to x[i] for i < n (n a push constant); glslc compiles
// it to SPIR-V (the build's copy: build/kernels/add_one.spv).
//
//   uint32_t host[256] = {0}, n = 256;
//   gpb_device *dev = NULL;
//   gpb_kernel *k;
//   gpb_buffer *x;
//   gpb_status st = gpb_device_open_default(NULL, &dev);    // $GPB_DEVICE picks another
//   if (!st) st = gpb_kernel_create_from_file(dev, "add_one.spv", NULL, NULL, &k);
//   if (!st) st = gpb_buffer_create(dev, sizeof host, GPB_MEMORY_PRIVATE, &x);
//   gpb_stream *s = gpb_device_default_stream(dev);
//   if (!st) st = gpb_stream_copy_to_device(s, host, x, 0, sizeof host); // recorded
//   gpb_arg arg = {x, 0, 0};                                // size 0: to the end
//   gpb_dispatch d = {.kernel = k, .groups = {4, 1, 1}, .args = &arg, .arg_count = 1,
//                     .push_constants = &n, .push_constant_bytes = sizeof n};
//   for (int i = 0; !st && i < 100; i++) st = gpb_stream_dispatch(s, &d); // recorded
//   if (!st) st = gpb_stream_copy_to_host(s, x, 0, host, sizeof host); // one submit, one wait
//   if (st) fprintf(stderr, "%s: %s\n", gpb_status_name(st), gpb_last_error());
//   gpb_device_close(dev);                                  // frees x and k; NULL is fine
//   // host[0] == 100
//
// examples/saxpy is a complete program; README.md says how to build against
// an installed gpubatch (CMake package, pkg-config, subdirectory).
//
// Every call returns a gpb_status; see gpubatch/status.h for messages.
#ifndef GPUBATCH_GPUBATCH_H
#define GPUBATCH_GPUBATCH_H

#include "gpubatch/buffer.h"
#include "gpubatch/counters.h"
#include "gpubatch/device.h"
#include "gpubatch/kernel.h"
#include "gpubatch/program.h"
#include "gpubatch/status.h"
#include "gpubatch/stream.h"
#include "gpubatch/version.h"

#endif
