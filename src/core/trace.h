// Internal: a Chrome trace-event recorder (Perfetto and chrome://tracing
// open its JSON), one per device when tracing is on (GPB_TRACE=<file> or
// gpb_device_options.trace_path). Host events (recording, submits with their
// flush reason, waits, copies) are timed with the host clock; GPU events are
// the spans between per-command timestamps, placed on the host timeline
// through the device's calibrated timestamps (the GPU clock and the host's
// CLOCK_MONOTONIC read together when each batch's spans are written), so
// gaps and order between batches are the GPU's own. Without calibration
// each batch's last timestamp is aligned with the moment the host saw it
// complete (an upper bound: spans may appear late, and batches seen complete
// together overlap; their lengths are exact). The file is written when the
// device closes.
// Thread-safe.
#ifndef GPB_CORE_TRACE_H
#define GPB_CORE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "gpubatch/status.h"

typedef struct gpb_trace gpb_trace;

gpb_status gpb_trace_open(const char *path, gpb_trace **out, char *err);
// Writes the file and frees the recorder.
gpb_status gpb_trace_close(gpb_trace *trace, char *err);
double gpb_trace_now_us(void);
// A complete event on the host (`gpu` false) or GPU (`gpu` true) track of
// stream `tid`; `args` is a JSON object body or NULL. Names are copied.
void gpb_trace_event(gpb_trace *trace, bool gpu, uint64_t tid, const char *name, const char *category, double start_us,
                     double duration_us, const char *args);
void gpb_trace_name_track(gpb_trace *trace, uint64_t tid, const char *name);

#endif
