"""Responsiveness of ``cnnkit serve``: server time per stroke update and per kernel edit.

    python bench/serve_bench.py [--strokes 60] [--edits 40] [--no-http]

1. Stroke updates: a 7 drawn on the 280x280 pad, sent after every few points as the page
   sends it (a PNG of the pad). Server time is what the /api/look route runs: decoding the
   PNG, the MNIST preparation of ``cnnkit predict``, the model layer by layer and the encoding
   of every conv and pooling layer's maps. Target: median and p90 <= 30 ms.
2. Kernel edits on a 1 MP picture (1024x1024, grey and colour): one kernel cell changed per
   edit, as the page sends them. Server time is what /api/filter runs: the filter, ReLU and
   pooling where asked, the display range, the PNG encoding. Target: <= 60 ms.
3. With HTTP (unless --no-http): the same requests to a real server on 127.0.0.1, timed
   from the client, for the cost of the web stack on top (uvicorn + Starlette + JSON).

Prints one table: median and p90 per case and their ratio to the target (< 1 meets it).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnkit.nn.io import BUNDLED_MODEL  # noqa: E402
from cnnkit.serve import uploads  # noqa: E402
from cnnkit.serve.app import create_app, warm_up  # noqa: E402
from cnnkit.serve.kernel_lab import run_filter  # noqa: E402

STROKE_TARGET, EDIT_TARGET = 30.0, 60.0


def pad_states(count: int) -> list[bytes]:
    """PNGs of the pad while a 7 is drawn: ``count`` states from the first dab to the end."""
    corners = [(65, 55), (215, 55), (130, 235)]
    path = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:]):
        for t in np.linspace(0, 1, 40, endpoint=False):
            path.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    path.append(corners[-1])
    states = []
    for end in np.linspace(8, len(path), count).astype(int):
        pad = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(pad).line(path[:end], fill=0, width=18, joint="curve")
        buffer = io.BytesIO()
        pad.save(buffer, format="PNG")
        states.append(buffer.getvalue())
    return states


def edits(count: int, rng) -> list[list[list[float]]]:
    """Kernels as a user makes them: a Laplacian with one cell changed at a time."""
    kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)
    out = []
    for _ in range(count):
        i, j = rng.integers(0, 3, 2)
        kernel[i, j] = float(rng.integers(-4, 5))
        out.append(kernel.tolist())
    return out


def one_megapixel(colour: bool) -> Image.Image:
    from importlib.resources import files

    card = Image.open(files("cnnkit") / "assets" / "testcard.png").resize((1024, 1024))
    if not colour:
        return card
    y, x = np.mgrid[0:1024, 0:1024]
    grey = np.asarray(card, np.float32)
    return Image.fromarray(np.stack([grey, (grey + x / 8) % 256, (grey + y / 8) % 256], -1)
                           .astype(np.uint8))


def stats(ms: list[float]) -> tuple[float, float]:
    return float(np.median(ms)), float(np.percentile(ms, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strokes", type=int, default=60)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    app = create_app(BUNDLED_MODEL)
    warm_up(app)
    lab, store = app.state.lab, app.state.store
    rows, parts = [], {"prepare": [], "model": [], "maps": []}

    states = pad_states(args.strokes)
    times = []
    for body in states:
        started = time.perf_counter()
        try:
            result = lab.look(uploads.decode(body, grey=True))
        except Exception:  # the first dab may be too small to be a digit: still a request
            result = None
        times.append((time.perf_counter() - started) * 1000)
        if result:
            for key in parts:
                parts[key].append(result["ms"][key])
    rows.append(("stroke update (decode+prepare+model+maps)", times, STROKE_TARGET))

    pictures = {}
    for colour in (False, True):
        buffer = io.BytesIO()
        one_megapixel(colour).save(buffer, format="PNG")
        token, _ = store.add(uploads.decode(buffer.getvalue()), "bench")
        pictures[colour] = token
        for extra, label in (({}, ""), ({"relu": True, "pool": True}, " +ReLU+pool")):
            times = []
            for kernel in edits(args.edits, rng):
                request = {"picture": token, "kernel": {"matrix": kernel}, **extra}
                started = time.perf_counter()
                run_filter(store.get(token), request)
                times.append((time.perf_counter() - started) * 1000)
            rows.append((f"kernel edit, 1 MP {'colour' if colour else 'grey'}{label}", times,
                         EDIT_TARGET))

    if not args.no_http:
        from tests.serve_server import Running

        running = Running(app)
        try:
            times = []
            for body in states:
                started = time.perf_counter()
                running.request("/api/look", body)
                times.append((time.perf_counter() - started) * 1000)
            rows.append(("  over HTTP: stroke update, round trip", times, STROKE_TARGET))
            times = []
            for kernel in edits(args.edits, rng):
                payload = json.dumps({"picture": pictures[False], "kernel": {"matrix": kernel}})
                started = time.perf_counter()
                running.request("/api/filter", json.loads(payload))
                times.append((time.perf_counter() - started) * 1000)
            rows.append(("  over HTTP: kernel edit 1 MP grey, round trip", times, EDIT_TARGET))
        finally:
            running.stop()

    print(f"{'case':<48} {'n':>4} {'median ms':>10} {'p90 ms':>8} {'target':>7} "
          f"{'median/target':>14} {'p90/target':>11}")
    for name, times, target in rows:
        median, p90 = stats(times)
        print(f"{name:<48} {len(times):>4} {median:>10.2f} {p90:>8.2f} {target:>7.0f} "
              f"{median / target:>14.2f} {p90 / target:>11.2f}")
    print("\nstroke update, parts (median ms): " + ", ".join(
        f"{key} {np.median(values):.2f}" for key, values in parts.items() if values))


if __name__ == "__main__":
    main()
