"""``cnnkit pool`` and ``cnnkit stack``: pooling, and chains of filter / ReLU / pool steps."""

import re
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.overview import IMAGES
from cnnkit.cli.root import app
from cnnkit.cli.filter_cmd import (
    Compare,
    Force,
    Json,
    MaxPixels,
    OutDir,
    PipeInputs,
    PipeOutput,
    Quiet,
    Threads,
    Verbose,
)


class Mode(str, Enum):
    max = "max"
    avg = "avg"


class Padding(str, Enum):
    valid = "valid"
    same = "same"


MAX_WINDOW = 10_000


def _pair(text: str, option: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,9})\s*(?:[xX]\s*(\d{1,9}))?\s*", text)
    if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(2)) < 1):
        raise common.fail(f"{option} takes N or HxW with positive numbers, got '{text[:40]}'",
                          2)
    pair = int(match.group(1)), int(match.group(2) or match.group(1))
    if max(pair) > MAX_WINDOW:
        raise common.fail(f"{option} {text.strip()} is above the limit of {MAX_WINDOW:,}", 2)
    return pair


@app.command("pool", rich_help_panel=IMAGES)
def pool_command(
    inputs: PipeInputs,
    mode: Annotated[Mode, typer.Option("--mode", help="Max or average of each window.")
                    ] = Mode.max,
    size: Annotated[str, typer.Option("--size", help="Window: N or HxW (e.g. 3x2).")] = "2",
    stride: Annotated[Optional[str], typer.Option(
        "--stride", help="Step: N or HxW (default: the window size).", show_default=False)
    ] = None,
    padding: Annotated[Padding, typer.Option(
        "--padding", help="valid: floor((n-k)/s)+1 windows; same: ceil(n/s), edges padded.")
    ] = Padding.valid,
    upscale: Annotated[bool, typer.Option(
        "--upscale", help="Enlarge the result back by the stride (nearest neighbour).")
    ] = False,
    output: PipeOutput = None,
    out_dir: OutDir = None,
    force: Force = False,
    compare: Compare = False,
    out_format: Annotated[Optional[str], typer.Option(
        "--format", help="Output format (png, jpg, tiff, ...) for -o -; default png.",
        show_default=False)] = None,
    as_json: Json = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
    max_pixels: MaxPixels = 100_000_000,
    threads: Threads = None,
) -> None:
    """Max- or average-pool images, every channel on its own.

    [dim]Example:[/] cnnkit pool samples/testcard.png --mode max --size 4 --upscale --compare
    """
    window = _pair(size, "--size")
    step = _pair(stride, "--stride") if stride is not None else window
    files, stdout, fmt = common.stream_inputs(inputs, output, threads, as_json, out_format,
                                              out_dir=out_dir)
    name = f"{mode.value}pool{'x'.join(map(str, window)) if window[0] != window[1] else window[0]}"
    suffix = "." + (out_format or "png").lower().lstrip(".")
    if not stdout:
        common.check_outputs(files, lambda path: common.output_path(
            (out_dir or Path(".")) / "stdin" if str(path) == "-" else path, output, out_dir,
            name, suffix, force))

    def work(path: Path) -> dict:
        return _pool_file(path, mode.value, window, step, padding.value, upscale, name, output,
                          out_dir, force, compare, max_pixels, fmt, suffix)

    common.run_batch(files, work, as_json=as_json, quiet=quiet or stdout, label="pool",
                     describe=lambda r: _describe(r, verbose))


def _pool_file(path, mode, window, step, padding, upscale, name, output, out_dir, force,
               compare, max_pixels, fmt=None, suffix=".png") -> dict:
    import numpy as np

    from cnnkit.errors import ImageError
    from cnnkit.imaging import io as imaging
    from cnnkit.imaging.filtering import pool_picture
    from cnnkit.limits import check_pixels

    started = time.perf_counter()
    # 8/16-bit pictures stay integers until pooled a block of rows at a time (a float32 copy
    # of a 100-megapixel colour picture alone would take 1.2 GB)
    picture = imaging.read_image(path, max_pixels, native=not compare)
    if output is not None and str(output) == "-":
        target = output
    else:
        source = (out_dir or Path(".")) / "stdin" if str(path) == "-" else path
        target = common.output_path(source, output, out_dir, name, suffix, force)
    try:
        result = pool_picture(picture.pixels, mode, window, step, padding)
        alpha = (None if picture.alpha is None
                 else pool_picture(picture.alpha, mode, window, step, padding))
    except ValueError as exc:
        raise ImageError(f"{path}: {exc}") from None
    shown = result
    if upscale:
        check_pixels(result.shape[0] * step[0], result.shape[1] * step[1], max_pixels,
                     f"--upscale by the stride {step[0]}x{step[1]}", path)
        shown = np.repeat(np.repeat(result, step[0], axis=0), step[1], axis=1)
        alpha = None if alpha is None else np.repeat(np.repeat(alpha, step[0], 0), step[1], 1)
    if compare:
        shown = imaging.side_by_side(picture.pixels, shown, picture.maxval)
        alpha = None
    imaging.write_image(target, shown, picture.maxval, alpha, force=force, fmt=fmt)
    return {"input": str(path), "output": str(target), "mode": mode, "size": list(window),
            "stride": list(step), "padding": padding, "shape": list(picture.shape),
            "output_shape": list(result.shape), "min": float(result.min()),
            "max": float(result.max()), "seconds": round(time.perf_counter() - started, 4)}


