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

from cnnkit.imaging import picture_checks as checks
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


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, grey: bool = False,
               *, native: bool = False, light: bool = False) -> Picture:
    """Read an image file, refusing anything that is not a complete image under the limit.

    ``grey=True`` converts colour to one grey channel (ITU-R 601 luma) while decoding; a JPEG
    then decodes its luminance only, which is about twice as fast. ``native=True`` keeps
    8- and 16-bit pixels (and alpha) as uint8/uint16 arrays instead of float32, a quarter or
    half the memory (float files stay float32). ``light=True``: the caller may finish
    without Numba (``ops/light.py``), so a small 8-bit PNG is decoded by Pillow rather than
    by cnnkit's reader, whose row filters are Numba kernels. ``path`` may be ``-`` for
    standard input.
    Raises ImageError naming the file and the problem.
    """
    if str(path) == "-":
        return _read_stdin(max_pixels, grey, native, light)
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
            if getattr(img, "format", None) == "PNG":  # before Pillow decodes it to 8 bits
                from cnnkit.imaging.png_reading import read_png

                own = read_png(path, grey, native, light)
                if own is not None:
                    return own
            img.load()
            if img.getexif().get(_ORIENTATION, 1) != 1:  # else Pillow would copy it
                img = ImageOps.exif_transpose(img)
            picture = _to_picture(img, grey, native)
            float_file = img.mode == "F"  # only float files can hold NaN or infinity
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file in a format cnnkit reads (PNG, JPEG, BMP, "
                         f"GIF, TIFF, WebP, PNM)") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
            MemoryError, ImageError) as exc:
        if not isinstance(exc, ImageError):
            checks.png_pixel_data(path, keep=False)  # a PNG's own, more precise, message
        raise checks.decode_error(path, exc) from None
    if float_file:
        checks.check_finite(path, picture.pixels)
    return picture


_ORIENTATION = 0x0112  # the EXIF tag


def _read_stdin(max_pixels: int, grey: bool, native: bool, light: bool) -> Picture:
    """Read a picture piped to standard input, through a temporary file (so the same checks
    and decoders apply; Pillow needs to seek)."""
    import shutil
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(prefix="cnnkit-stdin-") as tmp:
        shutil.copyfileobj(sys.stdin.buffer, tmp)
        tmp.flush()
        try:
            return read_image(Path(tmp.name), max_pixels, grey, native=native, light=light)
        except ImageError as exc:
            raise ImageError(str(exc).replace(tmp.name, "standard input", 1)) from None


def _to_picture(img: Image.Image, force_grey: bool = False, native: bool = False) -> Picture:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N") and native:
        return Picture(_strips(img).astype(np.uint16, copy=False), None, 65535.0)
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
    if native:  # no float32 copy, and no converted copy when the mode already fits
        array = _strips(img if img.mode == target else img.convert(target))
        if not has_alpha:
            return Picture(array, None, 255.0)
        colour = array[..., :-1].squeeze(-1) if grey else array[..., :-1]
        return Picture(np.ascontiguousarray(colour), np.ascontiguousarray(array[..., -1]),
                       255.0)
    array = np.asarray(img.convert(target), dtype=np.float32)
    if has_alpha:
        return Picture(np.ascontiguousarray(array[..., :-1].squeeze(-1) if grey else
                                            array[..., :-1]), array[..., -1].copy(), 255.0)
    return Picture(array, None, 255.0)


