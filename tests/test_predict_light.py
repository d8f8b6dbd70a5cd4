"""``cnnkit predict`` on one picture never starts Numba: its digit is prepared on the numpy
twins of the kernels (``digits/backend.py``) and read by the numpy forward pass
(``nn/light.py``), with the answers the Numba path gives for the same picture in a batch."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import predict_run
from cnnkit.nn import light
from cnnkit.nn.io import BUNDLED_MODEL, load_model
from cnnkit.ops import pending
from tests.conftest import ROOT, SAMPLES, invoke

REAL = ROOT.parent / "shared" / "data" / "real_digits"

# Runs `cnnkit predict --json FILE` once per file in one process, then names what of Numba
# and of numpy's slower corners (np.median imports numpy.ma; random weights, numpy.random)
# was ever imported.
ONE_AT_A_TIME = """
import sys
from cnnkit.__main__ import main
for file in sys.argv[1:]:
    sys.argv = ["cnnkit", "predict", "--json", file]
    try:
        main()
    except SystemExit as done:
        assert done.code in (0, None), (file, done.code)
print([m for m in ("numba", "numpy.ma", "numpy.random") if m in sys.modules], file=sys.stderr)
"""


def _same_answer(alone: dict, batch: dict) -> None:
    for key in ("input", "prediction", "verdict", "note", "uncertain"):
        assert alone[key] == batch[key], key
    assert alone["confidence"] == pytest.approx(batch["confidence"], rel=1e-5)
    for mine, theirs in zip(alone.get("digits", [alone]), batch.get("digits", [batch])):
        assert mine.get("box") == theirs.get("box")
        assert [t["digit"] for t in mine["top"]][:1] == [t["digit"] for t in theirs["top"]][:1]
        assert np.allclose([t["probability"] for t in mine["top"]],
                           [t["probability"] for t in theirs["top"]], rtol=1e-4, atol=1e-6)


def test_one_picture_is_read_without_numba_as_a_batch_reads_it(runner, tmp_path):
    pictures = sorted((SAMPLES / "digits").glob("*.jpg"))
    grey_png = tmp_path / "seven.png"  # a small PNG: decoded by Pillow on this path
    Image.open(pictures[0]).convert("L").save(grey_png)
    files = [*map(str, pictures), str(grey_png)]
    done = subprocess.run([sys.executable, "-c", ONE_AT_A_TIME, *files], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    assert done.stderr.strip().splitlines()[-1] == "[]"
    alone = [json.loads(line) for line in done.stdout.splitlines()]
    batch = invoke(runner, "predict", "--json", *files)  # several pictures: Numba's kernels
    assert batch.exit_code == 0, batch.output
    in_batch = [json.loads(line) for line in batch.stdout.splitlines()]
    assert len(alone) == len(in_batch) == len(files)
    for mine, theirs in zip(alone, in_batch):
        _same_answer(mine, theirs)
    assert alone[-1]["prediction"] == alone[0]["prediction"]  # the PNG copy of the first


def test_the_switch_is_on_for_the_run_only(runner, monkeypatch, tmp_path):
    """In this process Numba may already run, so the light forward is forced: the switch is
    on while the picture is prepared and off after, a failed picture's run too."""
    seen = []
    prepare_file = predict_run._prepare_file
    monkeypatch.setattr(predict_run, "_light_forward",
                        lambda network, *args: lambda x: light.predict_proba(network, x))
    monkeypatch.setattr(predict_run, "_prepare_file",
                        lambda *args: seen.append(pending.light_digits) or prepare_file(*args))
    picture = next((SAMPLES / "digits").glob("*.jpg"))
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 230).save(blank)
    assert invoke(runner, "predict", str(picture)).exit_code == 0
    assert pending.light_digits is False
    assert invoke(runner, "predict", str(blank)).exit_code == 1  # no digit
    assert pending.light_digits is False
    assert seen == [True, True]


def test_one_picture_before_numba_starts_takes_the_light_path(monkeypatch):
    network, _ = load_model(BUNDLED_MODEL)
    monkeypatch.delitem(sys.modules, "numba", raising=False)  # nothing imports it meanwhile
    assert callable(predict_run._light_forward(network, 1, general=False))
    assert predict_run._light_forward(network, 2, general=False) is None
    assert predict_run._light_forward(network, 1, general=True) is None
    monkeypatch.setitem(sys.modules, "numba", types.ModuleType("numba"))  # Numba runs
    assert predict_run._light_forward(network, 1, general=False) is None


@pytest.fixture(scope="module")
def real_set():
    if not (REAL / "labels.csv").is_file():
        pytest.skip("no ../shared/data/real_digits")
    with (REAL / "labels.csv").open() as f:
        return [row for row in csv.DictReader(f) if row["file"].startswith("single/")]


def _read(network, forward, path):
    prepared = predict_run._prepare_file(path, False, "mnist", 100_000_000)
    batch = np.stack([d.digit for d in prepared.found])[..., None].astype(np.float32)
    return prepared, forward(batch * np.float32(1 / 255))


def test_real_handwriting_reads_the_same_on_both_paths(real_set, monkeypatch):
    """Every real single digit: the same prepared digit, box, evidence and answer whether
    prepared by the twins and read in numpy or prepared and read by Numba's kernels."""
    from cnnkit.digits import NoDigitError

    network, _ = load_model(BUNDLED_MODEL)
    for row in real_set:
        path = REAL / row["file"]
        answers = []
        for twins in (False, True):
            monkeypatch.setattr(pending, "light_digits", twins)
            forward = (lambda x: light.predict_proba(network, x)) if twins else (
                network.predict_proba)
            try:
                answers.append(_read(network, forward, path))
            except NoDigitError as exc:
                answers.append(str(exc))
        kernels, twins = answers
        if isinstance(kernels, str):
            assert twins == kernels, row["file"]
            continue
        (numba_prepared, numba_probs), (light_prepared, light_probs) = kernels, twins
        assert light_prepared.number == numba_prepared.number, row["file"]
        for mine, theirs in zip(light_prepared.found, numba_prepared.found, strict=True):
            assert mine.box == theirs.box, row["file"]
            np.testing.assert_allclose(mine.digit, theirs.digit, atol=1e-3, err_msg=row["file"])
        np.testing.assert_allclose(light_probs, numba_probs, rtol=1e-4, atol=1e-6)
        assert (light_probs.argmax(1) == numba_probs.argmax(1)).all(), row["file"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("size", [1, 2, 7, 64, 1001])
def test_the_median_and_quantile_are_numpys(rng, dtype, size):
    from cnnkit.digits.levels import median, quantile

    for scale in (1e-3, 1, 100):
        values = (rng.random(size) * scale).astype(dtype)
        values[: size // 3] = values[size // 2]  # ties
        mine, numpys = median(values), np.median(values)
        assert mine == numpys and np.asarray(mine).dtype == np.asarray(numpys).dtype
        assert median(values.reshape(1, -1)) == numpys
        if dtype is not np.int64:
            for q in (0.0, 0.1, 0.5, 0.9, 0.999, 1.0):
                mine, numpys = quantile(values, q), np.quantile(values, q)
                assert mine == numpys, (q, mine, numpys)
                assert np.asarray(mine).dtype == np.asarray(numpys).dtype
