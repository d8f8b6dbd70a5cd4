"""Model and checkpoint files: an ``.npz`` of float32 arrays plus a JSON header.

The header (stored as the uint8 array ``__header__``, so ``allow_pickle=False`` suffices)
records the format, the cnnkit version, the architecture, the parameter count, how inputs are
scaled, the training arguments, the data checksums, the final metrics and a SHA-256 of the
weights, which catches a tampered or damaged file. Writes are atomic and refuse to replace an
existing file unless forced.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from cnnkit import __version__
from cnnkit.errors import CnnkitError
from cnnkit.files import atomic_path
from cnnkit.nn.model import Sequential

MODEL_FORMAT = "cnnkit-model"
CHECKPOINT_FORMAT = "cnnkit-checkpoint"
FORMAT_VERSION = 1
_HEADER = "__header__"
BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "models" / "digit_classifier.npz"


class ModelError(CnnkitError):
    """A model or checkpoint file is missing, damaged, tampered with or of another kind."""


def weights_digest(named: list[tuple[str, np.ndarray]]) -> str:
    digest = hashlib.sha256()
    for name, value in named:
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _write(path: Path, header: dict, arrays: dict[str, np.ndarray], force: bool,
           now: bool = False) -> None:
    payload = {_HEADER: np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays}
    path = Path(path)
    if path.suffix != ".npz":
        raise ModelError(f"{path}: model and checkpoint files end in .npz")
    with atomic_path(path, force=force, now=now) as tmp:
        np.savez(tmp, **payload)


def _read(path: Path, expected_format: str) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ModelError(f"{path}: not a readable cnnkit file ({exc})") from None
    if _HEADER not in arrays:
        raise ModelError(f"{path}: not a cnnkit {expected_format.split('-')[1]} (no header)")
    try:
        header = json.loads(arrays.pop(_HEADER).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: damaged header ({exc})") from None
    if header.get("format") != expected_format:
        raise ModelError(f"{path}: is a {header.get('format', 'unknown file')}, expected a "
                         f"{expected_format}")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: format version {header['format_version']} is newer than "
                         f"this cnnkit reads ({FORMAT_VERSION}); upgrade cnnkit")
    return header, arrays


def _build(path: Path, header: dict, arrays: dict[str, np.ndarray], prefix: str = ""
           ) -> Sequential:
    try:
        model = Sequential.from_config(header["architecture"])
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{path}: {exc}") from None
    weights = {}
    for name, value in model.named_params():
        array = arrays.get(prefix + name)
        if array is None:
            raise ModelError(f"{path}: missing weights for {name}")
        if array.shape != value.shape or array.dtype != np.float32:
            raise ModelError(f"{path}: {name} is {array.dtype} {array.shape}, the architecture "
                             f"needs float32 {value.shape}")
        weights[name] = array
    model.set_weights(weights)
    if model.count_params() != header.get("param_count"):
        raise ModelError(f"{path}: header says {header.get('param_count')} parameters, the "
                         f"architecture has {model.count_params()}")
    if weights_digest(model.named_params()) != header.get("weights_sha256"):
        raise ModelError(f"{path}: weights do not match their recorded SHA-256 (file damaged "
                         f"or edited)")
    return model


def model_header(model: Sequential, **fields) -> dict:
    """The header fields every file shares, plus ``fields`` (training, data, metrics, ...)."""
    from cnnkit.nn.model import PIXEL_SCALE

    return {"format_version": FORMAT_VERSION, "cnnkit_version": __version__,
            "architecture": model.config(), "param_count": model.count_params(),
            "input": {"shape": list(model.input_shape), "pixel_scale": PIXEL_SCALE,
                      "description": "MNIST-style digits: white ink (255) on black (0), "
                                     "28x28, centred by centre of mass; value = pixel * scale"},
            "weights_sha256": weights_digest(model.named_params()), **fields}


def save_model(path: Path, model: Sequential, *, force: bool = False, **fields) -> None:
    """Write ``model`` and a header with ``fields`` to ``path`` (.npz), atomically."""
    header = {"format": MODEL_FORMAT, **model_header(model, **fields)}
    _write(path, header, dict(model.named_params()), force)


def load_model(path: Path) -> tuple[Sequential, dict]:
    """Read and verify a model file; returns (model, header). Raises ModelError."""
    header, arrays = _read(path, MODEL_FORMAT)
    return _build(Path(path), header, arrays), header


def save_checkpoint(path: Path, model: Sequential, optimizer_arrays: dict[str, np.ndarray],
                    order: np.ndarray, **fields) -> None:
    """A training checkpoint: weights, optimiser slots, the epoch's order, and ``fields``."""
    header = {"format": CHECKPOINT_FORMAT, **model_header(model, **fields)}
    arrays = {f"weights:{n}": v for n, v in model.named_params()}
    arrays.update({f"optimizer:{n}": v for n, v in optimizer_arrays.items()})
    arrays["order"] = order
    _write(path, header, arrays, force=True, now=True)  # on disk at once, whatever follows


def load_checkpoint(path: Path) -> tuple[Sequential, dict, dict[str, np.ndarray], np.ndarray]:
    """(model, header, optimiser arrays, order) from a checkpoint. Raises ModelError."""
    header, arrays = _read(path, CHECKPOINT_FORMAT)
    model = _build(Path(path), header, arrays, prefix="weights:")
    optimizer = {n.split(":", 1)[1]: v for n, v in arrays.items() if n.startswith("optimizer:")}
    return model, header, optimizer, arrays.get("order", np.arange(0))
