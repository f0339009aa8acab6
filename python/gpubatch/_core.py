"""Devices, buffers, kernels, streams and programs over the C API.

Each Python object holds one C handle. Releasing it (close, free, destroy, or
the object being garbage collected) releases the C object; closing a device
releases everything made on it, as in C. A Python object whose handle was
released raises InvalidHandleError before anything reaches the library.
"""

import collections
import ctypes
import dataclasses
import enum
import gc
import os
import shutil
import subprocess
import threading
import warnings
import weakref
from ctypes import byref, c_uint32, c_void_p

import numpy as np

from . import _dlpack
from ._errors import FailedPreconditionError, InvalidHandleError, check, error_for
from ._lib import COUNTER_NAMES, lib
from . import _lib as L


class DeviceType(enum.IntEnum):
    OTHER = 0
    INTEGRATED_GPU = 1
    DISCRETE_GPU = 2
    VIRTUAL_GPU = 3
    CPU = 4  # e.g. Mesa lavapipe


class MemoryKind(enum.IntEnum):
    PRIVATE = 0  # device-local; the host reaches it through stream copies
    SHARED = 1  # host-visible and coherent, mapped: numpy views without a copy


class HostAccess(enum.IntFlag):
    READ = 1  # wait for GPU work that writes the buffer
    WRITE = 2  # also wait for GPU work that reads it


class Mode(enum.IntEnum):
    DEFAULT = 0  # $GPB_MODE, else batched
    BATCHED = 1
    IMMEDIATE = 2


class Barriers(enum.IntEnum):
    TRACKED = 0  # a barrier only before a command with a hazard
    ALWAYS = 1  # a barrier between every two commands


class ValidationWarning(UserWarning):
    """Closing a device on which the Vulkan validation layer reported messages."""


def _enum(cls, value, what):
    if isinstance(value, str):
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError("%s: unknown %s %r (one of %s)" %
                             (what, cls.__name__, value, ", ".join(m.name.lower() for m in cls))) from None
    return cls(value)


def _access(value):
    if isinstance(value, str):
        flags = {"r": HostAccess.READ, "w": HostAccess.WRITE, "rw": HostAccess.READ | HostAccess.WRITE}
        if value not in flags:
            raise ValueError("access must be 'r', 'w' or 'rw', not %r" % value)
        return flags[value]
    return HostAccess(value)


def _s(raw):
    return raw.decode(errors="replace")


# ---- library and devices ----------------------------------------------------


def version():
    """The loaded library's version ("0.4.0")."""
    return _s(lib.gpb_version_string())


def version_info():
    """The loaded library's version as (major, minor, patch)."""
    v = lib.gpb_version()
    return (v >> 22, (v >> 12) & 0x3FF, v & 0xFFF)


def library_path():
    """The shared library this package loaded."""
    return L.path


def last_error():
    """Message of this thread's last failing gpubatch call ("" if none)."""
    return _s(lib.gpb_last_error())


MemoryHeap = collections.namedtuple("MemoryHeap", "size device_local")


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """gpb_device_info: what a device is and what it allows."""
    index: int
    name: str
    type: DeviceType
    vendor_id: int
    device_id: int
    api_version: int  # VK_MAKE_API_VERSION encoding
    kernel_api_version: int  # the Vulkan version kernels are validated under
    driver_version: int
    driver_name: str
    driver_info: str
    heaps: tuple  # of MemoryHeap
    max_workgroup_count: tuple
    max_workgroup_size: tuple
    max_workgroup_invocations: int
    max_push_constant_bytes: int
    max_shared_memory_bytes: int
    max_storage_buffer_range: int
    min_storage_buffer_offset_alignment: int
    timestamp_period_ns: float
    compute_units: int  # SMs where the driver says (NVIDIA), else 0
    subgroup_size: int  # invocations per subgroup in compute shaders
    integer_dot_product: bool  # packed 8-bit dot products in kernels
    integer_dot_product_accelerated: bool  # the signed one fast (not emulated)
    usable: bool
    unusable_reason: str

    @classmethod
    def _from_c(cls, c):
        return cls(
            index=c.index, name=_s(c.name), type=DeviceType(c.type), vendor_id=c.vendor_id, device_id=c.device_id,
            api_version=c.api_version, kernel_api_version=c.kernel_api_version, driver_version=c.driver_version,
            driver_name=_s(c.driver_name), driver_info=_s(c.driver_info),
            heaps=tuple(MemoryHeap(h.size, h.device_local) for h in c.heaps[:c.heap_count]),
            max_workgroup_count=tuple(c.max_workgroup_count), max_workgroup_size=tuple(c.max_workgroup_size),
            max_workgroup_invocations=c.max_workgroup_invocations, max_push_constant_bytes=c.max_push_constant_bytes,
            max_shared_memory_bytes=c.max_shared_memory_bytes, max_storage_buffer_range=c.max_storage_buffer_range,
            min_storage_buffer_offset_alignment=c.min_storage_buffer_offset_alignment,
            timestamp_period_ns=c.timestamp_period_ns, compute_units=c.compute_units,
            subgroup_size=c.subgroup_size, integer_dot_product=c.integer_dot_product,
            integer_dot_product_accelerated=c.integer_dot_product_accelerated, usable=c.usable, unusable_reason=_s(c.unusable_reason))


