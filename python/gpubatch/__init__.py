"""gpubatch from Python: a GPU compute runtime on Vulkan that batches kernel
dispatches and copies into few submissions.

    import numpy as np, gpubatch
    with gpubatch.open() as dev:                  # the default device
        k = dev.kernel_from_glsl(SOURCE)          # or dev.kernel(spirv_bytes)
        x = dev.buffer_from(np.arange(256, dtype=np.uint32))
        s = dev.default_stream
        s.dispatch(k, k.groups(256), [x], push_constants=np.uint32(256))
        print(x.to_numpy(np.uint32)[:4], s.counters()["dispatches"])

The package loads the shared library libgpubatch.so.0 through ctypes: from
$GPUBATCH_LIBRARY (the file, or the folder holding it) if set, else from the
loader's path (an install into /usr/local after ldconfig, or
LD_LIBRARY_PATH). Failing calls raise gpubatch.Error subclasses carrying the
status name and the library's message.
"""

from ._errors import (DeviceLostError, Error, FailedPreconditionError, InvalidArgumentError, InvalidHandleError,
                      InvalidSpirvError, IOError, NotFoundError, OutOfDeviceMemoryError, OutOfHostMemoryError,
                      OutOfRangeError, TimeoutError, UnsupportedError, VulkanError, status_name)
from ._core import (Arg, Barriers, Buffer, Capture, Device, DeviceInfo, DeviceType, HostAccess, Kernel, KernelBinding,
                    KernelInfo, Mapping, MemoryHeap, MemoryKind, Mode, Program, Stream, ValidationWarning,
                    compile_glsl, default_device_index, device_count, device_info, devices, last_error, library_path,
                    open, version, version_info)
from ._lib import COUNTER_NAMES

PRIVATE = MemoryKind.PRIVATE
SHARED = MemoryKind.SHARED

__version__ = "0.4.0"

# Shown as gpubatch.X in tracebacks and reprs, not as the private module.
for _cls in (Error, DeviceLostError, FailedPreconditionError, InvalidArgumentError, InvalidHandleError,
             InvalidSpirvError, IOError, NotFoundError, OutOfDeviceMemoryError, OutOfHostMemoryError, OutOfRangeError,
             TimeoutError, UnsupportedError, VulkanError, Arg, Barriers, Buffer, Capture, Device, DeviceInfo,
             DeviceType, HostAccess, Kernel, KernelBinding, KernelInfo, Mapping, MemoryHeap, MemoryKind, Mode, Program,
             Stream, ValidationWarning):
    _cls.__module__ = __name__
del _cls
