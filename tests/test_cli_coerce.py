"""Option values converted without Pydantic: the same values and messages as Typer's own."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest

from cnnkit.cli import root  # noqa: F401  (installs the fast path)
from tests.conftest import ROOT, python_output

typer_core = pytest.importorskip("typer.core")
if not getattr(typer_core.build_runtime_param, "_cnnkit", False):  # pragma: no cover
    pytest.skip("this Typer has no runtime converters to put a fast path in front of",
                allow_module_level=True)

from typer._click.exceptions import BadParameter  # noqa: E402
from typer._coercion import build_runtime_param as typers_own  # noqa: E402
from typer._coercion import resolve_type_descriptor  # noqa: E402
from typer.models import OptionInfo  # noqa: E402


class Colour(str, Enum):
    red = "red"
    blue = "blue"


def both(annotation, info, value):
    """(result or message) from the fast path and from Typer's converter."""
    descriptor = resolve_type_descriptor(annotation, info)
    outcomes = []
    for build in (typer_core.build_runtime_param, typers_own):
        try:
            outcomes.append(("value", build(descriptor)._coerce_value(value, None, None)))
        except BadParameter as exc:
            outcomes.append(("error", exc.format_message()))
    return outcomes


@pytest.mark.parametrize("annotation, info, value", [
    (int, OptionInfo(), "12"), (int, OptionInfo(), "-3"), (int, OptionInfo(), " 7"),
    (int, OptionInfo(), "x"), (int, OptionInfo(), "1.5"), (int, OptionInfo(min=1), "0"),
    (int, OptionInfo(min=1, max=9), "9"), (int, OptionInfo(min=1), 5),
    (int, OptionInfo(min=1, clamp=True), "-4"),
    (float, OptionInfo(), "0.5"), (float, OptionInfo(), "-2e-3"), (float, OptionInfo(), ".5"),
    (float, OptionInfo(), "nan"), (float, OptionInfo(), "1,5"), (float, OptionInfo(), 1.0),
    (float, OptionInfo(min=0.0, max=1.0), "1.5"), (float, OptionInfo(), "inf"),
    (str, OptionInfo(), "a b"), (str, OptionInfo(), ""),
    (Colour, OptionInfo(), "red"), (Colour, OptionInfo(), "green"),
    (Colour, OptionInfo(case_sensitive=False), "BLUE"), (Colour, OptionInfo(), Colour.blue),
    (Path, OptionInfo(), "some/where.png"), (Path, OptionInfo(), "-"),
    (Path, OptionInfo(exists=True), "/no/such/file"), (Path, OptionInfo(exists=True), "."),
    (Path, OptionInfo(exists=True, file_okay=False), str(ROOT / "README.md")),
    (Path, OptionInfo(exists=True, dir_okay=False), str(ROOT)),
    (Path, OptionInfo(), Path("x.png")), (Path, OptionInfo(), ""),
    (list[Path], OptionInfo(), ("a.png", "b.png")), (list[int], OptionInfo(), ("1", "z")),
])
def test_fast_conversion_matches_typers_own(annotation, info, value):
    fast, own = both(annotation, info, value)
    assert repr(fast) == repr(own)  # repr: nan == nan
    assert type(fast[1]) is type(own[1])


def test_a_filter_command_does_not_import_pydantic(tmp_path):
    """Run by Typer (``--debug`` before the command is not for cli/quick.py), its options
    are converted here, without Pydantic."""
    scene = str(ROOT / "samples" / "scene.png")
    code = ("import sys, runpy\n"
            f"sys.argv = ['cnnkit', '--debug', 'filter', '-k', 'sobel', {scene!r},"
            f" '-o', {str(tmp_path / 'out.png')!r}, '-q', '--stride', '2']\n"
            "try:\n    runpy.run_module('cnnkit', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print('typer' in sys.modules, 'pydantic' in sys.modules)")
    assert python_output(code) == "True False"
    assert (tmp_path / "out.png").exists()
