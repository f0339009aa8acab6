"""Enumeration, opening and closing, device queries, options and errors."""

import json

import pytest

import gpubatch


def test_enumeration():
    n = gpubatch.device_count()
    assert n >= 1
    infos = gpubatch.devices()
    assert [i.index for i in infos] == list(range(n))
    default = gpubatch.default_device_index()
    info = gpubatch.device_info(default)
    assert info == infos[default] and info.usable and info.unusable_reason == ""
    assert isinstance(info.type, gpubatch.DeviceType) and info.name
    assert info.heaps and all(isinstance(h, gpubatch.MemoryHeap) and h.size > 0 for h in info.heaps)
    assert len(info.max_workgroup_count) == 3 and info.max_push_constant_bytes >= 128
    assert info.min_storage_buffer_offset_alignment >= 1 and info.kernel_api_version > 0


def test_device_info_past_the_end():
    with pytest.raises(gpubatch.NotFoundError) as e:
        gpubatch.device_info(gpubatch.device_count())
    assert e.value.status_name == "GPB_ERROR_NOT_FOUND" and e.value.message
    assert e.value.message == gpubatch.last_error()
    assert isinstance(e.value, LookupError)


def test_open_query_close():
    with gpubatch.open(gpubatch.default_device_index()) as dev:
        info = dev.info
        assert info == gpubatch.device_info(info.index)
        assert repr(dev) == "<gpubatch.Device %r>" % info.name
        dev.sync()
        assert dev.last_error == ""
        assert dev.default_stream is dev.default_stream and dev.default_stream.is_default
        assert dev.validation_message_count == 0 and dev.validation_messages == []
    assert dev.closed and repr(dev) == "<gpubatch.Device closed>"


def test_closed_device_raises():
    dev = gpubatch.open()
    s = dev.default_stream
    b = dev.buffer(64)
    dev.close()
    for use in (lambda: dev.info, dev.sync, lambda: dev.buffer(4), lambda: dev.stream(), lambda: dev.last_error,
                lambda: dev.validation_message_count, lambda: dev.default_stream, dev.close,
                lambda: dev.kernel(b"\0" * 4), s.sync, lambda: b.size, b.free):
        with pytest.raises(gpubatch.InvalidHandleError):
            use()
    assert b.released and s.released


def test_open_no_such_device():
    with pytest.raises(gpubatch.NotFoundError):
        gpubatch.open(gpubatch.device_count() + 5)


def test_bad_environment_named(monkeypatch):
    monkeypatch.setenv("GPB_MODE", "immediat")
    with pytest.raises(gpubatch.InvalidArgumentError) as e:
        gpubatch.open()
    assert "GPB_MODE" in e.value.message and isinstance(e.value, ValueError)


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("GPB_MODE", "immediate")
    with gpubatch.open() as dev:
        assert dev.default_stream.mode == gpubatch.Mode.IMMEDIATE


def test_options(tmp_path, spirv):
    seen = []
    trace = tmp_path / "trace.json"
    with gpubatch.open(validation=True, trace_path=str(trace), wait_spin_us=10,
                       on_message=lambda severity, text: seen.append((severity, text))) as dev:
        k = dev.kernel(spirv["add_one"], name="add_one")
        b = dev.buffer(256)
        dev.default_stream.fill(b, 0)
        dev.default_stream.dispatch(k, 1, [b], push_constants=(64).to_bytes(4, "little"))
        dev.sync()
        assert dev.trace_path == str(trace)
    assert seen == []
    events = json.loads(trace.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    assert any("add_one" in json.dumps(e) for e in events)


def test_reference_cycles_and_collection(spirv):
    # Objects dropped without being closed are released by the garbage collector.
    import gc
    from gpubatch._lib import lib
    dev = gpubatch.open()
    b = dev.buffer(64)
    h = b._handle
    del b
    gc.collect()
    assert lib.gpb_buffer_size(h) == 0
    dev_state = dev._state
    del dev
    gc.collect()
    assert dev_state.closed


def test_validation_messages_warn_at_close():
    seen = []
    dev = gpubatch.open(on_message=lambda severity, text: seen.append((severity, text)))
    callback = dev._state.keep[0]  # what the library calls with each validation message
    callback(None, 2, b"synthetic message")
    assert seen == [(2, "synthetic message")] and dev.validation_messages == seen
    with pytest.warns(gpubatch.ValidationWarning, match="synthetic message"):
        dev.close()
    assert dev.closed


def test_library_search(tmp_path):
    import os
    import subprocess
    import sys
    env = dict(os.environ, GPUBATCH_LIBRARY=str(tmp_path / "libgpubatch.so.0"))
    r = subprocess.run([sys.executable, "-c", "import gpubatch"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "GPUBATCH_LIBRARY" in r.stderr and str(tmp_path) in r.stderr
    env["GPUBATCH_LIBRARY"] = os.path.dirname(gpubatch.library_path()) or "."
    if os.path.isabs(env["GPUBATCH_LIBRARY"]):  # a folder holding the library is enough
        r = subprocess.run([sys.executable, "-c", "import gpubatch; print(gpubatch.library_path())"], env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip().endswith("libgpubatch.so.0"), r.stderr


EXIT_WITH_LIVE_VIEWS = """
import numpy as np, gpubatch
dev = gpubatch.open(trace_path=TRACE)
b = dev.buffer(64, "shared")
m = b.map(np.float32)
CAP = m.__dlpack__()                             # never consumed
ARR = np.from_dlpack(b.map(np.float32))          # a DLPack tensor
VIEW = np.asarray(m)                             # a numpy view
dev2 = gpubatch.open(trace_path=TRACE + "2")     # nothing mapped: closed at exit, trace written
s = dev2.stream()
s.fill(dev2.buffer(64), 1)
print("done")
"""


def test_interpreter_exit(tmp_path):
    # Objects still alive at exit: the process ends cleanly, devices without
    # live views are closed (their traces written), the others left mapped.
    import subprocess
    import sys
    trace = str(tmp_path / "t.json")
    r = subprocess.run([sys.executable, "-W", "error", "-c", "TRACE = %r\n" % trace + EXIT_WITH_LIVE_VIEWS],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "done\n" and r.stderr == "", r.stderr
    with open(trace + "2") as f:
        assert json.load(f)["traceEvents"]
