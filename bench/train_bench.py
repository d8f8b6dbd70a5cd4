"""digit_classifier: cnnkit vs PyTorch (CPU) on the same machine, in one run.

    pip install torch==2.13.0      # CPU build, for this benchmark only
    python bench/train_bench.py [--data DIR] [--skip-full] [--torch-epochs 10]

Measures, each framework with 2 threads, batch 128, Adam:
1. training throughput over a full epoch of 60,000 images (images/s, the faster of two
   epochs for each framework), and the ratio;
2. evaluation of the 10,000 test images, in-process;
3. the whole default ``cnnkit train`` (the recipe behind the bundled model) as a subprocess:
   wall time, peak memory (max RSS) and test accuracy;
4. with ``--torch-epochs N``: PyTorch's test accuracy after N epochs of its usual recipe
   (Adam lr 1e-3, dropout 0.2, batch 128), for reference.
PyTorch is skipped with a message when it is not installed.
"""

from __future__ import annotations

import os

# PyTorch runs in a child process with the environment as it was before cnnkit was imported
# (cnnkit sets OMP_WAIT_POLICY for its own OpenMP threads; PyTorch gets its defaults).
PEER_ENV = dict(os.environ)

import argparse
import importlib.util
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from cnnkit.data.mnist import load_split
from cnnkit.nn.model import prepare
from cnnkit.nn.train import TrainConfig, Trainer
from cnnkit.ops._jit import set_threads

THREADS = 2
BATCH = 128


EPOCHS = 2  # each framework trains this many full epochs; its fastest epoch counts


def cnnkit_epoch(images, labels) -> float:
    """Images per second over a full epoch, the faster of two (after a warm-up that compiles)."""
    config = dict(batch_size=BATCH, optimizer="adam", val_split=0, augment=False)
    with threadpool_limits(1, user_api="blas"):
        list(Trainer(TrainConfig(epochs=1, **config, limit=BATCH * 4), images, labels).run())
        trainer = Trainer(TrainConfig(epochs=EPOCHS, **config), images, labels)
        seconds = [e.seconds for e in trainer.run() if hasattr(e, "train_loss")]
        return len(images) / min(seconds)


def cnnkit_eval(images, labels) -> tuple[float, float]:
    trainer = Trainer(TrainConfig(epochs=1, val_split=0), images[:10], labels[:10])
    model = trainer.model
    x = prepare(images)
    with threadpool_limits(1, user_api="blas"):
        model.predict_proba(x[:100])
        times = []
        for _ in range(5):
            start = time.perf_counter()
            model.predict_proba(x)
            times.append(time.perf_counter() - start)
    return min(times), float(np.mean(times))


def torch_model(dropout: float):
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(5408, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, 10))


