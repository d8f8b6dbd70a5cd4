"""``cnnkit explain``: convolution, ReLU and pooling, step by step in the terminal."""

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.overview import IMAGES
from cnnkit.cli.root import App, app
from cnnkit.cli.filter_cmd import Op

explain_app = App(no_args_is_help=True, rich_markup_mode="rich",
                          help="Walk through convolution, ReLU or pooling step by step.")
app.add_typer(explain_app, name="explain", rich_help_panel=IMAGES)

ImageOpt = Annotated[Optional[str], typer.Option(
    "--image", help='A small matrix ("1 2 0; 0 1 3") or an image file (a crop of it is used).',
    show_default=False)]
Crop = Annotated[str, typer.Option("--crop", help="For an image file: X,Y,SIZE of the crop.")]
Step = Annotated[bool, typer.Option("--step", help="Wait for Enter between steps.")]
NoAnimate = Annotated[bool, typer.Option(
    "--no-animate", help="Print every step one after another (the default when not a terminal).")]
Delay = Annotated[float, typer.Option("--delay", min=0.0, help="Seconds per animated step.")]

WINDOW, CHOSEN, CURRENT = "bold black on yellow", "bold white on red", "bold black on green"


def _matrix(text: str | None, crop: str, default):
    """The --image value: inline numbers, or a grey crop of an image file."""
    import numpy as np

    from cnnkit.imaging import io as imaging
    from cnnkit.imaging import kernels

    if text is None:
        return default
    path = Path(text)
    if (path.exists() or path.is_symlink()) and not path.is_dir():  # read_image says why
        try:
            x, y, size = (int(v) for v in crop.split(","))
        except ValueError:
            raise common.fail(f"--crop takes X,Y,SIZE, got '{crop[:40]}'", 2) from None
        if x < 0 or y < 0 or size < 1:
            raise common.fail(f"--crop takes X,Y >= 0 and SIZE >= 1, got '{crop}'", 2)
        picture = imaging.read_image(path)
        grey = picture.pixels if picture.pixels.ndim == 2 else picture.pixels.mean(axis=2)
        part = grey[y:y + size, x:x + size]
        if part.size == 0:
            raise common.fail(f"--crop {crop} is outside the {grey.shape[1]}x{grey.shape[0]} "
                              f"image")
        return np.rint(part)
    if not any(ch.isdigit() for ch in text) or path.suffix.lower() in imaging.IMAGE_SUFFIXES:
        why = "is a folder" if path.is_dir() else "no such file"
        raise common.fail(f"--image {text[:200]}: {why}; give an image file or numbers such as "
                          f"\"1 2; 3 4\"")
    return kernels.parse_matrix(text, "--image")


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.3g}"


def _grid(matrix, title: str, styles: dict | None = None, blank=None):
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, padding=(0, 1), title_style="bold")
    for _ in range(matrix.shape[1]):
        table.add_column(justify="right")
    styles = styles or {}
    for i in range(matrix.shape[0]):
        cells = []
        for j in range(matrix.shape[1]):
            text = "·" if blank is not None and not blank[i, j] else _fmt(float(matrix[i, j]))
            style = styles.get((i, j))
            cells.append(f"[{style}]{text}[/]" if style else text)
        table.add_row(*cells)
    return table


def _play(frames: list, step: bool, no_animate: bool, delay: float) -> None:
    """Show frames: animated in place on a terminal, else printed one after another."""
    console = common.out.get()
    if no_animate or not console.is_terminal:
        for frame in frames:
            console.print(frame)
        return
    from rich.live import Live

    with Live(frames[0], console=console, auto_refresh=False) as live:
        for frame in frames:
            live.update(frame, refresh=True)
            if step:
                console.input("[dim]Enter for the next step[/]")
            else:
                time.sleep(delay)


def _row(*parts):
    from rich.columns import Columns

    return Columns(parts, padding=(0, 4))


