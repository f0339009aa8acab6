// Internal: every object header of the core, for tests and tools that look
// inside. Core files include only the headers they use.
//
// The layers, by who calls whom (a file calls only the layers below it):
//   device.c (open, close, device sync), release.c (free, destroy, map)
//   stream*.c (record, submit, wait, copies, capture and replay)
//   program.c, kernel.c, buffer.c (the objects), uses.c, hazard.c,
//     staging.c, trace.c
//   device state (core/device.h: fields only), backend.c, handle.c, status.c
//
// Lock order (never take an earlier one while holding a later one):
//   device->lock  ->  stream->lock  ->  resource uses lock (core/uses.h)
// The backend takes its own locks innermost (core/backend.h).
#ifndef GPB_CORE_INTERNAL_H
#define GPB_CORE_INTERNAL_H

#include "core/buffer.h"
#include "core/device.h"
#include "core/kernel.h"
#include "core/program.h"
#include "core/stream.h"
#include "core/uses.h"

#endif
