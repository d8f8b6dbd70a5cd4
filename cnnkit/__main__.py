"""``python -m cnnkit`` and the ``cnnkit`` command.

Ctrl-C must never print a traceback, even while the first imports run: until the commands
are loaded, SIGINT ends the process quietly with exit code 130; after that the commands turn
KeyboardInterrupt into one line themselves.

``run`` is the process: ``main``, then an exit that skips the garbage collector's passes.
``main`` alone is for callers that go on running (tests call it in process).
"""

import gc
import os
import signal
import sys


def _quiet_exit(signum, frame):
    sys.stderr.write("error: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def main() -> None:
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not when the caller ignores SIGINT
        signal.signal(signal.SIGINT, _quiet_exit)
    try:
        from cnnkit.cli.overview import show

        code = show(sys.argv[1:])  # `cnnkit` and `cnnkit --help`, without importing Typer
        if code is not None:
            sys.exit(code)
        from cnnkit.cli import quick

        command = quick.parse(sys.argv[1:])  # a plainly valid `filter` or `predict`: no Typer
        if command is None:
            from cnnkit.cli import app_for

            app = app_for(sys.argv[1:])  # only the command being run is registered
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        if command is not None:
            sys.exit(command())
        app()
    except KeyboardInterrupt:  # between a command's end and the exit
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)


def run() -> None:
    """``main`` as the whole process. At exit, Python clears every module and runs the
    garbage collector over the ~30,000 objects numpy, Pillow and Typer leave; freezing them
    first (they are moved out of the collector's sight, not freed) lets the exit skip the
    passes: a 1 MP filter 0.59 -> 0.51 s, ``predict one.jpg`` 0.40 -> 0.35 s (medians of 15
    and 11 runs alternating with the tree before, docs/benchmarks.md). Everything else
    about the exit is unchanged: atexit handlers, flushes, waiting for threads."""
    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    run()
