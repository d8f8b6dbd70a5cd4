"""Training throughput of any architecture: cnnkit vs PyTorch (CPU) in the same run.

    pip install torch==2.13.0      # CPU build, for this benchmark only
    python bench/arch_bench.py --data ../shared/data/mnist [--nets lenet5,bn-convnet]
                               [--images 60000] [--rounds 2]

For each net (default: lenet5, keras-mnist-convnet, bn-convnet, digit_classifier), each
framework trains on the same MNIST images with 2 threads, batch 128, Adam, no augmentation,
and the images/s of a full pass over ``--images`` (after a warm-up of a few batches: steady
state) is recorded; the two frameworks alternate, net by net, ``--rounds`` times, and the
median counts. PyTorch runs in a child process (its OpenMP runtime must not share a process
with Numba's). Also printed: each net's forward FLOPs per image, and the share of the
machine's float32 GEMM peak (a 2048^3 numpy matmul on the same threads, measured in the same
run) that training reaches, counting a training step as 3x the forward FLOPs.
"""

from __future__ import annotations

import os

PEER_ENV = dict(os.environ)  # PyTorch's child gets the environment before cnnkit's settings

import argparse
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

THREADS = 2
BATCH = 128
WARMUP = 5  # batches before the clock starts (compilation, first-touch of buffers)
NETS = ("lenet5", "keras-mnist-convnet", "bn-convnet", "digit_classifier")


def load(data: Path | None, count: int):
    from cnnkit.data.mnist import load_split

    images, labels = load_split("train", data)
    return images[:count], labels[:count]


def gemm_peak(threads: int) -> float:
    """GFLOP/s of a large float32 matmul with BLAS on ``threads`` threads (best of 5)."""
    from threadpoolctl import threadpool_limits

    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    with threadpool_limits(threads, user_api="blas"):
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(5))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cnnkit_speed(net: str, images, labels) -> float:
    """Images/s of one pass over ``images``: Adam, batch 128, as ``cnnkit train`` steps."""
    from threadpoolctl import threadpool_limits

    from cnnkit.nn.arch import resolve
    from cnnkit.nn.model import prepare
    from cnnkit.nn.optim import make_optimizer
    from cnnkit.ops._jit import set_threads

    set_threads(THREADS)
    model = resolve(net, seed=0)
    optimizer = make_optimizer("adam", model.named_params())
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    x_all = prepare(images)

    def step(index):
        model.loss_and_grads(x_all[index], labels[index], rng)
        optimizer.step(model.named_grads(), 1e-3)

    with threadpool_limits(1, user_api="blas"):  # as cnnkit train: matmul.py splits products
        for k in range(WARMUP):
            step(order[k * BATCH:(k + 1) * BATCH])
        start = time.perf_counter()
        for i in range(0, len(images), BATCH):
            step(order[i:i + BATCH])
        return len(images) / (time.perf_counter() - start)


def torch_net(net: str):
    """The same network in PyTorch, layer for layer (from cnnkit's own description)."""
    import torch.nn as nn

    from cnnkit.nn import layers as L
    from cnnkit.nn.arch import resolve

    model = resolve(net, seed=0)
    modules, channels = [], model.input_shape[2]
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            if layer.padding == "same" and layer.strides != (1, 1):
                raise SystemExit(f"{net}: PyTorch has no 'same' padding with strides")
            modules.append(nn.Conv2d(channels, layer.filters, layer.kernel_size, layer.strides,
                                     padding=layer.padding))
            channels = layer.filters
        elif isinstance(layer, (L.MaxPool2D, L.AveragePooling2D)):
            if layer.padding != "valid":
                raise SystemExit(f"{net}: the PyTorch twin supports valid pooling only")
            kind = nn.MaxPool2d if isinstance(layer, L.MaxPool2D) else nn.AvgPool2d
            modules.append(kind(layer.pool_size, layer.strides))
        elif isinstance(layer, L.GlobalAveragePooling2D):
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif isinstance(layer, L.BatchNormalization):
            modules.append(nn.BatchNorm2d(channels, eps=layer.epsilon,
                                          momentum=1 - layer.momentum))
        elif isinstance(layer, L.Flatten):
            modules.append(nn.Flatten())
        elif isinstance(layer, L.Dense):
            modules.append(nn.Linear(layer.input_shape[0], layer.units))
        elif isinstance(layer, L.Dropout):
            modules.append(nn.Dropout(layer.rate))
        if isinstance(layer, L.ReLU) or getattr(layer, "activation", None) == "relu":
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)  # the softmax is in the loss


