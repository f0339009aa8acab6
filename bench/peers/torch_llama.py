#!/usr/bin/env python3
"""The llama example's decoder in PyTorch: the peer that gpubatch is timed against.

Reads the same llama2.c legacy checkpoint as `gpubatch llama` (header of 7
int32, then float32 tensors; negative vocab_size = separate classifier),
keeps a KV cache on the GPU and decodes greedily, token by token, starting
from BOS (1): each step runs the whole model for one token and reads ONE
token id back to the host with `.item()`, as a real sampler does, and
decoding stops early when BOS comes out. Timed two ways:

  eager  one Python-issued kernel sequence per token
  graph  the step captured once in a CUDA graph and replayed; the static
         token and position tensors are updated before each replay

tok/s excludes the first step of each run (as gpubatch reports it). Both
paths run the same code (attention over the whole cache with positions
after `pos` masked out, so the graph has static shapes), float32, TF32 off,
so `--check-ids` token lists should match each other and gpubatch's
`"tokens"`, up to near-ties between the top two logits (random weights
can leave gaps of ~0.005).

`--dtype fp16` runs the whole model in half precision, as an fp16 model is
usually run in PyTorch: the weights are cast once at load, activations, the
KV cache, the RoPE tables and the logits are float16, and only the RMS norm
is computed in float32 and cast back (as Hugging Face's Llama does). Its
tokens may differ from float32's where the top two logits are close.

  python3 bench/peers/torch_llama.py --checkpoint s15.bin --steps 256 --check-ids
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

BOS = 1


def read_checkpoint(path):
    """Returns (config dict, dict of float32 numpy arrays), validating the size."""
    with open(path, "rb") as f:
        header = f.read(28)
        if len(header) != 28:
            raise ValueError(f"{path}: shorter than the 28-byte header")
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", header)
        data = np.fromfile(f, dtype="<f4")
    shared = vocab > 0
    vocab = abs(vocab)
    if min(dim, hidden, layers, heads, kv_heads, vocab, seq_len) <= 0:
        raise ValueError(f"{path}: non-positive header field")
    if dim % heads or heads % kv_heads or (dim // heads) % 2:
        raise ValueError(f"{path}: inconsistent head counts")
    head_size = dim // heads
    kv_dim = head_size * kv_heads
    shapes = [
        ("token_embedding", (vocab, dim)),
        ("rms_att", (layers, dim)),
        ("wq", (layers, dim, dim)),
        ("wk", (layers, kv_dim, dim)),
        ("wv", (layers, kv_dim, dim)),
        ("wo", (layers, dim, dim)),
        ("rms_ffn", (layers, dim)),
        ("w1", (layers, hidden, dim)),
        ("w2", (layers, dim, hidden)),
        ("w3", (layers, hidden, dim)),
        ("rms_final", (dim,)),
        ("rope_unused", (seq_len * head_size,)),
    ]
    if not shared:
        shapes.append(("wcls", (vocab, dim)))
    expected = sum(math.prod(s) for _, s in shapes)
    if data.size != expected:
        raise ValueError(f"{path}: header implies {28 + 4 * expected} bytes, "
                         f"file has {28 + 4 * data.size}")
    weights, at = {}, 0
    for name, shape in shapes:
        n = math.prod(shape)
        weights[name] = data[at:at + n].reshape(shape)
        at += n
    if shared:
        weights["wcls"] = weights["token_embedding"]
    config = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
                  vocab=vocab, seq_len=seq_len, head_size=head_size, kv_dim=kv_dim,
                  shared_classifier=shared)
    return config, weights


def rope_table(config):
    """cos/sin per (pos, pair), in float32 like run.c's powf/cosf/sinf."""
    hs = config["head_size"]
    pairs = np.arange(hs // 2, dtype=np.float32)
    freq = np.float32(1.0) / np.power(np.float32(10000.0), (np.float32(2.0) * pairs) / np.float32(hs))
    pos = np.arange(config["seq_len"], dtype=np.float32)[:, None]
    angle = (pos * freq[None, :]).astype(np.float32)
    return np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)


DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


class Decoder:
    def __init__(self, config, weights, device, dtype=torch.float32):
        self.c = config
        self.device = device
        # Each tensor goes to the device as float32 and is cast there, so the
        # peak is the half-precision model plus one float32 tensor; for
        # float32 the cast is a no-op returning the same tensor.
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device).to(dtype)
        self.w = {k: t(v) for k, v in weights.items() if k != "rope_unused"}
        if config["shared_classifier"]:
            self.w["wcls"] = self.w["token_embedding"]
        cos, sin = rope_table(config)
        self.cos, self.sin = t(cos), t(sin)
        L, S, kv = config["layers"], config["seq_len"], config["kv_dim"]
        self.k_cache = torch.zeros(L, S, kv, device=device, dtype=dtype)
        self.v_cache = torch.zeros(L, S, kv, device=device, dtype=dtype)
        self.positions = torch.arange(S, device=device)

    def reset(self):
        self.k_cache.zero_()
        self.v_cache.zero_()

    @staticmethod
    def rmsnorm(x, weight):
        # The mean of squares overflows or loses precision in float16, so the
        # norm runs in float32 and its result is cast back before the weight,
        # as Hugging Face's LlamaRMSNorm does. For float32 input both casts
        # return the tensor itself: the same kernels as without them.
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * weight

    def rope(self, v, cos, sin):
        # v: (1, n, head_size), rotated in (even, odd) pairs like run.c.
        pairs = v.reshape(*v.shape[:-1], -1, 2)
        v0, v1 = pairs[..., 0], pairs[..., 1]
        return torch.stack((v0 * cos - v1 * sin, v0 * sin + v1 * cos), dim=-1).reshape(v.shape)

    def forward(self, token, pos):
        """token, pos: int64 tensors of shape (1,) on the device. Returns the
        greedy next token as an int64 tensor of shape (1,)."""
        c, w = self.c, self.w
        hs, heads, kv_heads = c["head_size"], c["heads"], c["kv_heads"]
        x = w["token_embedding"].index_select(0, token)  # (1, dim)
        cos = self.cos.index_select(0, pos)[:, None, :]  # (1, 1, hs/2)
        sin = self.sin.index_select(0, pos)[:, None, :]
        masked = (self.positions > pos)[None, :]  # (1, seq): future positions
        for l in range(c["layers"]):
            xb = self.rmsnorm(x, w["rms_att"][l])
            q = self.rope(F.linear(xb, w["wq"][l]).view(1, heads, hs), cos, sin)
            k = self.rope(F.linear(xb, w["wk"][l]).view(1, kv_heads, hs), cos, sin)
            v = F.linear(xb, w["wv"][l])
            self.k_cache[l].index_copy_(0, pos, k.reshape(1, -1))
            self.v_cache[l].index_copy_(0, pos, v)
            keys = self.k_cache[l].view(-1, kv_heads, hs)
            values = self.v_cache[l].view(-1, kv_heads, hs)
            if kv_heads != heads:  # grouped-query: query head h reads kv head h // kv_mul
                keys = keys.repeat_interleave(heads // kv_heads, dim=1)
                values = values.repeat_interleave(heads // kv_heads, dim=1)
            scores = torch.einsum("hd,thd->ht", q[0], keys) / math.sqrt(hs)
            scores = scores.masked_fill(masked, float("-inf"))
            # On half input PyTorch's softmax kernels accumulate in float32
            # already, so float16 scores need no cast here.
            att = torch.softmax(scores, dim=-1)
            out = torch.einsum("ht,thd->hd", att, values).reshape(1, -1)
            x = x + F.linear(out, w["wo"][l])
            xb = self.rmsnorm(x, w["rms_ffn"][l])
            x = x + F.linear(F.silu(F.linear(xb, w["w1"][l])) * F.linear(xb, w["w3"][l]), w["w2"][l])
        x = self.rmsnorm(x, w["rms_final"])
        logits = F.linear(x, w["wcls"])
        return torch.argmax(logits, dim=-1)  # first maximum on ties, like the C code


def decode(step, steps):
    """Runs step(token_int, pos_int) -> next_int for `steps` positions from BOS.
    Returns (generated ids, tok/s excluding the first step)."""
    token, ids = BOS, []
    t_first = t_end = None
    t_start = time.perf_counter()
    run = 0
    for pos in range(steps):
        nxt = step(token, pos)  # includes the .item() readback
        run += 1
        if pos == 0:
            t_first = time.perf_counter()
        if nxt == BOS:
            break
        ids.append(nxt)
        token = nxt
    t_end = time.perf_counter()
    rate = (run - 1) / (t_end - t_first) if run > 1 and t_end > t_first else 0.0
    return ids, rate, (t_first - t_start)


def run_eager(dec, steps):
    dec.reset()
    token_t = torch.zeros(1, dtype=torch.long, device=dec.device)
    pos_t = torch.zeros(1, dtype=torch.long, device=dec.device)

    def step(token, pos):
        token_t.fill_(token)
        pos_t.fill_(pos)
        with torch.no_grad():
            return int(dec.forward(token_t, pos_t).item())

    return decode(step, steps)


def run_graph(dec, steps):
    static_token = torch.full((1,), BOS, dtype=torch.long, device=dec.device)
    static_pos = torch.zeros(1, dtype=torch.long, device=dec.device)
    # Warm up on a side stream before capture (cuBLAS handles, allocator).
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.no_grad():
        for _ in range(3):
            dec.forward(static_token, static_pos)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        static_next = dec.forward(static_token, static_pos)
    dec.reset()

    def step(token, pos):
        static_token.fill_(token)
        static_pos.fill_(pos)
        graph.replay()
        return int(static_next.item())

    return decode(step, steps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--steps", type=int, default=256,
                   help="positions to run, BOS included (0 or > seq_len: seq_len)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--modes", default="eager,graph", help="comma-separated: eager, graph")
    p.add_argument("--check-ids", action="store_true", help="print the generated token ids")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32",
                   help="precision of weights, activations and KV cache (default fp32)")
    args = p.parse_args(argv)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    config, weights = read_checkpoint(args.checkpoint)
    steps = args.steps if 0 < args.steps <= config["seq_len"] else config["seq_len"]
    device = torch.device(args.device)
    dec = Decoder(config, weights, device, DTYPES[args.dtype])
    modes = [m for m in args.modes.split(",") if m]
    result = {"steps": steps, "device": torch.cuda.get_device_name(device)
              if device.type == "cuda" else str(device), "torch": torch.__version__,
              "dtype": args.dtype}
    for mode in modes:
        if mode == "graph" and device.type != "cuda":
            print("graph mode needs CUDA; skipped", file=sys.stderr)
            continue
        if mode not in ("eager", "graph"):
            p.error(f"unknown mode {mode}")
        runner = run_eager if mode == "eager" else run_graph
        runner(dec, min(steps, 8))  # warm-up run (kernel selection, caches)
        ids, rate, first_s = runner(dec, steps)
        result[f"{mode}_tok_per_s"] = round(rate, 3)
        result[f"{mode}_first_step_ms"] = round(first_s * 1e3, 3)
        if args.check_ids:
            result[f"{mode}_tokens"] = ids
        if not args.json:
            print(f"{mode}: {rate:.1f} tok/s over {len(ids) + 1} steps "
                  f"(excluding the first: {first_s * 1e3:.2f} ms)")
            if args.check_ids:
                print(f"{mode} ids: {json.dumps(ids)}")
    if "eager_tokens" in result and "graph_tokens" in result:
        result["eager_graph_ids_match"] = result["eager_tokens"] == result["graph_tokens"]
    if args.json:
        print(json.dumps(result))
    elif "eager_graph_ids_match" in result:
        print(f"eager and graph ids match: {result['eager_graph_ids_match']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
