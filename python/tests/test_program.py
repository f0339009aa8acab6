"""Capture and replay."""

import numpy as np
import pytest

import gpubatch


def test_capture_replay(dev, kernels):
    k = kernels["add_one"]
    s = dev.stream()
    b = dev.buffer_from(np.zeros(128, np.uint32), stream=s)  # ordered before the replays on s
    tmp = dev.buffer(512)
    with s.capture() as cap:
        s.dispatch(k, 2, [b], push_constants=np.uint32(128))
        s.dispatch(k, 2, [b], push_constants=np.uint32(64))
        s.copy_buffer(b, tmp)
    prog = cap.program
    assert prog.dispatch_count == 2 and repr(prog) == "<gpubatch.Program 2 dispatches>"
    assert s.counters()["dispatches"] == 0  # nothing ran during capture
    for _ in range(5):
        s.replay(prog)
    dev.default_stream.wait(s)
    dev.default_stream.replay(prog)  # on any stream of the device
    out = tmp.to_numpy(np.uint32)
    expect = np.zeros(128, np.uint32)
    expect[:64] += 12
    expect[64:] += 6
    np.testing.assert_array_equal(b.to_numpy(np.uint32), expect)
    np.testing.assert_array_equal(out, expect)
    assert s.counters()["replays"] == 5
    prog.destroy()
    assert prog.released and repr(prog) == "<gpubatch.Program destroyed>"
    with pytest.raises(gpubatch.InvalidHandleError):
        s.replay(prog)
    with pytest.raises(gpubatch.InvalidHandleError):
        prog.dispatch_count
    s.destroy()
    b.free()
    tmp.free()


def test_capture_rules(dev, kernels):
    k = kernels["add_one"]
    s = dev.stream()
    b = dev.buffer(256)
    s.begin_capture()
    with pytest.raises(gpubatch.FailedPreconditionError):
        s.copy_to_device(np.zeros(4, np.uint32), b)
    with pytest.raises(gpubatch.FailedPreconditionError):
        s.sync()
    with pytest.raises(gpubatch.FailedPreconditionError):
        s.begin_capture()
    s.dispatch(k, 1, [b], push_constants=np.uint32(4))
    prog = s.end_capture()
    with pytest.raises(gpubatch.FailedPreconditionError):
        s.end_capture()  # not capturing
    # A buffer a program uses cannot be freed while the program exists.
    with pytest.raises(gpubatch.FailedPreconditionError):
        b.free()
    assert not b.released and b.size == 256
    with prog:
        s.replay(prog)
        s.sync()
    b.free()
    # An exception inside the block ends the capture and drops the program.
    with pytest.raises(RuntimeError):
        with s.capture() as cap:
            raise RuntimeError("stop")
    assert cap.program is None
    s.sync()  # capture is over
    with s.capture() as cap:
        pass
    assert cap.program.dispatch_count == 0
    cap.program.destroy()
    s.destroy()