def torch_speed(net: str, data: Path | None, count: int) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    images, labels = load(data, count)
    model = torch_net(net)
    # NHWC flattens in another order than NCHW, but the speed is the same.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.tensor(images, dtype=torch.float32).div_(255).unsqueeze(1)
    y = torch.tensor(labels, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    model.train()

    def step(index):
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x[index]), y[index]).backward()
        optimizer.step()

    for k in range(WARMUP):
        step(order[k * BATCH:(k + 1) * BATCH])
    start = time.perf_counter()
    for i in range(0, len(x), BATCH):
        step(order[i:i + BATCH])
    return {"speed": len(x) / (time.perf_counter() - start), "version": torch.__version__}


def torch_child(net: str, data: Path | None, count: int) -> dict | None:
    command = [sys.executable, __file__, "--torch-net", net, "--images", str(count)]
    if data is not None:
        command += ["--data", str(data)]
    run = subprocess.run(command, capture_output=True, text=True, env=PEER_ENV)
    if run.returncode != 0:
        raise SystemExit(f"PyTorch measurement of {net} failed:\n{run.stderr}")
    return json.loads(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="MNIST folder (default cache)")
    parser.add_argument("--nets", default=",".join(NETS),
                        help="comma-separated presets or architecture lines' files")
    parser.add_argument("--images", type=int, default=60000, help="images per timed pass")
    parser.add_argument("--rounds", type=int, default=2, help="alternations per net")
    parser.add_argument("--torch-net", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_net:
        import torch  # noqa: F401  (before cnnkit: its OpenMP runtime comes up first)

        print(json.dumps(torch_speed(args.torch_net, args.data, args.images)))
        return
    from cnnkit.nn.arch import flops_per_image, resolve

    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    images, labels = load(args.data, args.images)
    have_torch = importlib.util.find_spec("torch") is not None
    peak = gemm_peak(THREADS)
    ours = {n: [] for n in nets}
    theirs = {n: [] for n in nets}
    version = "not installed (pip install torch==2.13.0): PyTorch skipped"
    for _ in range(args.rounds):
        for net in nets:
            ours[net].append(cnnkit_speed(net, images, labels))
            if have_torch:
                result = torch_child(net, args.data, args.images)
                theirs[net].append(result["speed"])
                version = result["version"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}, torch {version}; {THREADS} "
          f"threads each, batch {BATCH}, Adam; {args.images:,} images a pass, median of "
          f"{args.rounds}")
    print(f"float32 GEMM peak ({THREADS} threads, numpy 2048^3): {peak:,.0f} GFLOP/s\n")
    header = (f"{'net':<22} {'MFLOP/img':>9} {'cnnkit img/s':>13} {'PyTorch img/s':>14} "
              f"{'ratio':>6} {'cnnkit % peak':>13} {'PyTorch % peak':>14}")
    print(header)
    print("-" * len(header))
    for net in nets:
        flops = flops_per_image(resolve(net))
        mine = statistics.median(ours[net])
        peer = statistics.median(theirs[net]) if theirs[net] else None

        def share(speed):
            return f"{100 * speed * 3 * flops / 1e9 / peak:.1f}%"

        print(f"{net:<22} {flops / 1e6:>9.2f} {mine:>13,.0f} "
              f"{(f'{peer:,.0f}' if peer else '-'):>14} "
              f"{(f'{mine / peer:.2f}x' if peer else '-'):>6} {share(mine):>13} "
              f"{(share(peer) if peer else '-'):>14}")


if __name__ == "__main__":
    main()
