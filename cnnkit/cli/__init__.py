"""Command-line front end: thin commands that parse, call the library and report."""

from cnnkit.cli import (  # noqa: F401  (importing a module registers its commands)
    data_cmd,
    explain_cmd,
    filter_cmd,
    kernels_cmd,
    model_cmd,
    pictures_cmd,
    pool_cmd,
    predict_cmd,
    serve_cmd,
)
from cnnkit.cli.app import app


def main() -> None:
    from cnnkit.__main__ import main as guarded_main

    guarded_main()
