"""Streams: dispatch with buffer arguments and push constants, copies, fill,
flush and sync, waits between streams, counters, modes, and misuse."""

import numpy as np
import pytest

import gpubatch
from conftest import AXPBY_PC


def axpby(stream, k, x, y, a, b, n, **args):
    pc = np.array((a, b, n), AXPBY_PC)[()]  # a structured scalar: the push-constant block
    stream.dispatch(k, k.groups(n), [x, y], push_constants=pc, **args)


def test_dispatch_push_constant_forms(dev, kernels):
    k = kernels["axpby"]
    s = dev.default_stream
    x = dev.buffer_from(np.arange(300, dtype=np.float32))
    y = dev.buffer_from(np.ones(300, np.float32))
    axpby(s, k, x, y, 2.0, 1.0, 300)  # numpy structured scalar
    s.dispatch(k, (k.groups(300)[0],), [x, y], push_constants=np.array((1.0, 0.5, 300), AXPBY_PC).tobytes())
    s.dispatch(k, [3, 1, 1], [(x, 0), (y, 0, 0)], push_constants=np.array([1.0, 1.0], np.float32).tobytes()
               + np.uint32(300).tobytes())
    expect = np.ones(300, np.float32)
    expect = 2 * np.arange(300) + expect
    expect = np.arange(300) + 0.5 * expect
    expect = np.arange(300) + expect
    np.testing.assert_allclose(y.to_numpy(np.float32), expect, rtol=1e-6)
    x.free()
    y.free()


def test_sub_range_arguments(dev, kernels):
    align = dev.info.min_storage_buffer_offset_alignment
    k = kernels["add_one"]
    b = dev.buffer_from(np.zeros(256, np.uint32))
    off = max(align, 64)
    dev.default_stream.dispatch(k, 1, [b.arg(off, 64)], push_constants=np.uint32(16))
    dev.default_stream.dispatch(k, 1, [gpubatch.Arg(b, off)], push_constants=np.uint32(8))
    out = b.to_numpy(np.uint32)
    first = off // 4
    assert list(out[first:first + 18]) == [2] * 8 + [1] * 8 + [0, 0] and out[:first].sum() == 0
    b.free()


def test_dispatch_refused_and_stream_still_usable(dev, kernels):
    k = kernels["axpby"]
    s = dev.stream()
    x = dev.buffer(64)
    y = dev.buffer(64)
    pc = np.array((1, 1, 16), AXPBY_PC)[()]
    with pytest.raises(gpubatch.InvalidArgumentError) as e:
        s.dispatch(k, 1, [x, y], push_constants=b"\0" * 8)  # 12 bytes expected
    assert "push" in e.value.message and s.last_error == e.value.message
    with pytest.raises(gpubatch.InvalidArgumentError):
        s.dispatch(k, 1, [x], push_constants=pc)  # one argument short
    with pytest.raises(gpubatch.InvalidArgumentError):
        s.dispatch(k, 0, [x, y], push_constants=pc)  # no workgroups
    with pytest.raises(gpubatch.InvalidArgumentError):
        s.dispatch(k, 1, [x.arg(3), y], push_constants=pc)  # misaligned offset
    with pytest.raises(ValueError):
        s.dispatch(k, (1, 1, 1, 1), [x, y], push_constants=pc)
    with pytest.raises(TypeError):
        s.dispatch(k, 1, [x, "y"], push_constants=pc)
    with pytest.raises(TypeError):
        s.dispatch(k, 1, [x, y], push_constants=16)  # a Python int has no width
    with pytest.raises(TypeError):
        s.copy_to_device([object()], x)
    with pytest.raises(gpubatch.OutOfRangeError):
        s.copy_buffer(x, y, 65)
    s.fill(x, 1.0, np.float32)
    s.fill(y, 2.0, np.float32)
    s.dispatch(k, 1, [x, y], push_constants=pc)
    np.testing.assert_array_equal(y.to_numpy(np.float32, stream=s), np.full(16, 3.0, np.float32))
    other = gpubatch.open()
    z = other.buffer(64)
    with pytest.raises(gpubatch.InvalidArgumentError):
        s.copy_buffer(x, z)  # a buffer of another device
    other.close()
    s.destroy()
    x.free()
    y.free()