@explain_app.command("conv")
def explain_conv(
    image: ImageOpt = None,
    crop: Crop = "0,0,5",
    kernel: Annotated[Optional[str], typer.Option("--kernel", "-k", help="A named kernel.",
                                                  show_default=False)] = None,
    kernel_values: Annotated[Optional[str], typer.Option(
        "--kernel-values", help='A kernel matrix, e.g. "1 0 1; 0 1 0; 1 0 1".',
        show_default=False)] = None,
    op: Annotated[Op, typer.Option("--op", help="conv slides the flipped kernel; corr as is.")
                  ] = Op.conv,
    step: Step = False,
    no_animate: NoAnimate = False,
    delay: Delay = 0.8,
) -> None:
    """A kernel sliding over a small image: window, products, sum, output cell.

    [dim]Example:[/] cnnkit explain conv --no-animate
    """
    from rich.console import Group

    with common.user_errors():
        from cnnkit.imaging import kernels
        from cnnkit.viz import explain

        matrix = _matrix(image, crop, explain.CLASSIC_IMAGE)
        if kernel is not None and kernel_values is not None:
            raise common.fail("give --kernel or --kernel-values, not both", 2)
        weights = (kernels.build(kernel).kernel if kernel is not None else
                   kernels.parse_matrix(kernel_values, "--kernel-values")
                   if kernel_values is not None else explain.CLASSIC_KERNEL)
        steps, output, slid = explain.conv_steps(matrix, weights, op.value)
    filled = output != output  # all False
    flip = ("the kernel flipped in both axes (convolution)" if op.value == "conv" else
            "the kernel as written (correlation)")
    frames = []
    for number, s in enumerate(steps, 1):
        window = {(r, c): WINDOW for r in range(*s.rows) for c in range(*s.cols)}
        filled = filled.copy()
        filled[s.out] = True
        terms = " + ".join(_fmt(float(v)) for v in s.products.ravel())
        frames.append(Group(
            f"[bold]step {number}/{len(steps)}[/]: output cell ({s.out[0]}, {s.out[1]}) = sum "
            f"of the window times {flip}",
            _row(_grid(matrix, "input", window), _grid(slid, "kernel"),
                 _grid(s.products, "products"),
                 _grid(output, "output", {s.out: CURRENT}, blank=filled)),
            f"{terms} = [bold]{_fmt(s.value)}[/]", ""))
    _play(frames, step, no_animate, delay)
    common.out.print(_grid(output, f"result: {output.shape[0]}x{output.shape[1]} "
                                   f"({matrix.shape[0]}-{slid.shape[0]}+1 by "
                                   f"{matrix.shape[1]}-{slid.shape[1]}+1)"))


@explain_app.command("relu")
def explain_relu(image: ImageOpt = None, crop: Crop = "0,0,4", step: Step = False,
                 no_animate: NoAnimate = False, delay: Delay = 0.4) -> None:
    """ReLU, max(x, 0), applied cell by cell to a matrix with negatives.

    [dim]Example:[/] cnnkit explain relu --no-animate
    """
    from rich.console import Group

    with common.user_errors():
        from cnnkit.viz import explain

        matrix = _matrix(image, crop, explain.RELU_EXAMPLE)
        steps, output = explain.relu_steps(matrix)
    filled = output != output
    frames = []
    for number, s in enumerate(steps, 1):
        filled = filled.copy()
        filled[s.out] = True
        x = float(matrix[s.out])
        why = "negative, so 0" if x < 0 else "kept"
        frames.append(Group(
            f"[bold]step {number}/{len(steps)}[/]: max({_fmt(x)}, 0) = [bold]{_fmt(s.value)}[/] "
            f"({why})",
            _row(_grid(matrix, "input", {s.out: WINDOW}),
                 _grid(output, "output", {s.out: CURRENT}, blank=filled)), ""))
    _play(frames, step, no_animate, delay)
    common.out.print(_grid(output, "result"))


@explain_app.command("pool")
def explain_pool(
    image: ImageOpt = None,
    crop: Crop = "0,0,4",
    size: Annotated[int, typer.Option("--size", min=1, help="Window size.")] = 2,
    stride: Annotated[Optional[int], typer.Option("--stride", min=1, help="Default: size.",
                                                  show_default=False)] = None,
    step: Step = False,
    no_animate: NoAnimate = False,
    delay: Delay = 0.8,
) -> None:
    """Max pooling: each window, its maximum, and the output cell it fills.

    [dim]Example:[/] cnnkit explain pool --no-animate
    """
    from rich.console import Group

    with common.user_errors():
        from cnnkit.viz import explain

        matrix = _matrix(image, crop, explain.POOL_EXAMPLE)
        steps, output = explain.pool_steps(matrix, size, stride)
    filled = output != output
    frames = []
    for number, s in enumerate(steps, 1):
        styles = {(r, c): WINDOW for r in range(*s.rows) for c in range(*s.cols)
                  if r < matrix.shape[0] and c < matrix.shape[1]}
        styles[s.chosen] = CHOSEN
        filled = filled.copy()
        filled[s.out] = True
        frames.append(Group(
            f"[bold]step {number}/{len(steps)}[/]: the largest value in the window is "
            f"[bold]{_fmt(s.value)}[/] at ({s.chosen[0]}, {s.chosen[1]}) -> output cell "
            f"({s.out[0]}, {s.out[1]})",
            _row(_grid(matrix, "input", styles),
                 _grid(output, "output", {s.out: CURRENT}, blank=filled)), ""))
    _play(frames, step, no_animate, delay)
    common.out.print(_grid(output, f"result: {output.shape[0]}x{output.shape[1]}"))
