"""The draw page's computation: prepare a picture as ``cnnkit predict`` does, run the model
layer by layer, and keep the output of every Conv2D and MaxPool2D layer.

Maps travel to the page as bytes: each layer's values scaled to 0..255 on one scale for the
whole layer (as ``cnnkit featuremaps`` draws them), channel by channel, base64-encoded. The
page colours them with the same colour map the command's pictures use.
"""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import numpy as np

from cnnkit.errors import CnnkitError
from cnnkit.imaging.io import Picture

MAP_KINDS = ("Conv2D", "MaxPool2D", "AveragePooling2D")
INPUT_SHAPE = (28, 28, 1)


def b64(array: np.ndarray) -> str:
    """uint8 bytes of ``array`` (C order) as base64 text."""
    return base64.b64encode(np.ascontiguousarray(array, np.uint8).tobytes()).decode("ascii")


def to_bytes(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``values`` mapped linearly from lo..hi to 0..255 (clipped), uint8."""
    span = hi - lo if hi > lo else 1.0
    return np.clip(np.rint((values - lo) * np.float32(255 / span)), 0, 255).astype(np.uint8)


class DigitLab:
    """A loaded model and what the draw page asks of it.

    The layers keep per-call state (their inputs, for a backward pass), so one request at a
    time runs the model; a stroke update takes a few milliseconds.
    """

    def __init__(self, path: Path):
        from cnnkit.nn.io import load_model

        self.path = Path(path)
        self.model, header = load_model(self.path)
        if tuple(self.model.input_shape) != INPUT_SHAPE:
            raise CnnkitError(f"{self.path}: the draw page needs a model of 28x28x1 digits, "
                              f"this one takes {'x'.join(map(str, self.model.input_shape))}")
        self.scale = np.float32(header.get("input", {}).get("pixel_scale", 1 / 255))
        self.classes = int(self.model.output_shape[-1])
        self._lock = threading.Lock()

    def describe(self) -> dict:
        """The model's name, its layers as ``cnnkit summary`` lists them, and its map layers."""
        return {"model": self.path.name, "classes": self.classes,
                "layers": [{"name": layer.name, "kind": layer.kind,
                            "shape": list(layer.output_shape)} for layer in self.model.layers],
                "maps": [layer.name for layer in self.model.layers if layer.kind in MAP_KINDS]}

    def forward(self, digit: np.ndarray) -> tuple[np.ndarray, list]:
        """Run one 28x28 digit (0..255, white on black) through every layer in inference mode.

        Returns (probabilities (classes,), [(layer, output (H, W, C))] for the map layers).
        """
        import numba

        x = (np.ascontiguousarray(digit, np.float32) * self.scale)[None, :, :, None]
        maps = []
        with self._lock:
            # One image is too little work to share: on one thread the digit_classifier takes
            # 0.09 ms, on two 0.13-0.28 ms, and far more when another process holds a core
            # (the thread count is the calling thread's own, so filters elsewhere keep theirs).
            threads = numba.get_num_threads()
            numba.set_num_threads(1)
            try:
                for layer in self.model.layers:
                    x = layer.forward(x, False, None)
                    if layer.kind in MAP_KINDS:
                        maps.append((layer, x[0]))
            finally:
                numba.set_num_threads(threads)
        return x[0], maps

    def look(self, picture: Picture, stages: bool = False) -> dict:
        """Everything the draw page shows for one picture, JSON-ready.

        stages : also return the preparation's stages (as ``predict --show-steps`` saves
            them), each as uint8 bytes with its size
        Raises CnnkitError (e.g. digits.NoDigitError for a blank canvas).
        """
        from cnnkit import digits

        started = time.perf_counter()
        prepared = digits.prepare_digit(picture)
        prepared_at = time.perf_counter()
        probs, maps = self.forward(prepared.digit)
        model_at = time.perf_counter()
        layers = [self._encode(layer, values) for layer, values in maps]
        done = time.perf_counter()
        order = np.argsort(-probs, kind="stable")
        steps = [{"name": name, "width": int(a.shape[1]), "height": int(a.shape[0]),
                  "data": b64(to_bytes(a, 0.0, 1.0))} for name, a in prepared.stages
                 ] if stages else []
        return {
            "stages": steps,
            "digit": int(order[0]), "confidence": float(probs[order[0]]),
            "probs": [round(float(p), 6) for p in probs],
            "prepared": b64(np.clip(np.rint(prepared.digit), 0, 255)),
            "box": list(prepared.box),
            "layers": layers,
            "ms": {"prepare": _ms(prepared_at - started), "model": _ms(model_at - prepared_at),
                   "maps": _ms(done - model_at), "total": _ms(done - started)},
        }

    @staticmethod
    def _encode(layer, values: np.ndarray) -> dict:
        height, width, channels = values.shape
        signed = bool(values.min() < 0)
        top = float(np.abs(values).max())
        lo, hi = (-top, top) if signed else (0.0, top)
        planes = to_bytes(values, lo, hi).transpose(2, 0, 1)  # channel by channel
        label = {"Conv2D": "conv", "MaxPool2D": "max pool"}.get(layer.kind, "avg pool")
        activation = getattr(layer, "activation", None)
        return {"name": layer.name, "kind": layer.kind, "label": label,
                "activation": activation, "shape": [height, width, channels],
                "signed": signed, "lo": lo, "hi": hi, "data": b64(planes)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
