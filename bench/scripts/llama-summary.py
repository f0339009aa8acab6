#!/usr/bin/env python3
"""Medians of a bench/scripts/gpu-llama.sh log: tok/s per gpubatch row (256-step
runs), min..max, and whether every run decoded the same tokens.
Usage: llama-summary.py llama.txt"""
import collections
import json
import re
import statistics
import sys

rows, tokens, command = collections.defaultdict(list), set(), None
for line in open(sys.argv[1]):
    if line.startswith("## "):
        command = line[3:].strip()
    elif line.startswith('{"tokens"') and command and "--steps 256" in command and "--trace" not in command:
        run = json.loads(line)
        row = re.search(r"--mode \S+(?: --(?:ahead|record-ahead))?", command).group(0)
        rows[row].append(run["tok_per_s"])
        tokens.add(tuple(run["tokens"]))
for row, v in rows.items():
    print(f"{row:32s} median {statistics.median(v):7.0f} ({min(v):.0f}..{max(v):.0f}), {len(v)} runs")
print("distinct token lists:", len(tokens))
