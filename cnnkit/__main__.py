"""``python -m cnnkit``."""

from cnnkit.cli import main

main()
