"""Shared fixtures: small images written to tmp_path, the CLI runner, a local HTTP server."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent


def python_output(code: str, env: dict | None = None) -> str:
    """What ``python -c code`` prints, run from the repository root; an error fails the test."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=env, check=True).stdout.strip()
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


class _Handler(http.server.SimpleHTTPRequestHandler):
    drop_after: int | None = None

    def log_message(self, *args):
        pass

    def copyfile(self, source, outputfile):
        if self.drop_after is None:
            return super().copyfile(source, outputfile)
        outputfile.write(source.read(self.drop_after))  # then hang up, mid-file


@pytest.fixture
def serve(tmp_path):
    """Start a server on 127.0.0.1 for a folder; returns its base URL. Stopped after the test."""
    servers = []

    def start(folder: Path, drop_after: int | None = None) -> str:
        handler = type("H", (_Handler,), {"drop_after": drop_after})
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
