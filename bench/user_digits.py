"""MNIST test digits made to look like the pictures users actually have.

Each digit becomes dark ink on light paper, enlarged to 100-400 px with smooth edges, its
stroke made thicker or thinner, slightly rotated, placed off-centre on a larger canvas, with
paper texture, noise and uneven lighting, in RGB, saved as JPEG at quality 60-95. Everything
is drawn from the generator passed in, so a seed reproduces the whole set.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def _paper(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float in 0..1: tinted paper, a lighting gradient or shadow, and texture."""
    tint = np.array([0.93, 0.91, 0.85]) + rng.uniform(-0.05, 0.05, 3)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 1 - rng.uniform(0.05, 0.35) * (np.cos(angle) * x + np.sin(angle) * y)
    texture = rng.normal(0, 1, (height // 4 + 1, width // 4 + 1))
    texture = np.asarray(Image.fromarray(texture.astype(np.float32), mode="F").resize(
        (width, height), Image.BICUBIC))
    light = gradient * (1 + rng.uniform(0.01, 0.04) * texture)
    return np.clip(tint[None, None, :] * light[..., None], 0, 1)


def user_style(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One 28x28 uint8 MNIST digit (white on black) -> a photo-like RGB picture."""
    size = int(rng.integers(100, 401))
    ink = Image.fromarray(digit).resize((size, size), Image.BICUBIC)
    stroke = int(rng.integers(-1, 3)) * max(1, size // 80)  # thinner, same, or thicker
    if stroke > 0:
        ink = ink.filter(ImageFilter.MaxFilter(2 * stroke + 1))
    elif stroke < 0:
        ink = ink.filter(ImageFilter.MinFilter(2 * -stroke + 1))
    ink = ink.rotate(float(rng.uniform(-12, 12)), resample=Image.BICUBIC, fillcolor=0)
    scale = rng.uniform(1.3, 2.3)
    height, width = int(size * scale * rng.uniform(0.8, 1.1)), int(size * scale)
    canvas = np.zeros((height, width), np.float32)
    top = int(rng.integers(0, max(1, height - size)))
    left = int(rng.integers(0, max(1, width - size)))
    part = np.asarray(ink, np.float32)[:height - top, :width - left] / 255
    canvas[top:top + part.shape[0], left:left + part.shape[1]] = part
    colour = np.array(rng.choice([[0.08, 0.08, 0.1], [0.1, 0.12, 0.35], [0.25, 0.25, 0.27]]))
    colour = colour + rng.uniform(-0.04, 0.04, 3)
    alpha = np.clip(canvas * rng.uniform(0.75, 1.0), 0, 1)[..., None]
    picture = _paper(rng, height, width) * (1 - alpha) + colour * alpha
    picture += rng.normal(0, rng.uniform(0.005, 0.03), picture.shape)  # sensor noise
    image = Image.fromarray(np.clip(picture * 255, 0, 255).astype(np.uint8), "RGB")
    return _jpeg(image, int(rng.integers(60, 96)))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer)


def user_number(digits: list[np.ndarray], rng: np.random.Generator) -> Image.Image:
    """Several 28x28 digits written side by side as one number, user-style."""
    size = int(rng.integers(90, 180))
    gaps = [int(rng.integers(size // 8, size // 3)) for _ in digits]
    width = sum(gaps) + size * len(digits) // 1 + size // 2
    height = int(size * 1.6)
    canvas = np.zeros((height, width), np.float32)
    x = size // 4
    for digit, gap in zip(digits, gaps):
        ink = Image.fromarray(digit).resize((size, size), Image.BICUBIC)
        ink = ink.rotate(float(rng.uniform(-8, 8)), resample=Image.BICUBIC, fillcolor=0)
        array = np.asarray(ink, np.float32) / 255
        lo, hi = np.flatnonzero(array.max(axis=0) > 0.1)[[0, -1]]
        array = array[:, lo:hi + 1]  # advance by the ink's own width, like handwriting
        y = int(rng.integers(size // 8, height - size - size // 8 + 1))
        canvas[y:y + size, x:x + array.shape[1]] = np.maximum(
            canvas[y:y + size, x:x + array.shape[1]], array)
        x += array.shape[1] + gap
    canvas = canvas[:, :x + size // 4]
    alpha = canvas[..., None]
    picture = _paper(rng, *canvas.shape) * (1 - alpha) + np.array([0.1, 0.1, 0.2]) * alpha
    picture += rng.normal(0, 0.015, picture.shape)
    image = Image.fromarray(np.clip(picture * 255, 0, 255).astype(np.uint8), "RGB")
    return _jpeg(image, int(rng.integers(70, 96)))