def _strips(img: Image.Image, strip_bytes: int = 1 << 22) -> np.ndarray:
    """``np.asarray(img)`` a strip of rows at a time.

    numpy's view of a Pillow image goes through ``tobytes()``, which holds the pixels twice
    more (the encoded pieces and their join); strips keep that to a few megabytes.
    """
    width, height = img.size
    first = np.asarray(img.crop((0, 0, width, min(height, 1))))
    step = max(1, strip_bytes // max(1, first.nbytes))
    if step >= height:
        return np.asarray(img)
    array = np.empty((height,) + first.shape[1:], first.dtype)
    for top in range(0, height, step):
        bottom = min(height, top + step)
        array[top:bottom] = np.asarray(img.crop((0, top, width, bottom)))
    return array


def _palette_is_grey(img: Image.Image) -> bool:
    palette = np.asarray(img.getpalette() or [0, 0, 0]).reshape(-1, 3)
    return bool(np.all(palette[:, 0] == palette[:, 1]) and np.all(palette[:, 1] == palette[:, 2]))


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
                *, force: bool = False, compression: str = "fast", fmt: str | None = None
                ) -> None:
    """Write pixels (already on ``[0, maxval]``) atomically; ``.npy``/float TIFF write raw floats.

    pixels : ndarray, shape (H, W) or (H, W, 3), float32
    alpha : ndarray, shape (H, W), or None; dropped for formats that cannot hold it (JPEG, BMP)
    compression, fmt : as ``write_pixels``
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy" and fmt is None:
        with atomic_path(path, force=force) as tmp:
            np.save(tmp, np.ascontiguousarray(pixels, dtype=np.float32))
        return
    fmt = fmt or _FORMATS.get(suffix)
    if alpha is not None and fmt in _NO_ALPHA_FORMATS:
        alpha = None
    wide = maxval > 255 and holds_16bit(fmt, pixels.ndim == 3 or alpha is not None)

    def rounded(values):
        if wide:
            return np.rint(values).astype(np.uint16)
        return np.clip(np.rint(values * np.float32(255.0 / maxval)), 0, 255).astype(np.uint8)

    write_pixels(path, rounded(pixels), None if alpha is None else rounded(alpha), force=force,
                 compression=compression, fmt=fmt)


def holds_16bit(fmt: str | None, colour_or_alpha: bool) -> bool:
    """Whether cnnkit writes 16 bits per value in this format: PNG always, TIFF for grey."""
    return fmt == "PNG" or (fmt == "TIFF" and not colour_or_alpha)


def output_format(path: Path, fmt: str | None = None) -> str:
    """The format to write: ``fmt`` (a name like ``png``) or the one ``path``'s suffix names.

    Raises ImageError for an unknown name, or for ``-`` (standard output) without ``fmt``.
    """
    if fmt:
        name = fmt.lower().lstrip(".")
        if f".{name}" not in _FORMATS:
            raise ImageError(f"--format: cannot write '{fmt}' (use one of "
                             f"{', '.join(sorted({s.lstrip('.') for s in _FORMATS}))})")
        return _FORMATS[f".{name}"]
    if str(path) == "-":
        raise ImageError("writing to standard output (-o -) needs --format, e.g. --format png")
    check_output_suffix(path)
    return _FORMATS.get(Path(path).suffix.lower(), "NPY")


def write_pixels(path: Path, pixels: np.ndarray, alpha: np.ndarray | None = None, *,
                 force: bool = False, compression: str = "fast", fmt: str | None = None,
                 threads: int | None = None) -> None:
    """Write integer pixels atomically, or to standard output when ``path`` is ``-``.

    pixels : ndarray, shape (H, W) or (H, W, 3), uint8, or uint16 on 0-65535 (written with 16
        bits where the format holds them, else rounded to 8)
    alpha : ndarray, shape (H, W), same dtype, or None
    compression : PNG only: "fast" (zlib level 1, the default) or "small" (level 9)
    fmt : a Pillow format name ("PNG", "JPEG", ...); default from the suffix
    threads : PNG deflate threads (default: one per core)
    """
    from cnnkit.imaging.encode import png_bytes

    if pixels.dtype not in (np.uint8, np.uint16) or not (
            pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ValueError(f"pixels must be (H, W) or (H, W, 3) uint8/uint16, got "
                         f"{pixels.shape} {pixels.dtype}")
    fmt = fmt or _FORMATS.get(Path(path).suffix.lower())
    if alpha is not None and fmt in _NO_ALPHA_FORMATS:
        alpha = None
    if pixels.dtype == np.uint16 and not holds_16bit(fmt, pixels.ndim == 3 or alpha is not None):
        pixels, alpha = (None if a is None else np.clip(np.rint(
            a.astype(np.float32) * np.float32(255.0 / 65535.0)), 0, 255).astype(np.uint8)
            for a in (pixels, alpha))
    if fmt == "PNG":
        pieces = png_bytes(pixels, alpha, compression, threads)
    else:
        pieces = [_pillow_bytes(pixels, alpha, fmt)]
    if str(path) == "-":
        import sys

        for piece in pieces:
            sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
        return
    with atomic_path(Path(path), force=force) as tmp, open(tmp, "wb") as fh:
        for piece in pieces:
            fh.write(piece)


def _pillow_bytes(pixels: np.ndarray, alpha: np.ndarray | None, fmt: str) -> bytes:
    import io

    if alpha is not None:
        array = np.concatenate([pixels.reshape(pixels.shape[:2] + (-1,)), alpha[..., None]],
                               axis=2)
        image = Image.fromarray(array, mode="LA") if array.shape[2] == 2 else \
            Image.fromarray(array)
    else:
        image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


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
_NO_ALPHA_FORMATS = ("JPEG", "BMP", "PPM")


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
