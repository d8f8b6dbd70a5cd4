"""Writing outputs: atomic files, and all-or-nothing groups of them.

Every file cnnkit writes goes through :func:`atomic_path`: the data goes to a temporary file
beside the target, renamed over it only when complete, so a crash never leaves a half-written
file or destroys the previous one.

A command that writes several files runs inside :func:`transaction`: each finished file waits
under its temporary name and all are renamed together when the command succeeds; on any
failure (a bad input, a full disk, Ctrl-C) every temporary file and every folder the run
created is removed. Nothing new is left behind and no existing file is touched.

Output files never create folders: ``-o no/such/dir/out.png`` is refused. Options that name a
folder for outputs (``--out-dir``, ``--stages``, ...) create that one folder with
:func:`make_dir` (its parent must exist), and it is removed again if the run fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

from cnnkit.errors import CnnkitError, OutputExistsError, WriteError, os_message


def check_source(path: Path, what: str = "file", error: type = CnnkitError) -> None:
    """Refuse, with ``error``, an input that is missing, a folder, or not a regular file: a
    named pipe or a device would block or never end when read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise error(os_message(exc, "read", path)) from None
    import stat

    if stat.S_ISDIR(mode):
        raise error(f"{path}: is a folder, expected a {what}")
    if not stat.S_ISREG(mode):
        raise error(f"{path}: not a regular file (a pipe or a device), expected a {what}")


