"""Command-line front end: thin commands that parse, call the library and report."""

from cnnkit.cli import data_cmd, filter_cmd, kernels_cmd, model_cmd  # noqa: F401  (registers the commands)
from cnnkit.cli.app import app


def main() -> None:
    app()