def _describe(result: dict, verbose: bool) -> None:
    common.wrote(result["output"])
    if verbose:
        shape = "x".join(map(str, result["shape"]))
        out_shape = "x".join(map(str, result["output_shape"]))
        rule = ("floor((n - k) / s) + 1" if result["padding"] == "valid" else "ceil(n / s)")
        common.err.print(f"  {shape} -> {out_shape} ({rule}, k={result['size']}, "
                         f"s={result['stride']}), {result['mode']} pooling, "
                         f"{result['seconds']:.3f} s")


@app.command("stack", rich_help_panel=IMAGES)
def stack_command(
    image: Annotated[Path, typer.Argument(help="The input image (converted to grey).")],
    steps: Annotated[str, typer.Argument(
        help='Steps split by "|": kernels (several with ","), relu, maxpool N, avgpool N. '
             'Example: "laplacian,sobel-x | relu | maxpool 2".')],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the last stage (a grid when it has several maps).",
        dir_okay=False, show_default=False)] = None,
    stages_dir: Annotated[Optional[Path], typer.Option(
        "--stages", help="Write every stage to this folder.", file_okay=False,
        show_default=False)] = None,
    sheet: Annotated[Optional[Path], typer.Option(
        "--sheet", help="Write one PNG with every stage labelled.", dir_okay=False,
        show_default=False)] = None,
    force: Force = False,
    as_json: Json = False,
    max_pixels: MaxPixels = 100_000_000,
    threads: Threads = None,
) -> None:
    """Run a CNN-style stack of filter / ReLU / pooling steps on an image.

    [dim]Example:[/] cnnkit stack samples/still_life.png "laplacian,sobel-x,emboss | relu |
    maxpool 2" --sheet stack.png
    """
    if output is None and stages_dir is None and sheet is None:
        raise common.fail("say where to write: -o OUT, --stages DIR and/or --sheet FILE", 2)
    with common.user_errors():
        from cnnkit.files import check_target, make_dir
        from cnnkit.imaging import io as imaging
        from cnnkit.imaging import pipeline
        from cnnkit.ops._jit import set_threads
        from cnnkit.viz import draw as viz

        set_threads(threads)
        parsed = pipeline.parse(steps)
        for path in (output, sheet):
            if path is not None:
                imaging.check_output_suffix(path)
                check_target(path, force)
        labels = ["input"] + [step.text for step in parsed]
        stage_files = [] if stages_dir is None else [
            stages_dir / f"{index:02d}_{_slug(label)}.png" for index, label in enumerate(labels)]
        if stages_dir is not None and stages_dir.is_dir():
            for target in stage_files:
                check_target(target, force)
        picture = imaging.read_image(image, max_pixels)
        grey = picture.pixels if picture.pixels.ndim == 2 else picture.pixels @ [0.299, 0.587,
                                                                                  0.114]
        pipeline.check_size(parsed, grey.shape[:2])
        stages = pipeline.run(grey.astype("float32"), parsed)
        written = []
        if stages_dir is not None:
            make_dir(stages_dir)
            for target, stage in zip(stage_files, stages):
                _write_stage(target, stage, force)
                written.append(str(target))
        if output is not None:
            _write_stage(output, stages[-1], force)
            written.append(str(output))
        if sheet is not None:
            common.save_picture(viz.stage_sheet(stages), sheet, force)
            written.append(str(sheet))
    summary = [{"stage": s.label, "maps": len(s.maps), "shape": list(s.maps[0].shape),
                "min": float(min(m.min() for m in s.maps)),
                "max": float(max(m.max() for m in s.maps))} for s in stages]
    if as_json:
        common.print_json({"input": str(image), "stages": summary, "written": written})
        return
    for row in summary:
        common.err.print(f"{row['stage']:<28} {row['maps']:>3} map(s) "
                         f"{'x'.join(map(str, row['shape'])):>9}  "
                         f"min {row['min']:10.4g}  max {row['max']:10.4g}")
    for path in written:
        common.wrote(path)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "stage"


def _write_stage(target: Path, stage, force: bool) -> None:
    from cnnkit.viz import draw as viz

    if len(stage.maps) == 1:
        image = viz.Image.fromarray(viz.to_grey8(stage.maps[0]))
    else:
        image = viz.grid([viz.to_grey8(m) for m in stage.maps], stage.names)
    common.save_picture(image, target, force)
