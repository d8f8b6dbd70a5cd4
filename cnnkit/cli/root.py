"""The Typer application. Command modules register on it; none imports numpy or numba at the
top, so a command's help stays fast (the tool's own overview, ``cnnkit --help``, is drawn
without Typer by :mod:`cnnkit.cli.overview`)."""

from typing import Annotated

import typer

from cnnkit import __version__
from cnnkit.cli import coerce, common
from cnnkit.cli.overview import DESCRIPTION

coerce.install()  # plain option values converted without importing Pydantic


class App(typer.Typer):
    """A Typer app whose commands and callbacks are :func:`common.guarded`."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)
        return lambda f: (register(common.guarded(f)), f)[1]

    def callback(self, *args, **kwargs):
        register = super().callback(*args, **kwargs)
        return lambda f: (register(common.guarded(f)), f)[1]


app = App(
    name="cnnkit",
    help=DESCRIPTION,
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """See what a convolution does to a picture, and train and use a digit CNN."""
    common.STATE.debug = debug
    from cnnkit.cli.notice import install_once

    install_once(common.err)
