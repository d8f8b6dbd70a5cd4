"""Forked workers (``cnnkit.forked``) and the predict batches that use them."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit import forked
from tests.conftest import ROOT, invoke

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


def test_workers_end_with_their_parent():
    """A parent killed outright (the out-of-memory killer, kill -9) takes its workers with
    it: left waiting for work they would hold its stdout open, and a pipeline would hang."""
    script = (
        "import os, signal\n"
        "from cnnkit.forked import ForkedMap\n"
        "pids = set()\n"
        "for pid in ForkedMap(lambda k: os.getpid(), range(1000), 2, group=1):\n"
        "    pids.add(pid)\n"
        "    if len(pids) == 2:\n"
        "        break\n"
        "print(*pids, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert parent.wait(timeout=60) == -signal.SIGKILL and len(pids) == 2
    left = []
    for pid in pids:
        try:
            handle = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone
            continue
        try:
            ended, _, _ = select.select([handle], [], [], 30)  # readable once the process ends
        finally:
            os.close(handle)
        if not ended:
            left.append(pid)
            os.kill(pid, signal.SIGKILL)  # not left behind by a failing test
    assert not left, f"workers {left} outlived their parent"


def test_no_worker_is_left_when_one_cannot_be_forked():
    """A fork refused (process limit, memory) is an OSError for the caller, with the workers
    already started ended: nothing keeps the process from exiting."""
    script = (
        "import os\n"
        "from cnnkit.forked import ForkedMap\n"
        "real, calls = os.fork, []\n"
        "def fork():\n"
        "    calls.append(1)\n"
        "    if len(calls) == 2:\n"
        "        raise BlockingIOError(11, 'Resource temporarily unavailable')\n"
        "    return real()\n"
        "os.fork = fork\n"
        "try:\n"
        "    ForkedMap(abs, range(10), 2)\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.split() == ["refused", "11"], done.stderr


def _ones(folder: Path, count: int) -> None:
    for k in range(count):
        bar = np.full((60, 60), 230, np.uint8)
        bar[10:50, 27:27 + 2 + k % 5] = 30  # ones of different thickness
        Image.fromarray(bar).save(folder / f"p{k:02d}.png")


def test_predict_reads_the_same_with_forked_workers_as_with_threads(runner, tmp_path,
                                                                     monkeypatch):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    _ones(pictures, 80)
    Image.fromarray(np.full((60, 60), 230, np.uint8)).save(pictures / "p40.png")  # blank
    (pictures / "p50.png").write_bytes(b"broken")
    forks = []
    real = forked.ForkedMap

    def counted(*args, **kwargs):
        forks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(forked, "ForkedMap", counted)

    def run(name):
        csv = tmp_path / f"{name}.csv"
        result = invoke(runner, "predict", pictures, "--json", "--threads", "2",
                        "--csv", csv)
        assert result.exit_code == 1  # the broken file
        return [json.loads(line) for line in result.stdout.splitlines()]

    with_workers = run("workers")
    monkeypatch.setattr(forked, "available", lambda: False)
    with_threads = run("threads")
    if os.cpu_count() and os.cpu_count() > 1:
        assert forks == [1]  # the first run forked, the second did not
    assert with_workers == with_threads
    names = [f"p{k:02d}.png" for k in range(80)]
    assert [Path(r["input"]).name for r in with_workers] == names
    assert "no digit" in with_workers[40]["error"] and "p50.png" in with_workers[50]["error"]
    assert not (tmp_path / "workers.csv").exists()  # not every picture was read


def test_the_csv_lists_no_digit_pictures_in_their_place(runner, tmp_path, monkeypatch):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    _ones(pictures, 70)
    Image.fromarray(np.full((60, 60), 230, np.uint8)).save(pictures / "p03.png")  # blank
    names = [f"p{k:02d}.png" for k in range(70)]
    for fork in (True, False):
        monkeypatch.setattr(forked, "available", lambda fork=fork: fork)
        csv = tmp_path / f"{fork}.csv"
        result = invoke(runner, "predict", pictures, "--threads", "2", "--csv", csv, "-q")
        assert result.exit_code == 1, result.output
        rows = csv.read_text().splitlines()[1:]
        assert [Path(r.split(",")[0]).name for r in rows] == names
        assert rows[3].endswith(",no digit") and rows[4].endswith(",digit")


def test_a_batch_goes_on_in_the_parent_when_a_worker_dies(tmp_path):
    """A worker killed mid-batch (say by the out-of-memory killer): the files it held are
    prepared in the parent, and every file still gets its own result, in order."""
    from cnnkit.cli.predict_run import _Batches, _Prepared
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
                    lambda f, exc: None, workers=2, may_fork=True)
    try:
        assert [work(file) for file in files] == [float(k) for k in range(150)]
    finally:
        work.close()


def test_predict_uses_threads_when_no_worker_can_be_forked(runner, tmp_path, monkeypatch):
    _ones(tmp_path, 12)

    def refused(*args, **kwargs):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(forked, "ForkedMap", refused)
    result = invoke(runner, "predict", tmp_path, "--json", "--threads", "2")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["input"]).name for r in records] == [f"p{k:02d}.png" for k in range(12)]
    assert all(r["ok"] and r["prediction"] == "1" for r in records)