def device_count():
    """Number of Vulkan devices (0 without a Vulkan driver)."""
    n = c_uint32()
    check(lib.gpb_device_count(byref(n)))
    return n.value


def device_info(index):
    """Describes device `index` without opening it."""
    info = L.gpb_device_info()
    check(lib.gpb_device_get_info(index, byref(info)))
    return DeviceInfo._from_c(info)


def devices():
    """DeviceInfo of every device, in enumeration order."""
    return [device_info(i) for i in range(device_count())]


def default_device_index():
    """The default device: $GPB_DEVICE if set, else the first usable discrete
    GPU, else the first usable device."""
    n = c_uint32()
    check(lib.gpb_device_default_index(byref(n)))
    return n.value


class _DeviceState:
    """What the device's finalizer needs, without the Device itself."""

    def __init__(self):
        self.handle = None
        self.closed = False
        self.mappings = weakref.WeakSet()  # live Mapping objects of its buffers
        self.messages = []  # validation messages, as (severity, text)
        self.lock = threading.Lock()
        self.keep = None  # the options' C objects: the callback and the trace path

    def live_mappings(self, buffer=None):
        """How many Mapping objects (of `buffer`, or of any buffer) are alive."""
        def live():
            return sum(1 for m in self.mappings if buffer is None or m.buffer is buffer)
        if live():
            gc.collect()  # views in reference cycles die only in a collection
        return live()


_MAX_KEPT_MESSAGES = 100


def _finalize_device(state):
    # At garbage collection or interpreter exit. Arrays that alias mapped
    # memory may outlive it: leave the device open rather than unmap under them.
    if state.closed:
        return
    if state.live_mappings():
        # Left open: the library may still call the message callback, so it
        # must outlive this module.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(state.keep[0]))
        return
    state.closed = True
    lib.gpb_device_close(state.handle)


def open(index=None, *, validation=None, trace_path=None, wait_spin_us=0, on_message=None):  # noqa: A001
    """Opens device `index` (None: the default device) and returns a Device.

    validation: True turns on the Khronos validation layer (also GPB_VALIDATION=1).
    trace_path: a Chrome trace-event JSON file written when the device closes
      (also GPB_TRACE=<file>).
    wait_spin_us: how long host waits poll before blocking (0: the default).
    on_message: called as on_message(severity, text) for every validation
      message (severity 1 warning, 2 error), from any thread. Messages are
      also kept in Device.validation_messages.
    """
    state = _DeviceState()

    def collect(_user, severity, text):
        text = _s(text) if text else ""
        with state.lock:
            if len(state.messages) < _MAX_KEPT_MESSAGES:
                state.messages.append((severity, text))
        if on_message is not None:
            on_message(severity, text)

    callback = L.gpb_message_fn(collect)
    path = os.fsencode(trace_path) if trace_path is not None else None
    opts = L.gpb_device_options(validation=bool(validation), on_message=callback, on_message_user=None,
                                trace_path=path, wait_spin_us=wait_spin_us)
    # The library calls the callback until the device is closed: the state
    # keeps it (and the path) alive at least that long.
    state.keep = (callback, path, opts)
    h = c_void_p()
    if index is None:
        check(lib.gpb_device_open_default(byref(opts), byref(h)))
    else:
        check(lib.gpb_device_open(index, byref(opts), byref(h)))
    state.handle = h.value
    return Device(state, trace_path)


