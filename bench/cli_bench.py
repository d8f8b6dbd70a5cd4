"""Whole-process speed and memory: cnnkit against ImageMagick and an OpenCV script, in one run.

    python bench/cli_bench.py                      # every case, 5 runs each
    python bench/cli_bench.py --quick              # 2 runs, a 20-photo folder, 100 digits
    python bench/cli_bench.py --cases photo12,png1mp --repeats 7
    python bench/cli_bench.py --cases big100      # peak memory filtering 100 megapixels

Each case runs every tool as a separate process, the tools alternating within each round
(so a load spike hits all of them alike), with a warm-up round first (page cache, Numba's
kernel cache). It prints the median wall time and the peak resident memory (the child's
``ru_maxrss``) of each tool, and cnnkit's ratio to each peer: below 1.0x cnnkit is faster
or smaller. Tools that are not installed are skipped with a message. Peak memory is taken
with GNU time (``/usr/bin/time``) where present.

The pictures are made from the samples in a temporary folder: a 12-megapixel JPEG photo,
a 1-megapixel PNG, a 16-bit colour PNG, a folder of 1-2 megapixel photos, digits, and for
the memory case a 100-megapixel JPEG (run once: its figure is the peak against the 300 MB the
decoded picture takes).
Every filter uses the same 3x3 Laplacian; cnnkit maps it with its default range (edges),
the others clip, which costs them nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from timing import compile_package, run_process

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CNNKIT = [sys.executable, "-m", "cnnkit"]
LAPLACIAN = "0 1 0; 1 -4 1; 0 1 0"
IM_KERNEL = "3x3: 0,1,0 1,-4,1 0,1,0"
CASES = ("help", "photo12", "png1mp", "png16", "folder", "pool12", "predict1", "predict1000",
         "big100")
BIG = (10000, 10000)  # the 100-megapixel photo of the memory case: 300 MB decoded

# The peer: read, filter with the same kernel, write (PNG at OpenCV's default level 1).
OPENCV_FILTER = """
import sys, cv2, numpy as np
kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
def one(src, dst):
    image = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(dst, cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT))
if sys.argv[1] == "--dir":
    import os
    for name in sorted(os.listdir(sys.argv[2])):
        one(os.path.join(sys.argv[2], name),
            os.path.join(sys.argv[3], os.path.splitext(name)[0] + ".png"))
else:
    one(sys.argv[1], sys.argv[2])
"""
OPENCV_POOL = """
import sys, cv2
image = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
h, w = image.shape[:2]
cv2.imwrite(sys.argv[2], cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
"""


def imagemagick() -> list[str] | None:
    """ImageMagick's command: ``magick`` (7) or the real ``convert`` binary (6)."""
    for name in ("magick", "convert-im6.q16", "convert"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def make_inputs(work: Path, folder_size: int, digits: int, big: bool) -> dict[str, Path]:
    """Photo-like pictures from the samples: upscaled, with sensor-like grain, as JPEG."""
    rng = np.random.default_rng(20261125)
    scene = Image.open(SAMPLES / "scene.png").convert("RGB")
    still = Image.open(SAMPLES / "still_life.png").convert("RGB")

    def photo(source, size):
        big = np.asarray(source.resize(size, Image.BICUBIC), dtype=np.int16)
        grain = rng.integers(-6, 7, big.shape, dtype=np.int16)
        return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8))

    paths = {"photo12": work / "photo12.jpg", "png1mp": work / "one1mp.png",
             "png16": work / "wide16.png", "folder": work / "photos",
             "digit": work / "digit.jpg", "digits": work / "digits"}
    photo(scene, (4000, 3000)).save(paths["photo12"], quality=90)
    photo(scene, (1024, 1024)).save(paths["png1mp"])
    wide = np.asarray(scene.resize((2000, 1500), Image.BICUBIC), dtype=np.float64) * 257
    wide += rng.normal(0, 300, wide.shape)
    from cnnkit.imaging.io import write_pixels

    write_pixels(paths["png16"], np.clip(wide, 0, 65535).astype(np.uint16), force=True)
    paths["folder"].mkdir()
    for i in range(folder_size):
        width = int(rng.integers(1200, 1700))
        height = int(width * rng.uniform(0.66, 0.8))
        photo(scene if i % 2 else still, (width, height)).save(
            paths["folder"] / f"photo{i:03d}.jpg", quality=90)
    if big:
        paths["big100"] = work / "big100.jpg"
        photo(scene, BIG).save(paths["big100"], quality=90)
    samples = sorted((SAMPLES / "digits").glob("*_*.jpg"))
    shutil.copy(samples[0], paths["digit"])
    paths["digits"].mkdir()
    for i in range(digits):
        shutil.copy(samples[i % len(samples)], paths["digits"] / f"d{i:04d}.jpg")
    return paths


