"""Bounds checked before large arrays are made: pixels against ``--max-pixels``, bytes
against the memory the machine has free.

A refusal names the size that was asked for, the bound, and the option that changes it, so
a user never meets numpy's "Unable to allocate 37.3 GiB" half way through a command.
"""

from __future__ import annotations

import os

from cnnkit.errors import LimitError

# Share of the available memory one command may plan to use: the rest is for the decoded
# picture's copies that are not counted, the interpreter and other programs.
MEMORY_SHARE = 0.8
# ``cnnkit train --drawn``: 78 MB of digits, drawn in about a minute
MAX_DRAWN = 100_000


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size_text(nbytes: float) -> str:
    """1.5 GB, 820 MB, 12 KB: decimal units, as file managers show."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:,.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return ""


def pixels_text(count: int) -> str:
    """'12.0 megapixels' for large counts, '3,072 pixels' for small ones."""
    return f"{count / 1e6:,.1f} megapixels" if count >= 100_000 else f"{count:,} pixels"


def check_pixels(height: int, width: int, max_pixels: int, option: str,
                 source: object = "") -> None:
    """Refuse a picture of ``height`` x ``width`` above ``max_pixels``, naming ``option``
    (what asked for that size) and ``--max-pixels`` (what raises the bound)."""
    count = int(height) * int(width)
    if count > max_pixels:
        where = f"{source}: " if source != "" else ""
        raise LimitError(f"{where}{option} would make a {width}x{height} picture "
                         f"({pixels_text(count)}), above the limit of "
                         f"{pixels_text(max_pixels)} (raise it with --max-pixels)")


def check_memory(nbytes: int, what: str, hint: str) -> None:
    """Refuse to start work that needs about ``nbytes`` when the machine has less free.

    ``what`` says what the memory is for; ``hint`` which option lowers it.
    """
    free = available_memory()
    if free is not None and nbytes > MEMORY_SHARE * free:
        raise LimitError(f"{what} needs about {size_text(nbytes)} of memory, more than the "
                         f"{size_text(free)} available; {hint}")
