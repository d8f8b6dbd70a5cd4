"""Command-line front end: thin commands that parse, call the library and report."""

# Importing a module registers its commands; within a help panel they are listed in this order.
from cnnkit.cli import (  # noqa: F401, I001
    filter_cmd,
    pool_cmd,
    explain_cmd,
    kernels_cmd,
    train_cmd,
    evaluate_cmd,
    model_cmd,
    predict_cmd,
    serve_cmd,
    pictures_cmd,
    data_cmd,
)
from cnnkit.cli.app import app  # noqa: F401


def main() -> None:
    from cnnkit.__main__ import main as guarded_main

    guarded_main()
