"""Options and helpers the commands share for folder datasets (``--images DIR``): parsing
the picture options, loading with a progress bar, and saying once what was skipped."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common

PICTURES = "Your own pictures (--images DIR)"


class Color(str, Enum):
    grey = "grey"
    rgb = "rgb"


class Fit(str, Enum):
    pad = "pad"
    stretch = "stretch"
    crop = "crop"


class PrepareKind(str, Enum):
    digits = "digits"


Images = Annotated[Optional[Path], typer.Option(
    "--images", help="A folder dataset: DIR/<class>/*.png|jpg|... (or DIR/train/<class>/... "
    "and DIR/test/<class>/...) instead of MNIST.", file_okay=False, show_default=False,
    rich_help_panel=PICTURES)]
ImageSize = Annotated[Optional[str], typer.Option(
    "--image-size", help="Pictures are fitted to this size: 28 or WIDTHxHEIGHT (default: 28, "
    "or the --init model's).", show_default=False, rich_help_panel=PICTURES)]
ColorOption = Annotated[Optional[Color], typer.Option(
    "--color", help="grey (1 channel) or rgb (3) (default: grey, or the --init model's).",
    show_default=False, rich_help_panel=PICTURES)]
FitOption = Annotated[Fit, typer.Option(
    "--fit", help="pad: scale to fit, pad with the border colour (keeps the whole picture "
    "and its shape); stretch; crop: scale to cover, cut the middle.",
    rich_help_panel=PICTURES)]
Prepare = Annotated[Optional[PrepareKind], typer.Option(
    "--prepare", help="digits: make every picture MNIST-like exactly as 'cnnkit predict' "
    "does (28x28 grey).", show_default=False, rich_help_panel=PICTURES)]
Strict = Annotated[bool, typer.Option(
    "--strict", help="An unreadable picture is an error (default: skipped and counted).",
    rich_help_panel=PICTURES)]


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``--image-size``: "28" (square) or "32x24" (width x height) -> (height, width)."""
    if text is None:
        return None
    parts = text.lower().replace(" ", "").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise common.fail(f"--image-size takes a side (28) or WIDTHxHEIGHT (32x24), got "
                          f"{text!r}", 2)
    width, height = values if len(values) == 2 else values * 2
    return height, width


def folder_options(size: tuple[int, int] | None, color: Color | None, fit: Fit,
                   prepare: PrepareKind | None, init_shape: tuple[int, ...] | None = None):
    """The FolderOptions for these command-line options; a size or colour not given comes
    from ``init_shape`` (H, W, C) of a model being fine-tuned."""
    from cnnkit.data.folder import FolderOptions

    if size is None:
        size = tuple(init_shape[:2]) if init_shape else (28, 28)
    if color is None:
        color = "rgb" if init_shape and init_shape[2] == 3 else "grey"
    else:
        color = color.value
    return FolderOptions(size=size, color=color, fit=fit.value,
                         prepare=prepare.value if prepare else None)


def image_header(options) -> dict:
    """The model file's ``image`` field: how its pictures were made."""
    return {"size": list(options.size), "color": options.color, "fit": options.fit,
            "prepare": options.prepare}


def options_from_header(image: dict):
    """FolderOptions from a model's ``image`` field (the same preparation as in training)."""
    from cnnkit.data.folder import FolderOptions

    size = image.get("size", [28, 28])
    return FolderOptions(size=(int(size[0]), int(size[1])), color=image.get("color", "grey"),
                         fit=image.get("fit", "pad"), prepare=image.get("prepare"))


def load_images(root: Path, options, split: str | None, strict: bool, quiet: bool):
    """Load a folder dataset with a progress bar on stderr; say once what was skipped and
    how mixed pictures were fitted. Raises CnnkitError for every problem of the folder."""
    from cnnkit.data.folder import FolderDataset, load_events

    dataset = None
    with common.progress(2, quiet, "pictures") as bar:
        task = None
        preparer = None
        if options.prepare == "digits":
            from cnnkit.digits.from_file import digit_from_file as preparer
        for event in load_events(root, options, split=split, strict=strict,
                                 preparer=preparer):
            if isinstance(event, FolderDataset):
                dataset = event
                break
            if task is None:
                task = bar.add_task("", total=event.total)
            bar.update(task, completed=event.done, description=event.stage)
    if not quiet:
        where = common.escape(dataset.root)
        source = " (from the cache)" if dataset.from_cache else ""
        common.err.print(f"{where}: {len(dataset.labels):,} pictures in "
                         f"{len(dataset.classes)} classes{source}")
        for note in dataset.notes:
            common.err.print(f"[dim]note:[/] {common.escape(note)}")
    if dataset.skipped:
        first, why = dataset.skipped[0]
        common.err.print(f"[yellow]skipped {len(dataset.skipped):,} unreadable "
                         f"picture{'s' if len(dataset.skipped) > 1 else ''}[/] (first: "
                         f"{common.escape(first)}: {common.escape(why)}); --strict makes "
                         f"this an error")
    return dataset


def folder_info(dataset) -> dict:
    """The model file's ``data`` field for a folder dataset."""
    return {"source": dataset.root, "kind": "folder", "pictures": int(len(dataset.labels)),
            "skipped": len(dataset.skipped), "contents_sha256": dataset.key}
