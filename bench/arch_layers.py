"""Where a training step's time goes: forward and backward ms per step of a preset.

    python bench/arch_layers.py --data ../shared/data/mnist [--net lenet5] [--steps 200]

Runs the model's own steps (fused blocks count as one) on MNIST batches of 128 with 2 threads
and BLAS held to one, as ``cnnkit train`` does, after a warm-up, and prints the mean ms of
each step's forward and backward, the loss, Adam's update, and the whole step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

BATCH = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="MNIST folder (default cache)")
    parser.add_argument("--net", default="lenet5")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from cnnkit.data.mnist import load_split
    from cnnkit.nn.arch import resolve
    from cnnkit.nn.model import prepare
    from cnnkit.nn.optim import make_optimizer
    from cnnkit.ops._jit import set_threads
    from cnnkit.ops.heap import keep_batch_buffers
    from cnnkit.ops.loss import softmax_cross_entropy

    set_threads(2)
    keep_batch_buffers()  # as Sequential.loss_and_grads does
    images, labels = load_split("train", args.data)
    x_all = prepare(images)
    model = resolve(args.net, seed=0)
    optimizer = make_optimizer("adam", model.named_params())
    rng = np.random.default_rng(0)
    steps = model._steps
    names = [getattr(s, "name", "") or type(s).__name__.strip("_") for s in steps]
    forward, backward = np.zeros(len(steps)), np.zeros(len(steps))
    other = {"loss": 0.0, "adam": 0.0}
    clock = time.perf_counter
    warm = 5
    with threadpool_limits(1, user_api="blas"):
        for k in range(args.steps + warm):
            index = rng.integers(0, len(x_all), BATCH)
            h, timed = x_all[index], k >= warm
            for i, step in enumerate(steps):
                start = clock()
                last = i == len(steps) - 1 and hasattr(step, "logits")
                h = step.logits(h) if last else step.forward(h, True, rng)
                forward[i] += (clock() - start) * timed
            start = clock()
            _, _, grad = softmax_cross_entropy(h, labels[index])
            other["loss"] += (clock() - start) * timed
            for i in reversed(range(len(steps))):
                start = clock()
                grad = steps[i].backward(grad)
                backward[i] += (clock() - start) * timed
            start = clock()
            optimizer.step(model.named_grads(), 1e-3)
            other["adam"] += (clock() - start) * timed
    scale = 1e3 / args.steps
    print(f"{args.net}: ms per step of {BATCH} images (mean of {args.steps})")
    print(f"{'step':24s} {'forward':>8s} {'backward':>9s}")
    for name, f, b in zip(names, forward * scale, backward * scale):
        print(f"{name:24s} {f:8.2f} {b:9.2f}")
    for name, value in other.items():
        print(f"{name:24s} {value * scale:8.2f}")
    total = (forward.sum() + backward.sum() + sum(other.values())) * scale
    print(f"{'total':24s} {total:8.2f}   ({BATCH / total * 1e3:,.0f} img/s)")


if __name__ == "__main__":
    main()
