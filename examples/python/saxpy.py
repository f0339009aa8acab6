#!/usr/bin/env python3
"""saxpy from Python: y = a*x + y on the default device with gpubatch.

    python3 examples/python/saxpy.py [N] [--trace trace.json]

The kernel is examples/saxpy/saxpy.comp, compiled by glslc at run time. Ten
dispatches are recorded into one batch and submitted once, when the result
is read back; the stream's counters say so. --trace writes a Chrome trace
(open it in ui.perfetto.dev) when the device closes.
"""

import argparse
import json
import os
import sys

import numpy as np

import gpubatch

HERE = os.path.dirname(os.path.abspath(__file__))
# The kernel's push-constant block, `layout(push_constant) uniform Params { float a; uint n; }`.
PARAMS = np.dtype([("a", np.float32), ("n", np.uint32)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1 << 20, help="elements (default 2^20)")
    ap.add_argument("--trace", help="write a Chrome trace-event JSON file here")
    args = ap.parse_args()
    n, a, repeats = args.n, 2.0, 10

    x = (np.arange(n) % 1000 * 0.5).astype(np.float32)
    y = np.ones(n, np.float32)
    with open(os.path.join(HERE, "..", "saxpy", "saxpy.comp")) as f:
        source = f.read()

    with gpubatch.open(trace_path=args.trace) as dev:  # GPB_DEVICE=<index> picks another
        print("gpubatch %s on %s" % (gpubatch.version(), dev.info.name))
        k = dev.kernel_from_glsl(source, name="saxpy")
        print("kernel: bindings %s, %d push-constant bytes, workgroup %s" %
              ([("readonly " if b.read_only else "") + str(b.binding) for b in k.bindings],
               k.push_constant_bytes, k.workgroup_size))
        bx = dev.buffer_from(x)  # recorded uploads into device-local memory
        by = dev.buffer_from(y)
        s = dev.default_stream
        params = np.array((a, n), PARAMS)[()]  # a numpy structured scalar: the block's bytes
        for _ in range(repeats):
            s.dispatch(k, k.groups(n), [bx, by], push_constants=params)
        out = by.to_numpy(np.float32)  # one submit, one wait
        counters = s.counters()

        # The same result through a shared (host-mapped) buffer: a numpy view
        # of its memory, and a DLPack import of it, without a host copy.
        shared = dev.buffer(by.size, gpubatch.SHARED)
        s.copy_buffer(by, shared)
        mapping = shared.map(np.float32)  # waits for the copy
        view = np.asarray(mapping)
        same = np.array_equal(view, out) and np.array_equal(np.from_dlpack(mapping), out)
        del view, mapping  # the buffer (and the device) cannot be freed while they live

    want = y + repeats * a * x
    ok = same and np.allclose(out, want, rtol=1e-3)
    print("saxpy: n=%d, %d dispatches in %d submit(s): %s" %
          (n, repeats, counters["submits"], "correct" if ok else "WRONG"))
    print("counters: " + ", ".join("%s=%d" % kv for kv in counters.items() if kv[1]))
    if args.trace:
        with open(args.trace) as f:
            events = json.load(f)["traceEvents"]
        gpu = [e for e in events if e.get("cat") == "gpu"]
        print("trace: %s, %d events, %d GPU spans (open it in ui.perfetto.dev)" % (args.trace, len(events), len(gpu)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
