"""Forked workers (``cnnkit.forked``) and the predict batches that use them."""

from __future__ import annotations

import json
import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit import forked
from tests.conftest import invoke

pytestmark = pytest.mark.skipif(not forked.available(), reason="this system does not fork")


def test_results_come_in_order_from_a_closure_run_in_children():
    offset = 1000  # a closure: inherited by the children, never pickled
    parent = os.getpid()
    pool = forked.ForkedMap(lambda k: (k + offset, os.getpid()), range(50), 2, group=3, ahead=7)
    try:
        results = list(pool)
    finally:
        pool.close()
    assert [value for value, _ in results] == [k + 1000 for k in range(50)]
    assert parent not in {pid for _, pid in results}


def test_an_error_raised_by_the_work_is_raised_for_its_item():
    def work(k):
        if k == 5:
            raise ValueError("five")
        return k

    pool = forked.ForkedMap(work, range(20), 2, group=2)
    seen = []
    try:
        with pytest.raises(ValueError, match="five"):
            for value in pool:
                seen.append(value)
    finally:
        pool.close()
    assert seen == [0, 1, 2, 3]  # 5's group (4, 5) fails as a whole


def test_a_worker_that_dies_breaks_the_pool_instead_of_hanging():
    def work(k):
        if k == 9:
            os._exit(3)  # as if killed (out of memory)
        return k

    pool = forked.ForkedMap(work, range(30), 2, group=1)
    try:
        with pytest.raises(BrokenProcessPool):
            list(pool)
    finally:
        pool.close()


def _ones(folder: Path, count: int) -> None:
    for k in range(count):
        bar = np.full((60, 60), 230, np.uint8)
        bar[10:50, 27:27 + 2 + k % 5] = 30  # ones of different thickness
        Image.fromarray(bar).save(folder / f"p{k:02d}.png")


def test_predict_reads_the_same_with_forked_workers_as_with_threads(runner, tmp_path,
                                                                     monkeypatch):
    _ones(tmp_path, 80)
    Image.fromarray(np.full((60, 60), 230, np.uint8)).save(tmp_path / "p40.png")  # blank
    (tmp_path / "p50.png").write_bytes(b"broken")

    def run():
        result = invoke(runner, "predict", tmp_path, "--json", "--threads", "2")
        assert result.exit_code == 1
        return [json.loads(line) for line in result.stdout.splitlines()]

    with_workers = run()
    monkeypatch.setattr(forked, "available", lambda: False)
    with_threads = run()
    assert with_workers == with_threads
    assert [Path(r["input"]).name for r in with_workers] == [f"p{k:02d}.png" for k in range(80)]
    assert "no digit" in with_workers[40]["error"] and "p50.png" in with_workers[50]["error"]


def test_a_batch_goes_on_in_the_parent_when_a_worker_dies(tmp_path):
    """A worker killed mid-batch (say by the out-of-memory killer): the files it held are
    prepared in the parent, and every file still gets its own result, in order."""
    from cnnkit.cli.predict_cmd import _Batches, _Prepared
    from cnnkit.digits import Prepared

    parent = os.getpid()
    files = [tmp_path / f"f{k:03d}.png" for k in range(150)]

    def prepare(file):
        k = int(file.stem[1:])
        if k == 70 and os.getpid() != parent:
            os._exit(9)
        return _Prepared(None, [Prepared(np.full((28, 28), k, np.float32))], None)

    def classify(batch):  # the "probability" of class 0 is the digit's pixel value
        probs = np.zeros((len(batch), 10), np.float32)
        probs[:, 0] = batch[:, 0, 0, 0]
        return probs

    work = _Batches(files, prepare, classify, lambda f, item, probs: float(probs[0][0]),
                    lambda f, exc: None, workers=2, forked=True)
    try:
        assert [work(file) for file in files] == [float(k) for k in range(150)]
    finally:
        work.close()
