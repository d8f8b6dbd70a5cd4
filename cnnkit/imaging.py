"""Pillow <-> float32 arrays: reading images safely, mapping filter output back to pixels.

Pixel values keep the file's own scale (0-255 for 8-bit, 0-65535 for 16-bit), so a 3x3
Laplacian of an 8-bit image ranges over -1020..1020 and ``--cval``/``--bias`` are in the
units a user sees in an image editor.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnkit import picture_checks as checks
from cnnkit.errors import ImageError
from cnnkit.files import atomic_path
from cnnkit.limits import pixels_text

DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm", ".pbm", ".pnm")
FLOAT_SUFFIXES = (".tif", ".tiff", ".npy")
RANGES = ("clip", "abs", "offset", "stretch", "edges", "float")
EDGES_SATURATED = 0.1  # percent of values the "edges" range lets saturate

# Pillow's own bomb check warns at one limit and raises at twice it; cnnkit checks the
# header against the caller's limit before decoding anything.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Picture:
    """An image as float32 arrays on its own scale.

    pixels : ndarray, shape (H, W) for grey or (H, W, 3) for colour, float32
    alpha : ndarray, shape (H, W), float32, or None
    maxval : 255.0 for 8-bit files, 65535.0 for 16-bit
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    maxval: float

    @property
    def shape(self) -> tuple[int, ...]:
        return self.pixels.shape

    @property
    def bits(self) -> int:
        return 16 if self.maxval > 255 else 8


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, grey: bool = False
               ) -> Picture:
    """Read an image file, refusing anything that is not a complete image under the limit.

    ``grey=True`` converts colour to one grey channel (ITU-R 601 luma) while decoding; a JPEG
    then decodes its luminance only, which is about twice as fast. Raises ImageError naming
    the file and the problem.
    """
    path = Path(path)
    checks.check_readable(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{path}: {width}x{height} is {pixels_text(width * height)}, above the "
                    f"limit of {pixels_text(max_pixels)} (raise it with --max-pixels)")
            checks.check_decode_memory(path, width, height, 1 if grey else len(img.getbands()))
            if grey and img.format == "JPEG":
                img.draft("L", img.size)  # same size, luminance only
            img.load()
            if getattr(img, "format", None) == "PNG":
                wide = _read_png_rgb16(path)
                if wide is not None:
                    return wide
            img = ImageOps.exif_transpose(img)
            picture = _to_picture(img, grey)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file in a format cnnkit reads (PNG, JPEG, BMP, "
                         f"GIF, TIFF, WebP, PNM)") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
            MemoryError, ImageError) as exc:
        if not isinstance(exc, ImageError):
            checks.png_pixel_data(path, keep=False)  # a PNG's own, more precise, message
        raise checks.decode_error(path, exc) from None
    checks.check_finite(path, picture.pixels)
    return picture


def _to_picture(img: Image.Image, force_grey: bool = False) -> Picture:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(img, dtype=np.float32)
        return Picture(np.clip(values, 0, 65535), None, 65535.0)
    if mode == "F":
        return Picture(np.asarray(img, dtype=np.float32), None, 255.0)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode == "P" and "transparency" in img.info)
    grey = force_grey or mode in ("1", "L", "LA", "La", "I;16") or (
        mode == "P" and _palette_is_grey(img))
    target = ("LA" if has_alpha else "L") if grey else ("RGBA" if has_alpha else "RGB")
    array = np.asarray(img.convert(target), dtype=np.float32)
    if has_alpha:
        return Picture(np.ascontiguousarray(array[..., :-1].squeeze(-1) if grey else
                                            array[..., :-1]), array[..., -1].copy(), 255.0)
    return Picture(array, None, 255.0)


def _palette_is_grey(img: Image.Image) -> bool:
    palette = np.asarray(img.getpalette() or [0, 0, 0]).reshape(-1, 3)
    return bool(np.all(palette[:, 0] == palette[:, 1]) and np.all(palette[:, 1] == palette[:, 2]))