class Device:
    """An open GPU. Use as a context manager, or call close()."""

    def __init__(self, state, trace_path):
        self._state = state
        self.trace_path = trace_path
        self._default_stream = None
        self._finalizer = weakref.finalize(self, _finalize_device, state)

    @property
    def _h(self):
        if self._state.closed:
            raise InvalidHandleError("device was closed")
        return self._state.handle

    @property
    def closed(self):
        return self._state.closed

    def close(self):
        """Flushes and waits every stream, then releases the device and all
        made on it (buffers, kernels, streams, programs). Refused while numpy
        arrays or DLPack tensors alias one of its mapped shared buffers."""
        h = self._h
        live = self._state.live_mappings()  # a count: the traceback must not hold them
        if live:
            raise FailedPreconditionError(
                "closing the device: %d mapping(s) of its shared buffers are alive (numpy arrays or DLPack "
                "tensors over them); delete them first" % live)
        self._state.closed = True
        st = lib.gpb_device_close(h)
        n = len(self._state.messages)
        if n:
            warnings.warn("gpubatch: the device reported %d validation message(s); the first: %s" %
                          (n, self._state.messages[0][1]), ValidationWarning, stacklevel=2)
        check(st)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if self._state.closed:
            return
        if exc_type is not None and self._state.live_mappings():
            # Arrays over mapped memory are likely held by the exception's
            # frames: leave the device to its finalizer rather than hide the
            # exception behind a refusal to close.
            return
        self.close()

    def __repr__(self):
        if self._state.closed:
            return "<gpubatch.Device closed>"
        return "<gpubatch.Device %r>" % self.info.name

    @property
    def info(self):
        """DeviceInfo of this device (gpb_device_query)."""
        info = L.gpb_device_info()
        check(lib.gpb_device_query(self._h, byref(info)))
        return DeviceInfo._from_c(info)

    def sync(self):
        """Flushes every stream of the device and waits for all its GPU work."""
        check(lib.gpb_device_sync(self._h))

    @property
    def default_stream(self):
        """The device's own stream (it lives as long as the device)."""
        h = self._h
        if self._default_stream is None:
            self._default_stream = Stream(self, lib.gpb_device_default_stream(h), default=True)
        return self._default_stream

    @property
    def validation_message_count(self):
        """Validation messages seen so far (0 when validation is off)."""
        return lib.gpb_device_validation_message_count(self._h)

    @property
    def validation_messages(self):
        """The first validation messages, as (severity, text) pairs."""
        with self._state.lock:
            return list(self._state.messages)

    @property
    def last_error(self):
        """Message of the last failing call on this device or its objects."""
        return _s(lib.gpb_device_last_error(self._h))

    # -- making things on the device --

    def buffer(self, size, kind=MemoryKind.PRIVATE):
        """A new buffer of `size` bytes (contents undefined); kind 'private' or 'shared'."""
        kind = _enum(MemoryKind, kind, "buffer")
        h = c_void_p()
        check(lib.gpb_buffer_create(self._h, size, kind, byref(h)))
        return Buffer(self, h.value)

    def buffer_from(self, array, kind=MemoryKind.PRIVATE, stream=None):
        """A new buffer holding a copy of `array` (any contiguous buffer object),
        uploaded through `stream` (default: the device's)."""
        data = _host_bytes(array)
        buf = self.buffer(data.nbytes, kind)  # empty: refused by the library (size 0)
        try:
            buf.write(data, stream=stream)
        except BaseException:
            buf.free()
            raise
        return buf

    def kernel(self, spirv, entry_point=None, name=None):
        """A kernel from SPIR-V (bytes, or an array of 32-bit words)."""
        data = _host_bytes(spirv)
        keep = (ctypes.c_char * data.nbytes).from_buffer_copy(data)
        desc = L.gpb_kernel_desc(name=name.encode() if name else None, spirv=ctypes.addressof(keep),
                                 spirv_bytes=data.nbytes, entry_point=entry_point.encode() if entry_point else None)
        h = c_void_p()
        check(lib.gpb_kernel_create(self._h, byref(desc), byref(h)))
        return Kernel(self, h.value)

    def kernel_from_file(self, path, entry_point=None, name=None):
        """A kernel from a .spv file; its name is the file's stem unless given."""
        h = c_void_p()
        check(lib.gpb_kernel_create_from_file(self._h, os.fsencode(path), entry_point.encode() if entry_point else None,
                                              name.encode() if name else None, byref(h)))
        return Kernel(self, h.value)

    def kernel_from_glsl(self, source, entry_point=None, name=None, defines=None, glslc=None):
        """A kernel from GLSL compute source, compiled by glslc (see compile_glsl)."""
        return self.kernel(compile_glsl(source, defines=defines, glslc=glslc), entry_point=entry_point, name=name)

    def stream(self, mode=Mode.DEFAULT, barriers=Barriers.TRACKED, max_batch_dispatches=0, staging_max_buffers=0,
               staging_max_bytes=0, staging_buffer_bytes=0, inline_upload_max_bytes=0):
        """A new stream (gpb_stream_options; 0 means each option's default)."""
        opts = L.gpb_stream_options(mode=_enum(Mode, mode, "stream"), barriers=_enum(Barriers, barriers, "stream"),
                                    max_batch_dispatches=max_batch_dispatches, staging_max_buffers=staging_max_buffers,
                                    staging_max_bytes=staging_max_bytes, staging_buffer_bytes=staging_buffer_bytes,
                                    inline_upload_max_bytes=inline_upload_max_bytes)
        h = c_void_p()
        check(lib.gpb_stream_create(self._h, byref(opts), byref(h)))
        return Stream(self, h.value)


