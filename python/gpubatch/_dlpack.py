"""DLPack (unversioned, the "dltensor" capsule numpy >= 1.22 reads) for host
memory that gpubatch owns: mapped shared buffers.

The DLManagedTensor and its shape live in ctypes objects kept in _live until
the consumer calls the deleter; manager_ctx keeps the exporting object alive
so the memory stays mapped while any consumer holds it."""

import ctypes
import threading
from ctypes import CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_int32, c_int64, c_uint8, c_uint16, c_uint64, \
    c_void_p

import numpy as np

KDL_CPU = 1


class DLDevice(Structure):
    _fields_ = [("device_type", c_int), ("device_id", c_int32)]


class DLDataType(Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class DLTensor(Structure):
    _fields_ = [
        ("data", c_void_p),
        ("device", DLDevice),
        ("ndim", c_int32),
        ("dtype", DLDataType),
        ("shape", POINTER(c_int64)),
        ("strides", POINTER(c_int64)),
        ("byte_offset", c_uint64),
    ]


class DLManagedTensor(Structure):
    pass


DELETER = CFUNCTYPE(None, POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", c_void_p), ("deleter", DELETER)]

# numpy kind -> DLDataTypeCode (kDLInt 0, kDLUInt 1, kDLFloat 2, kDLComplex 5, kDLBool 6)
_CODES = {"i": 0, "u": 1, "f": 2, "c": 5, "b": 6}

_lock = threading.Lock()
_live = {}  # address of a DLManagedTensor -> (it, its shape array, the owner)


def _release(address):
    with _lock:
        _live.pop(address, None)  # drops the owner: the mapping may go now


@DELETER
def _deleter(managed):
    try:
        _release(ctypes.cast(managed, c_void_p).value)
    except Exception:  # at interpreter exit this module may be gone
        pass


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [c_void_p, c_char_p, c_void_p]
# The capsule's destructor gets the capsule while it is being freed: take it
# as a plain address so ctypes does not touch its reference count.
_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.restype = c_int
_capsule_is_valid.argtypes = [c_void_p, c_char_p]
_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = c_void_p
_capsule_get_pointer.argtypes = [c_void_p, c_char_p]


@CFUNCTYPE(None, c_void_p)
def _capsule_destructor(capsule):
    # Still named "dltensor": nobody consumed it, so the producer releases it.
    # A consumer renames it "used_dltensor" and calls the deleter itself.
    try:
        if _capsule_is_valid(capsule, b"dltensor"):
            _release(_capsule_get_pointer(capsule, b"dltensor"))
    except Exception:  # at interpreter exit this module may be gone
        pass


# Tensors and capsules may be freed after this module is torn down at exit:
# the C entry points of both callbacks must outlive every module.
for _fn in (_deleter, _capsule_destructor):
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_fn))
del _fn


def capsule(owner, address, dtype, shape):
    """A "dltensor" capsule over C-contiguous memory at `address`; `owner`
    stays referenced until the consumer is done."""
    dtype = np.dtype(dtype)
    if dtype.kind not in _CODES or dtype.byteorder == ">" or dtype.fields is not None:
        raise BufferError("DLPack has no type for numpy dtype %s" % dtype)
    ndim = len(shape)
    shape_arr = (c_int64 * max(ndim, 1))(*shape)
    m = DLManagedTensor()
    m.dl_tensor.data = address
    m.dl_tensor.device = DLDevice(KDL_CPU, 0)
    m.dl_tensor.ndim = ndim
    m.dl_tensor.dtype = DLDataType(_CODES[dtype.kind], dtype.itemsize * 8, 1)
    m.dl_tensor.shape = shape_arr
    m.dl_tensor.strides = None  # C-contiguous
    m.dl_tensor.byte_offset = 0
    m.manager_ctx = None
    m.deleter = _deleter
    key = ctypes.addressof(m)
    with _lock:
        _live[key] = (m, shape_arr, owner)
    return _capsule_new(key, b"dltensor", ctypes.cast(_capsule_destructor, c_void_p))


def live_count():
    """DLManagedTensors handed out and not yet released (for tests)."""
    with _lock:
        return len(_live)
