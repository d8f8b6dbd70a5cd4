"""Custom kernels: matrix text (``"0 1 0; 1 -4 1; 0 1 0"``, fractions, ``#`` comments) and
kernel files (text or a 2-D ``.npy``), read with bounds: at most ``MAX_SIZE`` on a side,
finite float32 values, never a pickled object, never a pipe that would block.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from cnnkit.errors import KernelError

# The largest kernel side: a 255x255 kernel is 65,025 multiply-adds per pixel (minutes for
# a photo), and a sigma of 42 already covers it. Anything larger is refused before a single
# array is made, with this bound in the message.
MAX_SIZE = 255


_FRACTION = re.compile(r"^([-+]?[0-9.eE+-]+)/([0-9.eE+-]+)$")


def _number(token: str, where: str) -> float:
    match = _FRACTION.match(token)
    try:
        if match:
            value = float(match.group(1)) / float(match.group(2))
        else:
            value = float(token)
    except (ValueError, ZeroDivisionError):
        raise KernelError(f"{where}: '{token}' is not a number") from None
    if not math.isfinite(value):
        raise KernelError(f"{where}: '{token}' is not a finite number")
    return value


def parse_matrix(text: str, source: str = "kernel values") -> np.ndarray:
    """Parse rows separated by ';' or newlines, values by spaces or commas, '#' comments.

    Values may be fractions such as ``1/9``. Returns (kh, kw) float32.
    """
    rows = []
    for line in re.split(r"[;\n]", text):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}, row {len(rows) + 1}"
        rows.append([_number(tok, where) for tok in re.split(r"[\s,]+", line) if tok])
    if not rows:
        raise KernelError(f"{source}: no numbers found")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        lengths = [len(r) for r in rows]
        shown = str(lengths) if len(lengths) <= 12 else str(lengths[:12])[:-1] + ", ...]"
        raise KernelError(f"{source}: rows have different lengths {shown}")
    _check_shape(len(rows), len(rows[0]), source)
    return finite32(np.array(rows, dtype=np.float64), source)


def _check_shape(height: int, width: int, source: str) -> None:
    if height > MAX_SIZE or width > MAX_SIZE:
        raise KernelError(f"{source}: a {height}x{width} kernel is above the largest, "
                          f"{MAX_SIZE}x{MAX_SIZE}")


def load_matrix(path: Path) -> np.ndarray:
    """Read a kernel from a text file (as :func:`parse_matrix`) or a 2-D ``.npy`` array."""
    from cnnkit.files import check_source

    path = Path(path)
    check_source(path, "kernel file", KernelError)
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
                raise KernelError(f"{path}: expected a 2-D numeric array, got {array.dtype} "
                                  f"with shape {array.shape}")
            _check_shape(*array.shape, str(path))
            if array.dtype.kind == "c":
                raise KernelError(f"{path}: kernel values must be real numbers, got complex")
            if not np.all(np.isfinite(array)):
                raise KernelError(f"{path}: kernel values must be finite numbers")
            return finite32(array, str(path))
        if path.stat().st_size > 4 * MAX_SIZE * MAX_SIZE * 32:
            raise KernelError(f"{path}: too large for a kernel file")
        return parse_matrix(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, ValueError, EOFError) as exc:
        raise KernelError(f"{path}: cannot read kernel ({_reason(exc)})") from None


def finite32(array: np.ndarray, source: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        values = array.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise KernelError(f"{source}: kernel values must be within float32 range "
                          f"(|value| < 3.4e38)")
    return values


def _reason(exc: Exception) -> str:
    from cnnkit.errors import os_reason

    if isinstance(exc, OSError):
        return os_reason(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "not a text file (not UTF-8)"
    if isinstance(exc, EOFError):
        return "truncated .npy file"
    if "pickle" in str(exc):
        return "holds Python objects, which cnnkit never loads"
    text = str(exc).strip().splitlines()
    return (text[0][:120] if text else type(exc).__name__).rstrip(".")
