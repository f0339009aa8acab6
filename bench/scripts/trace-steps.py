#!/usr/bin/env python3
"""Per-kernel GPU time of a llama decode trace (gpubatch llama --trace F).

Groups the trace's GPU spans into decode steps (a step ends with its
classifier; either plan) and prints, for each kernel position in the step
(attention 0, ffn 0, ..., classifier), the median span in µs over the steps, split into
steps whose first kernel starts a submitted batch and steps that follow the
previous step inside one batch (two steps per submission). A span is the
time from the previous timestamp in its batch, so it includes the barrier
before the kernel. Then the GPU's idle time before each batch-first step:
from the end of the previous step's last kernel to the start of this step's
first (meaningful where the trace's GPU spans are calibrated to the host
clock, see src/core/trace.h). Usage: trace-steps.py TRACE.json [--skip N]
"""
import json
import statistics
import sys


def main():
    path = sys.argv[1]
    skip = int(sys.argv[sys.argv.index("--skip") + 1]) if "--skip" in sys.argv else 2
    events = json.load(open(path))["traceEvents"]
    gpu = sorted((e for e in events if e.get("ph") == "X" and e.get("pid") == 2), key=lambda e: e["ts"])
    steps, cur, batch_first, prev_batch = [], [], False, None
    idle, prev_end = [], None
    for e in gpu:
        name, batch = e["name"], e.get("args", {}).get("batch")
        if name.startswith("llama_"):
            if not cur:
                batch_first = batch != prev_batch  # the last kernel's batch
                if batch_first and prev_end is not None:
                    idle.append(e["ts"] - prev_end)
            cur.append((name, e["dur"]))
            prev_end = e["ts"] + e["dur"]
            if name.startswith(("llama_classifier", "llama_wide_classifier")):
                steps.append((batch_first, cur))
                cur = []
            prev_batch = batch
    steps = steps[skip:]
    kinds = {True: [s for f, s in steps if f], False: [s for f, s in steps if not f]}
    for first, group in kinds.items():
        if not group:
            continue
        n = min(len(s) for s in group)
        print(f"{'batch-first' if first else 'in-batch'} steps: {len(group)}")
        total = 0.0
        for i in range(n):
            durs = [s[i][1] for s in group]
            med = statistics.median(durs)
            total += med
            print(f"  {i:2d} {group[0][i][0]:<26} median {med:7.2f}  min {min(durs):7.2f}  max {max(durs):7.2f}")
        print(f"  sum of medians {total:.1f} µs")
    idle = idle[skip:]
    if idle:
        print(f"GPU idle before a batch-first step: median {statistics.median(idle):.1f}  min {min(idle):.1f}  "
              f"max {max(idle):.1f} µs ({len(idle)} steps)")


if __name__ == "__main__":
    main()
