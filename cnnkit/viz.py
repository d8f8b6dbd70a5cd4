"""Pictures drawn with Pillow: grids of feature maps and labelled sheets of stages."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = 255
INK = 20
LABEL_SIZE = 16  # px: readable at 100% zoom


def font(size: int = LABEL_SIZE) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def to_grey8(values: np.ndarray) -> np.ndarray:
    """Stretch one map (H, W) to uint8 0..255 for display (flat maps become mid-grey)."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        return np.full(values.shape, 128, np.uint8)
    return np.rint((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def enlarge(tile: np.ndarray, height: int) -> np.ndarray:
    """Nearest-neighbour enlargement to about ``height`` rows, so every pixel stays visible."""
    factor = max(1, height // max(tile.shape[0], 1))
    return np.repeat(np.repeat(tile, factor, axis=0), factor, axis=1)


def grid(tiles: list[np.ndarray], labels: list[str] | None = None, columns: int | None = None,
         gap: int = 6) -> Image.Image:
    """Tiles (uint8, (h, w), any sizes) in rows, each with its label underneath if given."""
    columns = columns or max(1, math.ceil(math.sqrt(len(tiles))))
    rows = math.ceil(len(tiles) / columns)
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    label_h = LABEL_SIZE + 6 if labels else 0
    sheet = Image.new("L", (columns * (cell_w + gap) + gap, rows * (cell_h + label_h + gap) + gap),
                      BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        x0, y0 = gap + c * (cell_w + gap), gap + r * (cell_h + label_h + gap)
        sheet.paste(Image.fromarray(tile), (x0, y0))
        if labels:
            draw.text((x0, y0 + tile.shape[0] + 2), _fit(labels[k], cell_w), fill=INK,
                      font=font())
    return sheet


def _fit(text: str, width: int) -> str:
    limit = max(4, width // (LABEL_SIZE // 2))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def stage_sheet(stages, tile_height: int = 160) -> Image.Image:
    """One row per stage: its label, then its maps enlarged to about ``tile_height`` px.

    stages : objects with ``label``, ``maps`` (each (H, W) float32) and ``names``.
    """
    rows = []
    for stage in stages:
        tiles = [enlarge(to_grey8(m), tile_height) for m in stage.maps]
        names = stage.names if len(stage.maps) > 1 else None
        body = grid(tiles, names, columns=min(len(tiles), 6))
        title = Image.new("L", (body.width, LABEL_SIZE + 10), BACKGROUND)
        shape = "x".join(map(str, stage.maps[0].shape))
        count = f"{len(stage.maps)} maps of " if len(stage.maps) > 1 else ""
        ImageDraw.Draw(title).text((6, 4), f"{stage.label}  ({count}{shape})", fill=INK,
                                   font=font())
        rows.append(_stack_vertically([title, body]))
    return _stack_vertically(rows, gap=10)


def _stack_vertically(images: list[Image.Image], gap: int = 0) -> Image.Image:
    width = max(i.width for i in images)
    height = sum(i.height for i in images) + gap * (len(images) - 1)
    out = Image.new("L", (width, height), BACKGROUND)
    y = 0
    for image in images:
        out.paste(image, (0, y))
        y += image.height + gap
    return out
