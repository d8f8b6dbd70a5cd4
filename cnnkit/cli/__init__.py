"""Command-line front end: thin commands that parse, call the library and report.

Importing a command module registers its commands on the Typer app (``cli/root.py``). Typer
builds every registered command's options when the app runs, and a one-picture command
should not pay for the fourteen it does not run: the ``cnnkit`` command registers only the
module of the command it was given (:func:`app_for`). ``cnnkit.cli.app`` is the app with
every command, as help, a mistyped name and the tests see it.

The command modules do not use ``from __future__ import annotations``: Typer evaluates a
command's string annotations (``Annotated[..., typer.Option(...)]``) two or three times over
while it builds the command (``typing.get_type_hints``). Evaluated once, as the module is
imported, they cost ``filter`` 13 ms less from its import to its first line of work (39 ->
26 ms, median of 15, docs/benchmarks.md).

Before any of that, :mod:`cnnkit.cli.quick` may run a plainly valid ``cnnkit filter`` or
``cnnkit predict`` without Typer at all (``cnnkit/__main__.py``).
"""

from __future__ import annotations

import importlib

# Each command's module; modules register in this order, which is the order within a panel.
MODULES = {
    "filter": "filter_cmd", "pool": "pool_cmd", "stack": "pool_cmd",
    "explain": "explain_cmd", "kernels": "kernels_cmd",
    "train": "train_cmd", "evaluate": "evaluate_cmd", "summary": "model_cmd",
    "info": "model_cmd", "predict": "predict_cmd", "serve": "serve_cmd",
    "featuremaps": "pictures_cmd", "filters": "pictures_cmd", "plot": "pictures_cmd",
    "data": "data_cmd",
}
_HELP = ("-h", "--help")


def register(command: str | None = None) -> None:
    """Register ``command``'s module, or every module for None or a name that is not a
    command (so the error can list the commands and suggest the nearest)."""
    wanted = [MODULES[command]] if command in MODULES else dict.fromkeys(MODULES.values())
    for module in wanted:
        importlib.import_module(f"cnnkit.cli.{module}")


def command_in(argv: list[str]) -> str | None:
    """The command ``argv`` (the arguments after ``cnnkit``) runs: the first word that is not
    an option, unless help for the whole tool comes first; else None."""
    for word in argv:
        if word in _HELP:
            return None
        if not word.startswith("-"):
            return word
    return None


def app_for(argv: list[str]):
    """The Typer app, with the commands needed to run ``argv`` registered."""
    from cnnkit.cli.root import app

    register(command_in(argv))
    return app


def __getattr__(name: str):
    if name == "app":  # every command
        return app_for([])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    from cnnkit.__main__ import main as guarded_main

    guarded_main()
