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
    """Nearest-neighbour enlargement of a tile (h, w) or (h, w, 3) to about ``height`` rows,
    so every pixel stays visible."""
    factor = max(1, height // max(tile.shape[0], 1))
    return np.repeat(np.repeat(tile, factor, axis=0), factor, axis=1)


def grid(tiles: list[np.ndarray], labels: list[str] | None = None, columns: int | None = None,
         gap: int = 6) -> Image.Image:
    """Tiles (uint8, (h, w) grey or (h, w, 3) RGB, any sizes) in rows, each with its label
    (one or more lines) underneath if given."""
    return grid_with_boxes(tiles, labels, columns, gap)[0]


def grid_with_boxes(tiles: list[np.ndarray], labels: list[str] | None = None,
                    columns: int | None = None, gap: int = 6
                    ) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """:func:`grid`, also returning each tile's box (left, top, right, bottom) in the sheet."""
    columns = columns or max(1, math.ceil(math.sqrt(len(tiles))))
    rows = math.ceil(len(tiles) / columns)
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    lines = max((label.count("\n") + 1 for label in labels), default=0) if labels else 0
    label_h = lines * (LABEL_SIZE + 3) + 3 if lines else 0
    mode = "RGB" if any(t.ndim == 3 for t in tiles) else "L"
    sheet = Image.new(mode, (columns * (cell_w + gap) + gap,
                             rows * (cell_h + label_h + gap) + gap), _white(mode))
    draw = ImageDraw.Draw(sheet)
    boxes = []
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        x0, y0 = gap + c * (cell_w + gap), gap + r * (cell_h + label_h + gap)
        sheet.paste(Image.fromarray(tile).convert(mode), (x0, y0))
        boxes.append((x0, y0, x0 + tile.shape[1], y0 + tile.shape[0]))
        if labels:
            text = "\n".join(_fit(line, cell_w) for line in labels[k].split("\n"))
            draw.multiline_text((x0, y0 + tile.shape[0] + 2), text, fill=_ink(mode),
                                font=font(), spacing=3)
    return sheet, boxes


def _white(mode: str):
    return BACKGROUND if mode == "L" else (BACKGROUND,) * 3


def _ink(mode: str):
    return INK if mode == "L" else (INK,) * 3


def _fit(text: str, width: int) -> str:
    """``text``, cut with an ellipsis if it would be wider than ``width`` px."""
    measure = font().getlength
    if measure(text) <= width:
        return text
    while text and measure(text + "…") > width:
        text = text[:-1]
    return text + "…"


def stage_sheet(stages, tile_height: int = 160) -> Image.Image:
    """One row per stage: its label, then its maps enlarged to about ``tile_height`` px.

    stages : objects with ``label``, ``maps`` (each (H, W) float32) and ``names``.
    """
    rows = []
    for stage in stages:
        tiles = [enlarge(to_grey8(m), tile_height) for m in stage.maps]
        names = stage.names if len(stage.maps) > 1 else None
        body = grid(tiles, names, columns=min(len(tiles), 6))
        shape = "x".join(map(str, stage.maps[0].shape))
        count = f"{len(stage.maps)} maps of " if len(stage.maps) > 1 else ""
        title = title_bar(f"{stage.label}  ({count}{shape})", body.width)
        rows.append(stack_vertically([title, body])[0])
    return stack_vertically(rows, gap=10)[0]


def title_bar(text: str, width: int, mode: str = "L") -> Image.Image:
    """A strip at least ``width`` px wide holding one line of text."""
    width = max(width, math.ceil(font().getlength(text)) + 12)
    bar = Image.new(mode, (width, LABEL_SIZE + 10), _white(mode))
    ImageDraw.Draw(bar).text((6, 4), text, fill=_ink(mode), font=font())
    return bar


def stack_vertically(images: list[Image.Image], gap: int = 0) -> tuple[Image.Image, list[int]]:
    """Images one under another, left-aligned, on white (RGB if any is RGB).

    Returns the picture and the top edge of each image in it.
    """
    mode = "RGB" if any(i.mode == "RGB" for i in images) else "L"
    width = max(i.width for i in images)
    height = sum(i.height for i in images) + gap * (len(images) - 1)
    out = Image.new(mode, (width, height), _white(mode))
    y, tops = 0, []
    for image in images:
        out.paste(image.convert(mode), (0, y))
        tops.append(y)
        y += image.height + gap
    return out, tops


def side_by_side(images: list[Image.Image], gap: int = 16) -> tuple[Image.Image, list[int]]:
    """Images in a row, top-aligned, on white; returns the picture and each left edge."""
    mode = "RGB" if any(i.mode == "RGB" for i in images) else "L"
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    out = Image.new(mode, (width, max(i.height for i in images)), _white(mode))
    x, lefts = 0, []
    for image in images:
        out.paste(image.convert(mode), (x, 0))
        lefts.append(x)
        x += image.width + gap
    return out, lefts
