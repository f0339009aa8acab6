"""gpb_status values as exceptions: one class per status, all under Error."""

import builtins

from . import _lib


class Error(Exception):
    """A gpubatch call failed. `status` is the gpb_status value, `status_name`
    its name ("GPB_ERROR_INVALID_HANDLE") and `message` the library's message,
    which names the object and the cause."""

    status = None  # set on each subclass

    def __init__(self, message, status=None):
        if status is not None:
            self.status = status
        self.status_name = status_name(self.status)
        self.message = message
        super().__init__("%s: %s" % (self.status_name, message))


class InvalidArgumentError(Error, ValueError):
    status = 1


class OutOfRangeError(Error, ValueError):
    status = 2


class OutOfHostMemoryError(Error, MemoryError):
    status = 3


class OutOfDeviceMemoryError(Error, MemoryError):
    status = 4


class DeviceLostError(Error):
    status = 5


class TimeoutError(Error, builtins.TimeoutError):
    status = 6


class NotFoundError(Error, LookupError):
    status = 7


class UnsupportedError(Error):
    status = 8


class InvalidSpirvError(Error, ValueError):
    status = 9


class FailedPreconditionError(Error):
    status = 10


class IOError(Error, OSError):
    status = 11


class VulkanError(Error):
    status = 12


class InvalidHandleError(Error):
    """A freed, destroyed or closed object was used. Raised by the binding
    before calling the library where it can tell, else by the library."""
    status = 13


_BY_STATUS = {c.status: c for c in (InvalidArgumentError, OutOfRangeError, OutOfHostMemoryError,
                                     OutOfDeviceMemoryError, DeviceLostError, TimeoutError, NotFoundError,
                                     UnsupportedError, InvalidSpirvError, FailedPreconditionError, IOError,
                                     VulkanError, InvalidHandleError)}


def status_name(status):
    """The library's name of a gpb_status value ("GPB_ERROR_NOT_FOUND")."""
    return _lib.lib.gpb_status_name(int(status)).decode()


def error_for(status, message):
    """The exception for a failing status (an unknown value gets Error)."""
    cls = _BY_STATUS.get(status)
    return cls(message) if cls else Error(message, status)


def check(status):
    """Raises the exception for `status` with this thread's last message."""
    if status != 0:
        raise error_for(status, _lib.lib.gpb_last_error().decode(errors="replace"))
