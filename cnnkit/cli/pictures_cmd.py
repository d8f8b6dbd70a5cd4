"""``cnnkit featuremaps``, ``filters`` and ``plot``: pictures of what the CNN learned."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.overview import PICTURES
from cnnkit.cli.root import app
from cnnkit.cli.filter_cmd import Force
from cnnkit.cli.model_opts import ModelOption, resolve_model
from cnnkit.cli.predict_cmd import Preprocess


class Stage(str, Enum):
    conv = "conv"
    relu = "relu"
    pool = "pool"


STAGE_LABELS = {"conv": ("conv2d before ReLU", True), "relu": ("conv2d + ReLU", False),
                "pool": ("after max pooling 2x2", False)}


@app.command("featuremaps", rich_help_panel=PICTURES)
def featuremaps_command(
    image: Annotated[Path, typer.Argument(help="A picture of a digit.", exists=True,
                                          dir_okay=False, show_default=False)],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="PNG to write (default: IMAGE_featuremaps.png beside it).",
        dir_okay=False, show_default=False)] = None,
    model: ModelOption = None,
    layer: Annotated[Optional[list[str]], typer.Option(
        "--layer", help="What to show, repeatable: a conv or pooling layer by name (conv2d_1, "
        "max_pooling2d; see cnnkit summary), or a stage of the first block: conv (signed, "
        "before ReLU), relu, pool. Default: relu and pool, or the first conv layer of a model "
        "that does not start with conv then maxpool.", show_default=False)] = None,
    preprocess: Annotated[Preprocess, typer.Option(
        "--preprocess", help="mnist: make any picture MNIST-like; none: already 28x28.")
    ] = Preprocess.mnist,
    force: Force = False,
    as_json: Annotated[bool, typer.Option("--json", help="Per-stage value ranges as JSON.")
                       ] = False,
) -> None:
    """The feature maps a conv or pooling layer makes of a digit, as labelled grids.

    [dim]Example:[/] cnnkit featuremaps samples/digits/0_7.jpg -o maps.png
    """
    stages = list(dict.fromkeys(layer or []))
    target = common.picture_target(output or image.with_name(f"{image.stem}_featuremaps.png"),
                                   force)
    path = resolve_model(model)
    with common.user_errors():
        import numpy as np

        from cnnkit import digits
        from cnnkit.imaging import io as imaging
        from cnnkit.nn.io import load_model
        from cnnkit.viz import figures

        network, header = load_model(path)
        scale = np.float32(header.get("input", {}).get("pixel_scale", 1 / 255))
        picture = imaging.read_image(image, grey=True)
        prepared = (digits.prepare_raw(picture) if preprocess is Preprocess.none
                    else digits.prepare_digit(picture))
        x = (prepared.digit * scale)[..., None].astype(np.float32)
        panels = _panels(network, x, stages)
        probs = network.predict_proba(x[None])[0]
        guess = int(probs.argmax())
        figure = figures.feature_maps(x[..., 0], panels, f"read as {guess} ({probs[guess]:.1%})")
        common.save_picture(figure.image, target, force)
    if as_json:
        common.print_json({"input": str(image), "output": str(target), "prediction": guess,
                           "confidence": float(probs[guess]), "stages": {
                               s.key: {"shape": list(s.maps.shape), "min": float(s.maps.min()),
                                       "max": float(s.maps.max())} for s in panels}})
        return
    common.err.print(f"[green]wrote[/] {common.escape(target)} ({figure.image.width}x"
                     f"{figure.image.height}; read as {guess}, {probs[guess]:.1%})")


def _panels(network, x, stages: list[str]) -> list:
    """The figure's stages: first-block stages by word, any conv or pooling layer by name."""
    from cnnkit.errors import CnnkitError
    from cnnkit.nn import layers as L
    from cnnkit.nn import probe
    from cnnkit.viz import figures

    try:
        probe.first_block(network)
        has_block = True
    except CnnkitError:
        has_block = False
    if not stages:
        stages = (["relu", "pool"] if has_block else [probe.find_layer(network, None).name])
    words = [s for s in stages if s in STAGE_LABELS]
    if words and not has_block:
        raise CnnkitError(f"--layer {words[0]}: this model does not start with conv then "
                          f"maxpool; name a layer instead (see cnnkit summary)")
    block = probe.feature_maps(network, x) if words else {}
    kinds = (L.Conv2D, L.MaxPool2D, L.AveragePooling2D)
    named = [probe.find_layer(network, s, kinds) for s in stages if s not in STAGE_LABELS]
    maps = probe.layer_outputs(network, x, [layer.name for layer in named])
    panels = []
    for stage in stages:
        if stage in STAGE_LABELS:
            label, signed = STAGE_LABELS[stage]
            panels.append(figures.MapStage(stage, label, block[stage], signed))
            continue
        layer = next(layer for layer in named if layer.name == stage)
        signed = isinstance(layer, L.Conv2D) and layer.activation != "relu"
        height, width, count = layer.output_shape
        panels.append(figures.MapStage(stage, f"{layer.name} ({layer.kind}): {count} maps of "
                                       f"{height}x{width}", maps[stage], signed))
    return panels


