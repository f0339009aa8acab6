#!/usr/bin/env python3
"""GPU time per kernel name and per decode step of a llama decode trace
(gpubatch llama --trace F).

Steps are found as in trace-steps.py: a step ends with its classifier
(a GPU span named llama_...classifier..., which covers both plans' last
kernels, llama_classifier_argmax and llama_wide_classifier); every GPU span
up to it, copies included, belongs to that step, and spans after the last
classifier are dropped. The first --skip steps (default 2) are left out:
they hold the weight uploads and first-touch costs. Where no classifier span
is found (kernels renamed), all spans count as one block divided by --steps.

A span is the time from the previous timestamp in its batch, so it includes
the barrier before the command; the sum of a step's spans is the GPU's busy
time for the step, its GPU time per token. Wall is from the start of the
step's first span to the end of its last, so it adds gaps inside the step;
idle is the gap from the previous step's last span (meaningful where GPU
spans are calibrated to the host clock, see src/core/trace.h).

Prints per kernel name: spans, total µs, µs per step, median span; then busy,
wall and idle per step. --json adds one JSON object line at the end.
Usage: trace-kernels.py TRACE.json [--skip N] [--steps N] [--json]
"""
import argparse
import json
import statistics
import sys


def load_steps(path):
    """Returns (list of steps, each a list of (name, ts, dur)), found_classifier)."""
    events = json.load(open(path))["traceEvents"]
    gpu = sorted((e for e in events if e.get("ph") == "X" and e.get("pid") == 2), key=lambda e: e["ts"])
    steps, cur = [], []
    for e in gpu:
        cur.append((e["name"], e["ts"], e["dur"]))
        if e["name"].startswith("llama_") and "classifier" in e["name"]:
            steps.append(cur)
            cur = []
    if steps:
        return steps, True
    return ([cur] if cur else []), False


def summarize(path, skip, steps_hint):
    steps, by_classifier = load_steps(path)
    if by_classifier:
        counted = steps[skip:]
        n_steps = len(counted)
        idle = [counted[i][0][1] - (counted[i - 1][-1][1] + counted[i - 1][-1][2]) for i in range(1, len(counted))]
    else:
        counted = steps
        n_steps = steps_hint or 0
        idle = []
    kernels = {}
    for step in counted:
        for name, _, dur in step:
            kernels.setdefault(name, []).append(dur)
    busy = [sum(d for _, _, d in s) for s in counted] if by_classifier else []
    wall = [s[-1][1] + s[-1][2] - s[0][1] for s in counted] if by_classifier else []
    total_busy = sum(sum(v) for v in kernels.values())
    per_step = (lambda x: x / n_steps) if n_steps else (lambda x: None)
    rnd = lambda x, d=2: None if x is None else round(x, d)
    result = {
        "trace": path,
        "steps": n_steps,
        "skipped": skip if by_classifier else 0,
        "steps_from": "classifier" if by_classifier else "--steps",
        "gpu_busy_us_per_step": rnd(per_step(total_busy)),
        "gpu_busy_us_per_step_median": rnd(statistics.median(busy)) if busy else None,
        "gpu_wall_us_per_step_median": rnd(statistics.median(wall)) if wall else None,
        "gpu_idle_us_before_step_median": rnd(statistics.median(idle)) if idle else None,
        "kernels": [
            {"name": name, "count": len(d), "total_us": rnd(sum(d), 1), "us_per_step": rnd(per_step(sum(d))),
             "median_us": rnd(statistics.median(d))}
            for name, d in sorted(kernels.items(), key=lambda kv: -sum(kv[1]))
        ],
    }
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("trace")
    p.add_argument("--skip", type=int, default=2, help="leading steps left out (default 2)")
    p.add_argument("--steps", type=int, default=0,
                   help="steps in the trace, used only where no classifier span marks them")
    p.add_argument("--json", action="store_true", help="also print one JSON object line")
    args = p.parse_args(argv)
    r = summarize(args.trace, args.skip, args.steps)
    n = r["steps"]
    print(f"{args.trace}: {n} steps ({r['steps_from']}, {r['skipped']} skipped)")
    if not r["kernels"]:
        print("  no GPU spans")
    fmt = lambda x, w=9, d=1: f"{x:{w}.{d}f}" if x is not None else f"{'-':>{w}}"
    print(f"  {'kernel':<30} {'spans':>6} {'total µs':>11} {'µs/step':>9} {'median':>9}")
    for k in r["kernels"]:
        print(f"  {k['name']:<30} {k['count']:6d} {k['total_us']:11.1f} {fmt(k['us_per_step'])} "
              f"{fmt(k['median_us'], 9, 2)}")
    print(f"  GPU busy per step: mean {fmt(r['gpu_busy_us_per_step'], 0)} µs, median "
          f"{fmt(r['gpu_busy_us_per_step_median'], 0)}; wall median {fmt(r['gpu_wall_us_per_step_median'], 0)}; "
          f"idle before a step median {fmt(r['gpu_idle_us_before_step_median'], 0)}")
    if args.json:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
