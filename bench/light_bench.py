"""Where the light path (numpy, no Numba start) stops paying: whole ``cnnkit filter``
processes on RGB PNGs of growing size, the numpy path against the Numba path, alternating.

    python bench/light_bench.py                     # 0.25 .. 8 MP, 5 runs each, median
    python bench/light_bench.py --sizes 1,2,3 --repeats 9

Both run the same command line in a fresh process; the Numba run imports numba first (so
``ops.light.numpy_pays`` says no, as it does once Numba has started), the numpy run lifts the
size limit (``NUMPY_MAX_VALUES``). The pixels are checked equal. Prints the median wall and
CPU (user + system) seconds of each, and numpy / Numba.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from timing import run_process

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "0 1 0; 1 -4 1; 0 1 0"
PATHS = {
    "numpy": "import cnnkit.ops.light as light; light.NUMPY_MAX_VALUES = 10**12",
    "numba": "import numba",
}


def run(prelude: str, args: list[str]) -> tuple[float, float]:
    code = f"{prelude}\nfrom cnnkit.cli import main\nmain()"
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    wall, _, usage = run_process([sys.executable, "-c", code, *args], env)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0.25,0.5,1,2,4,8", help="megapixels, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(12)
    scene = Image.open(ROOT / "samples" / "scene.png").convert("RGB")
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; median of {args.repeats}")
    print(f"{'MP':>5s} {'numpy wall':>10s} {'Numba wall':>10s} {'ratio':>6s} "
          f"{'numpy CPU':>10s} {'Numba CPU':>10s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory(prefix="cnnkit-light-") as tmp:
        work = Path(tmp)
        for mp in (float(s) for s in args.sizes.split(",")):
            side = int(round((mp * 1e6) ** 0.5))
            picture = np.asarray(scene.resize((side, side), Image.BICUBIC), np.int16)
            grain = rng.integers(-6, 7, picture.shape, dtype=np.int16)
            source = work / f"in{mp}.png"
            Image.fromarray(np.clip(picture + grain, 0, 255).astype(np.uint8)).save(source)
            outputs = {name: work / f"{name}{mp}.png" for name in PATHS}
            results = {name: ([], []) for name in PATHS}
            for round_ in range(args.repeats + 1):  # the first round warms the caches
                for name, prelude in PATHS.items():
                    wall, cpu = run(prelude, ["filter", "--kernel-values", KERNEL, str(source),
                                              "-o", str(outputs[name]), "--force", "-q"])
                    if round_:
                        results[name][0].append(wall)
                        results[name][1].append(cpu)
            same = np.array_equal(*(np.asarray(Image.open(p)) for p in outputs.values()))
            (nw, nc), (bw, bc) = ((statistics.median(w), statistics.median(c))
                                  for w, c in results.values())
            print(f"{mp:5.2f} {nw:10.3f} {bw:10.3f} {nw / bw:6.2f} {nc:10.3f} {bc:10.3f} "
                  f"{nc / bc:6.2f}" + ("" if same else "  PIXELS DIFFER"))


if __name__ == "__main__":
    main()
