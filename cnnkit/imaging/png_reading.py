"""PNGs decoded by cnnkit from the one inflate that checks them (``picture_checks``).

Every PNG's pixel data is inflated by cnnkit to check it against the header (Pillow ignores
data beyond what the header declares). For plain 8- and 16-bit non-interlaced PNGs that one
inflate is also the decoding: the rows are unfiltered here (``ops/png.py``) instead of being
inflated a second time by Pillow. The pixels are Pillow's, bit for bit
(tests/test_png_reader.py). 16-bit colour, which Pillow would cut to 8 bits, keeps its 16 bits.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

from cnnkit.errors import ImageError
from cnnkit.imaging import io
from cnnkit.imaging import picture_checks as checks
from cnnkit.imaging.io import Picture

# (depth, colour type) of the non-interlaced PNGs decoded here from the one inflate that
# checks the data against the header; the rest (palette, 1-4 bits, 16-bit grey+alpha,
# interlaced) is left to Pillow.
_OWN_PNG = {(8, 0), (8, 2), (8, 4), (8, 6), (16, 0), (16, 2), (16, 6)}


def _png_kind(data: bytes) -> tuple[int, int, int] | None:
    """(depth, colour type, interlace) from a PNG's IHDR; None if ``data`` is no PNG."""
    if data[:8] != checks.PNG_MAGIC or len(data) < 29:
        return None
    return data[24], data[25], data[28]


def _has_exif(data: bytes) -> bool:
    """Whether a PNG may carry an EXIF orientation (an eXIf chunk, or ImageMagick's raw
    profile in a text chunk): Pillow then decodes it, to turn it as it does other files."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"eXIf" or (kind in (b"tEXt", b"zTXt", b"iTXt")
                               and b"exif" in data[pos + 8:pos + 8 + min(length, 80)].lower()):
            return True
        if kind == b"IEND":
            break
        pos += 12 + length
    return False


def _pillow_pays(data: bytes, kind: tuple[int, int, int]) -> bool:
    """Whether Pillow should decode this 8-bit PNG (inflating it a second time) so that a
    small picture's command need not start Numba for the row filters (``light``)."""
    from cnnkit.ops import light

    width, height = struct.unpack(">II", data[16:24])
    channels = {0: 1, 2: 3, 4: 1, 6: 3}[kind[1]]  # without alpha, as the filter counts
    return kind[0] == 8 and light.numpy_pays(width * height * channels)


def read_png(path: Path, grey: bool = False, native: bool = False, light: bool = False
             ) -> Picture | None:
    """Decode a plain 8- or 16-bit PNG from the inflate that checks it; None to let Pillow
    decode (after the check) the PNGs it reads as cnnkit wants them.

    Every PNG passes through here before Pillow decodes it, so the pixel data is always
    checked against the header's size (Pillow ignores data beyond what the header
    declares). The pixels are those Pillow gives, bit for bit (tests/test_imaging.py);
    16-bit colour, which Pillow would cut to 8 bits, keeps its 16 bits. ``light``: the
    caller may finish without Numba, see :func:`_pillow_pays`.
    """
    data = path.read_bytes()
    kind = _png_kind(data)
    own = (kind is not None and (kind[0], kind[1]) in _OWN_PNG and not kind[2]
           and not _has_exif(data) and not (light and _pillow_pays(data, kind)))
    wide_colour = kind is not None and kind[0] == 16 and kind[1] in (2, 6)
    found = checks.png_pixel_data(path, data, keep=own)
    del data
    if found is None:
        return None
    header, raw = found
    if wide_colour and header["interlace"]:
        raise ImageError(f"{path}: interlaced 16-bit colour PNG is not supported")
    if not own:
        return None
    width, height, channels = header["width"], header["height"], header["channels"]
    depth, colour = header["depth"], header["colour"]
    size = depth // 8
    stride = width * channels * size
    from cnnkit.ops.png import unfilter_rows

    try:
        rows = unfilter_rows(np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1),
                             channels * size)
    except ValueError as exc:
        raise ImageError(f"{path}: corrupt image ({exc})") from None
    del raw
    if size == 2:
        values = rows.view(">u2").reshape(height, width, channels)
        values = values.astype(np.uint16 if native else np.float32)
        if colour == 0:
            return Picture(values[..., 0], None, 65535.0)
        alpha = values[..., 3].copy() if channels == 4 else None
        return Picture(np.ascontiguousarray(values[..., :3]), alpha, 65535.0)
    pixels = rows.reshape(height, width, channels)
    if grey and colour in (2, 6):  # Pillow's own RGB -> L rounding
        mode = "RGB" if colour == 2 else "RGBA"
        return io._to_picture(Image.fromarray(pixels, mode), True, native)
    if not native:
        pixels = pixels.astype(np.float32)
    alpha = None
    if colour in (4, 6):
        alpha = np.ascontiguousarray(pixels[..., -1])
        pixels = pixels[..., :-1]
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return Picture(np.ascontiguousarray(pixels), alpha, 255.0)
