"""Buffers: creation, copies in and out, shared mappings as numpy views and
DLPack tensors, and every misuse."""

import gc

import numpy as np
import pytest

import gpubatch
from gpubatch import _dlpack


@pytest.mark.parametrize("kind", ["private", "shared", gpubatch.SHARED])
def test_create_write_read(dev, kind):
    with dev.buffer(1024, kind) as b:
        assert b.size == b.nbytes == 1024
        assert b.kind == gpubatch.MemoryKind[kind.upper()] if isinstance(kind, str) else b.kind == kind
        assert repr(b) == "<gpubatch.Buffer %s 1024 bytes>" % b.kind.name.lower()
        data = np.arange(256, dtype=np.float32)
        b.write(data)
        np.testing.assert_array_equal(b.to_numpy(np.float32), data)
        b.write(np.array([7, 8], np.uint32), offset=16)
        np.testing.assert_array_equal(b.to_numpy(np.uint32, shape=(2,), offset=16), [7, 8])
        np.testing.assert_array_equal(b.to_numpy(np.float32, shape=(2, 2)), [[0, 1], [2, 3]])
        b.write(b"\1\2\3\4", offset=1020)
        assert bytes(b.to_numpy(offset=1020)) == b"\1\2\3\4"
        assert gpubatch._lib.lib.gpb_buffer_device(b._h) == dev._h
    assert b.released


def test_buffer_from(dev):
    a = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float64)
    for kind in ("private", "shared"):
        b = dev.buffer_from(a, kind)
        np.testing.assert_array_equal(b.to_numpy(np.float64, a.shape), a)
        b.free()
    b = dev.buffer_from(a[:, ::2])  # not contiguous: copied contiguous first
    np.testing.assert_array_equal(b.to_numpy(np.float64, (16, 4)), a[:, ::2])
    b.free()
    with pytest.raises(gpubatch.InvalidArgumentError):
        dev.buffer_from(np.zeros(0, np.float32))
    b = dev.buffer_from([1.5, 2.5])  # anything numpy reads: float64 here
    np.testing.assert_array_equal(b.to_numpy(np.float64), [1.5, 2.5])
    shared = dev.buffer_from(np.arange(4, dtype=np.int32), "shared")
    b.write(shared.map(np.int32))  # a mapping is an array too
    np.testing.assert_array_equal(b.to_numpy(np.int32), [0, 1, 2, 3])
    shared.free()
    b.free()
    b = dev.buffer_from(bytearray(b"abcd"))
    assert bytes(b.to_numpy()) == b"abcd"
    b.free()


def test_bad_sizes_and_ranges(dev):
    with pytest.raises(gpubatch.InvalidArgumentError):
        dev.buffer(0)
    with pytest.raises((gpubatch.OutOfDeviceMemoryError, gpubatch.InvalidArgumentError)):
        dev.buffer(1 << 62)
    with pytest.raises(ValueError):
        dev.buffer(4, "global")
    b = dev.buffer(64)
    with pytest.raises(gpubatch.OutOfRangeError) as e:
        b.write(np.zeros(20, np.uint32))
    assert "buffer" in e.value.message
    with pytest.raises(gpubatch.OutOfRangeError):
        b.to_numpy(np.uint32, shape=(4,), offset=62)
    with pytest.raises(gpubatch.InvalidArgumentError):
        b.map()  # private memory has no mapping
    b.free()
    assert dev.default_stream.last_error == "" or dev.default_stream.last_error


def test_use_after_free(dev):
    b = dev.buffer(64)
    other = dev.buffer(64)
    b.free()
    assert repr(b) == "<gpubatch.Buffer freed>" and b.released
    for use in (lambda: b.size, lambda: b.kind, b.free, lambda: b.write(b"1234"), lambda: b.to_numpy(),
                lambda: b.map(), lambda: dev.default_stream.copy_buffer(b, other),
                lambda: dev.default_stream.copy_buffer(other, b, 4)):
        with pytest.raises(gpubatch.InvalidHandleError) as e:
            use()
        assert e.value.status_name == "GPB_ERROR_INVALID_HANDLE"
    other.free()


def test_library_checks_stale_handles(dev):
    # Below the binding the library refuses a stale handle too.
    from gpubatch._lib import lib
    b = dev.buffer(64)
    h = b._h
    b.free()
    assert lib.gpb_buffer_free(h) == gpubatch.InvalidHandleError.status
    assert "not a live buffer" in gpubatch.last_error()


