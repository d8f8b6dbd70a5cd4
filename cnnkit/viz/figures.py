"""Pictures of the CNN drawn with Pillow: feature maps, learned filters, the confusion matrix,
the worst mistakes, and one kernel beside its effect.

Every function returns a :class:`Figure`: the picture and the box of each part of it, so
callers (and tests) can find a tile without re-deriving the layout. Magnitudes use the
sequential colour map and signed values the diverging one (:mod:`cnnkit.viz.colormaps`); one
scale is shared by all tiles of a grid, so tiles can be compared with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from cnnkit.viz import colormaps
from cnnkit.viz import draw as viz

Box = tuple[int, int, int, int]  # left, top, right, bottom
TILE = 104  # px: a 26x26 map enlarged 4x, a 13x13 one 8x
VALUE_SIZE = 14  # px: the numbers written in kernel and confusion cells


@dataclass
class Figure:
    """A picture and named lists of boxes inside it (e.g. ``boxes["relu"][7]``)."""

    image: Image.Image
    boxes: dict[str, list[Box]] = field(default_factory=dict)


@dataclass(frozen=True)
class MapStage:
    """One stage of feature maps: ``maps`` (H, W, C) float32, ``signed`` picks the colours."""

    key: str
    label: str
    maps: np.ndarray
    signed: bool


def _shift(boxes: list[Box], dx: int, dy: int) -> list[Box]:
    return [(a + dx, b + dy, c + dx, d + dy) for a, b, c, d in boxes]


def _limits(values: np.ndarray, signed: bool) -> tuple[float, float]:
    if signed:
        return colormaps.signed_limits(values)
    hi = float(values.max()) if values.size else 0.0
    return 0.0, hi if hi > 0 else 1.0


def _table(signed: bool) -> np.ndarray:
    return colormaps.DIVERGING if signed else colormaps.SEQUENTIAL


def colour_bar(table: np.ndarray, lo: float, hi: float, caption: str,
               width: int = 256) -> Image.Image:
    """A horizontal bar of ``table`` with ``lo`` and ``hi`` (and 0 if inside) written under
    it, then the caption."""
    height = 14
    ramp = np.repeat(table[np.linspace(0, len(table) - 1, width).astype(int)][None], height, 0)
    label_y = height + 3
    text_width = int(viz.font().getlength(caption)) + 12
    out = Image.new("RGB", (max(width + 12, text_width), height + 2 * (viz.LABEL_SIZE + 4) + 4),
                    "white")
    out.paste(Image.fromarray(ramp), (6, 0))
    draw = ImageDraw.Draw(out)
    ticks = [(lo, 6, "la"), (hi, 6 + width, "ra")]
    if lo < 0 < hi:
        ticks.append((0.0, 6 + round(width * -lo / (hi - lo)), "ma"))
    for value, x, anchor in ticks:
        draw.text((x, label_y), _number(value), fill=(20, 20, 20), font=viz.font(),
                  anchor=anchor)
    draw.text((6, label_y + viz.LABEL_SIZE + 4), caption, fill=(20, 20, 20), font=viz.font())
    return out


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def map_grid(stage: MapStage, columns: int = 8) -> Figure:
    """A stage's C maps as a labelled grid (tile k is channel k) with its colour bar."""
    lo, hi = _limits(stage.maps, stage.signed)
    table = _table(stage.signed)
    tiles = [viz.enlarge(colormaps.colorize(stage.maps[..., c], table, lo, hi), TILE)
             for c in range(stage.maps.shape[-1])]
    body, boxes = viz.grid_with_boxes(tiles, [str(c) for c in range(len(tiles))], columns)
    h, w, count = stage.maps.shape
    title = viz.title_bar(f"{stage.label}: {count} maps of {h}x{w}", body.width, "RGB")
    meaning = "blue negative, red positive" if stage.signed else "brighter = larger"
    bar = colour_bar(table, lo, hi, f"one scale for all {count} maps; {meaning}")
    image, tops = viz.stack_vertically([title, body, bar])
    return Figure(image, {stage.key: _shift(boxes, 0, tops[1])})


