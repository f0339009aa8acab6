"""Kernels from SPIR-V bytes, words, files and GLSL, their reflected
interface, and what is refused."""

import numpy as np
import pytest

import gpubatch
from conftest import ADD_ONE


def test_reflection(dev, spirv):
    with dev.kernel(spirv["reflect"], name="reflect_me") as k:
        info = k.info
        assert info.name == "reflect_me" and info.entry_point == "main"
        assert [b.binding for b in info.bindings] == [0, 2, 5]
        assert [b.read_only for b in info.bindings] == [True, False, False]
        assert info.bindings[0] == gpubatch.KernelBinding(0, True, 0, 4)
        assert info.bindings[1].min_size == 16 and info.bindings[1].array_stride == 4
        assert info.bindings[2].min_size == 16 and info.bindings[2].array_stride == 0
        assert k.bindings == info.bindings
        assert k.push_constant_bytes == info.push_constant_bytes == 16
        assert k.workgroup_size == info.workgroup_size == (8, 4, 1)
        assert info.shared_memory_bytes == 128
        assert k.groups(9, 4) == (2, 1, 1) and k.groups(1) == (1, 1, 1) and k.groups(0) == (1, 1, 1)
        assert repr(k) == "<gpubatch.Kernel 'reflect_me'>"
    assert k.released and repr(k) == "<gpubatch.Kernel destroyed>"


def test_sources(dev, spirv, tmp_path):
    code = spirv["add_one"]
    path = tmp_path / "add_one.spv"
    path.write_bytes(code)
    kernels = [dev.kernel(code), dev.kernel(np.frombuffer(code, np.uint32)), dev.kernel(bytearray(code), "main"),
               dev.kernel_from_file(path), dev.kernel_from_file(str(path), name="named", entry_point="main"),
               dev.kernel_from_glsl(ADD_ONE), dev.kernel_from_glsl(ADD_ONE.replace("1u;", "STEP;"),
                                                                   defines={"STEP": "3u"})]
    assert [k.info.name for k in kernels[:5]] == ["main", "main", "main", "add_one", "named"]
    b = dev.buffer_from(np.zeros(64, np.uint32))
    for k in kernels:
        dev.default_stream.dispatch(k, 1, [b], push_constants=np.uint32(64))
    np.testing.assert_array_equal(b.to_numpy(np.uint32), np.full(64, 9))
    for k in kernels:
        k.destroy()
    b.free()


def test_refused(dev, spirv, tmp_path):
    code = spirv["add_one"]
    with pytest.raises(gpubatch.InvalidSpirvError) as e:
        dev.kernel(code[:len(code) // 8 * 4])  # cut in the middle of the module
    assert e.value.message
    with pytest.raises(gpubatch.UnsupportedError) as e:
        dev.kernel(b"\x03\x02\x23\x07" + b"\0" * 16)  # SPIR-V "0.0"
    assert "SPIR-V" in e.value.message
    for bad in (b"\x03\x02\x23", b""):  # not whole words, nothing
        with pytest.raises(gpubatch.InvalidSpirvError):
            dev.kernel(bad)
    with pytest.raises(gpubatch.NotFoundError):
        dev.kernel(gpubatch.compile_glsl(ADD_ONE), entry_point="nope")
    with pytest.raises((gpubatch.IOError, gpubatch.NotFoundError)):
        dev.kernel_from_file(tmp_path / "missing.spv")
    with pytest.raises(ValueError) as e:
        gpubatch.compile_glsl("#version 450\nvoid main() { nonsense; }")
    assert "glslc failed" in str(e.value)
    with pytest.raises(FileNotFoundError):
        gpubatch.compile_glsl(ADD_ONE, glslc=str(tmp_path / "no-glslc"))


def test_use_after_destroy(dev, spirv):
    k = dev.kernel(spirv["add_one"])
    b = dev.buffer(256)
    k.destroy()
    for use in (lambda: k.info, k.destroy, lambda: dev.default_stream.dispatch(k, 1, [b], np.uint32(1))):
        with pytest.raises(gpubatch.InvalidHandleError):
            use()
    b.free()
