"""The IDX format of MNIST: a big-endian header, then the array.

Header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then each
dimension's size as a big-endian uint32. MNIST images are ``0x00000803`` (N, 28, 28) and
labels ``0x00000801`` (N,).
"""

from __future__ import annotations

import gzip
import math
import io
import struct
import zlib
from pathlib import Path

import numpy as np

from cnnkit.errors import DataError, os_message
from cnnkit.files import atomic_path, check_source

_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


# The largest IDX file cnnkit unpacks: MNIST's training images are 47 MB. A gzip bomb stops
# here instead of filling the memory.
MAX_UNPACKED_BYTES = 128 << 20


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number.

    Decompression stops at ``limit`` bytes (default ``MAX_UNPACKED_BYTES``): a gzip bomb is
    refused, not unpacked.
    """
    limit = MAX_UNPACKED_BYTES if limit is None else limit
    path = Path(path)
    check_source(path, "data file", DataError)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(os_message(exc, "read", path)) from None
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(path, data, limit)
    return data


def _gunzip(path: Path, data: bytes, limit: int) -> bytes:
    pieces, total = [], 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while True:
                piece = stream.read(min(1 << 24, limit + 1 - total))
                if not piece:
                    break
                total += len(piece)
                if total > limit:
                    raise DataError(f"{path}: unpacks to more than {limit / 2**20:,.0f} MB, "
                                    f"more than an IDX data file holds (refused)")
                pieces.append(piece)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: broken gzip data ({str(exc).strip() or 'truncated'})"
                        ) from None
    return b"".join(pieces)


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes into an array of the declared shape (native byte order, read-only).

    Raises DataError naming ``name`` for a bad magic number, a header that does not fit, or a
    body shorter or longer than the header declares.
    """
    if len(data) < 4:
        raise DataError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _DTYPES:
        raise DataError(f"{name}: not an IDX file (magic number 0x{data[:4].hex()})")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header (needs {header} bytes, has {len(data)})")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(data) < expected:
        raise DataError(f"{name}: truncated: header declares shape {shape} ({expected} bytes), "
                        f"file has {len(data)}")
    if len(data) > expected:
        raise DataError(f"{name}: {len(data) - expected} trailing bytes after the declared "
                        f"shape {shape}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array if dtype.isnative or dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """Read a raw or gzip-compressed IDX file. See :func:`parse_idx`."""
    return parse_idx(read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for ``array`` (uint8, int8, int16, int32, float32 or float64)."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool | None = None,
              force: bool = True) -> None:
    """Write ``array`` as IDX, atomically; gzip when ``compress`` (default: name ends .gz)."""
    path = Path(path)
    data = encode_idx(array)
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_path(path, force=force) as tmp:
        tmp.write_bytes(data)
