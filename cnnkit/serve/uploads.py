"""Pictures sent by the page: size and pixel limits, decoding, clear messages.

Every failure is an :class:`UploadError` carrying the HTTP status and one sentence the page
shows as it is; nothing a request sends can crash the server or touch a file.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnkit.errors import CnnkitError
from cnnkit.imaging.io import Picture

MAX_BYTES = 20 * 1024 * 1024  # a phone photo is 3-8 MB
MAX_PIXELS = 40_000_000  # 40 MP: above any phone camera; a bomb is refused before decoding
# The formats a browser user drops. Pillow also opens EPS (by running Ghostscript) and other
# rarities; a server has no business decoding those from strangers.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")


class UploadError(CnnkitError):
    """A request the page should explain: ``status`` is the HTTP code to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


async def read_body(request, limit: int = MAX_BYTES) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes.

    The declared Content-Length is checked first, and the stream is counted as it arrives,
    so a client that lies about the length is cut off too.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(_too_big(int(declared), limit), 413)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise UploadError(_too_big(total, limit), 413)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise UploadError("the file is empty: drop a picture (PNG, JPEG, ...)")
    return body


def _too_big(size: int, limit: int) -> str:
    return (f"the file is too large ({size / 2**20:.1f} MB{'+' if size == limit + 1 else ''}); "
            f"the limit is {limit / 2**20:.0f} MB")


def decode(data: bytes, max_pixels: int = MAX_PIXELS, grey: bool = False) -> Picture:
    """Decode an image file's bytes into a :class:`Picture` (8-bit scale, EXIF rotation applied).

    grey : convert colour to one luma channel (what the digit preparation reads)
    Raises UploadError naming the problem: not an image, truncated, too many pixels.
    """
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise UploadError(f"the picture is {width}x{height} ({width * height / 1e6:.1f} "
                                  f"megapixels); the limit is {max_pixels / 1e6:g} megapixels",
                                  413)
            if grey and img.format == "JPEG":
                img.draft("L", img.size)  # decode the luminance only: about twice as fast
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_picture(img, grey)
    except UnidentifiedImageError:
        raise UploadError("this file is not a picture cnnkit can read (PNG, JPEG, GIF, BMP, "
                          "TIFF, WebP or PPM)", 415) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
            Image.DecompressionBombError) as exc:
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        raise UploadError(f"the picture is corrupt or truncated ({reason})", 422) from None


def _to_picture(img: Image.Image, grey: bool) -> Picture:
    """8-bit grey or RGB pixels, float32; transparency kept as alpha (0..255)."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        img.mode == "P" and "transparency" in img.info)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit and float pictures: scale to 8 bits for display and drawing
        values = np.asarray(img, np.float32)
        top = 65535.0 if values.max() > 255 else 255.0
        return Picture(np.clip(values * np.float32(255 / top), 0, 255), None, 255.0)
    is_grey = grey or img.mode in ("1", "L", "LA", "La")
    target = ("LA" if has_alpha else "L") if is_grey else ("RGBA" if has_alpha else "RGB")
    array = np.asarray(img.convert(target), np.float32)
    if not has_alpha:
        return Picture(array, None, 255.0)
    colour = array[..., :-1]
    pixels = colour[..., 0] if is_grey else colour
    return Picture(np.ascontiguousarray(pixels), np.ascontiguousarray(array[..., -1]), 255.0)
