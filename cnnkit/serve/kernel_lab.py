"""The kernels page's computation: sample and dropped pictures, kernels from the bank or
typed cell by cell, and the filtered result as ``cnnkit filter`` makes it.

Pictures are held in memory under a name: the samples under fixed names, each dropped picture
under a fresh random token (the last few only). A request names a picture; there is no path
to give, so no request can reach a file.
"""

from __future__ import annotations

import base64
import io
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnnkit.errors import CnnkitError
from cnnkit.imaging.io import Picture
from cnnkit.serve.uploads import UploadError

WORK_PIXELS = 1 << 20  # 1 MP: larger pictures are shrunk for live editing (and told so)
KEEP_UPLOADS = 8
MAX_SIDE = 15  # the largest kernel the page edits cell by cell
RANGES = ("auto", "clip", "abs", "offset", "stretch", "edges")
PNG_LEVEL = 1  # fastest zlib level: ~3x quicker than the default for ~10% more bytes


@dataclass
class Held:
    """A picture ready for filtering, with how it was made."""

    title: str
    picture: Picture
    original: tuple[int, int]  # (width, height) before shrinking


def shrink(picture: Picture, max_pixels: int = WORK_PIXELS) -> Picture:
    """Area-average a picture down to at most ``max_pixels`` (unchanged if already smaller)."""
    height, width = picture.pixels.shape[:2]
    if height * width <= max_pixels:
        return picture
    factor = math.sqrt(max_pixels / (height * width))
    size = (max(1, int(width * factor)), max(1, int(height * factor)))

    def resize(plane: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(plane, mode="F").resize(size, Image.BOX), np.float32)

    pixels = picture.pixels
    small = (resize(pixels) if pixels.ndim == 2 else
             np.stack([resize(np.ascontiguousarray(pixels[..., c])) for c in range(3)], -1))
    alpha = None if picture.alpha is None else resize(picture.alpha)
    return Picture(small, alpha, picture.maxval)