def feature_maps(digit: np.ndarray, stages: list[MapStage], caption: str = "") -> Figure:
    """The input digit (``caption`` after its title) then one grid per stage, top to bottom.

    digit : (28, 28) float32 in [0, 1], the model's input (white ink on black).
    Boxes: ``"input"`` and each stage's key.
    """
    grey = np.rint(np.clip(digit, 0, 1) * 255).astype(np.uint8)
    tile = viz.enlarge(grey, 4 * TILE // 3)
    head, head_boxes = viz.grid_with_boxes([np.repeat(tile[..., None], 3, axis=2)])
    title = "input: the 28x28 digit the model sees" + (f"; {caption}" if caption else "")
    parts = [viz.title_bar(title, head.width, "RGB"), head]
    grids = [map_grid(stage) for stage in stages]
    image, tops = viz.stack_vertically(parts + [g.image for g in grids], gap=8)
    boxes = {"input": _shift(head_boxes, 0, tops[1])}
    for grid_figure, top in zip(grids, tops[2:]):
        for key, value in grid_figure.boxes.items():
            boxes[key] = _shift(value, 0, top)
    return Figure(image, boxes)


def _short(value: float) -> str:
    """A kernel value in at most about five characters."""
    if value == int(value) and abs(value) < 1000:
        return str(int(value))
    text = f"{value:.2g}"
    return text.replace("0.", ".", 1) if len(text) > 5 else text


def annotated_matrix(matrix: np.ndarray, lo: float, hi: float, cell: int = 48,
                     values: bool = True) -> Image.Image:
    """A matrix (h, w) as coloured cells on the diverging map, each with its value written in
    black or white, whichever reads better on the cell."""
    rgb = colormaps.colorize(matrix, colormaps.DIVERGING, lo, hi)
    image = Image.fromarray(viz.enlarge(rgb, cell * matrix.shape[0]))
    draw = ImageDraw.Draw(image)
    if values:
        small = viz.font(VALUE_SIZE)
        for (r, c), value in np.ndenumerate(matrix):
            draw.text((c * cell + cell / 2, r * cell + cell / 2), _short(float(value)),
                      fill=colormaps.text_colour(rgb[r, c]), font=small, anchor="mm")
    for k in range(1, matrix.shape[0]):  # thin grid lines between the cells
        draw.line([(0, k * cell), (image.width, k * cell)], fill=(255, 255, 255))
    for k in range(1, matrix.shape[1]):
        draw.line([(k * cell, 0), (k * cell, image.height)], fill=(255, 255, 255))
    return image


def filter_bank(kernels: np.ndarray, bias: np.ndarray, name: str = "conv",
                shown: str = "") -> Figure:
    """Learned kernels (kh, kw, F) with biases (F,): tile f is kernel f, labelled ``conv/f``
    with its bias, values written in the cells. Boxes: ``"filters"``."""
    lo, hi = colormaps.signed_limits(kernels)
    count = kernels.shape[-1]
    tiles = [np.asarray(annotated_matrix(kernels[..., f], lo, hi)) for f in range(count)]
    labels = [f"{name}/{f}\nbias {bias[f]:+.3f}" for f in range(count)]
    body, boxes = viz.grid_with_boxes(tiles, labels, columns=8, gap=10)
    reads = "input pixels scaled to 0..1" if name == "conv" else "reading feature maps"
    what = f"; {shown}" if shown else ""
    title = viz.title_bar(f"the {count} learned {kernels.shape[0]}x{kernels.shape[1]} kernels "
                          f"of {name} (correlation, {reads}{what})", body.width, "RGB")
    bar = colour_bar(colormaps.DIVERGING, lo, hi, "kernel weight")
    image, tops = viz.stack_vertically([title, body, bar])
    return Figure(image, {"filters": _shift(boxes, 0, tops[1])})


def confusion_heatmap(confusion: np.ndarray, cell: int = 48,
                      names: list[str] | None = None) -> Figure:
    """The confusion counts (rows true, columns predicted) as a heat map; ``names`` label the
    classes (default their indices; a long name is cut to fit its cell).

    Colour is each cell's share of its row (the recall on the diagonal) on the sequential
    map; the count is written in the cell. Boxes: ``"cells"``, row-major.
    """
    confusion = np.asarray(confusion)
    classes = confusion.shape[0]
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    rgb = colormaps.colorize(share, colormaps.SEQUENTIAL, 0.0, 1.0)
    margin = viz.LABEL_SIZE + 30
    size = classes * cell
    image = Image.new("RGB", (margin + size + 8, margin + size + 8), "white")
    draw = ImageDraw.Draw(image)
    small, label = viz.font(VALUE_SIZE), viz.font()
    boxes = []
    for t in range(classes):
        for p in range(classes):
            x0, y0 = margin + p * cell, margin + t * cell
            colour = tuple(int(v) for v in rgb[t, p])
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour)
            draw.text((x0 + cell / 2, y0 + cell / 2), str(int(confusion[t, p])),
                      fill=colormaps.text_colour(colour), font=small, anchor="mm")
            boxes.append((x0, y0, x0 + cell, y0 + cell))
    ink = (20, 20, 20)
    shown = [str(n) if len(str(n)) <= 4 else str(n)[:3] + "\u2026"
             for n in (names or range(classes))]
    for k in range(classes):
        draw.text((margin + k * cell + cell / 2, margin - 4), shown[k], fill=ink, font=label,
                  anchor="md")
        draw.text((margin - 6, margin + k * cell + cell / 2), shown[k], fill=ink, font=label,
                  anchor="rm")
    draw.text((margin + size / 2, 2), "predicted", fill=ink, font=label, anchor="ma")
    draw.text((2, margin + size / 2), "true", fill=ink, font=label, anchor="lm")
    total = int(confusion.sum())
    accuracy = np.trace(confusion) / total if total else 0.0
    title = viz.title_bar(f"confusion matrix: {total:,} images, accuracy {accuracy:.2%}",
                          image.width, "RGB")
    bar = colour_bar(colormaps.SEQUENTIAL, 0.0, 1.0, "share of the true class's images")
    sheet, tops = viz.stack_vertically([title, image, bar], gap=4)
    return Figure(sheet, {"cells": _shift(boxes, 0, tops[1])})


