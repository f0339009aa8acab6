#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

    tests/fuzz/make_corpus.py BUILD_DIR

BUILD_DIR is a configured and built folder (its tests/kernels/*.spv are the
test kernels); glslc must be on PATH for the extra kernels below. Seeds are
named seed-*; inputs found by fuzzing and kept are named found-* and are
left alone. The fuzz_api seeds are written with an encoder that mirrors the
decoder in fuzz_api.c: change both together.
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- fuzz_kernel --------------------------------------------------------------

# Kernels beyond what the test kernels show: each reaches another branch of
# reflection or pipeline creation. All must be accepted or refused cleanly,
# with no validation message (kernels the library wrongly accepts are kept
# out: see tests/README.md, known library bugs).
EXTRA_KERNELS = {
    "no_buffers": """#version 450
layout(local_size_x = 1) in;
void main() {}""",
    "push_only": """#version 450
layout(local_size_x = 8, local_size_y = 8, local_size_z = 2) in;
layout(push_constant) uniform P { uint a; uint b[3]; };
void main() {}""",
    "push_too_big": """#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { uint v[64]; };
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
void main() { x[0] = v[63]; }""",
    "many_bindings": "#version 450\nlayout(local_size_x = 1) in;\n"
    + "".join(f"layout(std430, set = 0, binding = {i}) buffer B{i} {{ uint v{i}[]; }};\n" for i in range(33))
    + "void main() {" + "".join(f" v{i}[0] = {i}u;" for i in range(33)) + " }",
    "eight_bindings": "#version 450\nlayout(local_size_x = 4) in;\n"
    + "".join(f"layout(std430, set = 0, binding = {2 * i + 1}) {'readonly ' if i % 2 else ''}buffer B{i} {{ uint h{i}; uint v{i}[]; }};\n"
              for i in range(8))
    + "void main() { v0[0] = h1 + v1[0] + v3[1] + v5[2] + v7[3]; v2[0] = 1u; v4[0] = 2u; v6[0] = 3u; }",
    "image": """#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0, r32ui) uniform uimage2D img;
void main() { imageStore(img, ivec2(0), uvec4(1)); }""",
    "sampler": """#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) uniform sampler2D tex;
layout(std430, set = 0, binding = 1) buffer Data { vec4 x[]; };
void main() { x[0] = textureLod(tex, vec2(0.5), 0.0); }""",
    "shared_memory": """#version 450
layout(local_size_x = 256) in;
shared uint tile[256];
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
void main() { tile[gl_LocalInvocationIndex] = x[gl_GlobalInvocationID.x]; barrier();
  x[gl_GlobalInvocationID.x] = tile[255u - gl_LocalInvocationIndex]; }""",
    "spec_size": """#version 450
layout(local_size_x_id = 0, local_size_y = 1) in;
layout(std430, set = 0, binding = 0) buffer Data { uint x[]; };
void main() { x[gl_GlobalInvocationID.x] = 7u; }""",
    "struct_block": """#version 450
layout(local_size_x = 1) in;
struct S { vec4 a; uint b; float c[3]; };
layout(std430, set = 0, binding = 0) buffer Data { S head; mat4 m; S items[]; };
void main() { items[0].b = head.b + uint(m[0][0]); }""",
    "fixed_array": """#version 450
layout(local_size_x = 1) in;
layout(std430, set = 0, binding = 0) buffer Data { uint x[16]; };
void main() { x[3] = 3u; }""",
    "atomics": """#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Data { uint counter; uint x[]; };
void main() { atomicAdd(counter, x[gl_GlobalInvocationID.x]); }""",
    "vertex": """#version 450
void main() { gl_Position = vec4(0.0); }""",
}


def compile_glsl(name, source, stage):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, f"{name}.{stage}")
        out = os.path.join(tmp, f"{name}.spv")
        with open(src, "w") as f:
            f.write(source + "\n")
        subprocess.run(["glslc", "--target-env=vulkan1.2", "-O", "-o", out, src], check=True)
        with open(out, "rb") as f:
            return f.read()


def kernel_seeds(kernel_dir):
    seeds = {}
    for file in sorted(os.listdir(kernel_dir)):
        if file.endswith(".spv"):
            with open(os.path.join(kernel_dir, file), "rb") as f:
                seeds[file[:-4]] = f.read()
    for name, source in EXTRA_KERNELS.items():
        seeds[name] = compile_glsl(name, source, "vert" if name == "vertex" else "comp")
    base = seeds["add_one"]
    words = len(base) // 4
    seeds["empty"] = b""
    seeds["one_byte"] = b"\x03"
    seeds["magic_only"] = base[:4]
    seeds["header_only"] = base[:20]
    seeds["truncated_half"] = base[: (words // 2) * 4]
    seeds["truncated_last_word"] = base[:-4]
    seeds["odd_length"] = base + b"\x00"
    seeds["byte_swapped"] = b"".join(base[i : i + 4][::-1] for i in range(0, len(base), 4))
    seeds["bad_bound"] = base[:12] + struct.pack("<I", 0xFFFFFFFF) + base[16:]
    seeds["bad_version"] = base[:4] + struct.pack("<I", 0x00FF0000) + base[8:]
    seeds["zero_words"] = base[:20] + b"\x00" * 64
    # The OpEntryPoint name "main" renamed: no entry point "main" is left.
    seeds["renamed_entry"] = base.replace(b"main\x00", b"mian\x00", 1)
    seeds["two_modules"] = base + base
    return seeds


# ---- fuzz_api -----------------------------------------------------------------
# Op codes and argument encodings of fuzz_api.c (LLVMFuzzerTestOneInput).
CREATE, FREE, UPLOAD, READBACK, COPY, ADD, FILL, AXPY, SYNC, MAP, WAIT, SCREATE, SDESTROY, COUNTERS = (
    0, 1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15)
CAPTURE, REPLAY, PDESTROY, NOT_LIVE = 16, 17, 18, 19
NULL_BUF, FOREIGN_BUF, STALE_BUF = 240, 248, 232
# Commands inside a capture (op_capture): the op's own bytes without its code.
CAP_ADD, CAP_FILL, CAP_AXPY, CAP_COPY, CAP_REFUSED = 0, 2, 3, 4, 6


def u16(v):
    return [v & 0xFF, v >> 8 & 0xFF]


# Offsets (pick_offset) and byte counts (pick_bytes).
def off(v):  # exact small offset
    return [1, v] if v < 256 else [6] + u16(v)


def off16(v):  # 16 * v
    return [2, v]


def off_past(k):
    return [4, k]


def off_wrap(k):
    return [5, k]


def nbytes(v):  # exact byte count
    return [0] if v == 0 else ([1, v] if v < 256 else [6] + u16(v))


def to_end():
    return [3]


def past_end(k):
    return [4, k]


def wrap(k):
    return [5, k]


def create(slot, words, shared=False):  # 4 * words bytes, words in 1..16384
    return [CREATE, slot, 2 << 1 | int(shared)] + u16(words - 1)


def create_bytes(slot, size, shared=False):  # any size in 1..65536
    return [CREATE, slot, 1 << 1 | int(shared)] + u16(size - 1)


def create_invalid(slot, which, arg=0):  # 5: size 0, 6: huge (arg picks), 7: bad kind (arg picks)
    return [CREATE, slot, which << 1] + ([arg] if which != 5 else [])


def free(slot):
    return [FREE, slot]


def upload(stream, slot, offset, count, null_src=False):
    return [UPLOAD, stream, slot] + offset + count + [0xFF if null_src else 0]


def readback(stream, slot, offset, count, null_dst=False):
    return [READBACK, stream, slot] + offset + count + [0xFF if null_dst else 0]


def copy(stream, src, dst, src_offset, dst_offset, count):
    return [COPY, stream, src, dst] + src_offset + dst_offset + count


def arg(slot, offset16=0, size=None):
    """A dispatch argument at 16 * offset16, to the end or of `size` bytes (nbytes)."""
    return [slot, 1, offset16] + ([1] if size is None else [0] + size)


def add_one(stream, a, n=None, corrupt=255, extra_group=0):
    return [ADD, stream] + a + ([] if n is None else u16(n)) + [extra_group, corrupt]


def fill(stream, a, n=None, corrupt=255):
    return [FILL, stream] + a + ([] if n is None else u16(n)) + [0, corrupt]


def axpy(stream, x, y, n=None, a=3, corrupt=255):
    return [AXPY, stream] + x + y + ([] if n is None else u16(n)) + [a, corrupt]


def sync(stream, kind):  # kind 0 flush, 1 sync, 2 device sync, 3 NULL checks
    return [SYNC, kind * 3 + stream]


def map_(slot, access, offset=0, count=0):  # access 1 read, 2 write, 3 both, 0 invalid
    return [MAP, slot, access] + (u16(offset) + u16(count) if access in (2, 3) else [])


def wait(waiter, signaler, kind=3):
    return [WAIT, kind * 9 + signaler * 3 + waiter]


def stream_create(index, a=3 * 8 + 3, b=0, c=0):
    return [SCREATE, index - 1, a, b, c]


def stream_destroy(index):
    return [SDESTROY, index]


def counters(stream, reset=False):
    return [COUNTERS, stream | (0x80 if reset else 0)]


def stale(which=0):
    """A buffer argument (pick_buffer) that is no longer live: `which` picks one."""
    return [STALE_BUF, which]


def arg_stale(which=0):
    return stale(which) + [1, 0, 1]


def capture(prog, stream, commands):
    """Captures `commands` (each [CAP_*] + the op's bytes after its code) into program slot `prog`."""
    assert 1 <= len(commands) <= 6
    return [CAPTURE, prog, stream, len(commands) - 1] + sum(commands, [])


def cap(code, op_bytes):
    return [code] + op_bytes[1:]


def refused(sel, buf=0):  # sel % 8: flush, sync, wait, begin_capture, destroy, replay, upload, readback
    return [CAP_REFUSED, sel, buf]


def replay(prog, stream, stale_which=None):
    if stale_which is None:
        return [REPLAY, prog, stream]
    return [REPLAY, prog | 0x80, stream, stale_which]


def program_destroy(prog):
    return [PDESTROY, prog]


def not_live(case, which=0, stream=0):  # op_not_live: case 0..39
    return [NOT_LIVE, case, which, stream]


def api_seeds():
    s = {}
    s["basic"] = create(0, 64) + upload(0, 0, off(0), nbytes(256)) + add_one(0, arg(0), 64) + readback(0, 0, off(0), nbytes(256))
    s["shared"] = (create(1, 64, True) + fill(0, arg(1), 64) + map_(1, 1) + map_(1, 2, 8, 16) + add_one(0, arg(1), 64)
                   + readback(0, 1, off(0), nbytes(256)))
    s["copy_chain"] = (create(0, 256) + create(1, 256) + fill(0, arg(0), 256) + copy(0, 0, 1, off(0), off(0), nbytes(1024))
                       + add_one(0, arg(1), 256) + copy(0, 1, 0, off(16), off(0), nbytes(512)) + readback(0, 0, off(0), to_end()))
    s["staged_upload"] = create(2, 16384) + upload(0, 2, off(0), nbytes(65536)) + readback(0, 2, off(0), nbytes(65536))
    s["unaligned_upload"] = create_bytes(3, 1001) + upload(0, 3, off(3), nbytes(997)) + readback(0, 3, off(1), nbytes(1000))
    s["axpy"] = (create(0, 128) + create(1, 128) + fill(0, arg(0), 128) + fill(0, arg(1), 128) + axpy(0, arg(0), arg(1), 128, 5)
                 + readback(0, 1, off(0), nbytes(512)))
    s["axpy_same_buffer"] = (create(0, 256) + fill(0, arg(0), 256) + axpy(0, arg(0, 0, nbytes(512)), arg(0, 32), 128, 2)
                             + readback(0, 0, off(0), nbytes(1024)))
    s["past_end"] = (create(0, 16) + upload(0, 0, off(60), nbytes(8)) + readback(0, 0, off(0), past_end(1))
                     + copy(0, 0, 0, off(0), off(32), nbytes(64)) + add_one(0, arg(0, 4)) + readback(0, 0, off(0), nbytes(64)))
    s["wrapping"] = (create(0, 16) + upload(0, 0, off_wrap(0), nbytes(8)) + upload(0, 0, off(8), wrap(7))
                     + readback(0, 0, off(16), wrap(0)) + copy(0, 0, 0, off(0), off_wrap(3), nbytes(4)) + readback(0, 0, off(0), to_end()))
    s["null_handles"] = (create(0, 16) + upload(0, NULL_BUF, off(0), nbytes(4)) + upload(0, 0, off(0), nbytes(4), null_src=True)
                         + readback(0, 0, off(0), nbytes(4), null_dst=True) + readback(0, 7, off(0), nbytes(4))
                         + add_one(0, arg(NULL_BUF)) + map_(NULL_BUF, 1) + free(5) + readback(0, 0, off(0), nbytes(64)))
    s["foreign"] = (create(0, 16) + upload(0, FOREIGN_BUF, off(0), nbytes(4)) + copy(0, 0, FOREIGN_BUF, off(0), off(0), nbytes(4))
                    + add_one(0, arg(FOREIGN_BUF)) + wait(0, 0, kind=2) + map_(FOREIGN_BUF, 1))
    s["corrupt_dispatches"] = create(0, 64) + fill(0, arg(0), 64) + sum((add_one(0, arg(0), 64, corrupt=c) for c in range(12)), []) + readback(0, 0, off(0), to_end())
    s["misaligned_arg"] = create(0, 64) + [ADD, 0, 0, 0, 1, 4, 1, 0, 255] + [ADD, 0, 0, 0, 6] + u16(20) + [1, 0, 255] + readback(0, 0, off(0), to_end())
    s["empty_arg"] = create(0, 16) + add_one(0, arg(0, 4)) + [ADD, 0, 0, 0, 3, 0, 1, 0, 255] + readback(0, 0, off(0), to_end())
    s["invalid_creates"] = create_invalid(0, 5) + create_invalid(1, 6, 0) + create_invalid(1, 6, 3) + create_invalid(2, 7, 1) + create(3, 4) + readback(0, 3, off(0), to_end())
    s["two_streams"] = (stream_create(1) + stream_create(2, a=0) + create(0, 64) + create(1, 64) + fill(1, arg(0), 64)
                        + add_one(2, arg(0), 64) + copy(1, 0, 1, off(0), off(0), nbytes(256)) + add_one(0, arg(1), 64)
                        + readback(2, 1, off(0), nbytes(256)) + counters(1) + counters(2) + stream_destroy(1)
                        + readback(0, 0, off(0), to_end()))
    s["immediate_stream"] = (stream_create(1, a=0) + create(0, 64) + upload(1, 0, off(0), nbytes(256)) + add_one(1, arg(0), 64)
                             + free(0) + create(0, 64, True) + fill(1, arg(0), 64) + map_(0, 3, 0, 100) + counters(1, True))
    s["small_staging"] = (stream_create(1, a=1, b=2 << 3 | 1 << 6, c=3 | 5 << 3) + create(0, 8192) + upload(1, 0, off(1), nbytes(30000))
                          + upload(1, 0, off(0), nbytes(4096)) + readback(1, 0, off(0), to_end()))
    s["no_inline"] = stream_create(1, c=5 << 3) + create(0, 16) + upload(1, 0, off(0), nbytes(64)) + readback(1, 0, off(0), nbytes(64))
    s["cap_one"] = stream_create(1, b=1) + create(0, 64) + sum((add_one(1, arg(0), 64) for _ in range(5)), []) + readback(1, 0, off(0), to_end())
    s["barriers_always"] = stream_create(2, a=3) + create(0, 64) + fill(2, arg(0), 64) + add_one(2, arg(0), 64) + readback(2, 0, off(0), to_end())
    s["bad_stream_options"] = (stream_create(1, a=2) + stream_create(1, a=8 + 3) + stream_create(1, c=6 << 3) + stream_create(1, c=7 << 3)
                               + stream_create(1, b=0, c=6) + stream_create(2, b=1 << 3, c=3) + create(0, 4) + readback(0, 0, off(0), to_end()))
    s["syncs"] = create(0, 64) + fill(0, arg(0), 64) + sync(0, 0) + sync(0, 1) + sync(0, 2) + sync(0, 3) + readback(0, 0, off(0), to_end())
    s["waits"] = (stream_create(1) + stream_create(2) + wait(1, 2) + wait(2, 1, kind=0) + wait(1, 0, kind=1) + create(0, 64) + fill(1, arg(0), 64)
                  + wait(2, 1) + add_one(2, arg(0), 64) + readback(2, 0, off(0), to_end()))
    s["map_misuse"] = create(0, 16) + create(1, 16, True) + map_(0, 1) + map_(1, 0) + [MAP, 1, 4] + map_(1, 1)
    s["free_pending"] = create(0, 64) + fill(0, arg(0), 64) + free(0) + create(0, 64) + add_one(0, arg(0), 64) + free(0) + readback(0, 0, off(0), nbytes(4))
    s["destroy_default"] = stream_create(1) + stream_destroy(0) + stream_destroy(1) + stream_destroy(2) + create(0, 4) + readback(0, 0, off(0), to_end())
    s["zero_bytes"] = (create(0, 16) + upload(0, 0, off(64), nbytes(0)) + readback(0, 0, off(64), nbytes(0))
                       + copy(0, 0, 0, off(0), off(0), nbytes(0)) + upload(0, 0, off_past(1), nbytes(0)))
    s["overlap_copy"] = create(0, 64) + fill(0, arg(0), 64) + copy(0, 0, 0, off(0), off(4), nbytes(64)) + copy(0, 0, 0, off(0), off(128), nbytes(128)) + readback(0, 0, off(0), to_end())
    s["all_slots"] = sum((create(i, 16 * (i + 1), i % 2 == 1) for i in range(8)), []) + sum((fill(0, arg(i), 16) for i in range(8)), []) + sum((free(i) for i in range(0, 8, 2)), [])
    # Programs: captures, replays on every stream, refusals, held buffers.
    s["program_replay"] = (create(0, 64) + upload(0, 0, off(0), nbytes(256)) + stream_create(1) + stream_create(2, a=0)
                           + capture(0, 0, [cap(CAP_ADD, add_one(0, arg(0), 64)), cap(CAP_ADD, add_one(0, arg(0, 1), 32))])
                           + replay(0, 0) + replay(0, 1) + replay(0, 2) + counters(1) + counters(2)
                           + readback(0, 0, off(0), to_end()))
    s["program_axpy_copy"] = (create(0, 128) + create(1, 128) + fill(0, arg(0), 128) + fill(0, arg(1), 128)
                              + capture(1, 1, [cap(CAP_AXPY, axpy(0, arg(0), arg(1), 128, 3)),
                                               cap(CAP_COPY, copy(0, 1, 0, off(0), off(256), nbytes(256))),
                                               cap(CAP_FILL, fill(0, arg(1, 2), 16))])
                              + replay(1, 0) + readback(0, 0, off(0), to_end()) + replay(1, 0) + readback(0, 1, off(0), to_end()))
    s["program_holds_buffers"] = (create(0, 64) + create(1, 16, True) + capture(0, 0, [cap(CAP_ADD, add_one(0, arg(0), 64))])
                                  + free(0) + create(0, 16) + free(1) + replay(0, 0) + program_destroy(0) + free(0)
                                  + create(0, 16) + readback(0, 0, off(0), to_end()))
    s["program_refusals"] = (create(0, 16, True) + create(1, 16) + stream_create(1)
                             + capture(0, 1, [refused(k, k % 2) for k in range(6)])
                             + capture(1, 0, [refused(6, 0), refused(7, 1), refused(6, NULL_BUF), refused(4), refused(5 + 8)])
                             + replay(0, 0) + replay(1, 1) + replay(1, 2) + readback(0, 1, off(0), to_end()))
    s["program_bad_commands"] = (create(0, 64) + capture(0, 0, [cap(CAP_ADD, add_one(0, arg(0), 64, corrupt=c)) for c in (0, 6, 8, 12, 13)]
                                                         + [cap(CAP_COPY, copy(0, 0, 0, off(0), off(4), nbytes(64)))])
                                 + capture(1, 0, [cap(CAP_ADD, add_one(0, arg_stale(1))), cap(CAP_COPY, copy(0, 0, FOREIGN_BUF, off(0), off(0), nbytes(4)))])
                                 + replay(0, 0) + replay(1, 0) + readback(0, 0, off(0), to_end()))
    # Handles that are no longer live, in every call family.
    s["freed_buffer_args"] = (create(0, 64) + create(1, 64, True) + fill(0, arg(1), 64) + free(1) + free(0) + create(2, 16)
                              + [UPLOAD, 0] + stale(0) + off(0) + nbytes(4) + [0]
                              + [READBACK, 0] + stale(1) + off(0) + nbytes(4) + [0]
                              + [COPY, 0, 2] + stale(0) + off(0) + off(0) + nbytes(4)
                              + add_one(0, arg_stale(0)) + axpy(0, arg(2), arg_stale(1)) + [MAP] + stale(0) + [1]
                              + readback(0, 2, off(0), to_end()))
    s["not_live_calls"] = (create(0, 64) + free(0) + stream_create(1) + stream_destroy(1) + create(3, 16)
                           + capture(0, 0, [cap(CAP_FILL, fill(0, arg(3), 1))]) + program_destroy(0)
                           + capture(1, 0, [cap(CAP_FILL, fill(0, arg(3), 4))])
                           + sum((not_live(c, c % 5) for c in range(40)), []) + replay(1, 0) + readback(0, 3, off(0), to_end()))
    s["stale_program_replay"] = (create(0, 16) + capture(0, 0, [cap(CAP_ADD, add_one(0, arg(0), 4))]) + replay(0, 0)
                                 + program_destroy(0) + replay(0, 0, stale_which=0) + replay(0, 0) + replay(0, 0, stale_which=1)
                                 + replay(0, 0, stale_which=2) + not_live(26, 0) + not_live(27, 1))
    return s


def write(target, seeds):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    for file in os.listdir(folder):
        if file.startswith("seed-"):
            os.remove(os.path.join(folder, file))
    for name, data in seeds.items():
        if isinstance(data, list):
            data = bytes(data)
        with open(os.path.join(folder, f"seed-{name}"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(seeds)} seeds in {folder}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write("fuzz_kernel", kernel_seeds(os.path.join(sys.argv[1], "tests", "kernels")))
    write("fuzz_api", api_seeds())


if __name__ == "__main__":
    main()
