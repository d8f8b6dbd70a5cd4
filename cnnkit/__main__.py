"""``python -m cnnkit`` and the ``cnnkit`` command.

Ctrl-C must never print a traceback, even while the first imports run: until the commands
are loaded, SIGINT ends the process quietly with exit code 130; after that the commands turn
KeyboardInterrupt into one line themselves.
"""

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
        from cnnkit.cli import app_for

        app = app_for(sys.argv[1:])  # only the command being run is registered
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        app()
    except KeyboardInterrupt:  # between a command's end and the exit
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