# A process forked from this one starts with this one's resident memory, which Linux counts
# in the child's peak; GNU time forks from a small process, so its figure is the tool's own.
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one process (output discarded)."""
    wrapped = [GNU_TIME, "-f", "%M", *command] if GNU_TIME else command
    seconds, error, usage = run_process(wrapped)
    if GNU_TIME:
        return seconds, int(error.strip().splitlines()[-1]) / 1024
    return seconds, usage.ru_maxrss / 1024


def commands(case: str, paths: dict[str, Path], out: Path, magick) -> dict[str, list[str]]:
    """The tools to compare for one case, cnnkit first."""
    script = [sys.executable, "-c", OPENCV_FILTER]
    if case == "help":
        return {"cnnkit --help": [*CNNKIT, "--help"]}
    if case in ("photo12", "png1mp", "png16"):
        src, dst = str(paths[case]), str(out / f"{case}.png")
        tools = {"cnnkit": [*CNNKIT, "filter", "--kernel-values", LAPLACIAN, src, "-o", dst,
                            "--force", "-q"],
                 "OpenCV": [*script, src, dst]}
        if magick:
            tools["ImageMagick"] = [*magick, src, "-morphology", "Convolve", IM_KERNEL, dst]
        return tools
    if case == "folder":
        src = paths["folder"]
        tools = {"cnnkit": [*CNNKIT, "filter", "--kernel-values", LAPLACIAN, str(src),
                            "--out-dir", str(out / "cnnkit"), "--force", "-q"],
                 "OpenCV": [*script, "--dir", str(src), str(out / "opencv")]}
        for name in ("cnnkit", "opencv", "magick"):
            (out / name).mkdir(exist_ok=True)
        mogrify = shutil.which("mogrify") if magick else None
        if mogrify:
            tools["ImageMagick"] = [mogrify, "-path", str(out / "magick"), "-format", "png",
                                    "-morphology", "Convolve", IM_KERNEL,
                                    *sorted(str(p) for p in src.iterdir())]
        return tools
    if case == "pool12":
        src, dst = str(paths["photo12"]), str(out / "pool.png")
        tools = {"cnnkit": [*CNNKIT, "pool", src, "--mode", "avg", "-o", dst, "--force", "-q"],
                 "OpenCV": [sys.executable, "-c", OPENCV_POOL, src, dst]}
        if magick:
            tools["ImageMagick"] = [*magick, src, "-filter", "box", "-resize", "50%", dst]
        return tools
    if case == "big100":
        return {"cnnkit": [*CNNKIT, "filter", "--kernel-values", LAPLACIAN,
                           str(paths["big100"]), "-o", str(out / "big100.png"), "--force",
                           "-q"]}
    if case == "predict1":
        return {"cnnkit": [*CNNKIT, "predict", str(paths["digit"]), "-q"]}
    if case == "predict1000":
        return {"cnnkit": [*CNNKIT, "predict", str(paths["digits"]), "-q"]}
    raise ValueError(case)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, from: {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=5, help="runs per tool (median)")
    parser.add_argument("--quick", action="store_true",
                        help="2 runs, 20 photos in the folder, 100 digits")
    parser.add_argument("--folder-size", type=int, default=100)
    parser.add_argument("--digits", type=int, default=1000)
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    repeats = 2 if args.quick else args.repeats
    folder_size = 20 if args.quick else args.folder_size
    digits = 100 if args.quick else args.digits
    magick = imagemagick()
    if magick is None:
        print("ImageMagick not found (Debian: apt install imagemagick): its column is skipped")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    compile_package()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {repeats} runs per tool, "
          f"median; peak = max resident memory of the process")
    print(f"{'case':12s} {'tool':14s} {'seconds':>8s} {'peak MB':>8s} "
          f"{'cnnkit/tool time':>17s} {'memory':>7s}")
    with tempfile.TemporaryDirectory(prefix="cnnkit-bench-") as tmp:
        work = Path(tmp)
        paths = make_inputs(work, folder_size, digits if "predict1000" in cases else 1,
                            "big100" in cases)
        out = work / "out"
        out.mkdir()
        for case in cases:
            tools = commands(case, paths, out, magick)
            for command in tools.values():  # warm-up: page cache, kernel cache
                run(command)
            times = {name: [] for name in tools}
            peaks = {name: [] for name in tools}
            for _ in range(1 if case == "big100" else repeats):
                for name, command in tools.items():
                    seconds, peak = run(command)
                    times[name].append(seconds)
                    peaks[name].append(peak)
            ours = next(iter(tools))
            for name in tools:
                t, m = statistics.median(times[name]), max(peaks[name])
                ratio = "" if name == ours else (
                    f"{statistics.median(times[ours]) / t:16.2f}x "
                    f"{max(peaks[ours]) / m:6.2f}x")
                print(f"{case:12s} {name:14s} {t:8.3f} {m:8.0f} {ratio}")
            if case == "big100":
                decoded = BIG[0] * BIG[1] * 3 / 2**20
                print(f"{'':12s} peak / decoded 8-bit picture ({decoded:.0f} MB): "
                      f"{max(peaks[ours]) / decoded:.2f}x")


if __name__ == "__main__":
    main()
