"""``cnnkit filter``: apply a named or custom kernel to images."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import filter_run
from cnnkit.cli.filter_run import (
    MAX_STRIDE,
    Border,
    Compression,
    Direction,
    Op,
    Range,
)
from cnnkit.cli.overview import IMAGES
from cnnkit.cli.root import app


Inputs = Annotated[list[Path], typer.Argument(
    help="Image files, folders (their images) or quoted globs.", show_default=False)]
Output = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Output file (one input only).", dir_okay=False)]
PipeInputs = Annotated[list[Path], typer.Argument(
    help="Image files, folders (their images) or quoted globs; - reads standard input.",
    show_default=False)]
PipeOutput = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Output file (one input only); - writes standard output (with "
    "--format).", dir_okay=False)]
OutDir = Annotated[Optional[Path], typer.Option(
    "--out-dir", help="Write outputs here instead of beside each input.", file_okay=False)]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
Json = Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or per-file lines.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v",
                                       help="Per file: shapes, value range, % clipped, time.")]
MaxPixels = Annotated[int, typer.Option(
    "--max-pixels", min=1, help="Refuse images with more pixels (decompression bombs).")]
Threads = Annotated[Optional[int], typer.Option(
    "--threads", min=1, help="Numba threads (default: all cores).", show_default=False)]
Compare = Annotated[bool, typer.Option(
    "--compare", help="Write input and output side by side in one PNG.")]

PARAMS = "Kernel parameters"
OUTPUT = "Output"


@app.command("filter", rich_help_panel=IMAGES)
def filter_command(
    inputs: PipeInputs,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", "-k", help="Named kernel (list them with [bold]cnnkit kernels[/]), or a "
        "learned one: model:conv/7.",
        show_default=False)] = None,
    kernel_values: Annotated[Optional[str], typer.Option(
        "--kernel-values", help='Custom kernel, rows split by ";": "0 1 0; 1 -4 1; 0 1 0".',
        show_default=False)] = None,
    kernel_file: Annotated[Optional[Path], typer.Option(
        "--kernel-file", help="Custom kernel from a text file or a 2-D .npy array.",
        exists=True, dir_okay=False, show_default=False)] = None,
    size: Annotated[Optional[int], typer.Option(
        "--size", help="Kernel size (box, gaussian, log, emboss, motion, identity).",
        rich_help_panel=PARAMS, show_default=False)] = None,
    sigma: Annotated[Optional[float], typer.Option(
        "--sigma", help="Gaussian width (gaussian, log, unsharp).", rich_help_panel=PARAMS,
        show_default=False)] = None,
    direction: Annotated[Optional[Direction], typer.Option(
        "--direction", help="Light or blur direction (emboss, motion).", rich_help_panel=PARAMS,
        show_default=False)] = None,
    amount: Annotated[Optional[float], typer.Option(
        "--amount", help="Sharpening strength (unsharp).", rich_help_panel=PARAMS,
        show_default=False)] = None,
    normalize: Annotated[bool, typer.Option(
        "--normalize", help="Divide the kernel by its sum.", rich_help_panel=PARAMS)] = False,
    scale: Annotated[float, typer.Option(
        "--scale", help="Multiply the kernel by this.", rich_help_panel=PARAMS)] = 1.0,
    bias: Annotated[float, typer.Option(
        "--bias", help="Add this to every output value (pixel units).",
        rich_help_panel=PARAMS)] = 0.0,
    op: Annotated[Optional[Op], typer.Option(
        "--op", help="conv flips the kernel (the seed's formula); corr does not (CNN layers). "
        "Default: conv, and corr for learned model: kernels.", show_default=False)] = None,
    border: Annotated[Border, typer.Option(
        "--border", help="Pixels beyond the edge; valid shrinks the output by k-1.")
    ] = Border.reflect,
    cval: Annotated[float, typer.Option("--cval", help="Value outside the image for --border zero.")
                    ] = 0.0,
    stride: Annotated[int, typer.Option("--stride", min=1, max=MAX_STRIDE,
                                        help="Step between output pixels.")] = 1,
    relu: Annotated[bool, typer.Option("--relu", help="Apply ReLU (max(x, 0)) after the filter.")
                    ] = False,
    value_range: Annotated[Range, typer.Option(
        "--range", help="Map output values to pixels. auto: edges for zero-sum kernels, clip "
        "otherwise; edges: |x| scaled so the top 0.1% saturate; float: raw values (.tiff/.npy).",
        rich_help_panel=OUTPUT)] = Range.auto,
    filter_alpha: Annotated[bool, typer.Option(
        "--filter-alpha", help="Filter the alpha channel too (default: passed through).",
        rich_help_panel=OUTPUT)] = False,
    output: PipeOutput = None,
    out_dir: OutDir = None,
    force: Force = False,
    compare: Compare = False,
    compression: Annotated[Compression, typer.Option(
        "--compression", help="PNG: fast (zlib level 1, as OpenCV) or small (level 9, slow).",
        rich_help_panel=OUTPUT)] = Compression.fast,
    out_format: Annotated[Optional[str], typer.Option(
        "--format", help="Output format (png, jpg, tiff, bmp, webp, ...) when the output "
        "name has no suffix, as with -o -; default png.", rich_help_panel=OUTPUT,
        show_default=False)] = None,
    as_json: Json = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
    max_pixels: MaxPixels = 100_000_000,
    threads: Threads = None,
) -> None:
    """Apply a named or custom kernel to images.

    [dim]Example:[/] cnnkit filter --kernel laplacian samples/scene.png --compare
    """
    filter_run.filter_files(**locals())  # every parameter, by name
