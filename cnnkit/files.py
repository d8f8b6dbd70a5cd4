"""Atomic writes: a crash never leaves a half-written file or destroys the previous one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cnnkit.errors import OutputExistsError


@contextlib.contextmanager
def atomic_path(target: Path, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The temporary file keeps the target's suffix so writers that pick a format from the
    extension (Pillow, numpy) still do. On any exception the temporary file is removed
    and ``target`` is left exactly as it was.
    """
    target = Path(target)
    if not force and target.exists():
        raise OutputExistsError(f"{target}: exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the file the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
