"""Regenerate the pictures in README.md and docs/: ``python docs/make_figures.py``.

Every picture is made by cnnkit's own library calls on the bundled samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnkit import imaging, kernels
from cnnkit.filtering import FilterOptions, apply_filter, display_range

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
    pictures()


def pool_and_stack() -> None:
    """A max-pooled test card beside its input, and a labelled stack sheet."""
    from cnnkit import pipeline, viz
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
    from cnnkit import digits, viz

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
