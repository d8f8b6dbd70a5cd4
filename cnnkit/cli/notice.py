"""The one-line notice with a spinner while Numba compiles (first run on a machine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

MESSAGE = "compiling cnnkit's kernels for this machine (first run only, cached after)"


class CompileNotice:
    """Shows ``MESSAGE`` with a spinner on ``console`` while compiling, only on a terminal."""

    def __init__(self, console: Console):
        self.console = console
        self.status = None

    def start(self) -> None:
        if not self.console.is_terminal:
            return
        from rich.errors import LiveError

        status = self.console.status(MESSAGE, spinner="dots")
        try:
            status.start()
        except LiveError:  # a progress bar is showing: one plain line above it
            self.console.print(MESSAGE, style="dim")
            return
        self.status = status

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


_INSTALLED: list[CompileNotice] = []


def install_once(console: Console) -> None:
    """:func:`install`, the first time it is called in this process."""
    if not _INSTALLED:
        _INSTALLED.append(install(console))


def install(console: Console) -> CompileNotice:
    """Register the notice with ``cnnkit.ops.compiling`` (which does not import Numba)."""
    from cnnkit.ops import compiling

    notice = CompileNotice(console)
    compiling.hooks.append((notice.start, notice.stop))
    return notice
