"""``cnnkit summary`` and ``info``: what a model file holds."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.root import app
from cnnkit.cli.model_opts import DIGITS, ModelArg, resolve_model


@app.command("summary", rich_help_panel=DIGITS)
def summary_command(
    model: Annotated[Optional[Path], typer.Argument(
        help="A model file (default: the digit_classifier architecture).", show_default=False)
    ] = None,
    arch: Annotated[Optional[str], typer.Option(
        "--arch", help="Show this architecture instead (a preset, a line of steps or a file), "
        "as cnnkit train --arch builds it.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Print the Keras-style layer table: output shapes and parameter counts.

    [dim]Example:[/] cnnkit summary --arch keras-mnist-convnet
    """
    if model is not None and arch is not None:
        raise common.fail("give a MODEL file or --arch, not both", 2)
    with common.user_errors():
        if model is None:
            from cnnkit.nn.arch import resolve

            network = resolve(arch or "digit_classifier")
        else:
            from cnnkit.nn.io import load_model

            network, _ = load_model(model)
    _print_summary(network, as_json)


def _print_summary(network, as_json: bool) -> None:
    from cnnkit.nn.arch import flops_per_image, to_text

    rows = network.summary_rows()
    total, trainable = network.count_params(), network.count_trainable()
    if as_json:
        common.print_json({"name": network.name, "arch": to_text(network),
                           "layers": [{"layer": n, "output_shape": s, "params": p}
                                      for n, s, p in rows],
                           "total_params": total, "trainable_params": trainable,
                           "non_trainable_params": total - trainable,
                           "flops_per_image": flops_per_image(network)})
        return
    from rich.table import Table

    table = Table(title=f"Model: \"{common.escape(network.name)}\"", title_justify="left")
    table.add_column("Layer (type)")
    table.add_column("Output Shape")
    table.add_column("Param #", justify="right")
    for name, shape, params in rows:
        table.add_row(name, shape, f"{params:,}")
    common.out.print(table)
    common.out.print(f"Total params: {total:,}\nTrainable params: {trainable:,}\n"
                     f"Non-trainable params: {total - trainable:,}")
    common.out.print(f"arch: {common.escape(to_text(network))}", soft_wrap=True)
    common.out.print(f"forward pass: {flops_per_image(network) / 1e6:,.2f} MFLOP per image")


@app.command("info", rich_help_panel=DIGITS)
def info_command(model: ModelArg = None,
                 as_json: Annotated[bool, typer.Option("--json", help="The header as JSON.")
                                    ] = False) -> None:
    """Show a model file's header (version, training arguments, data, metrics) and summary.

    [dim]Example:[/] cnnkit info model.npz
    """
    path = resolve_model(model)
    with common.user_errors():
        from cnnkit.nn.io import load_model

        network, header = load_model(path)
    if as_json:
        common.print_json({"path": str(path), **header})
        return
    out = common.out
    text = common.escape  # the header is the file's content: never markup
    out.print(f"[bold]{text(path)}[/]: {text(header['format'])} v{header['format_version']}, "
              f"written by cnnkit {text(header['cnnkit_version'])}")
    training = {k: v for k, v in header.get("training", {}).items() if k != "history"}
    if training:
        out.print("training: " + text(", ".join(f"{k}={v}" for k, v in training.items())))
    metrics = header.get("metrics", {})
    if metrics:
        out.print("metrics: " + text(", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())))
    data = header.get("data", {})
    if data:
        out.print(f"data: {common.escape(data.get('source'))}")
    from cnnkit.nn.io import class_names

    names = class_names(header, int(network.output_shape[-1]))
    out.print("classes: " + text(", ".join(names)))
    image = header.get("image")
    if image:
        size = image.get("size", [0, 0])
        prepared = f", prepared as {image['prepare']}" if image.get("prepare") else ""
        out.print(text(f"pictures: {size[1]}x{size[0]} {image.get('color')}, fitted by "
                       f"{image.get('fit')}{prepared}"))
    _print_summary(network, False)