def _samples() -> dict[str, Held]:
    """The pictures the page offers: the package's test card and two drawn here."""
    from importlib.resources import files

    from cnnkit.imaging import io as imaging

    card = imaging.read_image(files("cnnkit") / "assets" / "testcard.png")
    held = {"testcard": Held("test card (512x512)", card, (512, 512))}
    size = 384
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    rings = 127.5 + 127.5 * np.cos(((x - size / 2) ** 2 + (y - size / 2) ** 2) / 900.0)
    held["rings"] = Held("rings (384x384)", Picture(rings.astype(np.float32), None, 255.0),
                         (size, size))
    squares = np.where(((x // 48) + (y // 48)) % 2 == 0, 40.0, 215.0).astype(np.float32)
    squares[96:288, 96:288] = 128.0  # a flat patch: blurs keep it, edge kernels give 0
    held["squares"] = Held("squares (384x384)", Picture(squares, None, 255.0), (size, size))
    return held


class PictureStore:
    """The samples plus the last ``KEEP_UPLOADS`` dropped pictures, by name."""

    def __init__(self):
        self._samples = _samples()
        self._uploads: OrderedDict[str, Held] = OrderedDict()
        self._lock = threading.Lock()

    def samples(self) -> list[dict]:
        return [{"name": name, "title": held.title} for name, held in self._samples.items()]

    def add(self, picture: Picture, title: str) -> tuple[str, Held]:
        height, width = picture.pixels.shape[:2]
        held = Held(title, shrink(picture), (width, height))
        token = "u" + secrets.token_hex(8)
        with self._lock:
            self._uploads[token] = held
            while len(self._uploads) > KEEP_UPLOADS:
                self._uploads.popitem(last=False)
        return token, held

    def get(self, name: str) -> Held:
        with self._lock:
            held = self._samples.get(name) or self._uploads.get(name)
        if held is None:
            raise UploadError("that picture is no longer here: pick a sample or drop it "
                              "again", 404)
        return held


def describe_held(name: str, held: Held) -> dict:
    height, width = held.picture.pixels.shape[:2]
    shrunk = (width, height) != held.original
    note = (f"shrunk from {held.original[0]}x{held.original[1]} to {width}x{height} for live "
            f"editing" if shrunk else f"{width}x{height}")
    return {"name": name, "title": held.title, "width": width, "height": height,
            "colour": held.picture.pixels.ndim == 3, "note": note}


def learned_filters(model) -> dict[str, object]:
    """The kernels of the model's one-channel Conv2D layers as filters, by page name
    (``model:conv2d/7``): applied by correlation, as the layer applies them."""
    from cnnkit.imaging.kernels import Filter

    found = {}
    for layer in model.layers:
        weights = layer.params.get("kernel") if layer.kind == "Conv2D" else None
        if weights is None or weights.shape[2] != 1:
            continue  # a kernel reading several channels is no image filter
        for k in range(weights.shape[3]):
            found[f"model:{layer.name}/{k}"] = Filter(f"{layer.name}/{k}",
                                                      (weights[:, :, 0, k].copy(),), op="corr")
    return found


def named_kernel(name: str, learned: dict | None = None) -> dict:
    """A kernel's matrices (two for a gradient pair), its description and its usual op."""
    from cnnkit.imaging import kernels

    flt = (learned or {}).get(name)
    if flt is not None:
        summary = (f"kernel {flt.name.split('/')[1]} the model learned in its "
                   f"{flt.name.split('/')[0]} layer (applied by correlation, as the layer does)")
    else:
        flt = kernels.build(name)
        summary = kernels.lookup(name).summary
    return {"name": flt.name, "summary": summary, "magnitude": flt.magnitude, "op": flt.op,
            "matrices": [m.tolist() for m in flt.kernels]}


def bank() -> list[dict]:
    from cnnkit.imaging import kernels

    return [{"name": spec.name, "summary": spec.summary} for spec in kernels.BANK]


def parse_kernel(spec: dict, learned: dict | None = None):
    """The request's kernel: ``{"name": ...}`` from the bank or ``learned``, or
    ``{"matrix": [[...], ...]}``.

    Returns a kernels.Filter. Raises CnnkitError with what was wrong.
    """
    from cnnkit.imaging import kernels

    if not isinstance(spec, dict):
        raise CnnkitError("the kernel must be given as a name or a matrix")
    if isinstance(spec.get("name"), str):
        name = spec["name"]
        if name.startswith(kernels.MODEL_PREFIX):  # only the served model's, never a path
            if name not in (learned or {}):
                raise CnnkitError(f"the model has no kernel '{name}'")
            return learned[name]
        return kernels.build(name)
    rows = spec.get("matrix")
    if (not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows)
            or len(rows) > MAX_SIDE):
        raise CnnkitError(f"the kernel must be a matrix of at most {MAX_SIDE}x{MAX_SIDE}")
    if len({len(r) for r in rows}) != 1 or len(rows[0]) > MAX_SIDE:
        raise CnnkitError("every row of the kernel must have the same length")
    try:
        matrix = np.array(rows, np.float64)
    except (TypeError, ValueError):
        raise CnnkitError("every kernel cell must be a number") from None
    if not np.all(np.isfinite(matrix)) or np.abs(matrix).max() > 1e6:
        raise CnnkitError("kernel cells must be finite numbers (at most 1e6 in size)")
    if matrix.shape[0] % 2 == 0 or matrix.shape[1] % 2 == 0:
        raise CnnkitError(f"a kernel has odd sides (it has a centre), got "
                          f"{matrix.shape[0]}x{matrix.shape[1]}")
    return kernels.Filter("custom", (matrix.astype(np.float32),))


def _choice(value, choices, what: str) -> str:
    if value not in choices:
        raise CnnkitError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value


def run_filter(held: Held, request: dict, learned: dict | None = None) -> dict:
    """Filter a held picture as the request says; JSON-ready result with a PNG data URL.

    request: kernel (see :func:`parse_kernel`), op conv|corr, border, relu (bool),
    pool (bool: 2x2 max pooling after the filter), range (auto or an imaging range).
    """
    from cnnkit.imaging import io as imaging
    from cnnkit.imaging import kernels
    from cnnkit.imaging.filtering import FilterOptions, apply_filter, display_range
    from cnnkit.ops.filter2d import BORDERS, OPS
    from cnnkit.ops.pool import max_pool

    started = time.perf_counter()
    flt = parse_kernel(request.get("kernel"), learned)
    op = _choice(request.get("op", "conv"), OPS, "op")
    border = _choice(request.get("border", "reflect"), BORDERS, "border")
    mode = _choice(request.get("range", "auto"), RANGES, "range")
    relu, pool = bool(request.get("relu")), bool(request.get("pool"))
    picture = held.picture
    result = apply_filter(picture.pixels, flt, FilterOptions(op=op, border=border, relu=relu))
    if pool:
        if min(result.shape[:2]) < 2:
            raise CnnkitError("the result is too small to pool")
        result = max_pool(result, 2)
    if mode == "auto":
        mode = display_range(flt, relu)
    mapped, stats = imaging.map_range(result, mode, picture.maxval)
    filtered = time.perf_counter()
    pixels = np.rint(mapped * np.float32(255 / picture.maxval)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    done = time.perf_counter()
    facts = kernels.describe(flt.kernel)
    return {
        "image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(),
        "width": int(pixels.shape[1]), "height": int(pixels.shape[0]),
        "kernel": {"name": flt.name, "shape": facts["shape"], "sum": facts["sum"],
                   "zero_sum": facts["zero_sum"], "symmetric": facts["conv_equals_corr"],
                   "magnitude": flt.magnitude},
        "range": mode, "min": stats["min"], "max": stats["max"],
        "clipped": round(stats["clipped"], 3),
        "ms": {"filter": round((filtered - started) * 1000, 2),
               "encode": round((done - filtered) * 1000, 2),
               "total": round((done - started) * 1000, 2)},
    }


def picture_png(held: Held) -> bytes:
    """The held picture itself as PNG (what the page shows beside the result)."""
    pixels = np.clip(np.rint(held.picture.pixels * np.float32(255 / held.picture.maxval)), 0,
                     255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()