def mistakes_sheet(images: np.ndarray, mistakes: list[dict], columns: int = 6) -> Figure:
    """The worst mistakes as enlarged digits labelled with true and predicted class.

    images : (N, 28, 28) uint8, the digits of ``mistakes`` in the same order; each mistake
    has ``index``, ``true``, ``predicted``, ``confidence``. Boxes: ``"digits"``.
    """
    if not mistakes:
        image = viz.title_bar("no mistakes: every image was read correctly", 320, "RGB")
        return Figure(image, {"digits": []})
    tiles = [viz.enlarge(255 - digit, 4 * 28) for digit in images]  # dark ink on white
    labels = [f"{m['true']} read as {m['predicted']}\n{m['confidence']:.1%} #{m['index']}"
              for m in mistakes]
    body, boxes = viz.grid_with_boxes(tiles, labels, columns=min(columns, len(tiles)), gap=12)
    title = viz.title_bar(f"the {len(mistakes)} most confident mistakes (test index after #)",
                          body.width)
    image, tops = viz.stack_vertically([title, body])
    return Figure(image, {"digits": _shift(boxes, 0, tops[1])})


def kernel_effect(matrices: list[tuple[str, np.ndarray]], sample: np.ndarray,
                  result: np.ndarray, title: str) -> Figure:
    """Each kernel as an annotated matrix, then the sample and the filtered sample.

    sample, result : (H, W) uint8. Boxes: ``"kernels"``, ``"sample"``, ``"result"``.
    """
    lo, hi = colormaps.signed_limits(np.concatenate([m.ravel() for _, m in matrices]))
    size = max(m.shape[0] for _, m in matrices)
    cell = 48 if size <= 7 else max(6, 336 // size)
    panels, captions = [], []
    for label, matrix in matrices:
        panels.append(annotated_matrix(matrix, lo, hi, cell, values=cell >= 40))
        captions.append(label)
    panels += [Image.fromarray(sample).convert("RGB"), Image.fromarray(result).convert("RGB")]
    captions += ["sample", "filtered"]
    labelled = [viz.stack_vertically([panel, viz.title_bar(text, panel.width, "RGB")])[0]
                for panel, text in zip(panels, captions)]
    row, lefts = viz.side_by_side(labelled)
    head = viz.title_bar(title, row.width, "RGB")
    image, tops = viz.stack_vertically([head, row], gap=4)
    boxes = [(left, tops[1], left + p.width, tops[1] + p.height)
             for left, p in zip(lefts, panels)]
    return Figure(image, {"kernels": boxes[:-2], "sample": [boxes[-2]], "result": [boxes[-1]]})
