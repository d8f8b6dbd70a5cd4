"""Model and checkpoint files: an ``.npz`` of float32 arrays plus a JSON header.

The header (stored as the uint8 array ``__header__``, so ``allow_pickle=False`` suffices)
records the format, the cnnkit version, the architecture, the parameter count, how inputs are
scaled, the training arguments, the data checksums, the final metrics and a SHA-256 of the
weights, which catches a tampered or damaged file. A model trained on a folder dataset also
records ``classes`` (the folder names, in label order) and ``image`` (the size, colour,
fitting and preparation of its pictures). Writes are atomic and refuse to replace an existing
file unless forced.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cnnkit import __version__
from cnnkit.errors import CnnkitError, os_message
from cnnkit.files import atomic_path, check_source
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


MAX_UNPACKED_BYTES = 512 * 2**20  # a model of ~130 M float32 parameters; the bundled is 2.8 MB
_ZIP_MAGIC = b"PK\x03\x04"


def _read(path: Path, expected_format: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and arrays of a model or checkpoint file, every structural check done
    before anything large is decompressed or parsed."""
    path = Path(path)
    kind = expected_format.split("-")[1]
    if not path.exists() and not path.is_symlink():
        raise ModelError(f"{path}: no such file")
    check_source(path, f"cnnkit {kind} file (.npz)", ModelError)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except OSError as exc:
        raise ModelError(os_message(exc, "read", path)) from None
    if magic != _ZIP_MAGIC:
        raise ModelError(f"{path}: not a cnnkit {kind} file (expected an .npz archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            unpacked = sum(m.file_size for m in members)
            if unpacked > MAX_UNPACKED_BYTES:
                raise ModelError(
                    f"{path}: would unpack to {unpacked / 2**20:,.0f} MB, above the "
                    f"{MAX_UNPACKED_BYTES // 2**20} MB a cnnkit {kind} may hold (refused "
                    f"before decompressing)")
            if any(not m.filename.endswith(".npy") for m in members):
                raise ModelError(f"{path}: not a cnnkit {kind} file (holds other files "
                                 f"than arrays)")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ModelError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy's text would invite loading it unsafely
            raise ModelError(f"{path}: holds Python objects, not plain arrays; cnnkit never "
                             f"loads those (they can run code)") from None
        raise ModelError(f"{path}: damaged array data ({_first_line(exc)})") from None
    except zipfile.BadZipFile:
        raise ModelError(f"{path}: damaged or truncated file (not a complete .npz archive)"
                         ) from None
    except OSError as exc:
        raise ModelError(os_message(exc, "read", path)) from None
    except (EOFError, KeyError, zlib.error):
        raise ModelError(f"{path}: damaged or truncated file (an array's data is cut short "
                         f"or corrupt)") from None
    if _HEADER not in arrays:
        raise ModelError(f"{path}: not a cnnkit {kind} (no header)")
    raw = arrays.pop(_HEADER)
    try:
        header = json.loads(raw.tobytes().decode()) if raw.dtype == np.uint8 else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: damaged header ({_first_line(exc)})") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: damaged header (not a JSON object)")
    if header.get("format") != expected_format:
        found = header.get("format")
        found = found if isinstance(found, str) else "unknown file"
        raise ModelError(f"{path}: is a {found[:40]}, expected a {expected_format}")
    version = header.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{path}: damaged header (format_version {version!r:.40})")
    if version > FORMAT_VERSION:
        raise ModelError(f"{path}: format version {version} is newer than this cnnkit reads "
                         f"({FORMAT_VERSION}); upgrade cnnkit")
    return header, arrays


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:120] if text else type(exc).__name__).rstrip(".")


