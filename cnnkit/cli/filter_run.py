"""What ``cnnkit filter`` does, without Typer: the command's options as plain parameters.

``cli/filter_cmd.py`` declares the command for Typer and calls :func:`filter_files`;
:mod:`cnnkit.cli.quick` calls it directly when it can parse the arguments itself.
"""

import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

from cnnkit.cli import common

MAX_STRIDE = 10_000
IN_PLACE = 32 << 20  # decoded bytes above which pixels are written over the picture


class Op(str, Enum):
    conv = "conv"
    corr = "corr"


class Border(str, Enum):
    zero = "zero"
    reflect = "reflect"
    mirror = "mirror"
    replicate = "replicate"
    wrap = "wrap"
    valid = "valid"


class Range(str, Enum):
    auto = "auto"
    clip = "clip"
    abs = "abs"
    offset = "offset"
    stretch = "stretch"
    edges = "edges"
    float = "float"


class Compression(str, Enum):
    fast = "fast"
    small = "small"


class Direction(str, Enum):
    n = "n"
    ne = "ne"
    e = "e"
    se = "se"
    s = "s"
    sw = "sw"
    w = "w"
    nw = "nw"


def filter_files(
    inputs: list[Path],
    kernel: Optional[str] = None,
    kernel_values: Optional[str] = None,
    kernel_file: Optional[Path] = None,
    size: Optional[int] = None,
    sigma: Optional[float] = None,
    direction: Optional[Direction] = None,
    amount: Optional[float] = None,
    normalize: bool = False,
    scale: float = 1.0,
    bias: float = 0.0,
    op: Optional[Op] = None,
    border: Border = Border.reflect,
    cval: float = 0.0,
    stride: int = 1,
    relu: bool = False,
    value_range: Range = Range.auto,
    filter_alpha: bool = False,
    output: Optional[Path] = None,
    out_dir: Optional[Path] = None,
    force: bool = False,
    compare: bool = False,
    compression: Compression = Compression.fast,
    out_format: Optional[str] = None,
    as_json: bool = False,
    verbose: bool = False,
    quiet: bool = False,
    max_pixels: int = 100_000_000,
    threads: Optional[int] = None,
) -> None:
    """``cnnkit filter``'s work, its parameters the command's options (``cli/filter_cmd.py``
    declares them for Typer, :mod:`cnnkit.cli.quick` parses them without it)."""
    given = [kernel is not None, kernel_values is not None, kernel_file is not None]
    if sum(given) != 1:
        raise common.fail("give exactly one of --kernel, --kernel-values, --kernel-file", 2)
    if compare and value_range is Range.float:
        raise common.fail("--compare writes a PNG; it cannot be combined with --range float", 2)

    with common.user_errors():
        from cnnkit.imaging import kernels
        from cnnkit.imaging.filtering import FilterOptions, display_range

        if kernel is not None:
            flt = kernels.build(kernel, size=size, sigma=sigma, amount=amount,
                                direction=direction.value if direction else None)
        else:
            if any(p is not None for p in (size, sigma, direction, amount)):
                raise common.fail("--size/--sigma/--direction/--amount apply to named kernels", 2)
            matrix = (kernels.parse_matrix(kernel_values) if kernel_values is not None
                      else kernels.load_matrix(kernel_file))
            flt = kernels.Filter("custom", (matrix,))
        flt = kernels.Filter(flt.name, tuple(kernels.adjust(k, normalize=normalize, scale=scale)
                                             for k in flt.kernels), flt.magnitude, flt.op)
        mode = value_range.value
        if mode == "auto":
            mode = display_range(flt, relu)
        options = FilterOptions(op=op.value if op else flt.op, border=border.value, cval=cval,
                                stride=stride, bias=bias, relu=relu)
    files, stdout, fmt = common.stream_inputs(inputs, output, threads, as_json, out_format,
                                              raw=mode == "float", out_dir=out_dir)
    jobs = _jobs(files, threads)
    write = Writing(output, out_dir, force, compression.value, fmt,
                    "." + (out_format or "png").lower().lstrip("."), 1 if jobs > 1 else threads)
    if mode != "float" and not stdout:  # a float output's suffix depends on the picture
        common.check_outputs(files, lambda path: write.target(path, flt.name, write.suffix))

    def work(path: Path) -> dict:
        if jobs > 1:  # one Numba thread per file: the files are the parallel work
            from cnnkit.ops._jit import set_threads

            set_threads(1)
        return _filter_file(path, flt, options, mode, filter_alpha, write, compare,
                            max_pixels)

    common.run_batch(files, work, as_json=as_json, quiet=quiet or stdout, label="filter",
                     describe=lambda r: _describe(r, verbose), jobs=jobs)




def _jobs(files: list[Path], threads: int | None) -> int:
    """Files to filter at once: one per core for a batch, so decoding and encoding (serial
    per file) overlap the filtering of the others; 1 for one file or --threads 1."""
    import os

    cores = threads or os.cpu_count() or 1
    if len(files) < 2 or cores < 2:
        return 1
    from cnnkit.ops._jit import threads_may_share

    return min(cores, len(files)) if threads_may_share() else 1


@dataclass(frozen=True)
class Writing:
    """Where and how ``cnnkit filter`` writes each result."""

    output: Path | None
    out_dir: Path | None
    force: bool
    compression: str
    fmt: str | None  # a Pillow format name, or None: from the output's suffix
    suffix: str  # of the names it makes up
    threads: int | None = None  # for the PNG encoder (None: all cores)

    def target(self, source: Path, name: str, suffix: str) -> Path:
        if self.output is not None and str(self.output) == "-":
            return self.output
        if str(source) == "-" and self.output is None:
            source = (self.out_dir or Path(".")) / "stdin"
        return common.output_path(source, self.output, self.out_dir, name, suffix, self.force)


