"""Exceptions a user can cause. The CLI turns each into one red line and exit code 1."""


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