@app.command("filters", rich_help_panel=PICTURES)
def filters_command(
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="PNG of the kernels.", dir_okay=False, show_default=False)
    ] = None,
    model: ModelOption = None,
    layer: Annotated[Optional[str], typer.Option(
        "--layer", help="The conv layer to draw, by name (default: the first; see cnnkit "
        "summary).", show_default=False)] = None,
    channel: Annotated[Optional[int], typer.Option(
        "--channel", min=0, help="For a layer reading several channels: draw the kernel "
        "slices of this input channel (default: each kernel summed over its channels).",
        show_default=False)] = None,
    as_kernels: Annotated[Optional[Path], typer.Option(
        "--as-kernels", help="Also write each kernel as a text file (conv_07.txt) here, for "
        "cnnkit filter --kernel-file.", file_okay=False, show_default=False)] = None,
    force: Force = False,
) -> None:
    """The learned kernels of a conv layer (the first by default), enlarged with their values.

    Apply one to any picture with [bold]cnnkit filter --kernel model:conv/7 photo.jpg[/].
    [dim]Example:[/] cnnkit filters -o filters.png
    """
    if output is None and as_kernels is None:
        output = Path("filters.png")
    if output is not None:
        common.picture_target(output, force)
    path = resolve_model(model)
    with common.user_errors():
        from cnnkit.nn import probe
        from cnnkit.nn.io import load_model
        from cnnkit.viz import figures

        network, _ = load_model(path)
        conv = probe.find_layer(network, layer)
        bank, shown = probe.conv_kernels(conv, channel)
        bias = conv.params["bias"]
        if as_kernels is not None:
            files = _export_kernels(bank, bias, path, as_kernels, force, conv.name, shown)
        if output is not None:
            first = conv is probe.find_layer(network, None)  # its tiles read model:conv/N
            figure = figures.filter_bank(bank, bias, "conv" if first else conv.name, shown)
            common.save_picture(figure.image, output, force)
    if output is not None:
        common.wrote(output)
    if as_kernels is not None:
        common.err.print(f"[green]wrote[/] {len(files)} kernels to {common.escape(as_kernels)}; "
                         f"apply one with: cnnkit filter --kernel-file "
                         f"{common.escape(files[-1])} --op corr IMAGE")


def _export_kernels(bank, bias, model_path: Path, folder: Path, force: bool,
                    layer: str = "conv2d", shown: str = "") -> list[Path]:
    """One text file per kernel, in the format ``--kernel-file`` reads; all checked first."""
    from cnnkit.files import atomic_path, check_target, make_dir

    targets = [folder / f"conv_{f:02d}.txt" for f in range(bank.shape[-1])]
    if folder.is_dir():
        for target in targets:
            check_target(target, force)
    make_dir(folder)
    for f, target in enumerate(targets):
        rows = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in bank[..., f])
        text = (f"# kernel {f} of {layer} in {model_path.name}"
                f"{' (' + shown + ')' if shown else ''} (a correlation: use --op corr)\n"
                f"# the layer adds bias {bias[f]:.9g} to inputs scaled to 0..1\n{rows}\n")
        with atomic_path(target, force=force) as tmp:
            tmp.write_text(text)
    return targets


@app.command("plot", rich_help_panel=PICTURES)
def plot_command(
    history: Annotated[Path, typer.Argument(
        help="history.json or .csv from cnnkit train, or a model file.", exists=True,
        dir_okay=False, show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG to write.",
                                         dir_okay=False)] = Path("curves.png"),
    force: Force = False,
) -> None:
    """Learning curves: loss and accuracy per epoch, train against validation (matplotlib).

    [dim]Example:[/] cnnkit plot digit_classifier.history.json -o curves.png
    """
    common.picture_target(output, force)
    with common.user_errors():
        from cnnkit.viz import charts

        charts.require_matplotlib()
        records = charts.read_history(history)
        charts.learning_curves(records, output, title=history.name, force=force)
    common.err.print(f"[green]wrote[/] {common.escape(output)} ({len(records)} epochs)")