def _filter_file(path, flt, options, mode, filter_alpha, write: Writing, compare,
                 max_pixels) -> dict:
    import numpy as np

    from cnnkit.imaging import io as imaging
    from cnnkit.imaging.filtering import apply_filter, sample_alpha

    started = time.perf_counter()
    fused = mode != "float" and not compare and not filter_alpha
    picture = imaging.read_image(path, max_pixels, native=fused, light=fused)
    colour = picture.pixels.ndim == 3
    suffix = (".tiff" if not colour else ".npy") if mode == "float" else write.suffix
    target = write.target(path, flt.name, suffix)
    if fused and picture.pixels.dtype in (np.uint8, np.uint16):
        return _filter_pixels(path, picture, flt, options, mode, target, write, started)
    if picture.pixels.dtype != np.float32:
        picture = imaging.Picture(*(None if a is None else a.astype(np.float32)
                                    for a in (picture.pixels, picture.alpha)), picture.maxval)
    result = apply_filter(picture.pixels, flt, options)
    if not np.isfinite(result).all():
        raise _overflow(path)
    alpha = picture.alpha
    if alpha is not None:
        kernel_shape = flt.kernel.shape
        alpha = (apply_filter(alpha, flt, options) if filter_alpha
                 else sample_alpha(alpha, kernel_shape, options.border, options.stride,
                                   result.shape[:2]))
        alpha = imaging.map_range(alpha, "clip", picture.maxval)[0]
    if mode == "float":
        stats = imaging.map_range(result, "float", picture.maxval)[1]
        imaging.write_float(target, result, force=write.force)
    else:
        mapped, stats = imaging.map_range(result, mode, picture.maxval)
        if compare:
            mapped = imaging.side_by_side(picture.pixels, mapped, picture.maxval)
            alpha = None
        imaging.write_image(target, mapped, picture.maxval, alpha, force=write.force,
                            compression=write.compression, fmt=write.fmt)
    return _report(path, target, flt, picture.shape, result.shape, mode, options, stats,
                   started)


def _filter_pixels(path, picture, flt, options, mode, target, write: Writing, started) -> dict:
    """The 8/16-bit path: filtered straight to pixels in row blocks (no float32 copies)."""
    import numpy as np

    from cnnkit.imaging import io as imaging
    from cnnkit.imaging.filtering import filter_to_pixels, sample_alpha

    fmt = write.fmt or imaging.output_format(target)
    alpha = picture.alpha
    colour = picture.pixels.ndim == 3
    wide = picture.maxval > 255 and imaging.holds_16bit(fmt, colour or alpha is not None)
    out_dtype = np.uint16 if wide else np.uint8
    # Large pictures are filtered over themselves (a picture's worth less memory); smaller
    # ones take the one-pass 3x3 kernel, which cannot work in place.
    pixels, stats = filter_to_pixels(picture.pixels, flt, options, mode, picture.maxval,
                                     out_dtype, overwrite=picture.pixels.nbytes > IN_PLACE)
    if not (np.isfinite(stats["min"]) and np.isfinite(stats["max"])):
        raise _overflow(path)
    shape = picture.shape
    picture.pixels = None  # not needed while encoding: frees the source, lowering the peak
    if alpha is not None:
        alpha = sample_alpha(alpha, flt.kernel.shape, options.border, options.stride,
                             pixels.shape[:2])
        if alpha.dtype != out_dtype:
            alpha = np.clip(np.rint(alpha.astype(np.float32) * np.float32(255.0 / 65535.0)),
                            0, 255).astype(np.uint8)
    imaging.write_pixels(target, pixels, alpha, force=write.force,
                         compression=write.compression, fmt=fmt, threads=write.threads)
    return _report(path, target, flt, shape, pixels.shape, mode, options, stats, started)


def _overflow(path):
    """The inputs are finite, so only --scale, --bias or huge kernel values can do this."""
    from cnnkit.errors import ImageError

    return ImageError(f"{path}: the filtered values overflow float32; lower --scale, --bias "
                      f"or the kernel's values")


def _report(path, target, flt, shape, out_shape, mode, options, stats, started) -> dict:
    return {
        "input": str(path), "output": str(target), "kernel": flt.name,
        "shape": list(shape), "output_shape": list(out_shape), "range": mode,
        "border": options.border, "stride": options.stride,
        "min": stats["min"], "max": stats["max"], "clipped": round(stats["clipped"], 4),
        "seconds": round(time.perf_counter() - started, 4),
    }


def _describe(result: dict, verbose: bool) -> None:
    common.wrote(result["output"])
    if verbose:
        shape = "x".join(map(str, result["shape"]))
        out_shape = "x".join(map(str, result["output_shape"]))
        common.err.print(
            f"  {shape} -> {out_shape} ({_shape_rule(result)}), kernel {result['kernel']}, "
            f"range {result['range']}: "
            f"min {result['min']:.4g}, max {result['max']:.4g}, "
            f"{result['clipped']:.2f}% clipped, {result['seconds']:.3f} s")


def _shape_rule(result: dict) -> str:
    stride = result["stride"]
    if result["border"] == "valid":
        return "floor((n - k) / s) + 1" if stride > 1 else "n - k + 1"
    return f"ceil(n / {stride})" if stride > 1 else "same size"
