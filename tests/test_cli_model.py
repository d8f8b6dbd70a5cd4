"""``cnnkit train``, ``evaluate``, ``summary`` and ``info`` on a small real subset of MNIST."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, invoke
from tests.test_fetch import SHARED_MNIST, needs_shared


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_summary_prints_the_seed_table(runner):
    result = invoke(runner, "summary")
    assert result.exit_code == 0
    for text in ("conv2d (Conv2D)", "(None, 26, 26, 32)", "692,352", "1,290",
                 "Total params: 693,962", "Trainable params: 693,962", "Non-trainable params: 0"):
        assert text in result.stdout
    record = json.loads(invoke(runner, "summary", "--json").stdout)
    assert [layer["params"] for layer in record["layers"]] == [320, 0, 0, 692352, 0, 1290]
    assert record["total_params"] == 693962


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One quick real training run shared by the tests below (2,000 images, 2 epochs)."""
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/data/mnist")
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("model") / "m.npz"
    result = invoke(CliRunner(), "train", "--data", SHARED_MNIST, "--limit", "2000", "--epochs",
                    "2", "--val-split", "200", "-o", out, "--json", "--plot",
                    out.parent / "curves.png")
    return out, result


@needs_shared
def test_train_writes_model_history_and_reports_each_epoch(trained):
    out, result = trained
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    epochs = [line for line in lines if line["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"]
    assert lines[-1]["event"] == "done" and lines[-1]["test_accuracy"] > 0.5  # chance is 0.1
    assert out.exists() and not out.with_suffix(".ckpt.npz").exists()
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert len(history) == 2
    assert out.with_suffix(".history.csv").read_text().startswith("epoch,epochs,train_loss")
    assert Image.open(out.parent / "curves.png").size == (1000, 400)  # the curves, drawn last


@needs_shared
def test_info_shows_training_arguments_and_metrics(runner, trained):
    out, _ = trained
    result = invoke(runner, "info", out)
    assert result.exit_code == 0
    assert "limit=2000" in result.stdout and "test_accuracy=" in result.stdout
    header = json.loads(invoke(runner, "info", out, "--json").stdout)
    assert header["param_count"] == 693962 and header["training"]["epochs"] == 2
    assert header["data"]["t10k-images-idx3-ubyte"].startswith("0fa7898d")


@needs_shared
def test_evaluate_reports_accuracy_confusion_and_mistakes(runner, trained, tmp_path):
    out, _ = trained
    result = invoke(runner, "evaluate", out, "--data", SHARED_MNIST, "--json", "--csv",
                    tmp_path / "e.csv", "--worst", "4")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    header = json.loads(invoke(runner, "info", out, "--json").stdout)
    assert report["accuracy"] == pytest.approx(header["metrics"]["test_accuracy"])
    confusion = np.array(report["confusion"])
    assert confusion.sum() == 10_000 and np.trace(confusion) == round(report["accuracy"] * 10_000)
    assert [r["support"] for r in report["per_class"]][:2] == [980, 1135]
    assert len(report["mistakes"]) == 4
    assert all(m["true"] != m["predicted"] for m in report["mistakes"])
    confidences = [m["confidence"] for m in report["mistakes"]]
    assert confidences == sorted(confidences, reverse=True)
    rows = (tmp_path / "e.csv").read_text().splitlines()
    assert rows[0].startswith("class,precision,recall,f1,support,predicted_0") and len(rows) == 11
    table = invoke(runner, "evaluate", out, "--data", SHARED_MNIST)
    assert "confusion matrix" in table.stdout and "most confident mistakes" in table.stdout


@needs_shared
def test_train_refuses_to_replace_a_model(runner, trained):
    out, _ = trained
    before = out.read_bytes()
    result = invoke(runner, "train", "--data", SHARED_MNIST, "--limit", "300", "-o", out)
    assert result.exit_code == 1 and "exists (use --force" in result.stderr
    assert out.read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (["info", "nothere.npz"], "no such file"),
    (["evaluate", "README.md"], "not a cnnkit model file"),
    (["train", "-o", "model.pt"], "must end in .npz"),
])
def test_bad_model_arguments(runner, args, message):
    result = invoke(runner, *args)
    assert result.exit_code in (1, 2) and message in result.stderr
    assert "Traceback" not in result.output


@needs_shared
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tmp_path):
    """A real process: SIGINT mid-training stops after the batch, exit 130, then --resume."""
    out = tmp_path / "m.npz"
    args = [sys.executable, "-m", "cnnkit", "train", "--data", str(SHARED_MNIST), "--limit",
            "6000", "--epochs", "2", "--val-split", "100", "-o", str(out)]
    env = {**os.environ, "CNNKIT_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(args + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT)
    first_epoch = process.stdout.readline()  # wait until one epoch is done
    assert json.loads(first_epoch)["epoch"] == 1
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    checkpoint = out.with_suffix(".ckpt.npz")
    if process.returncode == 0:  # the second epoch finished before the signal landed
        pytest.skip("training finished before the interrupt")
    assert process.returncode == 130, stderr
    assert "checkpoint saved. Resume with: cnnkit train --resume" in stderr
    assert checkpoint.exists() and not out.exists()
    resumed = subprocess.run([sys.executable, "-m", "cnnkit", "train", "--resume",
                              str(checkpoint), "-o", str(out), "--data", str(SHARED_MNIST)],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and out.exists() and not checkpoint.exists()
