// gpubatch.h: the whole public API of gpubatch, a C11 GPU compute runtime
// that batches kernel dispatches and copies into few Vulkan submissions.
//
//   gpb_device *dev;
//   gpb_device_open_default(NULL, &dev);
//   gpb_stream *s = gpb_device_default_stream(dev);
//   gpb_kernel *k;
//   gpb_kernel_create_from_file(dev, "build/kernels/add_one.spv", NULL, NULL, &k);
//   gpb_buffer *x;
//   gpb_buffer_create(dev, 1024, GPB_MEMORY_PRIVATE, &x);
//   gpb_stream_copy_to_device(s, host, x, 0, 1024);          // recorded
//   gpb_arg arg = {x, 0, 0};
//   gpb_dispatch d = {.kernel = k, .groups = {1, 1, 1}, .args = &arg, .arg_count = 1};
//   for (int i = 0; i < 100; i++) gpb_stream_dispatch(s, &d); // recorded
//   gpb_stream_copy_to_host(s, x, 0, host, 1024);             // one submit, one wait
//   gpb_device_close(dev);                                    // frees x, k
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

#endif
