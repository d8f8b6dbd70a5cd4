"""Exceptions a user can cause, and the words for operating-system errors.

The CLI turns each CnnkitError into one red line and exit code 1; ``os_reason`` is the one
place an ``OSError`` becomes words a user understands.
"""

from __future__ import annotations

import errno


class CnnkitError(Exception):
    """Base class: the message says what was expected and echoes what was received."""


class ImageError(CnnkitError):
    """An image file cannot be read or written."""


class KernelError(CnnkitError):
    """A kernel name, matrix or parameter is not valid."""


class OutputExistsError(CnnkitError):
    """An output file exists and ``--force`` was not given."""


class DataError(CnnkitError):
    """A data file is malformed, fails its checksum, or cannot be obtained."""


class WriteError(CnnkitError):
    """An output could not be written (read-only, disk full, no such folder, ...).

    Unlike a bad input, it stops a batch: every new file of the run is removed.
    """


class LimitError(CnnkitError):
    """A size, option or estimated memory is above what cnnkit allows; the message names the
    bound and the option that changes it."""


_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device (disk full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.EIO: "input/output error (the device failed)",
    errno.EFBIG: "file too large for the file system",
    errno.EMFILE: "too many open files",
    errno.ENFILE: "too many open files",
    errno.EINVAL: "not possible at this place (e.g. under /proc)",
    errno.EBUSY: "the file or device is busy",
    errno.ELOOP: "too many symbolic links",
    errno.ENXIO: "no such device",
    errno.EXDEV: "cannot move across file systems",
}


def os_reason(exc: OSError) -> str:
    """A short lower-case cause for an OSError: 'read-only file system', 'permission denied'."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    return text.strip().rstrip(".").lower()


def os_message(exc: OSError, action: str, path: object | None = None) -> str:
    """'PATH: cannot ACTION: CAUSE', naming the path the error was about."""
    where = path if path is not None else (exc.filename or "")
    prefix = f"{where}: " if where != "" else ""
    return f"{prefix}cannot {action}: {os_reason(exc)}"
