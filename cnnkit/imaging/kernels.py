"""The named-kernel bank, custom kernel parsing, and the registry the CLI looks names up in.

Every matrix here is written for correlation, the way it is printed; ``cnnkit filter`` uses
convolution by default, which flips it (this matters only for asymmetric kernels such as
emboss and Sobel). Gradient pairs (``sobel``, ``prewitt``, ``scharr``) are two kernels whose
results are combined as a magnitude, ``sqrt(gx**2 + gy**2)``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnkit.errors import KernelError
from cnnkit.imaging.kernel_text import (  # noqa: F401  (parse_matrix, load_matrix: re-exported)
    MAX_SIZE,
    finite32,
    load_matrix,
    parse_matrix,
)

DIRECTIONS = ("n", "ne", "e", "se", "s", "sw", "w", "nw")
_DIRECTION_VECTORS = {  # (dy, dx), y pointing down the image
    "n": (-1, 0), "ne": (-1, 1), "e": (0, 1), "se": (1, 1),
    "s": (1, 0), "sw": (1, -1), "w": (0, -1), "nw": (-1, -1),
}


@dataclass(frozen=True)
class Filter:
    """What a kernel name resolves to: one matrix, or a gradient pair combined as a magnitude.

    kernels : tuple of ndarray, each (kh, kw) float32
    """

    name: str
    kernels: tuple[np.ndarray, ...]
    magnitude: bool = False
    op: str = "conv"  # how the CLI applies it unless told: learned kernels are correlations

    @property
    def kernel(self) -> np.ndarray:
        """The single matrix (for a gradient pair, the x kernel)."""
        return self.kernels[0]


@dataclass(frozen=True)
class KernelSpec:
    """A named kernel: its builder and the parameters the builder accepts."""

    name: str
    summary: str
    build: Callable[..., tuple[np.ndarray, ...]]
    params: tuple[str, ...] = ()
    magnitude: bool = False
    aliases: tuple[str, ...] = field(default=())


def _matrix(rows) -> np.ndarray:
    return finite32(np.array(rows, dtype=np.float64), "kernel values")


MAX_SIGMA = (MAX_SIZE - 1) / 6  # 2*ceil(3*sigma)+1 <= MAX_SIZE
MAX_AMOUNT = 1000.0


def _odd_size(size: int | None, default: int) -> int:
    size = default if size is None else int(size)
    if size < 1 or size % 2 == 0:
        raise KernelError(f"--size must be a positive odd number, got {size}")
    if size > MAX_SIZE:
        raise KernelError(f"--size {size} is above the largest kernel, {MAX_SIZE}x{MAX_SIZE}")
    return size


def _size_for_sigma(sigma: float) -> int:
    """Odd size covering +-3 sigma, where the Gaussian has fallen below 1.2% of its peak."""
    return 2 * math.ceil(3 * sigma) + 1


def _positive_sigma(sigma: float | None, default: float, size: int | None = None) -> float:
    sigma = default if sigma is None else float(sigma)
    if not sigma > 0 or not math.isfinite(sigma):
        raise KernelError(f"--sigma must be a positive number, got {sigma}")
    if size is None and sigma > MAX_SIGMA:
        side = _size_for_sigma(sigma)
        side = f"{side}" if side < 10**6 else f"{float(side):.3g}"
        raise KernelError(f"--sigma {sigma:g} needs a {side}x{side} kernel, above the "
                          f"largest, {MAX_SIZE}x{MAX_SIZE}: use --sigma {MAX_SIGMA:.1f} or "
                          f"less (or give --size)")
    return sigma


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    half = size // 2
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    return y.astype(np.float64), x.astype(np.float64)


def gaussian(sigma: float | None = None, size: int | None = None) -> np.ndarray:
    """Normalised Gaussian, shape (size, size); size defaults to 2*ceil(3*sigma) + 1."""
    sigma = _positive_sigma(sigma, 1.0, size)
    size = _odd_size(size, _size_for_sigma(sigma))
    y, x = _grid(size)
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return (g / g.sum()).astype(np.float32)


def laplacian_of_gaussian(sigma: float | None = None, size: int | None = None) -> np.ndarray:
    """Laplacian of Gaussian, zero-sum, negative centre like ``laplacian``.

    The sampled LoG does not sum to exactly zero; subtracting the mean makes a flat region
    map to exactly 0, as a second-derivative filter should.
    """
    sigma = _positive_sigma(sigma, 1.4, size)
    size = _odd_size(size, _size_for_sigma(sigma))
    y, x = _grid(size)
    r2 = (x * x + y * y) / (2 * sigma * sigma)
    log = -(1 - r2) * np.exp(-r2) / (math.pi * sigma**4)
    return (log - log.mean()).astype(np.float32)


def box(size: int | None = None) -> np.ndarray:
    size = _odd_size(size, 3)
    return np.full((size, size), 1.0 / (size * size), dtype=np.float32)


def identity(size: int | None = None) -> np.ndarray:
    size = _odd_size(size, 3)
    k = np.zeros((size, size), dtype=np.float32)
    k[size // 2, size // 2] = 1
    return k


def unsharp(sigma: float | None = None, size: int | None = None, amount: float | None = None):
    """``identity + amount * (identity - gaussian)``: adds back the detail a blur removes."""
    blur = gaussian(sigma, size)
    amount = 1.0 if amount is None else float(amount)
    if not math.isfinite(amount) or abs(amount) > MAX_AMOUNT:
        raise KernelError(f"--amount must be a number from -{MAX_AMOUNT:g} to {MAX_AMOUNT:g}, "
                          f"got {amount:g}")
    ident = identity(blur.shape[0])
    return (ident + amount * (ident - blur)).astype(np.float32)


def emboss(direction: str | None = None, size: int | None = None) -> np.ndarray:
    """Relief lit from the side opposite ``direction``; sums to 1 so mean brightness stays.

    Off-centre weights are the dot product of the offset with the direction, so the classic
    ``-2 -1 0 / -1 1 1 / 0 1 2`` is direction ``se``.
    """
    direction = (direction or "se").lower()
    if direction not in _DIRECTION_VECTORS:
        raise KernelError(_unknown("direction", direction, DIRECTIONS))
    size = _odd_size(size, 3)
    dy, dx = _DIRECTION_VECTORS[direction]
    y, x = _grid(size)
    k = y * dy + x * dx
    k[size // 2, size // 2] = 1
    return k.astype(np.float32)


def motion(size: int | None = None, direction: str | None = None) -> np.ndarray:
    """A line of ``size`` equal weights along ``direction`` (e/w horizontal, n/s vertical)."""
    direction = (direction or "e").lower()
    if direction not in _DIRECTION_VECTORS:
        raise KernelError(_unknown("direction", direction, DIRECTIONS))
    size = _odd_size(size, 9)
    dy, dx = _DIRECTION_VECTORS[direction]
    k = np.zeros((size, size), dtype=np.float32)
    half = size // 2
    for t in range(-half, half + 1):
        k[half + t * dy, half + t * dx] = 1
    return k / k.sum()


def _pair(gx_rows) -> tuple[np.ndarray, np.ndarray]:
    gx = _matrix(gx_rows)
    return gx, np.ascontiguousarray(gx.T)


SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
PREWITT_X = [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]
SCHARR_X = [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]
LAPLACIAN = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
LAPLACIAN8 = [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
SHARPEN = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]


def _fixed(rows) -> Callable[[], tuple[np.ndarray]]:
    return lambda: (_matrix(rows),)


def _one(builder) -> Callable[..., tuple[np.ndarray]]:
    return lambda **params: (builder(**params),)


BANK: tuple[KernelSpec, ...] = (
    KernelSpec("identity", "passes the image through unchanged", _one(identity), ("size",)),
    KernelSpec("laplacian", "4-neighbour Laplacian: edges in every direction, zero-sum",
               _fixed(LAPLACIAN)),
    KernelSpec("laplacian8", "8-neighbour Laplacian (negated): brighter edges, zero-sum",
               _fixed(LAPLACIAN8)),
    KernelSpec("log", "Laplacian of Gaussian: edges at the scale of sigma, zero-sum",
               _one(laplacian_of_gaussian), ("sigma", "size")),
    KernelSpec("box", "box blur: mean of a size x size window", _one(box), ("size",),
               aliases=("blur",)),
    KernelSpec("gaussian", "Gaussian blur of standard deviation sigma", _one(gaussian),
               ("sigma", "size")),
    KernelSpec("sharpen", "sharpen: centre minus its 4 neighbours", _fixed(SHARPEN)),
    KernelSpec("unsharp", "unsharp mask: adds back amount x (image - gaussian blur)",
               _one(unsharp), ("sigma", "size", "amount")),
    KernelSpec("emboss", "relief lit from one side, mean brightness kept", _one(emboss),
               ("direction", "size")),
    KernelSpec("motion", "motion blur along a direction", _one(motion), ("size", "direction")),
    KernelSpec("sobel-x", "Sobel horizontal gradient (vertical edges)", _fixed(SOBEL_X)),
    KernelSpec("sobel-y", "Sobel vertical gradient (horizontal edges)",
               _fixed(np.array(SOBEL_X).T)),
    KernelSpec("sobel", "Sobel gradient magnitude sqrt(gx^2 + gy^2)",
               lambda: _pair(SOBEL_X), magnitude=True),
    KernelSpec("prewitt-x", "Prewitt horizontal gradient", _fixed(PREWITT_X)),
    KernelSpec("prewitt-y", "Prewitt vertical gradient", _fixed(np.array(PREWITT_X).T)),
    KernelSpec("prewitt", "Prewitt gradient magnitude", lambda: _pair(PREWITT_X),
               magnitude=True),
    KernelSpec("scharr-x", "Scharr horizontal gradient (better rotation symmetry)",
               _fixed(SCHARR_X)),
    KernelSpec("scharr-y", "Scharr vertical gradient", _fixed(np.array(SCHARR_X).T)),
    KernelSpec("scharr", "Scharr gradient magnitude", lambda: _pair(SCHARR_X), magnitude=True),
    KernelSpec("outline", "outline: the 8-neighbour edge detector of image editors "
               "(same matrix as laplacian8)", _fixed(LAPLACIAN8), aliases=("edge",)),
)

_BY_NAME = {name: spec for spec in BANK for name in (spec.name, *spec.aliases)}
PARAMETERS = ("size", "sigma", "direction", "amount")


def names() -> list[str]:
    """Every accepted kernel name, aliases included, sorted."""
    return sorted(_BY_NAME)


def lookup(name: str) -> KernelSpec:
    """The spec for ``name`` (case-insensitive); unknown names suggest the closest match."""
    spec = _BY_NAME.get(name.lower())
    if spec is None:
        raise KernelError(_unknown("kernel", name, names()))
    return spec


def build(name: str, **params) -> Filter:
    """Resolve a kernel name and its parameters (None means the kernel's default).

    ``model:conv/7`` names a learned kernel (see :func:`learned`). Raises KernelError for an
    unknown name or a parameter the kernel does not take.
    """
    given = {k: v for k, v in params.items() if v is not None}
    if name.lower().startswith(MODEL_PREFIX):
        if given:
            raise KernelError(f"{name}: a learned kernel takes no --{sorted(given)[0]}")
        return learned(name)
    spec = lookup(name)
    unused = sorted(set(given) - set(spec.params))
    if unused:
        takes = ", ".join(f"--{p}" for p in spec.params) or "no parameters"
        raise KernelError(f"kernel '{spec.name}' does not take --{unused[0]} (it takes {takes})")
    return Filter(spec.name, tuple(spec.build(**given)), spec.magnitude)


MODEL_PREFIX = "model:"


def learned(name: str) -> Filter:
    """A kernel the CNN learned: ``model:conv/7`` is kernel 7 of the bundled model's first
    Conv2D layer, ``model:PATH:conv2d/7`` that of the model file PATH (the layer may be named
    as ``cnnkit summary`` prints it).

    The matrix is the layer's weights exactly; it is applied as the layer applies it, by
    correlation, to pixels in the image's own units (the model scales pixels to 0..1 and
    adds a bias, so a feature map equals this filter's output / 255 + bias).
    """
    from cnnkit.nn.io import BUNDLED_MODEL, load_model

    rest = name[len(MODEL_PREFIX):]
    path, _, spec = rest.rpartition(":")
    layer_name, slash, index_text = spec.partition("/")
    if not slash or not index_text.isdigit():
        raise KernelError(f"{name}: expected model:LAYER/INDEX, e.g. model:conv/7")
    model, _ = load_model(Path(path) if path else BUNDLED_MODEL)
    convs = [layer for layer in model.layers if layer.kind == "Conv2D"]
    if layer_name.lower() == "conv" and convs:
        layer = convs[0]
    else:
        layer = next((c for c in convs if c.name == layer_name.lower()), None)
        if layer is None:
            choices = ["conv"] + [c.name for c in convs]
            raise KernelError(_unknown("conv layer", layer_name, choices))
    weights = layer.params["kernel"]  # (kh, kw, channels, filters)
    index = int(index_text)
    if index >= weights.shape[3]:
        raise KernelError(f"{name}: {layer.name} has {weights.shape[3]} kernels "
                          f"(0-{weights.shape[3] - 1})")
    if weights.shape[2] != 1:
        raise KernelError(f"{name}: {layer.name} reads {weights.shape[2]} channels; only "
                          f"kernels of a one-channel layer are image filters")
    return Filter(f"{layer_name.lower()}{index}", (weights[:, :, 0, index].copy(),), op="corr")


def _unknown(what: str, value: str, choices) -> str:
    close = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f" (choose from {', '.join(choices)})"
    return f"unknown {what} '{value}'{hint}"


def adjust(kernel: np.ndarray, *, normalize: bool = False, scale: float = 1.0) -> np.ndarray:
    """Optionally divide by the sum (``--normalize``), then multiply by ``scale``."""
    k = kernel.astype(np.float32)
    if normalize:
        total = float(k.sum(dtype=np.float64))
        if abs(total) < 1e-8:
            raise KernelError("cannot --normalize a kernel whose values sum to 0")
        k = k / np.float32(total)
    with np.errstate(over="ignore", invalid="ignore"):
        k = (k * np.float32(scale)).astype(np.float32)
    if not np.all(np.isfinite(k)):
        raise KernelError(f"--scale {scale:g} (or --normalize) takes kernel values beyond "
                          f"float32 range")
    return k


def describe(kernel: np.ndarray) -> dict:
    """Facts ``cnnkit kernels show`` prints: sum, zero-sum, symmetric under the conv flip."""
    total = float(kernel.sum(dtype=np.float64))
    return {
        "shape": list(kernel.shape),
        "sum": total,
        "zero_sum": abs(total) < 1e-6 * max(1.0, float(np.abs(kernel).sum())),
        "conv_equals_corr": bool(np.allclose(kernel, kernel[::-1, ::-1])),
    }
