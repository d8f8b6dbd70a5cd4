"""One picture file's bytes -> a uint8 array of a fixed size and colour.

Called from worker threads (Pillow releases the GIL while it decodes and resizes). A picture
that cannot be used is not an exception here but a short reason string, so a folder of
thousands is read to the end and the bad ones are counted.

Fitting a picture to the size:

* ``pad`` (the default): scale to fit inside, keep the proportions, fill the rest with the
  picture's own border colour. Nothing is cut off and nothing is distorted, which matters
  most for what users bring (a tall "1", a wide photo of a cat); a border of the picture's
  own colour adds no edge for the network to learn.
* ``stretch``: scale each side on its own (Keras's default); distorts the shape.
* ``crop``: scale to cover and cut the middle out; loses what is near the edges.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FITS = ("pad", "stretch", "crop")


def decode_picture(data: bytes, size: tuple[int, int], color: str, fit: str,
                   max_pixels: int, path: Path | None = None, preparer=None):
    """Decode and fit one picture.

    Returns ``(array, (width, height), mode)`` with ``array`` uint8 of shape ``size`` (grey)
    or ``size + (3,)`` (rgb), the picture's own size and Pillow mode; or a reason string.
    ``preparer(path, max_pixels)`` replaces all of this when given (``--prepare digits``:
    :func:`cnnkit.digits.from_file.digit_from_file`, passed in by the caller).
    """
    if preparer is not None:
        return preparer(path, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > max_pixels:
                return (f"{width}x{height} is above the limit of {max_pixels:,} pixels "
                        f"(raise it with --max-pixels)")
            mode = img.mode
            if color == "grey" and img.format == "JPEG":
                img.draft("L", img.size)  # luminance only: about twice as fast
            img.load()
            img = ImageOps.exif_transpose(img)
            array = _fit(_flatten(img, color), size, fit)
    except UnidentifiedImageError:
        return "not a picture in a format cnnkit reads"
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        text = str(exc).strip().splitlines()
        return f"damaged picture ({text[0][:80] if text else type(exc).__name__})"
    return array, (width, height), mode


def _flatten(img: Image.Image, color: str) -> Image.Image:
    """Grey ("L") or "RGB"; transparent areas become white paper, as ``predict`` sees them."""
    target = "L" if color == "grey" else "RGB"
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16-bit or float grey
        values = np.asarray(img, np.float32)
        top = 65535.0 if img.mode.startswith("I") and values.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, rgba)
    return img if img.mode == target else img.convert(target)


def _fit(img: Image.Image, size: tuple[int, int], fit: str) -> np.ndarray:
    height, width = size
    w, h = img.size
    if (w, h) == (width, height):
        return np.asarray(img, np.uint8)
    if fit == "stretch":
        return np.asarray(img.resize((width, height), Image.BILINEAR), np.uint8)
    if fit == "crop":
        return np.asarray(ImageOps.fit(img, (width, height), Image.BILINEAR), np.uint8)
    scale = min(width / w, height / h)
    inner = (max(1, round(w * scale)), max(1, round(h * scale)))
    fill = _border_colour(np.asarray(img))
    canvas = Image.new(img.mode, (width, height), fill)
    canvas.paste(img.resize(inner, Image.BILINEAR),
                 ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return np.asarray(canvas, np.uint8)


def _border_colour(pixels: np.ndarray):
    """The median of the outermost pixels: the picture's background, in its mode's terms."""
    edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    median = np.median(edge, axis=0)
    return int(median) if np.ndim(median) == 0 else tuple(int(v) for v in median)
