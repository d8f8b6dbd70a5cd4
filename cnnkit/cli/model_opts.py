"""What the model commands share: their help panels and options (and, from
``cli/model_use.py``, model resolution and thread limits)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli.model_use import limit_threads, resolve_model  # noqa: F401 - for the commands
from cnnkit.cli.overview import CNNS

DIGITS = CNNS  # the panel of the commands that use a model
RECIPE = "Recipe (defaults reach 99.2%+ test accuracy)"

Threads = Annotated[Optional[int], typer.Option(
    "--threads", min=1, help="Numba threads (default: all cores).", show_default=False)]
NoVerify = Annotated[bool, typer.Option(
    "--no-verify", help="Accept IDX files that are not the official MNIST (after structural "
    "checks).")]
ModelArg = Annotated[Optional[Path], typer.Argument(
    help="A model file (default: the bundled digit_classifier).", show_default=False)]
ModelOption = Annotated[Optional[Path], typer.Option(
    "--model", "-m", help="Model file (default: the bundled digit_classifier).",
    show_default=False)]
