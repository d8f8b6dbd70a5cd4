"""Shared fixtures: small images written to tmp_path, and the CLI runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def grey_png(tmp_path, rng) -> Path:
    path = tmp_path / "grey.png"
    Image.fromarray(rng.integers(0, 256, (40, 50), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def rgb_png(tmp_path, rng) -> Path:
    path = tmp_path / "rgb.png"
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(path)
    return path


def invoke(runner, *args):
    """Run the real command in-process; returns the click Result."""
    from cnnkit.cli import app

    return runner.invoke(app, [str(a) for a in args])
