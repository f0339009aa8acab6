#!/usr/bin/env python3
"""Markdown table of a bench/scripts/gpu-llama-shapes.sh log: one row per shape
(and per plan where PLANS was set), medians over the runs.

Columns: the weights read per token in MB, float32 and float16; gpubatch tok/s
in batched --record-ahead / batched / immediate mode with f32 and with f16
weights; PyTorch eager / CUDA graph tok/s in fp32 and fp16; GPU busy µs per
token from the traced run (bench/scripts/trace-kernels.py); the roofline, tok/s the
measured read bandwidth allows at those weight bytes; and record-ahead as a
share of it.

Weights read per token: every layer matrix, the classifier and the norm
weights, plus one embedding row: where the classifier is separate the rest
of the embedding table is never read, so it is not counted, and the unused
RoPE tables in the file are not either. For f16 the matrices and classifier
count 2 bytes an element and the norm weights 4. KV-cache reads (which grow
with the position; at 128 steps under 2% of the weights at every shape here)
are left out, so the roofline is a slight overestimate.

With LLAMACPP set, a table of llama.cpp's tok/s per GGUF type follows, with
gpubatch's record-ahead figure for the same weights and whether the tokens
agree. A cell holds the median; "err" where every run of it failed, "*" after a
median where some failed, "-" where none ran. Below the table: the per-kernel
µs per token of each trace, whether the token lists agree, failures with
their last output line, and the phase times.
Usage: llama-shapes-summary.py shapes-PART.txt
"""
import json
import re
import statistics
import sys
from collections import defaultdict

MODES = ("record-ahead", "batched", "immediate")


def flag(tokens, name):
    return tokens[tokens.index(name) + 1] if name in tokens and tokens.index(name) + 1 < len(tokens) else None


def read_bytes(c):
    """Weights read per decode step, float32 and float16 (see the docstring)."""
    dim, hidden, layers = c["dim"], c["hidden"], c["layers"]
    kv_dim = dim // c["heads"] * c["kv_heads"]
    matrices = layers * (2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim) + c["vocab"] * dim
    small = 2 * layers * dim + dim + dim  # norms, final norm, one embedding row
    return 4 * (matrices + small), 2 * matrices + 4 * small


def first_json(lines, prefix):
    """The last line starting with prefix that parses as a JSON object, or None."""
    for line in reversed(lines):
        if line.startswith(prefix):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def last_message(lines):
    """The line that most likely says why a command failed: the last one that
    names the tool or an error (a usage text follows gpubatch's message), else
    the last line (a Python traceback ends with the exception)."""
    text = [x.strip() for x in lines if x.strip() and not x.startswith("{")]
    named = [x for x in text if re.match(r"(llama|llama-gen|gpubatch)\b.*:", x) or re.search(r"error", x, re.I)]
    pick = named or text
    return pick[-1][:200] if pick else "no output"


def parse(path):
    shapes, blocks, notes, phases = {}, [], [], []
    header, cur, shape = None, None, None
    for raw in open(path, errors="replace"):
        line = raw.rstrip("\n")
        if line.startswith("## "):
            cur = {"cmd": line[3:], "tokens": line[3:].split(), "lines": [], "rc": None, "shape": shape}
            blocks.append(cur)
        elif line.startswith("# rc ") and cur is not None:
            parts = line.split()
            cur["rc"] = int(parts[2]) if parts[2].lstrip("-").isdigit() else None
            cur = None
        elif line.startswith("# shape "):
            _, _, name, js = line.split(" ", 3)
            shapes[name] = json.loads(js)
            shape = name
            cur = None
        elif line.startswith("# file "):
            parts = line.split()
            if parts[2] in shapes:
                shapes[parts[2]]["file_bytes"] = int(parts[3])
        elif line.startswith("# phase "):
            parts = line.split()
            phases.append((parts[2], parts[3]))
        elif line.startswith("# skip "):
            notes.append(line[2:])
        elif line.startswith("# parts "):
            header = line[2:]
        elif cur is not None:
            cur["lines"].append(line)
    return shapes, blocks, notes, phases, header


def rate(tok_per_s):
    return f"{tok_per_s:.0f}" if tok_per_s >= 100 else f"{tok_per_s:.1f}"


