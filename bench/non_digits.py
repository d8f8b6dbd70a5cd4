"""Pictures that hold no digit, for measuring how often ``cnnkit predict`` reads one anyway.

    python bench/non_digits.py OUT_DIR [--count 200] [--seed 0]

Eight kinds, drawn in turn, each from the seeded generator (so --seed reproduces the set):
noise (uniform, Gaussian, salt-and-pepper, blurred blobs), blank paper photos (tinted paper,
lighting gradients, vignettes, a soft shadow, texture, JPEG noise), crops of the photos in
samples/ (scene, still life, test card) at random places and sizes, and renders of an empty
desk (wood-like grain under uneven light, maybe the edge of a sheet of paper). Saved as
PNG or JPEG like the pictures users have.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ["scene.png", "still_life.png", "testcard.png"]


def _smooth(rng, height: int, width: int, cell: int) -> np.ndarray:
    """Smooth random field (H, W) with features about ``cell`` px across, std about 1."""
    coarse = rng.normal(0, 1, (height // cell + 2, width // cell + 2)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))


def _size(rng) -> tuple[int, int]:
    return int(rng.integers(60, 500)), int(rng.integers(60, 500))


def noise(rng) -> np.ndarray:
    height, width = _size(rng)
    kind = rng.integers(4)
    if kind == 0:
        return rng.uniform(0, 1, (height, width))
    if kind == 1:
        return np.clip(rng.normal(rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.3),
                                  (height, width)), 0, 1)
    if kind == 2:
        base = np.full((height, width), rng.uniform(0.2, 0.9))
        dots = rng.uniform(0, 1, (height, width))
        share = rng.uniform(0.01, 0.1)
        base[dots < share / 2] = 0
        base[dots > 1 - share / 2] = 1
        return base
    return np.clip(0.5 + 0.25 * _smooth(rng, height, width, int(rng.integers(3, 30))), 0, 1)


def blank_paper(rng) -> np.ndarray:
    height, width = _size(rng)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1 - rng.uniform(0.05, 0.5) * (np.cos(angle) * x + np.sin(angle) * y)
    cy, cx = rng.uniform(0, 1, 2) * (height, width)
    vignette = 1 - rng.uniform(0, 0.4) * (((y * max(height, width) - cy) ** 2
                                           + (x * max(height, width) - cx) ** 2)
                                          / max(height, width) ** 2)
    cast = _smooth(rng, height, width, max(height, width) // 2) > 0.8
    cast = Image.fromarray((cast * 255).astype(np.uint8)).filter(  # a shadow's edge is soft
        ImageFilter.GaussianBlur(rng.uniform(1, 12)))
    shadow = 1 - rng.uniform(0, 0.3) * np.asarray(cast, np.float32) / 255
    texture = 1 + rng.uniform(0.005, 0.04) * _smooth(rng, height, width, int(rng.integers(1, 4)))
    paper = rng.uniform(0.75, 0.97) * light * vignette * texture
    return np.clip(paper * shadow + rng.normal(0, 0.01, paper.shape), 0, 1)


def photo_crop(rng) -> np.ndarray:
    photo = Image.open(ROOT / "samples" / PHOTOS[rng.integers(len(PHOTOS))]).convert("L")
    side = int(rng.integers(min(photo.size) // 5, min(photo.size)))
    left = int(rng.integers(0, photo.width - side + 1))
    top = int(rng.integers(0, photo.height - side + 1))
    crop = photo.crop((left, top, left + side, top + side))
    return np.asarray(crop, np.float32) / 255


def empty_desk(rng) -> np.ndarray:
    height, width = _size(rng)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grain = np.sin(x * rng.uniform(0.05, 0.3) + 3 * _smooth(rng, height, width, 40))
    wood = rng.uniform(0.3, 0.6) + rng.uniform(0.02, 0.08) * grain
    wood *= 1 - rng.uniform(0, 0.4) * (x / width)
    if rng.uniform() < 0.5:  # the edge of a sheet of paper
        edge = rng.uniform(0.2, 0.8) * width + rng.uniform(-0.3, 0.3) * (y - height / 2)
        wood = np.where(x > edge, rng.uniform(0.8, 0.95), wood)
    return np.clip(wood + rng.normal(0, 0.02, wood.shape), 0, 1)


KINDS = {"noise": noise, "blank-paper": blank_paper, "photo-crop": photo_crop,
         "empty-desk": empty_desk}


def make(folder: Path, count: int, seed: int) -> list[tuple[Path, str]]:
    """Write ``count`` non-digit pictures to ``folder``; returns (path, kind) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    made = []
    names = list(KINDS)
    for k in range(count):
        kind = names[k % len(names)]
        grey = KINDS[kind](rng)
        image = Image.fromarray(np.clip(np.rint(grey * 255), 0, 255).astype(np.uint8))
        if rng.uniform() < 0.5:  # a colour photo saved as JPEG
            image = image.convert("RGB")
            path = folder / f"{k:04d}_{kind}.jpg"
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=int(rng.integers(50, 95)))
            path.write_bytes(buffer.getvalue())
        else:
            path = folder / f"{k:04d}_{kind}.png"
            image.save(path)
        made.append((path, kind))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    made = make(args.out, args.count, args.seed)
    print(f"wrote {len(made)} pictures to {args.out}")


if __name__ == "__main__":
    main()