def compile_glsl(source, defines=None, glslc=None, target_env="vulkan1.2"):
    """SPIR-V bytes of a GLSL compute shader, compiled by glslc (Debian's
    `glslc`; `glslc` names another). gpubatch validates kernels under Vulkan
    1.2 rules, hence the default target."""
    exe = glslc or shutil.which("glslc")
    if not exe:
        raise FileNotFoundError("compile_glsl: glslc is not installed (Debian: apt-get install glslc)")
    cmd = [exe, "-fshader-stage=compute", "--target-env=" + target_env, "-o", "-", "-"]
    cmd[1:1] = ["-D%s=%s" % (k, v) if v is not None else "-D" + k for k, v in (defines or {}).items()]
    if isinstance(source, str):
        source = source.encode()
    r = subprocess.run(cmd, input=source, capture_output=True, check=False)
    if r.returncode != 0:
        raise ValueError("compile_glsl: glslc failed:\n" + r.stderr.decode(errors="replace"))
    return r.stdout


def _host_bytes(data):
    """A flat, C-contiguous uint8 view of a buffer object, a numpy array or
    scalar, or anything numpy reads as an array (a Mapping)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if isinstance(data, (int, float, complex, str)):
        # Its width would be a guess: the caller names it.
        raise TypeError("a Python %s has no byte layout: give bytes or a numpy value (np.uint32(%r))" %
                        (type(data).__name__, data))
    arr = np.asarray(data)
    if arr.dtype.hasobject:
        raise TypeError("%s is not plain data" % type(data).__name__)
    return np.ascontiguousarray(arr).reshape(-1).view(np.uint8)


def _ptr(arr):
    return arr.ctypes.data if arr.nbytes else None


# ---- children of a device ---------------------------------------------------


class _Child:
    """A handle of something made on a device."""
    _what = "object"

    def __init__(self, device, handle, release):
        self.device = device
        self._handle = handle
        self._released = False
        self._finalizer = weakref.finalize(self, _finalize_child, device._state, handle, release)
        # At interpreter exit the device's own finalizer releases everything at once.
        self._finalizer.atexit = False

    @property
    def _h(self):
        if self._released:
            raise InvalidHandleError("%s was %s" % (self._what, self._release_word))
        if self.device._state.closed:
            raise InvalidHandleError("%s was released with its device (closed)" % self._what)
        return self._handle

    @property
    def released(self):
        """True once released, directly or by closing the device."""
        return self._released or self.device._state.closed

    def _alive(self, handle):
        return False

    def _release(self, fn):
        h = self._h
        st = fn(h)
        err = error_for(st, last_error()) if st else None
        # Some refusals keep the object (a timeout, a buffer a program uses);
        # other errors are reported after releasing it. Ask the library which.
        if err is None or not self._alive(h):
            self._released = True
            self._finalizer.detach()
        if err is not None:
            raise err

    def close(self):
        """Releases the C object (same as free() or destroy())."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.released:
            self.close()