class Transaction:
    """Files finished but not yet renamed into place, and folders made, in order."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path, bool]] = []  # (temporary, target, force)
        self.made: list[Path] = []

    def targets(self) -> set[Path]:
        return {target.absolute() for _, target, _ in self.pending}

    def add(self, tmp: Path, target: Path, force: bool) -> None:
        if target.absolute() in self.targets():
            raise WriteError(f"{target}: two outputs of this run would have the same name "
                             f"(rename one input or use -o)")
        self.pending.append((tmp, target, force))

    def absorb(self, inner: "Transaction") -> None:
        for tmp, target, force in inner.pending:
            self.add(tmp, target, force)
        self.made.extend(inner.made)

    def commit(self) -> None:
        """Rename every pending file into place; first check that none appeared meanwhile."""
        pending, self.pending = self.pending, []
        created: list[Path] = []  # new files already renamed, undone if a later rename fails
        try:
            for _, target, force in pending:
                if not force and target.exists():
                    raise OutputExistsError(f"{target}: exists (use --force to overwrite)")
            while pending:
                tmp, target, _ = pending[0]
                existed = target.exists()
                try:
                    os.replace(tmp, target)
                except OSError as exc:
                    raise WriteError(os_message(exc, "write", target)) from None
                if not existed:
                    created.append(target)
                pending.pop(0)
        except BaseException:
            for path in created + [tmp for tmp, _, _ in pending]:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            self.rollback_folders()
            raise
        self.made = []

    def rollback(self) -> None:
        for tmp, _, _ in self.pending:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        self.pending = []
        self.rollback_folders()

    def rollback_folders(self) -> None:
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: a folder that holds other files stays
        self.made = []


_ACTIVE: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "cnnkit_transaction", default=None)


@contextlib.contextmanager
def transaction() -> Iterator[Transaction]:
    """Group the writes inside: all renamed into place at the end, or none on an exception.

    Nested, the inner group's files join the outer one when it ends well, and only its own
    files are removed when it fails (a batch keeps going past one bad input).
    """
    outer = _ACTIVE.get()
    tx = Transaction()
    token = _ACTIVE.set(tx)
    try:
        yield tx
    except BaseException:
        _ACTIVE.reset(token)
        tx.rollback()
        raise
    _ACTIVE.reset(token)
    try:
        if outer is not None:
            outer.absorb(tx)
        else:
            tx.commit()
    except BaseException:
        tx.rollback()
        raise


def active() -> Transaction | None:
    """The transaction writes join now, or None."""
    return _ACTIVE.get()


@contextlib.contextmanager
def activate(tx: Transaction | None) -> Iterator[None]:
    """Make ``tx`` the transaction writes join, for work done ahead on behalf of a run (a
    batch preparing several files at once)."""
    token = _ACTIVE.set(tx)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def run_apart(work, *args):
    """``work(*args)`` with its writes in a transaction of its own, which it returns beside
    the result (for :func:`keep`); on failure its files are removed and the error raised.
    Works in any thread: a batch may prepare several files at once."""
    tx = Transaction()
    try:
        with activate(tx):
            result = work(*args)
    except BaseException:
        tx.rollback()
        raise
    return result, tx


def keep(tx: Transaction) -> None:
    """Add the writes of ``tx`` to the transaction active here, or rename them into place
    now if there is none."""
    outer = _ACTIVE.get()
    if outer is not None:
        outer.absorb(tx)
    else:
        tx.commit()


def commit_now() -> None:
    """Rename the files finished so far into place (e.g. a trained model, before its
    checkpoint is deleted). Does nothing outside a transaction."""
    tx = _ACTIVE.get()
    if tx is not None:
        tx.commit()


def make_dir(folder: Path) -> Path:
    """Create the output folder ``folder`` if missing (not its parents); a run that fails
    removes it again. Raises WriteError naming the folder and the cause."""
    folder = Path(folder)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise WriteError(f"{folder}: cannot write into it: it is a file, not a folder")
    parent = folder.parent
    if not parent.is_dir():
        raise WriteError(f"{folder}: cannot create the folder: {parent} does not exist "
                         f"(create it first)")
    try:
        folder.mkdir()
    except FileExistsError:
        return folder
    except OSError as exc:
        raise WriteError(os_message(exc, "create the folder", folder)) from None
    tx = _ACTIVE.get()
    if tx is not None:
        tx.made.append(folder)
    return folder


def check_target(target: Path, force: bool) -> None:
    """Refuse, before any work, an output that exists without ``force`` or whose folder is
    missing. Raises OutputExistsError or WriteError."""
    target = Path(target)
    if target.is_dir():
        raise WriteError(f"{target}: is a folder; give a file name")
    if target.exists() and not target.is_file():  # /dev/null with --force must stay a device
        raise WriteError(f"{target}: not a regular file (a device or pipe); cnnkit writes "
                         f"only to regular files")
    if not force and (target.exists() or target.is_symlink()):
        raise OutputExistsError(f"{target}: exists (use --force to overwrite)")
    parent = target.parent
    if not parent.is_dir():
        why = "is not a folder" if parent.exists() else "does not exist"
        raise WriteError(f"{target}: cannot write: the folder {parent} {why} "
                         f"(cnnkit does not create folders for output files)")
    # Known now, not after an hour of training: a read-only or forbidden folder.
    try:
        read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    if read_only:
        raise WriteError(f"{target}: cannot write: read-only file system")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WriteError(f"{target}: cannot write: permission denied")


@contextlib.contextmanager
def atomic_path(target: Path, *, force: bool = True, now: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The temporary file keeps the target's suffix so writers that pick a format from the
    extension (Pillow, numpy) still do. On any exception the temporary file is removed and
    ``target`` is left exactly as it was; an OSError while writing becomes a WriteError
    naming ``target`` and the cause. Inside a :func:`transaction` the rename waits for the
    end of the run, unless ``now`` (a checkpoint must be on disk as soon as it is written).
    """
    target = Path(target)
    check_target(target, force)
    try:
        import tempfile  # here: a command that writes nothing need not import it

        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.stem[:80]}.", suffix=f".tmp{target.suffix[:16]}",
            dir=target.parent)
    except OSError as exc:
        raise WriteError(os_message(exc, "write", target)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    kept = False
    try:
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        try:
            yield tmp
        except OSError as exc:
            raise WriteError(os_message(exc, "write", target)) from None
        tx = None if now else _ACTIVE.get()
        if tx is not None:
            tx.add(tmp, target, force)
            kept = True
            return
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise WriteError(os_message(exc, "write", target)) from None
    finally:
        if not kept:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
