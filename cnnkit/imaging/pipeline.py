"""Stacks of CNN-style steps on an image: ``"laplacian | relu | maxpool 2 | sharpen | avgpool 2"``.

Grammar (whitespace between tokens is free)::

    stack   := step ("|" step)*
    step    := filters | "relu" | pooling
    filters := kernel ("," kernel)*              several kernels: a stack of feature maps
    kernel  := NAME (PARAM "=" VALUE)*           e.g. gaussian sigma=2, emboss direction=ne
    pooling := ("maxpool" | "avgpool") [SIZE [STRIDE]]     SIZE, STRIDE: N or HxW

A step maps every current feature map: a filter step with k kernels turns m maps into m*k,
ReLU and pooling keep the count. Values stay raw float32 between steps, as in a CNN.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from cnnkit.imaging import kernels
from cnnkit.errors import CnnkitError
from cnnkit.imaging.filtering import FilterOptions, apply_filter
from cnnkit.steps import parse_pair, syntax_message
from cnnkit.steps import tokens as step_tokens

POOLS = ("maxpool", "avgpool")
WORDS = ("relu",) + POOLS


class StackSyntaxError(CnnkitError):
    """The stack text does not parse; the message names the position and what was expected."""


@dataclass(frozen=True)
class Step:
    kind: str  # "filter", "relu", "maxpool", "avgpool"
    text: str  # the step as written, for labels
    filters: tuple = ()
    size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None


@dataclass
class Stage:
    """One step's result: a label and its feature maps, each (H, W) float32."""

    label: str
    maps: list[np.ndarray]
    names: list[str]


def _error(position: int, found: str, expected: str, hint: str = "") -> StackSyntaxError:
    return StackSyntaxError(syntax_message("stack", position, found, expected, hint))


def _pair(token: str, position: int, what: str) -> tuple[int, int]:
    pair = parse_pair(token)
    if pair is None:
        raise _error(position, token, f"a pool {what} such as 2 or 2x3")
    return pair


def _kernel(words: list[tuple[str, int]]):
    (name, position), params = words[0], {}
    try:
        kernels.lookup(name)
    except CnnkitError:
        close = difflib.get_close_matches(name.lower(), kernels.names() + list(WORDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise _error(position, name, "a kernel name, relu, maxpool or avgpool", hint) from None
    for word, where in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in kernels.PARAMETERS:
            raise _error(where, word, "a parameter such as sigma=2 ("
                         + ", ".join(f"{p}=" for p in kernels.PARAMETERS) + ")")
        try:
            params[key] = value if key == "direction" else (
                int(value) if key == "size" else float(value))
        except ValueError:
            raise _error(where, word, f"a number after {key}=") from None
    try:
        return kernels.build(name, **params)
    except CnnkitError as exc:
        raise StackSyntaxError(f"stack, at character {position}: {exc}") from None


def parse(text: str) -> list[Step]:
    """Parse stack text into steps. Raises StackSyntaxError naming the position."""
    steps: list[Step] = []
    current: list[list[tuple[str, int]]] = [[]]  # kernels of the step being read
    start = 1
    tokens = list(step_tokens(text)) + [("end", "", len(text) + 1)]
    for kind, value, position in tokens:
        if kind == "word":
            current[-1].append((value, position))
            continue
        if value == "," and (not current[-1] or current[-1][0][0].lower() in WORDS):
            raise _error(position, value, "a kernel name before ','")
        if value == ",":
            current.append([])
            continue
        if not current[-1]:
            raise _error(position, "" if kind == "end" else value,
                         "a step (a kernel name, relu, maxpool or avgpool)")
        steps.append(_step(current, text[start - 1:position - 1].strip()))
        current, start = [[]], position + 1
    return steps


def _step(groups: list[list[tuple[str, int]]], text: str) -> Step:
    head, position = groups[0][0]
    word = head.lower()
    if len(groups) == 1 and word == "relu":
        if len(groups[0]) > 1:
            extra, where = groups[0][1]
            raise _error(where, extra, "'|' or the end after relu")
        return Step("relu", text)
    if len(groups) == 1 and word in POOLS:
        args = groups[0][1:]
        if len(args) > 2:
            raise _error(args[2][1], args[2][0], "'|' or the end (a pool takes SIZE [STRIDE])")
        size = _pair(args[0][0], args[0][1], "size") if args else (2, 2)
        stride = _pair(args[1][0], args[1][1], "stride") if len(args) > 1 else None
        return Step(word, text, size=size, stride=stride)
    return Step("filter", text, filters=tuple(_kernel(words) for words in groups))


MAX_MAPS = 256  # feature maps at any stage: a sheet of more is unreadable and huge


def estimate(steps: list[Step], shape: tuple[int, int]) -> tuple[int, int]:
    """(the most feature maps at any stage, bytes of float32 every stage together holds) for
    a grey image of ``shape``, computed from the steps before running them."""
    height, width = shape
    maps, most, total = 1, 1, height * width * 4
    for step in steps:
        if step.kind == "filter":
            maps *= len(step.filters)
        elif step.kind in POOLS:
            stride = step.stride or step.size
            height, width = max(1, -(-height // stride[0])), max(1, -(-width // stride[1]))
        most = max(most, maps)
        total += maps * height * width * 4
    return most, total


def check_size(steps: list[Step], shape: tuple[int, int]) -> None:
    """Refuse, before running, a stack whose maps or memory would run away."""
    from cnnkit.errors import LimitError
    from cnnkit.limits import check_memory

    most, total = estimate(steps, shape)
    if most > MAX_MAPS:
        raise LimitError(f"the stack makes {most:,} feature maps at one stage, above the "
                         f"limit of {MAX_MAPS} (use fewer kernels per step)")
    check_memory(total, f"the stack on a {shape[1]}x{shape[0]} picture",
                 "use a smaller picture, fewer kernels, or pool earlier")


def run(image: np.ndarray, steps: list[Step], options: FilterOptions = FilterOptions()
        ) -> list[Stage]:
    """Apply the steps to a grey image (H, W) float32; returns the input stage and one per step."""
    from cnnkit.ops.activations import relu
    from cnnkit.ops.pool import avg_pool, max_pool

    stages = [Stage("input", [image], ["input"])]
    for step in steps:
        previous = stages[-1]
        maps, names = [], []
        for array, name in zip(previous.maps, previous.names):
            if step.kind == "filter":
                for flt in step.filters:
                    maps.append(apply_filter(array, flt, options))
                    names.append(flt.name if len(previous.maps) == 1 else f"{name}>{flt.name}")
                continue
            try:
                if step.kind == "relu":
                    maps.append(relu(array))
                else:
                    pool = max_pool if step.kind == "maxpool" else avg_pool
                    maps.append(pool(array, step.size, step.stride))
            except ValueError as exc:
                raise CnnkitError(f"stack step '{step.text}': {exc}") from None
            names.append(name)
        stages.append(Stage(step.text, maps, names))
    return stages