def med(values):
    return statistics.median(values) if values else None


def main():
    path = sys.argv[1]
    shapes, blocks, notes, phases, header = parse(path)
    gpb = defaultdict(lambda: {"ok": [], "err": 0})  # (shape, plan, weights, mode)
    resolved = defaultdict(set)  # (shape, plan, weights) -> plans the JSON names
    gpb_tokens = defaultdict(list)  # (shape, weights) -> token lists
    torch_runs = defaultdict(list)  # (shape, dtype) -> JSON objects
    torch_err = defaultdict(int)
    traces, trace_of = {}, {}  # (shape, weights, plan) -> trace-kernels JSON; path -> key
    probes, errors, devices = [], [], set()
    peer = defaultdict(list)  # (shape, weights) -> llama.cpp JSON objects
    for b in blocks:
        t, s, ok = b["tokens"], b["shape"], b["rc"] == 0
        if b["rc"] is None:  # the log ends inside this command
            b["lines"].append("cut off before it exited")
        if any(x.endswith("bandwidth.py") for x in t):
            r = first_json(b["lines"], '{"probe"')
            if r and ok:
                probes.append(r)
            else:
                errors.append(f"probe: {last_message(b['lines'])}")
        elif any(x.endswith("torch_llama.py") for x in t):
            r = first_json(b["lines"], "{")
            dtype = flag(t, "--dtype") or (r or {}).get("dtype") or "fp32"
            if r and ok:
                torch_runs[(s, dtype)].append(r)
            else:
                torch_err[(s, dtype)] += 1
                errors.append(f"{s} torch {dtype}: rc {b['rc']}: {last_message(b['lines'])}")
        elif any(x.endswith("trace-kernels.py") for x in t):
            r = first_json(b["lines"], '{"trace"')
            at = next(i for i, x in enumerate(t) if x.endswith("trace-kernels.py"))
            key = trace_of.get(t[at + 1]) if at + 1 < len(t) else None
            if r and ok and key:
                traces[key] = r
            else:
                errors.append(f"{s} trace summary: {last_message(b['lines'])}")
        elif t and t[0].endswith("llamacpp_vulkan"):
            r = first_json(b["lines"], '{"tokens"')
            m = re.search(r"-(f32|f16|bf16|q8_0|q4_0)-tok-[^/]*\.gguf$", flag(t, "--model") or "")
            w = m.group(1) if m else "?"
            if r and ok and "tok_per_s" in r:
                peer[(s, w)].append(r)
            else:
                peer[(s, w)]  # the row shows "err"
                errors.append(f"{s} llama.cpp {w}: rc {b['rc']}: {last_message(b['lines'])}")
        elif "llama" in t and len(t) > 1:
            r = first_json(b["lines"], '{"tokens"')
            weights = flag(t, "--weights") or (r or {}).get("weights") or "f32"
            plan = flag(t, "--plan") or "default"
            mode = "record-ahead" if "--record-ahead" in t else "ahead" if "--ahead" in t else flag(t, "--mode")
            what = f"{s} gpubatch {weights} {mode}" + (f" plan {plan}" if plan != "default" else "")
            if r and "weights" in r and r["weights"] != weights:
                notes.append(f"{what}: asked for {weights} weights, JSON says {r['weights']}")
            if "--trace" in t:
                trace_of[flag(t, "--trace")] = (s, weights, plan)
                if not (r and ok):
                    errors.append(f"{what} (traced): rc {b['rc']}: {last_message(b['lines'])}")
                continue
            cell = gpb[(s, plan, weights, mode)]
            if r and ok and "tok_per_s" in r:
                cell["ok"].append(r["tok_per_s"])
                if "plan" in r:
                    resolved[(s, plan, weights)].add(str(r["plan"]))
                gpb_tokens[(s, weights)].append(r.get("tokens", []))
                devices.add(r.get("device", "?"))
            else:
                cell["err"] += 1
                errors.append(f"{what}: rc {b['rc']}: {last_message(b['lines'])}")
        elif not ok and any(x in t for x in ("llama-gen", "llama-convert")):
            tool = "llama-gen" if "llama-gen" in t else "llama-convert"
            errors.append(f"{s} {tool}: rc {b['rc']}: {last_message(b['lines'])}")

    bw = med([p["gb_per_s"] for p in probes])
    out = []
    if header:
        out.append(f"<!-- {header} -->")
    if probes:
        p = probes[-1]
        out.append(f"Read bandwidth (float32 sum, median of {p['reps']}): {bw:.0f} GB/s "
                   f"(best {p['best_gb_per_s']:.0f}) on {p['device']}, torch {p['torch']}.")
    else:
        out.append("No bandwidth probe: roofline columns empty.")
    if devices:
        out.append(f"gpubatch device: {', '.join(sorted(devices))}.")
    out.append("")

    def cell(key):
        c = gpb.get(key)
        if not c or (not c["ok"] and not c["err"]):
            return "-"
        if not c["ok"]:
            return "err"
        return rate(med(c["ok"])) + ("*" if c["err"] else "")

    def torch_cell(s, dtype, mode):
        runs = [r[f"{mode}_tok_per_s"] for r in torch_runs.get((s, dtype), []) if f"{mode}_tok_per_s" in r]
        if runs:
            return rate(med(runs)) + ("*" if torch_err.get((s, dtype)) else "")
        return "err" if torch_err.get((s, dtype)) else "-"

    def fmt(x, spec):
        return "-" if x is None else format(x, spec)

    plans_of = defaultdict(list)
    for (s, plan, _, _) in gpb:
        if plan not in plans_of[s]:
            plans_of[s].append(plan)
    for (s, _, plan) in traces:
        if plan not in plans_of[s]:
            plans_of[s].append(plan)
    out.append("| shape | plan | weights MB/token f32 / f16 | gpubatch f32 rec-ahead / batched / immediate "
               "| gpubatch f16 rec-ahead / batched / immediate | torch fp32 eager / graph | torch fp16 eager / graph "
               "| GPU µs/token (trace) f32 / f16 | roofline tok/s f32 / f16 | rec-ahead % of roofline f32 / f16 |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for s, c in shapes.items():
        b32, b16 = read_bytes(c)
        roof = (None, None) if bw is None else (bw * 1e9 / b32, bw * 1e9 / b16)
        for plan in plans_of[s] or ["default"]:
            names = sorted(resolved.get((s, plan, "f32"), set()) | resolved.get((s, plan, "f16"), set()))
            plan_txt = plan + (f" ({'/'.join(names)})" if names and names != [plan] else "")
            pct = []
            for w, r in zip(("f32", "f16"), roof):
                ra = gpb.get((s, plan, w, "record-ahead"))
                pct.append(100 * med(ra["ok"]) / r if ra and ra["ok"] and r else None)
            busy = [traces.get((s, w, plan), {}).get("gpu_busy_us_per_step") for w in ("f32", "f16")]
            out.append(
                f"| {s} | {plan_txt} | {b32 / 1e6:.1f} / {b16 / 1e6:.1f} "
                f"| {' / '.join(cell((s, plan, 'f32', m)) for m in MODES)} "
                f"| {' / '.join(cell((s, plan, 'f16', m)) for m in MODES)} "
                f"| {torch_cell(s, 'fp32', 'eager')} / {torch_cell(s, 'fp32', 'graph')} "
                f"| {torch_cell(s, 'fp16', 'eager')} / {torch_cell(s, 'fp16', 'graph')} "
                f"| {fmt(busy[0], '.0f')} / {fmt(busy[1], '.0f')} "
                f"| {fmt(roof[0], '.0f')} / {fmt(roof[1], '.0f')} "
                f"| {fmt(pct[0], '.1f')} / {fmt(pct[1], '.1f')} |")

    # Weights types beside f32/f16 (GGUF files: bf16, q8_0, q4_0): their
    # tok/s in a table of their own.
    others = sorted({(s, plan, w) for (s, plan, w, _) in gpb if w not in ("f32", "f16")})
    if others:
        out.append("")
        out.append("| shape | plan | weights | gpubatch rec-ahead / batched / immediate |")
        out.append("|---|---|---|---|")
        for s, plan, w in others:
            names = sorted(resolved.get((s, plan, w), set()))
            plan_txt = plan + (f" ({'/'.join(names)})" if names and names != [plan] else "")
            out.append(f"| {s} | {plan_txt} | {w} | {' / '.join(cell((s, plan, w, m)) for m in MODES)} |")

    def agree(a, b):
        if a == b:
            return f"same {len(a)} tokens"
        n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return f"differ from token {n}"

    # llama.cpp's Vulkan backend on the same checkpoint's GGUF files, against
    # gpubatch's batched --record-ahead with the same weights (first plan run).
    if peer:
        out += ["", "llama.cpp Vulkan (bench/peers/llamacpp_vulkan.c) on GGUF files of the same checkpoints:", "",
                "| shape | weights | llama.cpp tok/s | gpubatch rec-ahead tok/s | tokens, llama.cpp vs gpubatch |",
                "|---|---|---|---|---|"]
        for (s, w), runs in sorted(peer.items()):
            plan = (plans_of[s] or ["default"])[0]
            mine = gpb_tokens.get((s, w))
            toks = agree(runs[0].get("tokens", []), mine[0]) if runs and mine else "-"
            out.append(f"| {s} | {w} | {rate(med([r['tok_per_s'] for r in runs])) if runs else 'err'} "
                       f"| {cell((s, plan, w, 'record-ahead'))} | {toks} |")

    for s in shapes:
        keys = [k for k in traces if k[0] == s]
        if not keys:
            continue
        cols = sorted(keys, key=lambda k: (k[2], k[1] != "f32", k[1]))
        per = {k: {e["name"]: e["us_per_step"] for e in traces[k]["kernels"]} for k in cols}
        names = []
        for k in cols:
            names += [n for n in per[k] if n not in names]
        label = lambda k: k[1] + ("" if k[2] == "default" else f" {k[2]}")
        out.append("")
        out.append(f"{s}: GPU µs per token by kernel ({traces[cols[0]]['steps']} traced steps, "
                   f"batched --record-ahead)")
        out.append("")
        out.append("| kernel | " + " | ".join(label(k) for k in cols) + " |")
        out.append("|---|" + "---|" * len(cols))
        for n in names:
            out.append(f"| {n} | " + " | ".join(fmt(per[k].get(n), ".1f") for k in cols) + " |")
        out.append("| busy (sum) | " + " | ".join(fmt(traces[k]["gpu_busy_us_per_step"], ".1f") for k in cols)
                   + " |")
        out.append("| wall (median) | " + " | ".join(fmt(traces[k]["gpu_wall_us_per_step_median"], ".1f")
                                                    for k in cols) + " |")

    lines = []
    for s in shapes:
        facts = []
        for w in ("f32", "f16"):
            lists = gpb_tokens.get((s, w), [])
            if lists:
                distinct = len({tuple(x) for x in lists})
                facts.append(f"gpubatch {w}: {distinct} distinct token list{'s' if distinct > 1 else ''} "
                             f"over {len(lists)} runs")
        g32, g16 = gpb_tokens.get((s, "f32")), gpb_tokens.get((s, "f16"))
        if g32 and g16:
            facts.append(f"gpubatch f16 vs f32: {agree(g16[0], g32[0])}")
        for dtype, w in (("fp32", "f32"), ("fp16", "f16")):
            for r in torch_runs.get((s, dtype), [])[:1]:
                if "eager_tokens" in r and gpb_tokens.get((s, w)):
                    facts.append(f"torch {dtype} eager vs gpubatch {w}: {agree(r['eager_tokens'], gpb_tokens[(s, w)][0])}")
                if "eager_graph_ids_match" in r:
                    facts.append(f"torch {dtype} eager vs graph: {'same' if r['eager_graph_ids_match'] else 'differ'}")
        if facts:
            lines.append(f"- {s}: " + "; ".join(facts))
    if lines:
        out += ["", "Tokens:", ""] + lines
    if errors or notes:
        counts = {}
        for e in errors + notes:  # REPS repeats a failure; list it once, counted
            counts[e] = counts.get(e, 0) + 1
        out += ["", "Failures and notes:", ""] + [f"- {e}" + (f" (x{n})" if n > 1 else "") for e, n in counts.items()]
    if phases:
        out += ["", "Seconds per phase: " + ", ".join(f"{n} {v}" for n, v in phases)]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