def _read_png_rgb16(path: Path) -> Picture | None:
    """Decode a 16-bit RGB/RGBA PNG, which Pillow would cut to 8 bits; None for other PNGs.

    Every PNG passes through here after Pillow decoded it, so the pixel data is also checked
    against the header's size (Pillow ignores data beyond what the header declares).
    """
    data = path.read_bytes()
    wide = data[24:26] == b"\x10\x02" or data[24:26] == b"\x10\x06"  # depth 16, RGB(A)
    found = checks.png_pixel_data(path, data, keep=wide)
    if found is None:
        return None
    header, data = found
    width, height, channels = header["width"], header["height"], header["channels"]
    if header["depth"] != 16 or header["colour"] not in (2, 6):
        return None
    if header["interlace"]:
        raise ImageError(f"{path}: interlaced 16-bit colour PNG is not supported")
    raw = np.frombuffer(data, dtype=np.uint8)
    stride = width * channels * 2
    from cnnkit.ops.png import unfilter_rows

    try:
        rows = unfilter_rows(raw.reshape(height, stride + 1), 2 * channels)
    except ValueError as exc:
        raise ImageError(f"{path}: corrupt image ({exc})") from None
    values = rows.view(">u2").reshape(height, width, channels).astype(np.float32)
    alpha = values[..., 3].copy() if channels == 4 else None
    return Picture(np.ascontiguousarray(values[..., :3]), alpha, 65535.0)


def map_range(values: np.ndarray, mode: str, maxval: float) -> tuple[np.ndarray, dict]:
    """Map raw filter output onto ``[0, maxval]`` and report what happened.

    clip: values outside are cut; abs: magnitude, then cut; offset: zero becomes mid-grey;
    stretch: min..max spread over the full range; edges: magnitude scaled so the brightest
    ``EDGES_SATURATED`` percent saturate (thin edges stay visible next to grain); float: untouched.

    Returns the mapped float32 array and ``{"min", "max", "clipped"}`` of the raw values,
    ``clipped`` being the percentage of values the mapping had to cut.
    """
    if mode not in RANGES:
        raise ValueError(f"range must be one of {', '.join(RANGES)}, got {mode!r}")
    lo, hi = float(values.min()), float(values.max())
    if mode == "abs":
        mapped = np.abs(values)
    elif mode == "offset":
        mapped = values + np.float32((maxval + 1) / 2 if maxval > 1 else maxval / 2)
    elif mode == "stretch":
        span = hi - lo
        scale = np.float32(maxval / span if span > 0 else 0.0)
        mapped = (values - np.float32(lo)) * scale
    elif mode == "edges":
        mapped = np.abs(values)
        top = float(np.percentile(mapped, 100 - EDGES_SATURATED))
        mapped = mapped * np.float32(maxval / top if top > 0 else 0.0)
    else:
        mapped = values
    if mode == "float":
        clipped = 0.0
    else:
        outside = np.count_nonzero((mapped < 0) | (mapped > maxval))
        clipped = 100.0 * outside / mapped.size
        mapped = np.clip(mapped, 0, maxval)
    return mapped.astype(np.float32, copy=False), {"min": lo, "max": hi, "clipped": clipped}


