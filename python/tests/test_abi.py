"""The ctypes mirrors against the C compiler: every structure's size and
every field's offset and size, the enum values and constants, the counters'
names and the version. A header change that the bindings do not follow fails
here instead of corrupting memory."""

import ctypes
import os
import re
import shutil
import subprocess

import pytest

import gpubatch
from gpubatch import _dlpack, _errors, _lib

HERE = os.path.dirname(os.path.abspath(__file__))


def include_dir():
    """The headers: $GPUBATCH_INCLUDE_DIR, else the source tree's."""
    d = os.environ.get("GPUBATCH_INCLUDE_DIR") or os.path.join(HERE, "..", "..", "include")
    if not os.path.exists(os.path.join(d, "gpubatch", "gpubatch.h")):
        pytest.skip("gpubatch headers not found (set GPUBATCH_INCLUDE_DIR)")
    return d


STRUCTS = {
    "gpb_memory_heap": _lib.gpb_memory_heap,
    "gpb_device_info": _lib.gpb_device_info,
    "gpb_device_options": _lib.gpb_device_options,
    "gpb_kernel_binding": _lib.gpb_kernel_binding,
    "gpb_kernel_info": _lib.gpb_kernel_info,
    "gpb_kernel_desc": _lib.gpb_kernel_desc,
    "gpb_stream_options": _lib.gpb_stream_options,
    "gpb_arg": _lib.gpb_arg,
    "gpb_dispatch": _lib.gpb_dispatch,
    "gpb_counters": _lib.gpb_counters,
}

CONSTANTS = {
    "GPB_MAX_HEAPS": _lib.GPB_MAX_HEAPS,
    "GPB_MAX_BINDINGS": _lib.GPB_MAX_BINDINGS,
    "GPB_VERSION_MAJOR_NUMBER": _lib.ABI_MAJOR,
    "GPB_MEMORY_PRIVATE": gpubatch.MemoryKind.PRIVATE,
    "GPB_MEMORY_SHARED": gpubatch.MemoryKind.SHARED,
    "GPB_HOST_READ": gpubatch.HostAccess.READ,
    "GPB_HOST_WRITE": gpubatch.HostAccess.WRITE,
    "GPB_MODE_DEFAULT": gpubatch.Mode.DEFAULT,
    "GPB_MODE_BATCHED": gpubatch.Mode.BATCHED,
    "GPB_MODE_IMMEDIATE": gpubatch.Mode.IMMEDIATE,
    "GPB_BARRIERS_TRACKED": gpubatch.Barriers.TRACKED,
    "GPB_BARRIERS_ALWAYS": gpubatch.Barriers.ALWAYS,
    "GPB_OK": 0,
}
CONSTANTS.update({"GPB_DEVICE_" + t.name: t.value for t in gpubatch.DeviceType})
CONSTANTS.update({gpubatch.status_name(s): s for s in _errors._BY_STATUS})


def c_program():
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <gpubatch/gpubatch.h>", "int main(void) {"]
    for name, cls in STRUCTS.items():
        lines.append('  printf("%s %%zu %%zu\\n", sizeof(%s), _Alignof(%s));' % (name, name, name))
        for field, _ in cls._fields_:
            lines.append('  printf("%s.%s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));' %
                         (name, field, name, field, name, field))
    for name in CONSTANTS:
        lines.append('  printf("%s %%lld\\n", (long long)%s);' % (name, name))
    lines.append('  printf("GPB_VERSION_STRING %s\\n", GPB_VERSION_STRING);')
    lines.append("#define NAME(name, doc) printf(\"counter %s\\n\", #name);")
    lines.append("  GPB_COUNTER_LIST(NAME)")
    lines.append("  return 0;\n}\n")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def c_facts(tmp_path_factory):
    cc = os.environ.get("CC") or shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler (cc) to compare the layouts with")
    d = tmp_path_factory.mktemp("abi")
    (d / "abi.c").write_text(c_program())
    subprocess.run([cc, "-std=c11", "-I", include_dir(), "-o", str(d / "abi"), str(d / "abi.c")], check=True)
    out = subprocess.run([str(d / "abi")], check=True, capture_output=True, text=True).stdout
    facts, counters = {}, []
    for line in out.splitlines():
        key, *vals = line.split()
        if key == "counter":
            counters.append(vals[0])
        else:
            facts[key] = vals
    return facts, counters


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_struct_layout(c_facts, name):
    facts, _ = c_facts
    cls = STRUCTS[name]
    assert [ctypes.sizeof(cls), ctypes.alignment(cls)] == [int(v) for v in facts[name]], name
    for field, _ in cls._fields_:
        desc = getattr(cls, field)
        assert [desc.offset, desc.size] == [int(v) for v in facts["%s.%s" % (name, field)]], "%s.%s" % (name, field)


def test_constants(c_facts):
    facts, _ = c_facts
    for name, value in CONSTANTS.items():
        assert int(facts[name][0]) == int(value), name


def test_counter_names(c_facts):
    _, counters = c_facts
    assert tuple(counters) == gpubatch.COUNTER_NAMES
    assert [f for f, _ in _lib.gpb_counters._fields_] == counters


def test_status_names_and_classes():
    for status, cls in _errors._BY_STATUS.items():
        assert issubclass(cls, gpubatch.Error)
        name = gpubatch.status_name(status)
        words = name[len("GPB_ERROR_"):].split("_")
        assert cls.__name__.lower() == "".join(words).lower() + "error", (cls, name)
    assert gpubatch.status_name(0) == "GPB_OK"
    assert gpubatch.status_name(999) == "GPB_ERROR_UNKNOWN"
    e = _errors.error_for(999, "what")
    assert type(e) is gpubatch.Error and e.status == 999 and e.message == "what"


def test_versions(c_facts):
    facts, _ = c_facts
    assert gpubatch.__version__ == facts["GPB_VERSION_STRING"][0]
    assert gpubatch.version() == gpubatch.__version__
    assert gpubatch.version_info() == tuple(int(p) for p in gpubatch.version().split("."))
    assert re.search(r"libgpubatch\.so", gpubatch.library_path())


def test_dlpack_layout():
    # dlpack.h (v0.x) on LP64: DLTensor is 48 bytes, DLManagedTensor 64.
    assert ctypes.sizeof(_dlpack.DLTensor) == 48
    assert _dlpack.DLTensor.shape.offset == 24
    assert ctypes.sizeof(_dlpack.DLManagedTensor) == 64
