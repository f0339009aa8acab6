"""The shared library, loaded through ctypes, and its C types mirrored.

Every structure here mirrors one of include/gpubatch/*.h field for field;
tests/test_abi.py compiles a C program that prints the C compiler's sizes and
offsets and compares them with these, so a header change cannot silently
break the bindings.
"""

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_float, c_int, c_size_t, c_uint32,
                    c_uint64, c_void_p)

# The major version this package speaks: the shared library's soname is
# libgpubatch.so.<major>, and gpb_version() must report the same major.
ABI_MAJOR = 0
SONAME = "libgpubatch.so.%d" % ABI_MAJOR

GPB_MAX_HEAPS = 16
GPB_MAX_BINDINGS = 32

c_enum = c_int  # C enums with small non-negative values: int on every ABI gpubatch supports


class gpb_memory_heap(Structure):
    _fields_ = [("size", c_uint64), ("device_local", c_bool)]


class gpb_device_info(Structure):
    _fields_ = [
        ("index", c_uint32),
        ("name", c_char * 256),
        ("type", c_enum),
        ("vendor_id", c_uint32),
        ("device_id", c_uint32),
        ("api_version", c_uint32),
        ("kernel_api_version", c_uint32),
        ("driver_version", c_uint32),
        ("driver_name", c_char * 256),
        ("driver_info", c_char * 256),
        ("heap_count", c_uint32),
        ("heaps", gpb_memory_heap * GPB_MAX_HEAPS),
        ("max_workgroup_count", c_uint32 * 3),
        ("max_workgroup_size", c_uint32 * 3),
        ("max_workgroup_invocations", c_uint32),
        ("max_push_constant_bytes", c_uint32),
        ("max_shared_memory_bytes", c_uint32),
        ("max_storage_buffer_range", c_uint64),
        ("min_storage_buffer_offset_alignment", c_uint64),
        ("timestamp_period_ns", c_float),
        ("compute_units", c_uint32),
        ("subgroup_size", c_uint32),
        ("integer_dot_product", c_bool),
        ("integer_dot_product_accelerated", c_bool),
        ("usable", c_bool),
        ("unusable_reason", c_char * 128),
    ]


# void (*)(void *user, int severity, const char *message)
gpb_message_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class gpb_device_options(Structure):
    _fields_ = [
        ("validation", c_bool),
        ("on_message", gpb_message_fn),
        ("on_message_user", c_void_p),
        ("trace_path", c_char_p),
        ("wait_spin_us", c_uint32),
    ]


class gpb_kernel_binding(Structure):
    _fields_ = [("binding", c_uint32), ("read_only", c_bool), ("min_size", c_uint64), ("array_stride", c_uint64)]


class gpb_kernel_info(Structure):
    _fields_ = [
        ("name", c_char * 64),
        ("entry_point", c_char * 64),
        ("binding_count", c_uint32),
        ("bindings", gpb_kernel_binding * GPB_MAX_BINDINGS),
        ("push_constant_bytes", c_uint32),
        ("workgroup_size", c_uint32 * 3),
        ("shared_memory_bytes", c_uint64),
    ]


class gpb_kernel_desc(Structure):
    _fields_ = [("name", c_char_p), ("spirv", c_void_p), ("spirv_bytes", c_size_t), ("entry_point", c_char_p)]


class gpb_stream_options(Structure):
    _fields_ = [
        ("mode", c_enum),
        ("barriers", c_enum),
        ("max_batch_dispatches", c_uint32),
        ("staging_max_buffers", c_uint32),
        ("staging_max_bytes", c_uint64),
        ("staging_buffer_bytes", c_uint64),
        ("inline_upload_max_bytes", c_uint32),
    ]


class gpb_arg(Structure):
    _fields_ = [("buffer", c_void_p), ("offset", c_uint64), ("size", c_uint64)]


class gpb_dispatch(Structure):
    _fields_ = [
        ("kernel", c_void_p),
        ("groups", c_uint32 * 3),
        ("args", POINTER(gpb_arg)),
        ("arg_count", c_uint32),
        ("push_constants", c_void_p),
        ("push_constant_bytes", c_uint32),
    ]


def _candidates():
    """Where the library may be, in the order tried."""
    env = os.environ.get("GPUBATCH_LIBRARY")
    if env:
        # A file, or a folder holding it (an install's lib/ or a build folder).
        return [os.path.join(env, SONAME) if os.path.isdir(env) else env]
    names = [SONAME]  # the loader's path: LD_LIBRARY_PATH, ldconfig's cache (/usr/local/lib after ldconfig)
    found = ctypes.util.find_library("gpubatch")
    if found:
        names.append(found)
    # Installed into a prefix without running ldconfig.
    for prefix in ("/usr/local", "/usr"):
        for lib in ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu"):
            names.append(os.path.join(prefix, lib, SONAME))
    return names


