"""The house: imports flow one way, ``cli -> serve -> {data, digits, viz} -> imaging -> nn ->
ops``, with the shared utilities at the root (files, forked, limits, steps, errors) below them
all. A scan of every module's imports (docs/architecture.md draws the same picture)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "cnnkit"
RANK = {"cli": 5, "serve": 4, "data": 3, "digits": 3, "viz": 3,
        "imaging": 2.5,  # kernels.learned reads a model file: imaging -> nn, never back
        "nn": 2, "ops": 1, "files": 0.3, "forked": 0.25, "limits": 0.2, "steps": 0.1,
        "errors": 0, "__init__": 0, "models": 0, "assets": 0}


def _room(parts: list[str]) -> str:
    room = parts[0] if parts else "__init__"
    return "cli" if room == "__main__" else room  # python -m cnnkit is the command line


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "cnnkit":  # from cnnkit import files, __version__
                yield from (f"cnnkit.{a.name}" for a in node.names)
            else:
                yield node.module


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_room_has_a_rank():
    rooms = {_room([p.name.removesuffix(".py")]) for p in PACKAGE.iterdir()
             if p.suffix == ".py" or (p.is_dir() and p.name != "__pycache__")}
    assert rooms <= set(RANK), f"new rooms need a place in the house: {rooms - set(RANK)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    here = _room([s.removesuffix(".py") for s in path.relative_to(PACKAGE).parts])
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "cnnkit" or len(parts) == 1:
            continue
        there = _room(parts[1:])
        if there == "__version__" or there == here:
            continue
        assert RANK[there] < RANK[here], (
            f"{path.relative_to(ROOT)} ({here}) imports {name} ({there}): imports flow "
            f"cli -> serve -> data, digits, viz -> imaging -> nn -> ops -> files, limits, "
            f"steps, errors")
