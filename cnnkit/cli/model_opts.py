"""What the model commands share: their help panels, options and model resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
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


def limit_threads(threads: int | None):
    """Numba gets the cores; BLAS gets one thread, because OpenBLAS workers spin after each
    matmul and starve Numba's (a training step measured 8.8 ms with one BLAS thread, 15.4 ms
    with two)."""
    from threadpoolctl import threadpool_limits

    from cnnkit.ops._jit import set_threads

    set_threads(threads)
    return threadpool_limits(1, user_api="blas")


def resolve_model(model: Path | None) -> Path:
    from cnnkit.nn.io import BUNDLED_MODEL

    if model is not None:
        return model
    if not BUNDLED_MODEL.is_file():
        raise common.fail("no model given and no bundled model installed; pass MODEL")
    return BUNDLED_MODEL
