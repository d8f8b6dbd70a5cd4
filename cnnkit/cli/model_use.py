"""Model resolution and thread limits for the model commands, without Typer (a command that
:mod:`cnnkit.cli.quick` runs never imports it)."""

from __future__ import annotations

from pathlib import Path

from cnnkit.cli import common


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
