"""A hostile user's run against every command, as real processes, with its own set of cases.

Each case builds its inputs in a fresh folder, records every file (and its SHA-256) before,
runs ``python -m cnnkit ...`` and then judges the result by the bar of issue 13:

* traceback      : "Traceback" anywhere in the output
* exit 0         : the command succeeded on input it should have refused
* partial output : a new file or folder is left behind after a failure
* damaged        : an existing file changed after a failure
* unclear        : not exactly one ``error:`` line, the line misses the file or cause it must
                   name, or it carries a library's raw text (errno numbers, numpy's pickle
                   advice, attribute errors, Python warnings)

Real read-only and full file systems are small tmpfs mounts made per case (needs root and
CAP_SYS_ADMIN; the cases are skipped otherwise). A few good inputs run too, so a broken
install that fails everything cannot pass.

    PYTHONPATH=. python bench/hostile_run.py            # prints the table, exit 1 on any fault
    PYTHONPATH=. python bench/hostile_run.py --list     # the cases only
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "cnnkit" / "models" / "digit_classifier.npz"
RAW_TEXT = ("Errno", "allow_pickle", "pickle.load", "has no attribute", "unexpected ",
            "NoneType", "_ArrayMemoryError", "Warning:", "Unable to allocate", "Traceback")


@dataclass
class Case:
    name: str
    argv: list
    setup: object = None  # callable(folder) -> None, may write inputs and precious files
    needles: tuple = ()  # the error line must hold these (file name, cause)
    good: bool = False  # a control: must succeed
    mount: str | None = None  # "full" or "ro": the case's "out" folder is such a tmpfs
    signal_after: float | None = None  # send SIGINT after this many seconds
    code: int | None = None  # the exit code expected, when it is not simply non-zero
    allowed: tuple = ()  # suffixes of files that may remain (a training checkpoint)
    results: dict = field(default_factory=dict)


# ---- inputs ------------------------------------------------------------------------------

def _png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _encoded(array, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _digit() -> np.ndarray:
    array = np.full((48, 40), 230, np.uint8)
    array[10:38, 17:23] = 15
    return array


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def _png16_truncated() -> bytes:
    header = struct.pack(">IIBBBBB", 30, 30, 16, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x12\x34" * 90 for _ in range(30))
    body = zlib.compress(rows)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body[:len(body) // 2])


def _png_huge_header() -> bytes:
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + _chunk(b"IEND", b""))


def _png_interlaced_lie() -> bytes:
    header = struct.pack(">IIBBBBB", 10, 10, 8, 0, 0, 0, 1)
    rows = b"\x00" + b"\x80" * 60
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows * 60)) + _chunk(b"IEND", b""))


def _tiff(values) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(values, np.float32), mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


def _bmp_lie() -> bytes:
    data = bytearray(_encoded(np.zeros((8, 8, 3), np.uint8), "BMP"))
    data[18:26] = struct.pack("<ii", 5000, 5000)
    return bytes(data)


PICTURES = {
    "gif-truncated": ("p.gif", lambda: _encoded(_digit(), "GIF")[:60], ("p.gif",)),
    "bmp-header-lies": ("p.bmp", _bmp_lie, ("p.bmp",)),
    "pgm-header-lies": ("p.pgm", lambda: b"P5\n64 64\n255\n" + b"\x80" * 100,
                        ("p.pgm", "truncated")),
    "webp-garbage": ("p.webp", lambda: b"RIFF\x10\x00\x00\x00WEBPVP8 " + os.urandom(64),
                     ("p.webp",)),
    "png16-truncated": ("p.png", _png16_truncated, ("p.png", "truncated")),
    "tiff-all-nan": ("p.tif", lambda: _tiff(np.full((20, 20), np.nan)), ("p.tif", "NaN")),
    "tiff-minus-inf": ("p.tiff", lambda: _tiff(np.where(np.eye(20) > 0, -np.inf, 5.0)),
                       ("p.tiff", "infinite")),
    "png-10-gigapixels": ("p.png", _png_huge_header, ("p.png", "--max-pixels")),
    "png-interlaced-lie": ("p.png", _png_interlaced_lie, ("p.png", "header")),
    "jpeg-zero-bytes": ("p.jpg", lambda: b"", ("p.jpg", "empty")),
    "folder-named-png": ("p.png", "DIR", ("p.png", "folder")),
    "symlink-loop": ("p.png", "LOOP", ("p.png", "symbolic links")),
    "named-pipe": ("p.png", "FIFO", ("p.png", "pipe")),
    "markup-name-missing": ("[red]x:m:\n.png", None, ("[red]x:m:", "no such file")),
}


def _place(folder: Path, name: str, content) -> None:
    path = folder / name
    if content == "DIR":
        path.mkdir()
    elif content == "LOOP":
        path.symlink_to(path.name)
    elif content == "FIFO":
        os.mkfifo(path)
    elif content is not None:
        path.write_bytes(content())


def picture_setup(name, content):
    def setup(folder: Path) -> None:
        _place(folder, name, content)
        (folder / "out").mkdir()
    return setup


def _tiny_mnist(folder: Path, count: int = 64) -> None:
    rng = np.random.default_rng(3)
    folder.mkdir(exist_ok=True)
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">HBBIII", 0, 8, 3, count, 28, 28) + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">HBBI", 0, 8, 1, count) + labels.tobytes())


def _inputs(folder: Path) -> None:
    (folder / "d.png").write_bytes(_png(_digit()))
    (folder / "e.png").write_bytes(_png(255 - _digit()))
    noise = np.random.default_rng(1).integers(0, 256, (160, 160), np.uint8)
    (folder / "n.png").write_bytes(_png(noise))  # its outputs do not fit on the full disk
    (folder / "out").mkdir(exist_ok=True)


def with_inputs(*extra):
    def setup(folder: Path) -> None:
        _inputs(folder)
        for step in extra:
            step(folder)
    return setup


def precious(relative: str):
    def step(folder: Path) -> None:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("precious\n")
    return step


def mnist(count: int = 64):
    return lambda folder: _tiny_mnist(folder / "mnist", count)


def model_variant(kind: str):
    def step(folder: Path) -> None:
        target = folder / "m.npz"
        with np.load(BUNDLED) as archive:
            arrays = {n: archive[n] for n in archive.files}
        header = json.loads(arrays.pop("__header__").tobytes())
        if kind == "null-header":
            raw = np.frombuffer(b"null", np.uint8)
        elif kind == "inf-weights":
            from cnnkit.nn.io import weights_digest
            from cnnkit.nn.model import Sequential

            arrays["conv2d/kernel"] = arrays["conv2d/kernel"].copy()
            arrays["conv2d/kernel"][0, 0, 0, 0] = np.inf
            names = [n for n, _ in Sequential.from_config(header["architecture"]).named_params()]
            header["weights_sha256"] = weights_digest([(n, arrays[n]) for n in names])
            raw = np.frombuffer(json.dumps(header).encode(), np.uint8)
        elif kind == "giant-dense":
            header["architecture"]["layers"][3]["units"] = 10**12
            raw = np.frombuffer(json.dumps(header).encode(), np.uint8)
        else:
            raise ValueError(kind)
        np.savez(target, __header__=raw, **arrays)
    return step


def forged_zip(folder: Path) -> None:
    """A model whose member says it unpacks to 6 GB: the central directory is edited."""
    target = folder / "m.npz"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("__header__.npy", b"\x00" * 4096)
    data = bytearray(target.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", 0xFFFF_FFF0)
    target.write_bytes(bytes(data))


def pk_garbage(folder: Path) -> None:
    (folder / "m.npz").write_bytes(b"PK\x03\x04" + os.urandom(3000))


def gz_bomb(folder: Path) -> None:
    """1 GB of zeros in a 1 MB gzip file, as the test images."""
    _tiny_mnist(folder / "mnist", 16)
    target = folder / "mnist" / "t10k-images-idx3-ubyte"
    target.unlink()
    zeros = b"\x00" * (16 << 20)
    with gzip.open(str(target) + ".gz", "wb", compresslevel=1) as fh:
        fh.write(struct.pack(">HBBIII", 0, 8, 3, 1_300_000, 28, 28))
        for _ in range(64):
            fh.write(zeros)


def label_mismatch(folder: Path) -> None:
    _tiny_mnist(folder / "mnist", 32)
    path = folder / "mnist" / "train-labels-idx1-ubyte"
    path.write_bytes(struct.pack(">HBBI", 0, 8, 1, 31) + bytes(31))


def checkpoint_variant(kind: str):
    def step(folder: Path) -> None:
        from cnnkit.data.mnist import load_split
        from cnnkit.nn.train import TrainConfig, Trainer, save_trainer

        _tiny_mnist(folder / "mnist", 48)
        images, labels = load_split("train", folder / "mnist", verify=False)
        trainer = Trainer(TrainConfig(epochs=2, batch_size=16, val_split=8), images, labels)
        for _ in trainer.run(should_stop=lambda: trainer.state.batch >= 1):
            pass
        path = folder / "run.ckpt.npz"
        save_trainer(trainer, path)
        with np.load(path) as archive:
            arrays = {n: archive[n] for n in archive.files}
        header = json.loads(arrays.pop("__header__").tobytes())
        if kind == "epochs-float":
            header["config"]["epochs"] = 1e9
        elif kind == "order-strings":
            arrays["order"] = np.array(["a"] * len(arrays["order"]))
        elif kind == "batch-negative":
            header["state"]["batch"] = -4
        elif kind == "optimizer-sgd-slots":
            header["config"]["optimizer"] = "sgd"
        np.savez(path, __header__=np.frombuffer(json.dumps(header).encode(), np.uint8),
                 **arrays)
    return step


def long_training(folder: Path) -> None:
    _tiny_mnist(folder / "mnist", 6000)


# ---- the cases ---------------------------------------------------------------------------

def cases() -> list[Case]:
    found: list[Case] = []
    reading = {
        "filter": lambda p: ["filter", "-k", "emboss", p, "--out-dir", "out"],
        "pool": lambda p: ["pool", p, "--mode", "avg", "-o", "out/p.png"],
        "stack": lambda p: ["stack", p, "sobel | relu | avgpool 2", "--sheet", "out/s.png"],
        "predict": lambda p: ["predict", p, "--top", "2"],
        "featuremaps": lambda p: ["featuremaps", p, "-o", "out/f.png", "--layer", "conv"],
        "explain": lambda p: ["explain", "pool", "--image", p, "--no-animate"],
        "kernels-plot": lambda p: ["kernels", "show", "emboss", "--plot", "out/k.png",
                                   "--image", p],
    }
    typer_checked = {"featuremaps", "kernels-plot"}
    for row, (name, content, needles) in PICTURES.items():
        for command, argv in reading.items():
            if command in typer_checked and content in (None, "DIR", "LOOP"):
                continue
            found.append(Case(f"picture/{row}/{command}", argv(name),
                              picture_setup(name, content), needles))

    out = [
        Case("output/filter-full-disk", ["filter", "-k", "identity", "n.png", "-o",
                                          "out/x.png"], with_inputs(), ("x.png", "no space"),
             mount="full"),
        Case("output/data-export-full-disk", ["data", "export", "--data", "mnist",
                                              "--no-verify", "--count", "60", "--out-dir",
                                              "out/digits"],
             with_inputs(mnist()), ("no space",), mount="full"),
        Case("output/pool-batch-full-disk", ["pool", "d.png", "n.png", "--size", "1",
                                             "--out-dir", "out"], with_inputs(),
             ("no space",), mount="full"),
        Case("output/stack-stages-read-only", ["stack", "d.png", "box | relu", "--stages",
                                               "out/st", "-o", "out/last.png"],
             with_inputs(), ("read-only",), mount="ro"),
        Case("output/filter-outdir-read-only", ["filter", "-k", "box", "d.png", "--out-dir",
                                                "out/sub"], with_inputs(),
             ("sub", "read-only"), mount="ro"),
        Case("output/predict-csv-read-only", ["predict", "d.png", "--csv", "out/r.csv"],
             with_inputs(), ("r.csv", "read-only"), mount="ro"),
        Case("output/train-read-only", ["train", "--data", "mnist", "--no-verify", "--epochs",
                                        "1", "-o", "out/m.npz"], with_inputs(mnist()),
             ("read-only",), mount="ro"),
        Case("output/evaluate-csv-exists", ["evaluate", "--data", "mnist", "--no-verify",
                                            "--csv", "out/e.csv"],
             with_inputs(mnist(), precious("out/e.csv")), ("e.csv", "exists")),
        Case("output/filters-kernel-exists", ["filters", "--as-kernels", "out/k"],
             with_inputs(precious("out/k/conv_05.txt")), ("conv_05.txt", "exists")),
        Case("output/train-history-exists", ["train", "--data", "mnist", "--no-verify",
                                             "-o", "out/m.npz"],
             with_inputs(mnist(), precious("out/m.history.json")), ("history.json",
                                                                    "exists")),
        Case("output/featuremaps-exists", ["featuremaps", "d.png", "-o", "out/f.png"],
             with_inputs(precious("out/f.png")), ("f.png", "exists")),
        Case("output/stack-sheet-exists", ["stack", "d.png", "relu", "--stages", "out/st",
                                           "--sheet", "out/s.png"],
             with_inputs(precious("out/s.png")), ("s.png", "exists")),
        Case("output/plot-under-sys", ["kernels", "show", "box", "--plot", "/sys/k.png"],
             with_inputs(), ("/sys/k.png",)),
        Case("output/pool-no-such-dir", ["pool", "d.png", "-o", "no/such/dir/p.png"],
             with_inputs(), ("p.png", "does not exist")),
        Case("output/featuremaps-no-such-dir", ["featuremaps", "d.png", "-o", "nope/f.png"],
             with_inputs(), ("f.png", "does not exist")),
        Case("output/predict-csv-no-force", ["predict", "d.png", "--csv", "out/r.csv"],
             with_inputs(precious("out/r.csv")), ("r.csv", "exists")),
        Case("output/same-name-twice", ["filter", "-k", "box", "d.png", "sub/d.png",
                                        "--out-dir", "out"],
             with_inputs(lambda f: (f / "sub").mkdir() or shutil.copy(f / "d.png",
                                                                      f / "sub/d.png")),
             ("both be written",)),
    ]
    found += out

    options = [
        (["filter", "-k", "box", "d.png", "-o", "out/x.png", "--scale", "nan"], ("--scale",)),
        (["filter", "-k", "unsharp", "d.png", "-o", "out/x.png", "--amount", "inf"],
         ("--amount",)),
        (["filter", "-k", "log", "d.png", "-o", "out/x.png", "--sigma", "-inf"], ("--sigma",)),
        (["filter", "-k", "box", "d.png", "-o", "out/x.png", "--size", "999"], ("999", "255")),
        (["filter", "--kernel-values", "1e40 1; 1 1", "d.png", "-o", "out/x.png"],
         ("float32",)),
        (["filter", "-k", "box", "d.png", "-o", "out/x.png", "--stride", "0"], ("--stride",)),
        (["kernels", "show", "log", "--size", "999"], ("999",)),
        (["kernels", "show", "gaussian", "--sigma", "1e300"], ("--sigma",)),
        (["kernels", "show", "gaussian", "--sigma", "300"], ("1801x1801",)),
        (["pool", "d.png", "-o", "out/p.png", "--size", "99999999"], ("--size",)),
        (["pool", "d.png", "-o", "out/p.png", "--stride", "0x2"], ("--stride",)),
        (["pool", "d.png", "-o", "out/p.png", "--size", "64"], ("d.png",)),
        (["explain", "pool", "--size", "0", "--no-animate"], ("--size",)),
        (["explain", "conv", "--kernel-values", "1 2; 3", "--no-animate"],
         ("different lengths",)),
        (["explain", "conv", "--image", "d.png", "--crop", "-3,0,4", "--no-animate"],
         ("--crop",)),
        (["predict", "d.png", "--min-confidence", "nan"], ("--min-confidence",)),
        (["predict", "d.png", "--top", "0"], ("--top",)),
        (["train", "--data", "mnist", "--no-verify", "-o", "m.npz", "--lr", "inf"], ("--lr",)),
        (["train", "--data", "mnist", "--no-verify", "-o", "m.npz", "--dropout", "nan"],
         ("--dropout",)),
        (["train", "--data", "mnist", "--no-verify", "-o", "m.npz", "--val-split",
          "1000000000"], ("--val-split",)),
        (["stack", "d.png", "gaussian sigma=nan", "-o", "out/s.png"], ("sigma",)),
        (["stack", "d.png", "maxpool 0", "-o", "out/s.png"], ("pool size",)),
        (["stack", "d.png", "box size=99999", "-o", "out/s.png"], ("99999",)),
        (["stack", "d.png", "box,box,box,box | box,box,box,box | box,box,box,box | "
          "box,box,box,box | box,box", "-o", "out/s.png"], ("feature maps",)),
        (["filter", "-k", "box", "d.png", "-o", "out/x.png", "--max-pixels", "100"],
         ("d.png", "--max-pixels")),
        (["data", "export", "--data", "mnist", "--no-verify", "--out-dir", "out/x",
          "--start", "999999"], ("--start",)),
    ]
    for k, (argv, needles) in enumerate(options):
        found.append(Case(f"option/{k:02d}-{argv[0]}-{argv[-1][:12]}", argv,
                          with_inputs(mnist(24)), needles))

    models = [
        ("forged-6GB-member", forged_zip, ["info", "m.npz"], ("m.npz", "unpack")),
        ("pk-garbage", pk_garbage, ["featuremaps", "d.png", "--model", "m.npz", "-o",
                                    "out/f.png"], ("m.npz",)),
        ("null-header", model_variant("null-header"), ["predict", "d.png", "--model",
                                                       "m.npz"], ("m.npz", "header")),
        ("inf-weights", model_variant("inf-weights"), ["evaluate", "m.npz", "--data", "mnist",
                                                       "--no-verify"], ("m.npz", "infinite")),
        ("giant-dense", model_variant("giant-dense"), ["summary", "m.npz"], ("m.npz",)),
        ("pk-garbage-filter", pk_garbage, ["filter", "-k", "model:m.npz:conv/3", "d.png",
                                           "-o", "out/x.png"], ("m.npz",)),
        ("pk-garbage-plot", pk_garbage, ["plot", "m.npz", "-o", "out/c.png"], ("m.npz",)),
    ]
    for name, step, argv, needles in models:
        found.append(Case(f"model/{name}", argv, with_inputs(mnist(20), step), needles))
    for kind in ("epochs-float", "order-strings", "batch-negative", "optimizer-sgd-slots"):
        found.append(Case(f"checkpoint/{kind}", ["train", "--resume", "run.ckpt.npz", "--data",
                                                 "mnist", "--no-verify", "-o", "m.npz"],
                          with_inputs(checkpoint_variant(kind)),
                          ("run.ckpt.npz", "checkpoint")))
    found += [
        Case("data/gzip-bomb-1GB", ["evaluate", "--data", "mnist", "--no-verify"],
             with_inputs(gz_bomb), ("t10k-images", "refused")),
        Case("data/gzip-bomb-info", ["data", "info", "--data", "mnist"],
             with_inputs(gz_bomb), ()),
        Case("data/labels-mismatch", ["train", "--data", "mnist", "--no-verify", "-o",
                                      "m.npz"], with_inputs(label_mismatch), ("labels",)),
        Case("signal/train-ctrl-c", ["train", "--data", "mnist", "--no-verify", "--epochs",
                                     "50", "-o", "m.npz"], with_inputs(long_training),
             ("stopped", "resume"), signal_after=6.0, code=130, allowed=(".ckpt.npz",)),
    ]
    for delay in (0.05, 0.2, 0.5, 1.0):
        found.append(Case(f"signal/filter-ctrl-c-{delay}s", ["filter", "-k", "gaussian",
                                                             "--sigma", "20", "big.png", "-o",
                                                             "out/big.f.png"],
                          with_inputs(lambda f: (f / "big.png").write_bytes(
                              _png(np.random.default_rng(0).integers(
                                  0, 255, (1500, 1500), np.uint8)))),
                          ("interrupted",), signal_after=delay, code=130))
    found += [
        Case("control/filter", ["filter", "-k", "laplacian", "d.png", "-o", "out/x.png"],
             with_inputs(), good=True),
        Case("control/predict", ["predict", "d.png", "e.png"], with_inputs(), good=True),
        Case("control/train-small-limit", ["train", "--data", "mnist", "--no-verify",
                                           "--limit", "60", "--epochs", "1", "-o",
                                           "out/m.npz"], with_inputs(mnist()), good=True),
        Case("control/stack", ["stack", "d.png", "laplacian,sobel | relu | maxpool 2",
                               "--stages", "out/st", "--sheet", "out/s.png"], with_inputs(),
             good=True),
    ]
    return found


# ---- running and judging -----------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            found[key] = "special"
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _mount(target: Path, kind: str) -> bool:
    target.mkdir(exist_ok=True)
    size = "48k" if kind == "full" else "256k"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                          capture_output=True)
    if done.returncode != 0:
        return False
    if kind == "full":  # leave about 12 KB: a little fits, a picture does not
        (target / "filler").write_bytes(b"\x00" * (36 << 10))
    else:
        (target / "old.txt").write_text("precious\n")
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
    return True


def _unmount(target: Path) -> None:
    subprocess.run(["umount", str(target)], capture_output=True)


def run_case(case: Case, base: Path) -> dict:
    folder = base / case.name.replace("/", "__")
    folder.mkdir(parents=True)
    if case.setup:
        case.setup(folder)
    mounted = None
    if case.mount:
        shutil.rmtree(folder / "out", ignore_errors=True)
        if not _mount(folder / "out", case.mount):
            return {"skipped": "cannot mount a tmpfs (needs root with CAP_SYS_ADMIN)"}
        mounted = folder / "out"
    before = snapshot(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    started = time.perf_counter()
    try:
        process = subprocess.Popen([sys.executable, "-m", "cnnkit",
                                    *[str(a) for a in case.argv]], cwd=folder, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if case.signal_after is not None:
            time.sleep(case.signal_after)
            process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += "\n[hostile run: killed after 300 s]"
    finally:
        after = snapshot(folder)
        if mounted:
            _unmount(mounted)
    seconds = time.perf_counter() - started
    code = process.returncode
    output = stdout + stderr
    faults = []
    if "Traceback" in output:
        faults.append("traceback")
    if case.good:
        if code != 0:
            faults.append("control failed")
        return {"code": code, "faults": faults, "stderr": stderr.strip()[-300:],
                "seconds": seconds}
    if case.signal_after is not None and code == -signal.SIGINT:
        code = 128 + signal.SIGINT  # ended by the signal itself, as a shell reports it
        if not stderr.strip():  # before Python's handler or after the work: nothing printed
            stderr = "error: interrupted (ended by the signal, nothing printed)"
    if code == 0:
        faults.append("exit 0")
    elif case.code is not None and code != case.code:
        faults.append(f"exit {code}, expected {case.code}")
    new = [p for p in after if p not in before and not p.endswith(case.allowed)]
    changed = [p for p in before if p in after and before[p] != after[p]
               and before[p] != "dir"]
    gone = [p for p in before if p not in after]
    if new:
        faults.append("partial output: " + ", ".join(new[:3]))
    if changed or gone:
        faults.append("damaged: " + ", ".join((changed + gone)[:3]))
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    usage = code == 2 and not errors and ("Invalid value" in stderr or "No such option"
                                          in stderr or "Error" in stderr)
    if usage:
        line = " ".join(stderr.split())
    elif len(errors) != 1:
        faults.append(f"unclear: {len(errors)} error lines")
        line = " ".join(errors)
    else:
        line = errors[0]
    if not usage or case.needles:
        missing = [n for n in case.needles if n.lower() not in line.lower()]
        if missing and not usage:
            faults.append(f"unclear: does not say {missing}")
    raw = [t for t in RAW_TEXT if t in output]
    if raw:
        faults.append(f"unclear: raw text {raw}")
    return {"code": code, "faults": faults, "message": line[:300], "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="List the cases and stop.")
    parser.add_argument("--only", default="", help="Run the cases whose name has this text.")
    parser.add_argument("--json", type=Path, help="Also write every case's result here.")
    args = parser.parse_args()
    selected = [c for c in cases() if args.only in c.name]
    if args.list:
        for case in selected:
            print(case.name, " ".join(str(a) for a in case.argv))
        return 0
    counts = {"cases": 0, "controls": 0, "skipped": 0, "traceback": 0, "exit 0": 0,
              "partial output": 0, "damaged": 0, "unclear": 0, "other": 0}
    records = []
    with tempfile.TemporaryDirectory(prefix="cnnkit-hostile-") as tmp:
        for case in selected:
            result = run_case(case, Path(tmp))
            records.append({"case": case.name, "argv": [str(a) for a in case.argv], **result})
            if "skipped" in result:
                counts["skipped"] += 1
                print(f"SKIP {case.name}: {result['skipped']}")
                continue
            counts["controls" if case.good else "cases"] += 1
            for fault in result["faults"]:
                key = next((k for k in counts if fault.startswith(k)), "other")
                counts[key] += 1
            mark = "FAIL" if result["faults"] else "ok  "
            print(f"{mark} {case.name:<46} exit {result['code']:>3}  "
                  f"{'; '.join(result['faults']) or result.get('message', '')[:110]}")
    print()
    print("| bad or odd inputs | controls | skipped | tracebacks | exit 0 on bad input | "
          "partial outputs | damaged files | unclear messages | other |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {counts['cases']} | {counts['controls']} | {counts['skipped']} | "
          f"{counts['traceback']} | {counts['exit 0']} | {counts['partial output']} | "
          f"{counts['damaged']} | {counts['unclear']} | {counts['other']} |")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    faults = sum(v for k, v in counts.items() if k not in ("cases", "controls", "skipped"))
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
