#!/usr/bin/env python3
"""Read-only memory bandwidth of a CUDA GPU, for a decode roofline.

A decode step reads every weight once and writes almost nothing, so its
ceiling is the rate at which the GPU can stream memory it only reads. This
times `x.sum()` over a float32 tensor far larger than the L2 cache (4 GiB by
default) with CUDA events, after a few warm-up sums, and reports the median
over the repetitions (and the best) as bytes read per second.

  python3 bench/peers/bandwidth.py [--gib 4] [--reps 20] [--json]
"""
import argparse
import json
import statistics
import sys

import torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gib", type=float, default=4.0, help="tensor size in GiB (default 4)")
    p.add_argument("--reps", type=int, default=20, help="timed sums (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed sums first (default 3)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    n = int(args.gib * (1 << 30)) // 4
    # Filled, not just allocated, so every page is resident before timing.
    x = torch.ones(n, dtype=torch.float32, device=device)
    for _ in range(args.warmup):
        x.sum()
    torch.cuda.synchronize(device)
    ms = []
    for _ in range(args.reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        x.sum()
        end.record()
        end.synchronize()
        ms.append(start.elapsed_time(end))
    nbytes = n * 4
    median = statistics.median(ms)
    result = {
        "probe": "read_bandwidth",
        "op": "float32 sum",
        "bytes": nbytes,
        "reps": args.reps,
        "median_ms": round(median, 4),
        "min_ms": round(min(ms), 4),
        "max_ms": round(max(ms), 4),
        "gb_per_s": round(nbytes / (median * 1e-3) / 1e9, 1),
        "best_gb_per_s": round(nbytes / (min(ms) * 1e-3) / 1e9, 1),
        "device": torch.cuda.get_device_name(device),
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['device']}: read {nbytes / 2**30:.2f} GiB in {median:.3f} ms (median of {args.reps}): "
              f"{result['gb_per_s']:.0f} GB/s (best {result['best_gb_per_s']:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