def torch_train(images, labels, epochs: int, lr: float, dropout: float, test=None):
    """Returns (images/s of the fastest epoch, test accuracy or None)."""
    import torch

    torch.manual_seed(0)
    model = torch_model(dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.tensor(images, dtype=torch.float32).div_(255).unsqueeze(1)
    y = torch.tensor(labels, dtype=torch.int64)
    generator = torch.Generator().manual_seed(0)
    speed = 0.0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        start = time.perf_counter()
        for i in range(0, len(x), BATCH):
            index = order[i:i + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        speed = max(speed, len(x) / (time.perf_counter() - start))
    accuracy = None
    if test is not None:
        model.eval()
        with torch.no_grad():
            tx = torch.tensor(test[0], dtype=torch.float32).div_(255).unsqueeze(1)
            accuracy = float((model(tx).argmax(1).numpy() == test[1]).mean())
    return speed, accuracy


def torch_eval(images) -> tuple[float, float]:
    import torch

    model = torch_model(0.2).eval()
    x = torch.tensor(images, dtype=torch.float32).div_(255).unsqueeze(1)
    with torch.no_grad():
        model(x[:100])
        times = []
        for _ in range(5):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return min(times), float(np.mean(times))


def full_cnnkit_train(data: Path) -> dict:
    """The default recipe through the CLI, as a user runs it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.npz"
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "cnnkit", "train", "--data", str(data),
                              "-o", str(out), "--json"], capture_output=True, text=True,
                             check=True)
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        done = json.loads(run.stdout.splitlines()[-1])
    return {"wall": wall, "peak_mb": peak / 1024,
            "test_accuracy": done["test_accuracy"], "train_seconds": done["train_seconds"]}


def torch_child(data: Path | None, epochs: int) -> dict:
    """Run the PyTorch measurements in a fresh process (see PEER_ENV)."""
    command = [sys.executable, __file__, "--torch-only", "--torch-epochs", str(epochs)]
    if data is not None:
        command += ["--data", str(data)]
    run = subprocess.run(command, capture_output=True, text=True, env=PEER_ENV)
    if run.returncode != 0:
        raise SystemExit(f"PyTorch measurement failed:\n{run.stderr}")
    return json.loads(run.stdout)


def torch_only(args) -> None:
    import torch

    torch.set_num_threads(THREADS)
    images, labels = load_split("train", args.data)
    test_images, test_labels = load_split("test", args.data)
    speed, _ = torch_train(images, labels, EPOCHS, 1e-3, 0.2)
    best, mean = torch_eval(test_images)
    result = {"version": torch.__version__, "speed": speed, "eval_best": best, "eval_mean": mean,
              "accuracy": None}
    if args.torch_epochs:
        _, result["accuracy"] = torch_train(images, labels, args.torch_epochs, 1e-3, 0.2,
                                            test=(test_images, test_labels))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="MNIST folder (default cache)")
    parser.add_argument("--skip-full", action="store_true", help="skip the full cnnkit train")
    parser.add_argument("--torch-epochs", type=int, default=0,
                        help="also train PyTorch this many epochs and report test accuracy")
    parser.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_only:
        return torch_only(args)
    set_threads(THREADS)
    images, labels = load_split("train", args.data)
    test_images, test_labels = load_split("test", args.data)
    full = None
    if not args.skip_full:  # first: RUSAGE_CHILDREN's peak must be cnnkit's, not PyTorch's
        from cnnkit.data.mnist import mnist_dir

        full = full_cnnkit_train(args.data or mnist_dir())
    # Not imported here: torch's own OpenMP runtime would share this process with Numba's.
    if importlib.util.find_spec("torch") is not None:
        peer = torch_child(args.data, args.torch_epochs)
        torch_version = peer["version"]
    else:
        peer = None
        torch_version = "not installed (pip install torch==2.13.0): PyTorch skipped"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}, torch {torch_version}; "
          f"{THREADS} threads each, batch {BATCH}, Adam\n")

    ours = cnnkit_epoch(images, labels)
    print(f"training, fastest of 2 epochs of 60,000 images: cnnkit {ours:8.0f} images/s", end="")
    if peer is not None:
        print(f"   PyTorch {peer['speed']:8.0f} images/s   ratio cnnkit/PyTorch "
              f"{ours / peer['speed']:.2f}x")
    else:
        print()

    best, mean = cnnkit_eval(test_images, test_labels)
    print(f"evaluation of 10,000 test images: cnnkit best {best:.3f} s (mean {mean:.3f} s)", end="")
    if peer is not None:
        print(f"   PyTorch best {peer['eval_best']:.3f} s (mean {peer['eval_mean']:.3f} s)")
    else:
        print()

    if full is not None:
        print(f"default 'cnnkit train' (15 epochs): wall {full['wall']:.1f} s "
              f"(training {full['train_seconds']:.1f} s), peak memory {full['peak_mb']:.0f} MB, "
              f"test accuracy {full['test_accuracy']:.2%}")
    if peer is not None and peer["accuracy"] is not None:
        print(f"PyTorch, Adam lr 1e-3, dropout 0.2, {args.torch_epochs} epochs: test accuracy "
              f"{peer['accuracy']:.2%}")


if __name__ == "__main__":
    main()