def write_image(path: Path, pixels: np.ndarray, maxval: float, alpha: np.ndarray | None = None,
                *, force: bool = False) -> None:
    """Write pixels (already on ``[0, maxval]``) atomically; ``.npy``/float TIFF write raw floats.

    pixels : ndarray, shape (H, W) or (H, W, 3), float32
    alpha : ndarray, shape (H, W), or None; dropped for formats that cannot hold it (JPEG, BMP)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path, force=force) as tmp:
        if suffix == ".npy":
            np.save(tmp, np.ascontiguousarray(pixels, dtype=np.float32))
            return
        _to_pil(pixels, maxval, alpha, suffix).save(tmp, format=_FORMATS.get(suffix))


def write_float(path: Path, values: np.ndarray, *, force: bool = False) -> None:
    """Write raw float32 values: ``.npy`` for any shape, TIFF (mode F) for one channel."""
    path = Path(path)
    suffix = path.suffix.lower()
    check_output_suffix(path, raw=True)
    if suffix != ".npy" and values.ndim == 3:
        raise ImageError(f"{path}: a float TIFF holds one channel; use .npy for colour images")
    with atomic_path(path, force=force) as tmp:
        if suffix == ".npy":
            np.save(tmp, np.ascontiguousarray(values, dtype=np.float32))
        else:
            Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F").save(
                tmp, format="TIFF")


_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF",
            ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".ppm": "PPM", ".pgm": "PPM",
            ".pnm": "PPM"}
_NO_ALPHA = (".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm")


def check_output_suffix(path: Path, raw: bool = False) -> None:
    """Raise ImageError unless cnnkit can write an image (``raw``: float values) to ``path``."""
    suffix = Path(path).suffix.lower()
    if raw:
        if suffix not in FLOAT_SUFFIXES:
            raise ImageError(f"{path}: --range float writes .tiff or .npy, got "
                             f"'{suffix or 'no suffix'}'")
        return
    if suffix not in _FORMATS and suffix != ".npy":
        choices = ", ".join(sorted(set(_FORMATS) | {".npy"}))
        raise ImageError(f"{path}: cannot write '{suffix or 'no suffix'}' files "
                         f"(use one of {choices})")


def _to_pil(pixels: np.ndarray, maxval: float, alpha: np.ndarray | None, suffix: str):
    """An 8-bit Pillow image, or a 16-bit one (grey, or colour as our own PNG) when both the
    source and the format allow."""
    keep_alpha = alpha is not None and suffix not in _NO_ALPHA
    channels = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(pixels.shape[2])]
    if keep_alpha:
        channels.append(alpha)
    stacked = np.stack(channels, axis=-1) if len(channels) > 1 else channels[0]
    if maxval > 255 and suffix in (".png", ".tif", ".tiff"):
        wide = np.rint(stacked).astype(np.uint16)
        if wide.ndim == 2:
            return Image.fromarray(wide)
        if suffix == ".png":
            return _Png16(wide)
    array = np.clip(np.rint(stacked * np.float32(255.0 / maxval)), 0, 255).astype(np.uint8)
    return Image.fromarray(array, mode="LA") if len(channels) == 2 else Image.fromarray(array)


class _Png16:
    """A 16-bit colour PNG, which Pillow cannot write: unfiltered rows, zlib, three chunks."""

    def __init__(self, values: np.ndarray):
        self.values = values  # (H, W, 2|3|4) uint16

    def save(self, path, format=None):
        height, width, channels = self.values.shape
        colour = {2: 4, 3: 2, 4: 6}[channels]
        rows = self.values.astype(">u2").reshape(height, width * channels).view(np.uint8)
        raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
        with open(path, "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\n")
            header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
            for kind, body in ((b"IHDR", header),
                               (b"IDAT", zlib.compress(raw, 6)), (b"IEND", b"")):
                fh.write(struct.pack(">I", len(body)) + kind + body)
                fh.write(struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def side_by_side(left: np.ndarray, right: np.ndarray, fill: float, gap: int = 8) -> np.ndarray:
    """Join two images (each (H, W) or (H, W, 3), on one scale) on a strip of value ``fill``.

    The shorter one is centred vertically; grey and colour mix by repeating the grey.
    """
    if left.ndim != right.ndim:
        left, right = (np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a
                       for a in (left, right))
    height = max(left.shape[0], right.shape[0])
    width = left.shape[1] + gap + right.shape[1]
    canvas = np.full((height, width) + left.shape[2:], fill, dtype=np.float32)
    for array, x0 in ((left, 0), (right, left.shape[1] + gap)):
        y0 = (height - array.shape[0]) // 2
        canvas[y0:y0 + array.shape[0], x0:x0 + array.shape[1]] = array
    return canvas
