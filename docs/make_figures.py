"""Regenerate the pictures in README.md and docs/: ``python docs/make_figures.py``.

Every picture is made by cnnkit's own library calls on the bundled samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnkit.imaging import io as imaging
from cnnkit.imaging import kernels
from cnnkit.imaging.filtering import FilterOptions, apply_filter, display_range

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
SAMPLES = ROOT / "samples"


def filtered(picture: imaging.Picture, name: str, mode: str = "auto", **params) -> np.ndarray:
    flt = kernels.build(name, **params)
    values = apply_filter(picture.pixels, flt)
    if mode == "auto":
        mode = display_range(flt)
    return imaging.map_range(values, mode, picture.maxval)[0]


def save(path: Path, pixels: np.ndarray, maxval: float, width: int | None = None) -> None:
    array = np.clip(np.rint(pixels * (255.0 / maxval)), 0, 255).astype(np.uint8)
    image = Image.fromarray(array)
    if width and image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    scene = imaging.read_image(SAMPLES / "scene.png")
    save(IMAGES / "readme_laplacian.png",
         imaging.side_by_side(scene.pixels, filtered(scene, "laplacian"), 255.0), 255.0, 900)
    still = imaging.read_image(SAMPLES / "still_life.png")
    crop = imaging.Picture(still.pixels[60:316, 40:424], None, 255.0)
    save(IMAGES / "kernels" / "original.png", crop.pixels, 255.0)
    for spec in kernels.BANK:
        save(IMAGES / "kernels" / f"{spec.name}.png", filtered(crop, spec.name), 255.0)
    card = imaging.read_image(SAMPLES / "testcard.png")
    for op in ("conv", "corr"):
        values = apply_filter(card.pixels, kernels.build("emboss"), FilterOptions(op=op))
        save(IMAGES / f"emboss_{op}.png", imaging.map_range(values, "clip", 255.0)[0][120:440,
                                                                                        30:290],
             255.0)
    pool_and_stack()
    predict_stages()
    predict_hard_cases()
    drawn_digits()
    pictures()


def pool_and_stack() -> None:
    """A max-pooled test card beside its input, and a labelled stack sheet."""
    from cnnkit.imaging import pipeline
    from cnnkit.viz import draw as viz
    from cnnkit.ops.pool import max_pool

    card = imaging.read_image(SAMPLES / "testcard.png")
    pooled = max_pool(card.pixels, 8)
    blocks = np.repeat(np.repeat(pooled, 8, axis=0), 8, axis=1)
    save(IMAGES / "pool_compare.png", imaging.side_by_side(card.pixels, blocks, 255.0), 255.0,
         800)
    still = imaging.read_image(SAMPLES / "still_life.png")
    stages = pipeline.run(still.pixels, pipeline.parse("laplacian,sobel-x,emboss | relu | "
                                                       "maxpool 2"))
    sheet = viz.stage_sheet(stages, tile_height=120)
    sheet.thumbnail((900, 2000))
    sheet.save(IMAGES / "stack_sheet.png", optimize=True)
    print(f"wrote {(IMAGES / 'stack_sheet.png').relative_to(ROOT)}")


def predict_stages() -> None:
    """The preprocessing stages of a user-style sample digit, side by side, labelled."""
    from cnnkit import digits
    from cnnkit.viz import draw as viz

    picture = imaging.read_image(SAMPLES / "digits" / "0_7.jpg")
    prepared = digits.prepare_digit(picture)
    tiles, labels = [], []
    for name, stage in prepared.stages:
        tile = np.clip(np.rint(stage * 255), 0, 255).astype(np.uint8)
        image = Image.fromarray(tile)
        scale = 160 / max(image.size)
        resample = Image.NEAREST if max(image.size) <= 28 else Image.LANCZOS
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), resample)
        tiles.append(np.asarray(image))
        labels.append(name)
    sheet = viz.grid(tiles, labels, columns=len(tiles))
    sheet.save(IMAGES / "predict_stages.png", optimize=True)
    print(f"wrote {(IMAGES / 'predict_stages.png').relative_to(ROOT)}")


def _arc(cx, cy, r, start, end, steps=24):
    angles = np.radians(np.linspace(start, end, steps))
    return list(zip(cx + r * np.cos(angles), cy + r * np.sin(angles)))


# digits as pen strokes, in units of the canvas (y down)
STROKES = {
    "7": [[(0.22, 0.15), (0.78, 0.15), (0.42, 0.88)]],
    "2": [_arc(0.5, 0.32, 0.22, 190, 400) + [(0.24, 0.86), (0.78, 0.86)]],
    "3": [_arc(0.48, 0.31, 0.19, 200, 450), _arc(0.48, 0.68, 0.2, 270, 520)],
    "4": [[(0.48, 0.12), (0.24, 0.62), (0.8, 0.62)], [(0.64, 0.32), (0.64, 0.9)]],
    "8": [_arc(0.5, 0.3, 0.17, 0, 360), _arc(0.5, 0.69, 0.21, 0, 360)],
}


def render_digit(digit: str, size: int, width: int, ink, paper, rng=None,
                 shade: float = 0.0, grain: float = 0.0, first_ink=None,
                 blur: float = 0.0) -> Image.Image:
    """A digit drawn with a pen of ``width`` px on a ``size`` px canvas: our own renders of
    the pictures real users give predict (the real-digit set must not be copied here).
    ``first_ink``: the first stroke's ink (written with less pressure); ``blur``: the
    Gaussian blur of a photo out of focus, px."""
    from PIL import ImageDraw, ImageFilter

    colour = isinstance(ink, tuple)
    image = Image.new("RGB" if colour else "L", (size, size), paper)
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(STROKES[digit]):
        draw.line([(x * size, y * size) for x, y in line], width=width, joint="curve",
                  fill=first_ink if k == 0 and first_ink is not None else ink)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if not shade and not grain:
        return image
    pixels = np.asarray(image, np.float32)
    y, x = np.mgrid[0:size, 0:size] / size
    light = 1 - shade * (0.6 * x + 0.4 * y)  # a lamp on the upper left
    noise = rng.normal(0, grain, (size, size))
    if colour:
        light, noise = light[..., None], noise[..., None]
    return Image.fromarray(np.clip(pixels * light + noise, 0, 255).astype(np.uint8))


def predict_hard_cases() -> None:
    """What real handwriting breaks, on our own renders: each picture, its 28x28 without the
    ink level and stroke-width steps ("before") and with them ("now"), and the bundled model's
    answer to each."""
    from cnnkit import digits
    from cnnkit.viz import draw as viz
    from cnnkit.digits.verdict import judge
    from cnnkit.nn.io import BUNDLED_MODEL, load_model

    rng = np.random.default_rng(0)
    cases = [
        ("Paint, 1 px line", render_digit("7", 400, 1, 0, 255)),
        ("canvas, white on black", render_digit("2", 280, 1, 255, 0)),
        ("faint pencil", render_digit("3", 500, 3, 170, 215, rng, 0.1, 3)),
        ("blue ballpoint, beige", render_digit("4", 520, 3, (40, 60, 150), (228, 212, 180),
                                               rng, 0.35, 4)),
        ("felt-tip marker", render_digit("8", 300, 34, 20, 245)),
        ("blurred, faint loop", render_digit("8", 80, 3, 60, 200, first_ink=150, blur=2)),
        ("noise", Image.fromarray(rng.integers(0, 256, (300, 300), dtype=np.uint8))),
    ]
    model, _ = load_model(BUNDLED_MODEL)
    tiles, labels = [], []
    for name, image in cases:
        picture = imaging.Picture(np.asarray(image, np.float32), None, 255.0)
        try:
            prepared = digits.prepare_digit(picture)
        except digits.NoDigitError:
            prepared = None
        tiles.append(np.asarray(image.convert("L").resize((168, 168), Image.LANCZOS)))
        labels.append(name)
        if prepared is None:
            continue
        stages = dict(prepared.stages)
        before = digits.fit_mnist(stages["5-cropped"])[1]
        after = stages["8-centred-28x28"]
        probs = model.predict_proba(np.stack([before, after])[..., None])
        verdict, _ = judge(prepared.evidence, float(probs[1].max()))
        for title, tile, p in (("before", before, probs[0]), ("now", after, probs[1])):
            tiles.append(np.asarray(Image.fromarray(np.uint8(np.clip(tile, 0, 1) * 255)).resize(
                (168, 168), Image.NEAREST)))
            read = f"{int(p.argmax())} ({p.max():.0%})"
            if title == "now" and verdict != "digit":
                read = verdict if verdict == "no digit" else f"{read} {verdict}"
            labels.append(f"{title}: {read}")
        if name == "noise":
            tiles.pop(-2), labels.pop(-2)
    sheet = viz.grid(tiles, labels, columns=6)
    sheet.save(IMAGES / "predict_hard_cases.png", optimize=True)
    print(f"wrote {(IMAGES / 'predict_hard_cases.png').relative_to(ROOT)}")


def drawn_digits() -> None:
    """A dozen digits of each label as ``cnnkit train --drawn`` draws them, every template in
    turn (docs/model.md)."""
    from cnnkit.digits.drawn import TEMPLATES, draw_digit

    rng = np.random.default_rng(0)
    rows = [np.concatenate([draw_digit(label, rng, k % len(TEMPLATES[label]))
                            for k in range(12)], axis=1) for label in range(10)]
    sheet = Image.fromarray(np.rint(np.concatenate(rows) * 255).astype(np.uint8))
    sheet = sheet.resize((sheet.width * 2, sheet.height * 2), Image.NEAREST)
    sheet.save(IMAGES / "drawn-digits.png", optimize=True)
    print(f"wrote {(IMAGES / 'drawn-digits.png').relative_to(ROOT)}")


def pictures() -> None:
    """One of each picture command, run exactly as a user would (evaluate needs MNIST: the
    cnnkit cache, or ../shared/data/mnist when present)."""
    import subprocess
    import sys

    folder = IMAGES / "pictures"
    digit = SAMPLES / "digits" / "0_7.jpg"
    data = ROOT.parent / "shared" / "data" / "mnist"
    data_args = ["--data", str(data)] if data.is_dir() else []
    runs = [
        ["featuremaps", digit, "-o", folder / "featuremaps.png"],
        ["featuremaps", digit, "--layer", "conv", "-o", folder / "featuremaps_conv.png"],
        ["filters", "-o", folder / "filters.png"],
        ["plot", ROOT / "docs" / "results" / "digit_classifier.history.json", "-o",
         folder / "curves.png"],
        ["evaluate", *data_args, "--plot", folder / "confusion.png", "--mistakes",
         folder / "mistakes.png", "--json"],
        ["kernels", "show", "sobel", "--plot", folder / "kernel_sobel.png"],
        ["kernels", "show", "model:conv/7", "--plot", folder / "kernel_conv7.png"],
    ]
    for args in runs:
        command = [sys.executable, "-m", "cnnkit", *map(str, args), "--force"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    for image in sorted(folder.glob("*.png")):
        print(f"wrote {image.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