def _finalize_child(device_state, handle, release):
    if not device_state.closed:
        release(handle)  # a refusal leaves it to the device's close


Arg = collections.namedtuple("Arg", "buffer offset size")
Arg.__doc__ = "A dispatch argument: bytes [offset, offset + size) of a buffer; size 0: to its end."
Arg.__new__.__defaults__ = (0, 0)


class Buffer(_Child):
    """Memory on a device: PRIVATE (device-local) or SHARED (host-mapped)."""
    _what = "buffer"
    _release_word = "freed"

    def __init__(self, device, handle):
        super().__init__(device, handle, lib.gpb_buffer_free)

    def _alive(self, handle):
        return lib.gpb_buffer_size(handle) != 0

    def free(self):
        """Frees the buffer (after GPU work using it). Refused while Mapping
        objects, numpy arrays or DLPack tensors over its memory are alive."""
        live = self.device._state.live_mappings(self)  # a count: the traceback must not hold them
        if live and not self.released:
            raise FailedPreconditionError(
                "freeing a shared buffer: %d mapping(s) of it are alive (numpy arrays or DLPack tensors over its "
                "memory); delete them first" % live)
        self._release(lib.gpb_buffer_free)

    close = free

    def __repr__(self):
        if self.released:
            return "<gpubatch.Buffer freed>"
        return "<gpubatch.Buffer %s %d bytes>" % (self.kind.name.lower(), self.size)

    @property
    def size(self):
        return lib.gpb_buffer_size(self._h)

    @property
    def nbytes(self):
        return self.size

    @property
    def kind(self):
        return MemoryKind(lib.gpb_buffer_kind(self._h))

    def arg(self, offset=0, size=0):
        """A dispatch argument for bytes [offset, offset + size) (size 0: to the end)."""
        return Arg(self, offset, size)

    def write(self, data, offset=0, stream=None):
        """Records a copy of `data` (any buffer object) into the buffer at
        `offset` on `stream` (default: the device's); `data` may be reused at once."""
        (stream or self.device.default_stream).copy_to_device(data, self, offset)

    def to_numpy(self, dtype=np.uint8, shape=None, offset=0, stream=None):
        """A new array read from the buffer at `offset` (waits for the GPU work
        that writes it). shape None: as many items as fit."""
        dtype = np.dtype(dtype)
        if shape is None:
            shape = ((self.size - offset) // dtype.itemsize,)
        out = np.empty(shape, dtype)
        (stream or self.device.default_stream).copy_to_host(self, out, offset)
        return out

    def map(self, dtype=np.uint8, shape=None, offset=0, access="rw"):
        """A Mapping of a SHARED buffer's memory as `dtype`/`shape` at `offset`:
        waits for GPU work that conflicts with `access` ('r', 'w' or 'rw'),
        then gives numpy arrays (np.asarray(m), m.array) and DLPack tensors
        (np.from_dlpack(m)) over the memory, without a copy. Map again before
        reading what GPU work recorded later writes."""
        dtype = np.dtype(dtype)
        size = self.size
        if offset < 0 or offset > size:
            raise ValueError("map: offset %d is outside the buffer's %d bytes" % (offset, size))
        if shape is None:
            shape = ((size - offset) // dtype.itemsize,)
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
        if any(n < 0 for n in shape):
            raise ValueError("map: negative dimension in shape %s" % (shape,))
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + nbytes > size:
            raise ValueError("map: %s of %s at offset %d needs %d bytes; the buffer has %d" %
                             (shape, dtype, offset, nbytes, size))
        ptr = c_void_p()
        check(lib.gpb_buffer_map(self._h, _access(access), byref(ptr)))
        m = Mapping(self, ptr.value + offset, offset, dtype, shape, _access(access))
        self.device._state.mappings.add(m)
        return m

    def numpy(self, dtype=np.uint8, shape=None, offset=0, access="rw"):
        """np.asarray(self.map(...)): a numpy view of a SHARED buffer, no copy."""
        return self.map(dtype, shape, offset, access).array


class Mapping:
    """Host access to a mapped SHARED buffer: numpy's array interface and
    DLPack over the same memory. The buffer (and its device) cannot be freed
    while this or an array over it is alive."""

    def __init__(self, buffer, address, offset, dtype, shape, access):
        self.buffer = buffer
        self.address = address
        self.offset = offset
        self.dtype = dtype
        self.shape = shape
        self.access = access
        self.nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize

    @property
    def __array_interface__(self):
        self.buffer._h  # raises once the buffer is gone
        return {"version": 3, "shape": self.shape, "typestr": self.dtype.str,
                "descr": self.dtype.descr, "data": (self.address, False)}

    @property
    def array(self):
        """A numpy array over the mapped memory (no copy)."""
        return np.asarray(self)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if stream is not None and stream != -1:
            raise BufferError("__dlpack__: host memory has no stream; pass stream=None")
        if copy:
            raise BufferError("__dlpack__: the mapping is exported without a copy; copy=True is not offered")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError("__dlpack__: the mapping is CPU memory (kDLCPU, 0)")
        self.buffer._h
        return _dlpack.capsule(self, self.address, self.dtype, self.shape)

    def __dlpack_device__(self):
        return (_dlpack.KDL_CPU, 0)

    def __repr__(self):
        return "<gpubatch.Mapping %s %s at offset %d>" % (self.shape, self.dtype, self.offset)


@dataclasses.dataclass(frozen=True)
class KernelBinding:
    binding: int  # binding number in set 0
    read_only: bool  # declared readonly
    min_size: int  # bytes the block needs without its runtime array
    array_stride: int  # stride of a trailing runtime array, else 0


@dataclasses.dataclass(frozen=True)
class KernelInfo:
    name: str
    entry_point: str
    bindings: tuple  # of KernelBinding, one per dispatch argument, in order
    push_constant_bytes: int
    workgroup_size: tuple
    shared_memory_bytes: int


class Kernel(_Child):
    """A compute entry point of a SPIR-V module, with its reflected interface."""
    _what = "kernel"
    _release_word = "destroyed"

    def __init__(self, device, handle):
        super().__init__(device, handle, lib.gpb_kernel_destroy)
        self._info = None

    def _alive(self, handle):
        return lib.gpb_kernel_get_info(handle, byref(L.gpb_kernel_info())) != 13  # INVALID_HANDLE

    def destroy(self):
        self._release(lib.gpb_kernel_destroy)

    close = destroy

    @property
    def info(self):
        """KernelInfo: bindings, push-constant size, workgroup size, shared memory."""
        c = L.gpb_kernel_info()
        check(lib.gpb_kernel_get_info(self._h, byref(c)))
        return KernelInfo(
            name=_s(c.name), entry_point=_s(c.entry_point),
            bindings=tuple(KernelBinding(b.binding, b.read_only, b.min_size, b.array_stride)
                           for b in c.bindings[:c.binding_count]),
            push_constant_bytes=c.push_constant_bytes, workgroup_size=tuple(c.workgroup_size),
            shared_memory_bytes=c.shared_memory_bytes)

    @property
    def bindings(self):
        return self.info.bindings

    @property
    def push_constant_bytes(self):
        return self.info.push_constant_bytes

    @property
    def workgroup_size(self):
        return self.info.workgroup_size

    def groups(self, x, y=1, z=1):
        """Workgroup counts that cover x*y*z invocations."""
        wx, wy, wz = self.workgroup_size
        return (max(1, -(-x // wx)), max(1, -(-y // wy)), max(1, -(-z // wz)))

    def __repr__(self):
        return "<gpubatch.Kernel %s>" % ("destroyed" if self.released else repr(self.info.name))


class Program(_Child):
    """Work captured on a stream, replayed with Stream.replay."""
    _what = "program"
    _release_word = "destroyed"

    def __init__(self, device, handle, uses):
        super().__init__(device, handle, lib.gpb_program_destroy)
        # The buffers and kernels its commands use: the library refuses to
        # free them while the program exists, so they are not collected first.
        self._uses = uses

    def destroy(self):
        self._release(lib.gpb_program_destroy)
        self._uses = ()

    close = destroy

    @property
    def dispatch_count(self):
        return lib.gpb_program_dispatch_count(self._h)

    def __repr__(self):
        return "<gpubatch.Program %s>" % ("destroyed" if self.released else "%d dispatches" % self.dispatch_count)


class Capture:
    """Stream.capture()'s context: `program` is set when the block ends."""
    program = None


def _push_constants(data):
    if data is None:
        return None, 0
    raw = _host_bytes(data)
    keep = (ctypes.c_char * max(raw.nbytes, 1)).from_buffer_copy(raw.tobytes() or b"\0")
    return keep, raw.nbytes


def _groups(groups):
    g = (groups,) if isinstance(groups, (int, np.integer)) else tuple(groups)
    if not 1 <= len(g) <= 3:
        raise ValueError("dispatch: groups must be 1 to 3 workgroup counts, not %r" % (groups,))
    return tuple(int(n) for n in g) + (1,) * (3 - len(g))


class Stream(_Child):
    """An in-order queue of GPU work, recorded in batches."""
    _what = "stream"
    _release_word = "destroyed"

    def __init__(self, device, handle, default=False):
        # The default stream lives as long as the device: nothing to release.
        super().__init__(device, handle, (lambda h: 0) if default else lib.gpb_stream_destroy)
        self.is_default = default
        self._capture = None  # while capturing: what the commands use

    def _alive(self, handle):
        return bool(lib.gpb_stream_device(handle))

    def destroy(self):
        """Syncs and releases the stream (the default stream cannot be destroyed)."""
        if self.is_default:
            check(lib.gpb_stream_destroy(self._h))  # refused by the library, with its message
        self._release(lib.gpb_stream_destroy)

    close = destroy

    def __repr__(self):
        if self.released:
            return "<gpubatch.Stream destroyed>"
        return "<gpubatch.Stream %s%s>" % (self.mode.name.lower(), " default" if self.is_default else "")

    @property
    def mode(self):
        return Mode(lib.gpb_stream_mode(self._h))

    @property
    def last_error(self):
        return _s(lib.gpb_stream_last_error(self._h))

    def _uses(self, *objs):
        if self._capture is not None:
            self._capture.extend(objs)

    def dispatch(self, kernel, groups, args=(), push_constants=None):
        """Records a dispatch of `kernel` over `groups` workgroups (an int or
        up to 3). args: one per kernel binding, each a Buffer, an Arg
        (buffer.arg(offset, size)) or a (buffer, offset[, size]) tuple.
        push_constants: exactly the kernel's push-constant bytes, as bytes or a
        numpy value (a structured scalar: np.array((a, n), dtype)[()])."""
        args = list(args)
        c_args = (L.gpb_arg * max(len(args), 1))()
        bufs = []
        for i, a in enumerate(args):
            if isinstance(a, Buffer):
                a = Arg(a)
            elif isinstance(a, tuple):
                a = Arg(*a)
            else:
                raise TypeError("dispatch: argument %d is a %s, not a Buffer, Arg or (buffer, offset, size)" %
                                (i, type(a).__name__))
            c_args[i].buffer = a.buffer._h
            c_args[i].offset = a.offset
            c_args[i].size = a.size
            bufs.append(a.buffer)
        keep, nbytes = _push_constants(push_constants)
        d = L.gpb_dispatch(kernel=kernel._h, groups=_groups(groups), args=c_args, arg_count=len(args),
                           push_constants=ctypes.addressof(keep) if keep is not None else None,
                           push_constant_bytes=nbytes)
        check(lib.gpb_stream_dispatch(self._h, byref(d)))
        self._uses(kernel, *bufs)

    def copy_to_device(self, src, dst, dst_offset=0):
        """Records a copy of `src` (any buffer object) into `dst` at `dst_offset`;
        `src` may be reused as soon as this returns."""
        data = _host_bytes(src)
        check(lib.gpb_stream_copy_to_device(self._h, _ptr(data), dst._h, dst_offset, data.nbytes))

    def copy_to_host(self, src, dst, src_offset=0):
        """Copies dst.nbytes bytes of `src` at `src_offset` into `dst` (a
        writable, contiguous numpy array or buffer object); returns `dst` once
        they are there."""
        out = dst if isinstance(dst, np.ndarray) else np.frombuffer(memoryview(dst).cast("B"), np.uint8)
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("copy_to_host: dst must be a writable, C-contiguous array")
        check(lib.gpb_stream_copy_to_host(self._h, src._h, src_offset, _ptr(out), out.nbytes))
        return dst

    def copy_buffer(self, src, dst, size=None, src_offset=0, dst_offset=0):
        """Records a device copy of `size` bytes (None: the rest of `src`)."""
        sh, dh = src._h, dst._h
        if size is None:
            size = max(src.size - src_offset, 0)
        check(lib.gpb_stream_copy_buffer(self._h, sh, src_offset, dh, dst_offset, size))
        self._uses(src, dst)

    _FILL_CHUNK = 1 << 22

    def fill(self, buffer, value, dtype=np.uint32, offset=0, size=None):
        """Sets `size` bytes (None: the rest of the buffer) at `offset` to
        repetitions of `value` as `dtype`. The C API has no fill command: this
        uploads a host array of the value (copy_to_device, in chunks of at
        most 4 MiB), so it costs what an upload of that size costs."""
        dtype = np.dtype(dtype)
        if size is None:
            size = buffer.size - offset
        if size < 0 or size % dtype.itemsize:
            raise ValueError("fill: %d bytes is not a whole number of %s items" % (size, dtype))
        chunk = np.full(min(size, self._FILL_CHUNK) // dtype.itemsize, value, dtype=dtype)
        done = 0
        while done < size:
            n = min(size - done, chunk.nbytes)
            self.copy_to_device(chunk.view(np.uint8)[:n], buffer, offset + done)
            done += n

    def flush(self):
        """Submits the pending batch without waiting."""
        check(lib.gpb_stream_flush(self._h))

    def sync(self):
        """Submits the pending batch and waits for all of the stream's work."""
        check(lib.gpb_stream_sync(self._h))

    def wait(self, signaler):
        """Work recorded here after this call starts after all work recorded on
        `signaler` so far has finished (on the GPU; the host does not wait)."""
        check(lib.gpb_stream_wait_stream(self._h, signaler._h))

    def counters(self):
        """The stream's counters as a dict, in the library's order."""
        c = L.gpb_counters()
        check(lib.gpb_stream_get_counters(self._h, byref(c)))
        return {name: lib.gpb_counter_value(byref(c), i) for i, name in enumerate(COUNTER_NAMES)}

    def reset_counters(self):
        check(lib.gpb_stream_reset_counters(self._h))

    def begin_capture(self):
        """Starts capturing: dispatches and buffer copies are recorded into a
        program instead of run (see end_capture, capture)."""
        check(lib.gpb_stream_begin_capture(self._h))
        self._capture = []

    def end_capture(self):
        """Ends the capture and returns its Program."""
        h = c_void_p()
        check(lib.gpb_stream_end_capture(self._h, byref(h)))
        uses, self._capture = tuple(self._capture or ()), None
        return Program(self.device, h.value, uses)

    def capture(self):
        """`with stream.capture() as cap: ...` captures the block into cap.program."""
        return _CaptureBlock(self)

    def replay(self, program):
        """Records a replay of `program`."""
        check(lib.gpb_stream_replay(self._h, program._h))


class _CaptureBlock:
    def __init__(self, stream):
        self.stream = stream
        self.cap = Capture()

    def __enter__(self):
        self.stream.begin_capture()
        return self.cap

    def __exit__(self, exc_type, *exc):
        program = self.stream.end_capture()
        if exc_type is not None:
            program.destroy()
        else:
            self.cap.program = program