def test_shared_mapping_is_a_view(dev):
    b = dev.buffer(4096, "shared")
    m = b.map(np.float32, (32, 32))
    a = np.asarray(m)
    assert a.shape == (32, 32) and a.dtype == np.float32 and m.array.ctypes.data == a.ctypes.data
    a[:] = np.arange(1024, dtype=np.float32).reshape(32, 32)
    np.testing.assert_array_equal(b.to_numpy(np.float32, (32, 32)), a)  # the GPU sees the host's writes
    dev.default_stream.fill(b, 5.0, np.float32, offset=8, size=16)
    np.testing.assert_array_equal(b.numpy(np.float32, (6,), access="r"), [0, 1, 5, 5, 5, 5])
    assert a[0, 2] == 5  # the same memory, once mapped again after the GPU's work
    w = b.numpy(np.uint32, 4, offset=64, access="w")
    w[:] = 9
    assert list(b.to_numpy(np.uint32, (4,), offset=64)) == [9, 9, 9, 9]
    with pytest.raises(ValueError):
        b.map(np.float32, (2000,))
    with pytest.raises(ValueError):
        b.map(offset=5000)
    with pytest.raises(ValueError):
        b.map(np.float32, (-1,))
    with pytest.raises(ValueError):
        b.map(access="x")
    del a, m, w
    b.free()


def test_free_and_close_refused_while_views_live(fresh_device):
    b = fresh_device.buffer(64, "shared")
    a = b.numpy(np.uint32)
    view = a[2:4]
    del a
    with pytest.raises(gpubatch.FailedPreconditionError) as e:
        b.free()
    assert "alive" in e.value.message
    with pytest.raises(gpubatch.FailedPreconditionError):
        fresh_device.close()
    view[:] = 1  # still mapped: no crash
    assert not b.released and not fresh_device.closed
    del view
    fresh_device.close()
    assert b.released


def test_dlpack(dev):
    b = dev.buffer(1024, "shared")
    m = b.map(np.int32, (16, 16))
    assert m.__dlpack_device__() == (1, 0)
    x = np.from_dlpack(m)  # numpy marks DLPack imports read-only
    assert x.shape == (16, 16) and x.dtype == np.int32
    np.asarray(m)[:] = np.arange(256).reshape(16, 16)
    np.testing.assert_array_equal(b.to_numpy(np.int32, (16, 16)), x)  # no copy: the buffer holds it
    assert np.asarray(m)[3, 3] == 51
    assert _dlpack.live_count() >= 1
    with pytest.raises(gpubatch.FailedPreconditionError):
        b.free()  # the tensor still uses the memory
    del m
    with pytest.raises(gpubatch.FailedPreconditionError):
        b.free()  # the tensor keeps its mapping alive
    del x
    gc.collect()
    b.free()
    assert _dlpack.live_count() == 0


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint32, np.int64, np.float16, np.float32, np.float64,
                                   np.complex64])
def test_dlpack_dtypes(dev, dtype):
    b = dev.buffer(512, "shared")
    m = b.map(dtype)
    x = np.from_dlpack(m)
    assert x.dtype == dtype and x.nbytes == 512
    del x, m
    b.free()


def test_dlpack_capsule_not_consumed(dev):
    b = dev.buffer(64, "shared")
    m = b.map(np.float32)
    cap = m.__dlpack__()
    assert _dlpack.live_count() == 1
    del cap  # never consumed: the producer's destructor releases it
    assert _dlpack.live_count() == 0
    with pytest.raises(BufferError):
        m.__dlpack__(stream=1)
    with pytest.raises(BufferError):
        m.__dlpack__(copy=True)
    with pytest.raises(BufferError):
        b.map(np.dtype([("a", "<f4"), ("b", "<u4")])).__dlpack__()
    del m
    b.free()
    assert _dlpack.live_count() == 0


def test_mapping_after_device_close_raises(fresh_device):
    b = fresh_device.buffer(64, "shared")
    m = b.map(np.float32)
    with pytest.raises(gpubatch.FailedPreconditionError):
        fresh_device.close()
    # Forcing the close below the binding would leave `m` dangling; the
    # binding refuses to hand out arrays over a released buffer instead.
    b._released = True
    with pytest.raises(gpubatch.InvalidHandleError):
        np.asarray(m)
    with pytest.raises(gpubatch.InvalidHandleError):
        m.__dlpack__()
    b._released = False
    del m
    fresh_device.close()


def test_exception_with_live_view_not_masked(fresh_device):
    b = fresh_device.buffer(64, "shared")
    with pytest.raises(KeyError):
        with fresh_device:
            view = b.numpy(np.uint32)
            raise KeyError("the block's own error")
    assert not fresh_device.closed  # left open: `view` lives in the traceback
    del view
    fresh_device.close()
