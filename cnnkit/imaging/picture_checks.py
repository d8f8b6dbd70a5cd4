"""Checks on picture files, so that each way a file can be bad gets its own message.

``imaging.read_image`` calls these around Pillow: before decoding (can the file be opened at
all, is there memory for it), on a decoding failure (which failure was it), and after (does the
header tell the truth about the pixel data, are the values finite). The file is decoded once,
in full, before any output is written.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from cnnkit.errors import ImageError, os_message
from cnnkit.files import check_source
from cnnkit.limits import check_memory

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Bytes per pixel and channel that reading itself holds at once: Pillow's decoded 8-bit
# picture and its float32 copy. (What a command does next is estimated by that command.)
BYTES_PER_PIXEL_CHANNEL = 5


def check_readable(path: Path) -> int:
    """Raise ImageError unless ``path`` is a non-empty file this process may read; returns
    its size."""
    check_source(path, "an image file", ImageError)
    try:
        with open(path, "rb") as fh:
            first = fh.read(1)
            size = fh.seek(0, 2)
    except OSError as exc:
        raise ImageError(os_message(exc, "read", path)) from None
    if not first:
        raise ImageError(f"{path}: empty file, expected an image")
    return size


def check_decode_memory(path: Path, width: int, height: int, channels: int) -> None:
    """Refuse before decoding a picture whose arrays would not fit in the free memory."""
    check_memory(int(width) * int(height) * max(1, channels) * BYTES_PER_PIXEL_CHANNEL,
                 f"{path}: decoding this {width}x{height} picture",
                 "lower --max-pixels to refuse such pictures, or use a smaller one")


def decode_error(path: Path, exc: BaseException) -> ImageError:
    """The ImageError for an exception Pillow (or our PNG reader) raised while decoding."""
    if isinstance(exc, ImageError):
        return exc
    text = str(exc).strip().rstrip(".")
    lowered = text.lower()
    if isinstance(exc, OSError) and exc.errno is not None:
        return ImageError(os_message(exc, "read", path))
    if "truncated" in lowered or isinstance(exc, EOFError) or "broken data stream" in lowered:
        return ImageError(f"{path}: truncated image: the file ends before the picture does")
    if "crc" in lowered or "checksum" in lowered:
        return ImageError(f"{path}: corrupt image: a checksum does not match (damaged file)")
    if isinstance(exc, MemoryError):
        return ImageError(f"{path}: not enough memory to decode this picture")
    reason = text.splitlines()[0][:100] if text else type(exc).__name__
    return ImageError(f"{path}: corrupt image ({reason})")


def check_finite(path: Path, values: np.ndarray) -> None:
    """Refuse NaN or infinite pixel values (float TIFFs can hold them)."""
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ImageError(f"{path}: {bad:,} of {values.size:,} pixel values are NaN or "
                         f"infinite; cnnkit needs finite numbers")


def png_pixel_data(path: Path, data: bytes | None = None, keep: bool = True
                   ) -> tuple[dict, bytes | bytearray] | None:
    """The IHDR fields and the decompressed pixel data of a PNG, checked against each other.

    Returns None for a file that is not a PNG; with ``keep=False`` the data is only counted,
    not kept (b""). The data is inflated straight into one buffer (no pieces to join).
    Decompresses at most what the header's size needs (plus one byte to see
    whether more follows), so a zlib bomb stops there. Raises ImageError when the data is
    shorter or longer than the header says (Pillow silently ignores data beyond it).
    """
    if data is None:
        data = Path(path).read_bytes()
    if data[:8] != PNG_MAGIC or data[12:16] != b"IHDR" or len(data) < 29:
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    if channels is None or depth not in (1, 2, 4, 8, 16) or width == 0 or height == 0:
        raise ImageError(f"{path}: corrupt image (impossible PNG header: {width}x{height}, "
                         f"depth {depth}, colour type {colour})")
    header = {"width": width, "height": height, "depth": depth, "colour": colour,
              "channels": channels, "interlace": interlace}
    expected = _png_raw_length(width, height, depth * channels, interlace)
    inflater = zlib.decompressobj()
    kept = bytearray(expected) if keep else b""
    have, pos = 0, 8
    try:
        while pos + 8 <= len(data) and have <= expected:
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if kind == b"IDAT":
                piece = inflater.decompress(data[pos + 8:pos + 8 + length], expected + 1 - have)
                while piece:
                    if keep and have + len(piece) <= expected:
                        kept[have:have + len(piece)] = piece
                    have += len(piece)
                    if have > expected or not inflater.unconsumed_tail:
                        break
                    piece = inflater.decompress(inflater.unconsumed_tail, expected + 1 - have)
            elif kind == b"IEND":
                break
            pos += 12 + length
    except zlib.error:
        raise ImageError(f"{path}: corrupt image (the compressed pixel data is damaged)"
                         ) from None
    if have < expected:
        raise ImageError(f"{path}: truncated image: the header says {width}x{height} but the "
                         f"pixel data ends early")
    if have > expected:
        raise ImageError(f"{path}: the header says {width}x{height} but the file holds more "
                         f"pixel data than that (a header that does not match the picture)")
    return header, kept


def _png_raw_length(width: int, height: int, bits: int, interlace: int) -> int:
    """Bytes of filtered scanlines (one filter byte per row) a PNG of this size holds."""
    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if not interlace:
        return rows(width, height)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
              (1, 0, 2, 2), (0, 1, 1, 2))
    return sum(rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy)
               for x0, y0, dx, dy in passes)