def _load():
    tried = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append("%s (%s)" % (name, e))
    raise ImportError(
        "gpubatch: cannot load the gpubatch shared library; install it (cmake --install build --prefix /usr/local "
        "&& ldconfig) or set GPUBATCH_LIBRARY to its path. Tried: " + "; ".join(tried))


lib, path = _load()

_status = c_int  # gpb_status


def _proto(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# Handles are opaque values (never dereferenced), passed as void pointers.
H = c_void_p
PH = POINTER(c_void_p)

_proto("gpb_version", c_uint32)
_proto("gpb_version_string", c_char_p)
_proto("gpb_status_name", c_char_p, c_int)
_proto("gpb_last_error", c_char_p)

_proto("gpb_device_count", _status, POINTER(c_uint32))
_proto("gpb_device_get_info", _status, c_uint32, POINTER(gpb_device_info))
_proto("gpb_device_default_index", _status, POINTER(c_uint32))
_proto("gpb_device_open", _status, c_uint32, POINTER(gpb_device_options), PH)
_proto("gpb_device_open_default", _status, POINTER(gpb_device_options), PH)
_proto("gpb_device_close", _status, H)
_proto("gpb_device_sync", _status, H)
_proto("gpb_device_default_stream", H, H)
_proto("gpb_device_query", _status, H, POINTER(gpb_device_info))
_proto("gpb_device_validation_message_count", c_uint64, H)
_proto("gpb_device_last_error", c_char_p, H)

_proto("gpb_buffer_create", _status, H, c_uint64, c_enum, PH)
_proto("gpb_buffer_free", _status, H)
_proto("gpb_buffer_size", c_uint64, H)
_proto("gpb_buffer_kind", c_enum, H)
_proto("gpb_buffer_device", H, H)
_proto("gpb_buffer_map", _status, H, c_enum, PH)

_proto("gpb_kernel_create", _status, H, POINTER(gpb_kernel_desc), PH)
_proto("gpb_kernel_create_from_file", _status, H, c_char_p, c_char_p, c_char_p, PH)
_proto("gpb_kernel_destroy", _status, H)
_proto("gpb_kernel_get_info", _status, H, POINTER(gpb_kernel_info))

_proto("gpb_stream_create", _status, H, POINTER(gpb_stream_options), PH)
_proto("gpb_stream_destroy", _status, H)
_proto("gpb_stream_device", H, H)
_proto("gpb_stream_mode", c_enum, H)
_proto("gpb_stream_dispatch", _status, H, POINTER(gpb_dispatch))
_proto("gpb_stream_copy_to_device", _status, H, c_void_p, H, c_uint64, c_uint64)
_proto("gpb_stream_copy_to_host", _status, H, H, c_uint64, c_void_p, c_uint64)
_proto("gpb_stream_copy_buffer", _status, H, H, c_uint64, H, c_uint64, c_uint64)
_proto("gpb_stream_flush", _status, H)
_proto("gpb_stream_sync", _status, H)
_proto("gpb_stream_wait_stream", _status, H, H)
_proto("gpb_stream_get_counters", _status, H, c_void_p)
_proto("gpb_stream_reset_counters", _status, H)
_proto("gpb_stream_last_error", c_char_p, H)

_proto("gpb_stream_begin_capture", _status, H)
_proto("gpb_stream_end_capture", _status, H, PH)
_proto("gpb_stream_replay", _status, H, H)
_proto("gpb_program_destroy", _status, H)
_proto("gpb_program_dispatch_count", c_uint32, H)

_proto("gpb_counter_count", c_size_t)
_proto("gpb_counter_name", c_char_p, c_size_t)
_proto("gpb_counter_value", c_uint64, c_void_p, c_size_t)

# gpb_counters: one uint64_t per counter of GPB_COUNTER_LIST, in its order;
# the names come from the library, so a counter added there appears here.
COUNTER_NAMES = tuple(lib.gpb_counter_name(i).decode() for i in range(lib.gpb_counter_count()))


class gpb_counters(Structure):
    _fields_ = [(n, c_uint64) for n in COUNTER_NAMES]


if (lib.gpb_version() >> 22) != ABI_MAJOR:
    raise ImportError("gpubatch: %s is version %s; this package needs major version %d" %
                      (path, lib.gpb_version_string().decode(), ABI_MAJOR))