def _build(path: Path, header: dict, arrays: dict[str, np.ndarray], prefix: str = ""
           ) -> Sequential:
    architecture = header.get("architecture")
    if not isinstance(architecture, dict):
        raise ModelError(f"{path}: damaged header (no architecture)")
    from cnnkit.nn.arch import ArchError, check_config

    try:
        check_config(architecture)  # every layer fits, and the size is bounded, before building
        model = Sequential.from_config(architecture, init="zeros")  # weights are loaded next
        if "name" not in architecture:  # files from before names were stored
            model.name = path.stem[:80]
    except ArchError as exc:
        raise ModelError(f"{path}: not a valid architecture ({_first_line(exc)})") from None
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path}: {_first_line(exc)}") from None
    except MemoryError:
        raise ModelError(f"{path}: the architecture is too large to build") from None
    weights = {}
    for name, value in model.named_weights():
        array = arrays.get(prefix + name)
        if array is None:
            raise ModelError(f"{path}: missing weights for {name}")
        if array.shape != value.shape or array.dtype != np.float32:
            raise ModelError(f"{path}: {name} is {array.dtype} {array.shape}, the architecture "
                             f"needs float32 {value.shape}")
        if not np.all(np.isfinite(array)):
            raise ModelError(f"{path}: {name} holds NaN or infinite weights")
        weights[name] = array
    model.set_weights(weights)
    if model.count_params() != header.get("param_count"):
        raise ModelError(f"{path}: header says {header.get('param_count')!r:.40} parameters, "
                         f"the architecture has {model.count_params()}")
    if weights_digest(model.named_weights()) != header.get("weights_sha256"):
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
            "weights_sha256": weights_digest(model.named_weights()), **fields}


def save_model(path: Path, model: Sequential, *, force: bool = False, **fields) -> None:
    """Write ``model`` and a header with ``fields`` to ``path`` (.npz), atomically."""
    header = {"format": MODEL_FORMAT, **model_header(model, **fields)}
    _write(path, header, dict(model.named_weights()), force)


def load_model(path: Path) -> tuple[Sequential, dict]:
    """Read and verify a model file; returns (model, header). Raises ModelError."""
    header, arrays = _read(path, MODEL_FORMAT)
    model = _build(Path(path), header, arrays)
    _check_fields(Path(path), header, int(model.output_shape[-1]))
    return model, header


def _check_fields(path: Path, header: dict, units: int) -> None:
    """The header fields commands use must have their types: a tampered field is refused
    here, not met as a crash later."""
    for name in ("input", "training", "metrics", "data"):
        if not isinstance(header.get(name, {}), dict):
            raise ModelError(f"{path}: damaged header ({name} is not a JSON object)")
    scale = header.get("input", {}).get("pixel_scale", 1 / 255)
    if (not isinstance(scale, (int, float)) or isinstance(scale, bool)
            or not np.isfinite(scale) or not 0 < scale <= 1):
        raise ModelError(f"{path}: damaged header (pixel_scale {scale!r:.40} is not a number "
                         f"in (0, 1])")
    header.setdefault("cnnkit_version", "unknown")
    classes = header.get("classes")
    if classes is not None and (
            not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)
            or len(classes) != units):
        raise ModelError(f"{path}: damaged header (classes must be a list of {units} names, "
                         f"one per output)")
    if not isinstance(header.get("image", {}), dict):
        raise ModelError(f"{path}: damaged header (image is not a JSON object)")


def class_names(header: dict, count: int) -> list[str]:
    """The names of a model's classes: the header's ``classes`` (a folder dataset's folder
    names), else the indices "0".."count-1" (MNIST digits name themselves)."""
    classes = header.get("classes")
    if isinstance(classes, list) and len(classes) == count:
        return [str(c) for c in classes]
    return [str(k) for k in range(count)]


def save_checkpoint(path: Path, model: Sequential, optimizer_arrays: dict[str, np.ndarray],
                    order: np.ndarray, **fields) -> None:
    """A training checkpoint: weights, optimiser slots, the epoch's order, and ``fields``."""
    header = {"format": CHECKPOINT_FORMAT, **model_header(model, **fields)}
    arrays = {f"weights:{n}": v for n, v in model.named_weights()}
    arrays.update({f"optimizer:{n}": v for n, v in optimizer_arrays.items()})
    arrays["order"] = order
    _write(path, header, arrays, force=True, now=True)  # on disk at once, whatever follows


def load_checkpoint(path: Path) -> tuple[Sequential, dict, dict[str, np.ndarray], np.ndarray]:
    """(model, header, optimiser arrays, order) from a checkpoint. Raises ModelError."""
    header, arrays = _read(path, CHECKPOINT_FORMAT)
    model = _build(Path(path), header, arrays, prefix="weights:")
    optimizer = {n.split(":", 1)[1]: v for n, v in arrays.items() if n.startswith("optimizer:")}
    return model, header, optimizer, arrays.get("order", np.arange(0))
