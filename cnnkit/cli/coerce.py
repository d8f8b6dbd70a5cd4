"""Option values converted without Pydantic when they are plainly valid.

Typer 0.2x converts every option through a Pydantic ``TypeAdapter``: importing Pydantic
and building the adapters costs about 0.11 s per command (measured: ``import typer``
0.08 s, then ``typer._adapters`` 0.11 s more), a fifth of a one-picture ``cnnkit filter``.
For the plain types cnnkit's options use (str, int, float, Path, Enum choices and lists of
them) a value that is obviously well formed is converted here the way Typer would (Paths
through Typer's own checks: exists, file or folder, ``-``). Anything else, and any value
that fails, goes to Typer's own converter, so messages and edge cases stay Typer's.

``install()`` is a no-op on a Typer without these internals (older or newer layouts).
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

INTEGER = re.compile(r"-?[0-9]+\Z")
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_SLOW = object()  # "ask Typer"


def _in_range(number, info) -> bool:
    return ((info.min is None or number >= info.min)
            and (info.max is None or number <= info.max))


def _leaf(annotation: Any, info, value: Any, param, ctx, param_types) -> Any:
    """``value`` converted as Typer would, or ``_SLOW`` when Typer must decide."""
    if type(value) is annotation and annotation in (str, int, float):  # a default
        return value if annotation is str or (not info.clamp and _in_range(value, info)) \
            else _SLOW
    if isinstance(annotation, type) and issubclass(annotation, Path) and isinstance(
            value, annotation) and info.path_type is None:
        return param_types.coerce_cli_path(value, info, path_type=annotation, param=param,
                                           ctx=ctx)
    if isinstance(annotation, type) and issubclass(annotation, Enum) and isinstance(
            value, annotation):
        return value
    if not isinstance(value, str):
        return _SLOW
    if annotation is str:
        return value
    if annotation is int:
        if info.clamp or not INTEGER.match(value):
            return _SLOW
        number = int(value)
        return number if _in_range(number, info) else _SLOW
    if annotation is float:
        if info.clamp or not DECIMAL.match(value):
            return _SLOW
        number = float(value)
        return number if _in_range(number, info) else _SLOW
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        try:
            return param_types.coerce_cli_choice(value, choices=list(annotation),
                                                 case_sensitive=info.case_sensitive, ctx=ctx)
        except ValueError:
            return _SLOW
    if (isinstance(annotation, type) and issubclass(annotation, Path) and value
            and info.path_type is None):
        # Typer's own path checks; they raise its BadParameter messages themselves.
        return param_types.coerce_cli_path(annotation(value), info, path_type=annotation,
                                           param=param, ctx=ctx)
    return _SLOW


def install() -> bool:
    """Put the fast path in front of Typer's converter. Returns whether it could."""
    try:
        from typer import _coercion, _param_types, core
    except ImportError:  # pragma: no cover - depends on the installed Typer
        return False
    original = getattr(core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "_cnnkit", False):
        return False

    class FastRuntimeParam(base):
        """Converts plain values itself; asks Typer's own converter (built only then)
        for anything else."""

        def __init__(self, descriptor):
            object.__setattr__(self, "descriptor", descriptor)
            object.__setattr__(self, "slow", None)
            base.__init__(self, parameter_info=descriptor.parameter_info,
                          annotation=descriptor.annotation)

        def _typer(self):
            if self.slow is None:
                object.__setattr__(self, "slow", original(self.descriptor))
            return self.slow

        def _coerce_value(self, value, param, ctx):
            info, annotation = self.parameter_info, self.annotation
            if info.parser is None:
                if get_origin(annotation) is list and isinstance(value, (list, tuple)):
                    (item_type,) = get_args(annotation)
                    items = [_leaf(item_type, info, v, param, ctx, _param_types)
                             for v in value]
                    if all(item is not _SLOW for item in items):
                        return items
                else:
                    result = _leaf(annotation, info, value, param, ctx, _param_types)
                    if result is not _SLOW:
                        return result
            return self._typer()._coerce_value(value, param=param, ctx=ctx)

    def build(descriptor):
        if descriptor.file_annotation is not None:
            return original(descriptor)
        return FastRuntimeParam(descriptor)

    build._cnnkit = True
    core.build_runtime_param = build
    return True