def test_copies_and_fill(dev):
    s = dev.default_stream
    a = dev.buffer(4096)
    b = dev.buffer(4096, "shared")
    s.fill(a, 0xDEADBEEF)
    s.fill(a, 7, np.uint16, offset=8, size=8)
    s.fill(a, -1.5, np.float64, offset=4088)
    s.copy_buffer(a, b)
    s.copy_buffer(a, b, 16, src_offset=0, dst_offset=1024)
    out = b.to_numpy(np.uint32)
    assert out[0] == 0xDEADBEEF and out[1] == 0xDEADBEEF and out[6] == 0xDEADBEEF
    assert list(b.to_numpy(np.uint16, (4,), offset=8)) == [7, 7, 7, 7]
    assert b.to_numpy(np.float64, (1,), offset=4088)[0] == -1.5
    assert list(b.to_numpy(np.uint16, (8,), offset=1024))[4:] == [7, 7, 7, 7]
    host = np.zeros(8, np.uint32)
    assert s.copy_to_host(a, host) is host and host[0] == 0xDEADBEEF
    raw = bytearray(4)
    s.copy_to_host(a, raw)
    assert raw == b"\xef\xbe\xad\xde"
    with pytest.raises(ValueError):
        s.fill(a, 1, np.uint32, size=6)
    with pytest.raises(ValueError):
        s.copy_to_host(a, np.zeros(8, np.uint32)[::2])
    with pytest.raises(ValueError):
        s.copy_to_host(a, bytes(4))  # read-only
    big = dev.buffer((s._FILL_CHUNK * 2) + 64)
    s.fill(big, 3, np.uint8)
    tail = big.to_numpy(offset=big.size - 100)
    assert (tail == 3).all()
    a.free()
    b.free()
    big.free()


def test_streams_wait_flush_sync_counters(dev, kernels):
    k = kernels["add_one"]
    s1 = dev.stream(mode="batched")
    s2 = dev.stream(mode=gpubatch.Mode.IMMEDIATE, barriers="always", max_batch_dispatches=4, staging_max_buffers=2,
                    staging_max_bytes=1 << 20, staging_buffer_bytes=1 << 16, inline_upload_max_bytes=0)
    assert s1.mode == gpubatch.Mode.BATCHED and s2.mode == gpubatch.Mode.IMMEDIATE
    assert repr(s1) == "<gpubatch.Stream batched>"
    assert gpubatch._lib.lib.gpb_stream_device(s1._h) == dev._h
    b = dev.buffer_from(np.zeros(64, np.uint32), stream=s1)
    for _ in range(10):
        s1.dispatch(k, 1, [b], push_constants=np.uint32(64))
    s1.flush()
    s2.wait(s1)  # s2's work starts after s1's ten dispatches
    s2.dispatch(k, 1, [b], push_constants=np.uint32(64))
    s2.sync()
    s1.sync()
    np.testing.assert_array_equal(b.to_numpy(np.uint32, stream=s2), np.full(64, 11))
    c1 = s1.counters()
    assert list(c1) == list(gpubatch.COUNTER_NAMES)
    assert c1["dispatches"] == 10 and c1["submits"] >= 1 and c1["flush_wait"] + c1["flushes"] >= 1
    assert s2.counters()["dispatches"] == 1
    s1.reset_counters()
    assert set(s1.counters().values()) == {0}
    with pytest.raises(ValueError):
        dev.stream(mode=7)  # not a gpb_mode; the binding refuses before the library
    with pytest.raises(ValueError):
        dev.stream(mode="fast")
    s1.destroy()
    s2.destroy()
    b.free()


def test_stream_lifetime(dev):
    s = dev.stream()
    s.destroy()
    assert s.released and repr(s) == "<gpubatch.Stream destroyed>"
    b = dev.buffer(16)
    for use in (s.sync, s.flush, lambda: s.mode, s.counters, s.reset_counters, lambda: s.fill(b, 0),
                lambda: s.copy_to_host(b, bytearray(4)), lambda: dev.default_stream.wait(s), s.begin_capture,
                lambda: s.last_error, s.destroy):
        with pytest.raises(gpubatch.InvalidHandleError):
            use()
    with pytest.raises(gpubatch.InvalidArgumentError):
        dev.default_stream.destroy()  # lives as long as the device
    assert not dev.default_stream.released
    b.free()


def test_threads_own_streams(dev, kernels):
    # The binding releases the GIL in every call: threads record on their own
    # streams at once, as in C.
    import threading
    k = kernels["add_one"]
    errors = []

    def work(i, out):
        try:
            s = dev.stream()
            b = dev.buffer_from(np.full(64, i, np.uint32), stream=s)
            for _ in range(50):
                s.dispatch(k, 1, [b], push_constants=np.uint32(64))
            out[i] = b.to_numpy(np.uint32, stream=s)
            b.free()
            s.destroy()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    out = {}
    threads = [threading.Thread(target=work, args=(i, out)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(4):
        np.testing.assert_array_equal(out[i], np.full(64, i + 50))
