"""``cnnkit kernels``: list the kernel bank and show one kernel's matrix."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.overview import IMAGES
from cnnkit.cli.root import App, app
from cnnkit.cli.filter_cmd import Direction, Json

kernels_app = App(no_args_is_help=False, rich_markup_mode="rich",
                          help="List the named kernels, or show one.")
app.add_typer(kernels_app, name="kernels", rich_help_panel=IMAGES)


@kernels_app.callback(invoke_without_command=True)
def list_kernels(ctx: typer.Context, as_json: Json = False) -> None:
    """List the named kernels with their parameters.

    [dim]Example:[/] cnnkit kernels
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from cnnkit.imaging import kernels

    if as_json:
        for spec in kernels.BANK:
            common.print_json({"name": spec.name, "aliases": list(spec.aliases),
                               "params": list(spec.params), "summary": spec.summary})
        return
    table = Table(title="cnnkit kernels", title_justify="left")
    table.add_column("name", style="bold cyan")
    table.add_column("parameters")
    table.add_column("what it does")
    for spec in kernels.BANK:
        name = spec.name + (f" [dim]({', '.join(spec.aliases)})[/]" if spec.aliases else "")
        table.add_row(name, " ".join(f"--{p}" for p in spec.params), spec.summary)
    common.out.print(table)
    common.out.print("Custom kernels: [bold]--kernel-values[/] \"0 1 0; 1 -4 1; 0 1 0\" or "
                     "[bold]--kernel-file[/] k.txt|k.npy")
    common.out.print("Learned kernels: [bold]model:conv/0[/] ... [bold]model:conv/31[/] "
                     "(the bundled CNN's; draw them with [bold]cnnkit filters[/])")


@kernels_app.command("show")
def show_kernel(
    name: Annotated[str, typer.Argument(help="Kernel name, e.g. laplacian.")],
    size: Annotated[Optional[int], typer.Option("--size", show_default=False)] = None,
    sigma: Annotated[Optional[float], typer.Option("--sigma", show_default=False)] = None,
    direction: Annotated[Optional[Direction], typer.Option("--direction", show_default=False)
                         ] = None,
    amount: Annotated[Optional[float], typer.Option("--amount", show_default=False)] = None,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Also draw the kernel and its effect on a picture (PNG).",
        dir_okay=False, show_default=False)] = None,
    image: Annotated[Optional[Path], typer.Option(
        "--image", help="The picture for --plot (default: the built-in test card).",
        exists=True, dir_okay=False, show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --plot file.")] = False,
    as_json: Json = False,
) -> None:
    """Print a kernel's matrix, its sum, whether it is zero-sum, and conv vs corr.

    Also learned kernels: [bold]cnnkit kernels show model:conv/7[/].
    [dim]Example:[/] cnnkit kernels show log --sigma 1.0 --plot log.png
    """
    if plot is not None:
        common.picture_target(plot, force)
    with common.user_errors():
        from cnnkit.imaging import kernels

        flt = kernels.build(name, size=size, sigma=sigma, amount=amount,
                            direction=direction.value if direction else None)
        parts = [("gx", flt.kernels[0]), ("gy", flt.kernels[1])] if flt.magnitude else [
            (flt.name, flt.kernel)]
        if plot is not None:
            _plot_kernel(flt, parts, plot, image, force)
    if as_json:
        common.print_json({"name": flt.name, "magnitude": flt.magnitude, "op": flt.op,
                           "kernels": [{"label": label, "values": k.tolist(),
                                        **kernels.describe(k)} for label, k in parts]})
        return
    for label, matrix in parts:
        _print_matrix(label, matrix, kernels.describe(matrix))
    if flt.magnitude:
        common.out.print(MAGNITUDE)
    if plot is not None:
        common.wrote(plot)


MAGNITUDE = "result = sqrt(gx^2 + gy^2)"
SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "testcard.png"
PLOT_SIDE = 384  # px: the sample is shrunk to this so the picture fits a screen at 100%


def _plot_kernel(flt, matrices, target: Path, image: Path | None, force: bool) -> None:
    """The kernel's ``matrices`` beside a picture and the picture filtered as
    ``cnnkit filter`` would (its default border, op and range)."""
    import numpy as np

    from cnnkit.digits import shrink, to_grey
    from cnnkit.imaging import io as imaging
    from cnnkit.imaging.filtering import FilterOptions, apply_filter, display_range
    from cnnkit.viz import figures

    sample = shrink(to_grey(imaging.read_image(image or SAMPLE, grey=True)), PLOT_SIDE)[0] * 255
    values = apply_filter(sample, flt, FilterOptions(op=flt.op))
    shown = imaging.map_range(values, display_range(flt), 255.0)[0]
    h, w = flt.kernel.shape
    how = "convolution (kernel flipped)" if flt.op == "conv" else "correlation"
    title = f"{flt.name} {h}x{w}, applied by {how}" + (f"; {MAGNITUDE}" if flt.magnitude
                                                        else "")
    figure = figures.kernel_effect(matrices, np.rint(sample).astype(np.uint8),
                                   np.rint(shown).astype(np.uint8), title)
    common.save_picture(figure.image, target, force)


def _print_matrix(label: str, matrix, facts: dict) -> None:
    from rich.table import Table

    digits = 0 if all(float(v).is_integer() for v in matrix.ravel()) else 4
    table = Table(show_header=False, box=None, padding=(0, 1), title=f"[bold]{label}[/] "
                  f"{matrix.shape[0]}x{matrix.shape[1]}", title_justify="left")
    for _ in range(matrix.shape[1]):
        table.add_column(justify="right")
    for row in matrix:
        table.add_row(*(f"{v:.{digits}f}" for v in row))
    common.out.print(table)
    zero = "yes (a flat region maps to 0)" if facts["zero_sum"] else "no"
    flip = ("same result (the kernel is symmetric under the flip)" if facts["conv_equals_corr"]
            else "differ: conv flips the kernel in both axes")
    common.out.print(f"sum {facts['sum']:.6g}; zero-sum: {zero}; conv vs corr: {flip}")
