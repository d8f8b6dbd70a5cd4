"""Architectures in one line, as ``cnnkit train --arch`` reads them, and the named presets.

Grammar (the ``stack`` command's, :mod:`cnnkit.steps`; whitespace between tokens is free)::

    arch    := step ("|" step)*
    step    := "conv" FILTERS SIZE [OPTION]*          OPTION: relu, same, valid, stride=S
             | ("maxpool" | "avgpool") [SIZE [STRIDE]] [same | valid]
             | "gap" | "batchnorm" | "relu" | "flatten"
             | "dropout" RATE
             | "dense" UNITS [relu | softmax]
    SIZE, STRIDE := N | HxW

e.g. ``conv 32 3 relu | maxpool 2 | conv 64 3 relu | maxpool 2 | flatten | dropout 0.5 |
dense 10 softmax``. A file holds the same steps, one or more a line (``#`` starts a comment),
or a Keras-style JSON model config (``model.to_json()``). The input is 28x28x1; the last step
is ``dense N softmax``. Shape errors name the step: ``step 3 conv 64 5: input 2x2x32 is
smaller than the kernel 5x5``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cnnkit.errors import CnnkitError
from cnnkit.nn import layers as L
from cnnkit.nn.model import INPUT_SHAPE, Sequential, digit_classifier
from cnnkit.steps import parse_pair, syntax_message, tokens

PRESETS = {
    "digit_classifier": "conv 32 3 relu | maxpool 2 | flatten | dense 128 relu | dropout 0.15 "
                        "| dense 10 softmax",
    "lenet5": "conv 6 5 same relu | avgpool 2 | conv 16 5 relu | avgpool 2 | flatten | "
              "dense 120 relu | dense 84 relu | dense 10 softmax",
    "keras-mnist-convnet": "conv 32 3 relu | maxpool 2 | conv 64 3 relu | maxpool 2 | flatten "
                           "| dropout 0.5 | dense 10 softmax",
    "bn-convnet": "conv 32 3 relu | maxpool 2 | conv 64 3 | batchnorm | relu | conv 64 3 | "
                  "batchnorm | relu | maxpool 2 | flatten | dropout 0.4 | dense 10 softmax",
}
"""Named architectures. ``digit_classifier`` is the seed's model (its dropout follows
``--dropout``); ``keras-mnist-convnet`` is the Keras example's (34,826 parameters)."""

MAX_PARAMS = 50_000_000  # 800 MB with gradients and Adam's two slots
MAX_ARCH_BYTES = 1 << 20
WORDS = ("conv", "maxpool", "avgpool", "gap", "batchnorm", "relu", "flatten", "dropout", "dense")


class ArchError(CnnkitError):
    """An architecture does not parse or does not fit its input; the message names the step."""


@dataclass
class StepSpec:
    """One layer to build: its Keras class, constructor arguments, and the text to name it."""

    text: str
    kind: str
    args: dict = field(default_factory=dict)


def _syntax(position: int, found: str, expected: str) -> ArchError:
    return ArchError(syntax_message("arch", position, found, expected))


def _number(word: str, position: int, kind, expected: str, low: float, high: float):
    try:
        value = kind(word)
    except ValueError:
        raise _syntax(position, word, expected) from None
    if not low <= value <= high:
        raise _syntax(position, word, expected)
    return value


def _size(word: str, position: int, what: str) -> tuple[int, int]:
    pair = parse_pair(word)
    if pair is None or max(pair) > 1024:
        raise _syntax(position, word, f"a {what} such as 3 or 3x5")
    return pair


def _options(words, allowed: dict[str, str]) -> dict:
    """Flags and key=value options after a step's numbers; ``allowed`` maps each to its role."""
    found = {}
    for word, position in words:
        key, sep, value = word.lower().partition("=")
        role = allowed.get(key)
        if role is None or (role == "flag") == bool(sep):
            raise _syntax(position, word, "one of " + ", ".join(
                k + ("" if r == "flag" else "=") for k, r in allowed.items()))
        if key in ("same", "valid"):
            found["padding"] = key
        elif key in ("relu", "softmax"):
            found["activation"] = key
        elif key == "padding":
            if value not in ("same", "valid"):
                raise _syntax(position, word, "padding=same or padding=valid")
            found["padding"] = value
        elif key == "stride":
            found["strides"] = _size(value, position, "stride")
        else:
            found[key] = _number(value, position, float, f"a number after {key}=", 0.0, 1.0)
    return found


def _step(words: list[tuple[str, int]], text: str) -> StepSpec:
    (head, position), rest = words[0], words[1:]
    word = head.lower()
    if word not in WORDS:
        raise _syntax(position, head, "a layer (" + ", ".join(WORDS) + ")")

    def numbers(count: int, what: list[str]):
        if len(rest) < count:
            where = rest[-1][1] + len(rest[-1][0]) if rest else position + len(head)
            raise _syntax(where, "", f"{what[len(rest)]} after {word}")
        return rest[:count], rest[count:]

    if word == "conv":
        (filters, size), extra = numbers(2, ["the number of filters", "a kernel size"])
        args = {"filters": _number(filters[0], filters[1], int, "a whole number of filters",
                                   1, 4096),
                "kernel_size": _size(size[0], size[1], "kernel size")}
        args.update(_options(extra, {"relu": "flag", "same": "flag", "valid": "flag",
                                     "padding": "value", "stride": "value"}))
        return StepSpec(text, "Conv2D", args)
    if word in ("maxpool", "avgpool"):
        sizes = [w for w in rest if parse_pair(w[0]) is not None][:2]
        args = {}
        if sizes:
            args["pool_size"] = _size(*sizes[0], "pool size")
        if len(sizes) > 1:
            args["strides"] = _size(*sizes[1], "pool stride")
        args.update(_options(rest[len(sizes):], {"same": "flag", "valid": "flag",
                                                 "padding": "value", "stride": "value"}))
        return StepSpec(text, "MaxPool2D" if word == "maxpool" else "AveragePooling2D", args)
    if word == "dense":
        (units,), extra = numbers(1, ["the number of units"])
        args = {"units": _number(units[0], units[1], int, "a whole number of units", 1,
                                 1 << 20)}
        args.update(_options(extra, {"relu": "flag", "softmax": "flag"}))
        return StepSpec(text, "Dense", args)
    if word == "dropout":
        (rate,), extra = numbers(1, ["a rate such as 0.5"])
        _options(extra, {})
        return StepSpec(text, "Dropout", {"rate": _number(rate[0], rate[1], float,
                                                          "a rate from 0 to 0.95", 0.0, 0.95)})
    if word == "batchnorm":
        return StepSpec(text, "BatchNormalization",
                        _options(rest, {"momentum": "value", "epsilon": "value"}))
    _options(rest, {})
    kind = {"gap": "GlobalAveragePooling2D", "relu": "ReLU", "flatten": "Flatten"}[word]
    return StepSpec(text, kind)


def parse(text: str) -> list[StepSpec]:
    """The steps of an architecture line. Raises ArchError naming the position."""
    steps, current, start = [], [], 1
    for kind, value, position in list(tokens(text)) + [("end", "", len(text) + 1)]:
        if kind == "word":
            current.append((value, position))
            continue
        if value == ",":
            raise _syntax(position, value, "'|' between steps")
        if not current:
            raise _syntax(position, "" if kind == "end" else value, "a layer (" +
                          ", ".join(WORDS) + ")")
        steps.append(_step(current, " ".join(text[start - 1:position - 1].split())))
        current, start = [], position + 1
    return steps


# Keras config -----------------------------------------------------------------------------
_KERAS_CLASSES = {"Conv2D": "Conv2D", "Convolution2D": "Conv2D", "MaxPooling2D": "MaxPool2D",
                  "MaxPool2D": "MaxPool2D", "AveragePooling2D": "AveragePooling2D",
                  "AvgPool2D": "AveragePooling2D", "GlobalAveragePooling2D":
                  "GlobalAveragePooling2D", "BatchNormalization": "BatchNormalization",
                  "Flatten": "Flatten", "Dense": "Dense", "Dropout": "Dropout", "ReLU": "ReLU"}
_KERAS_ARGS = {"Conv2D": ("filters", "kernel_size", "strides", "padding", "activation"),
               "MaxPool2D": ("pool_size", "strides", "padding"),
               "AveragePooling2D": ("pool_size", "strides", "padding"),
               "BatchNormalization": ("momentum", "epsilon"), "Dense": ("units", "activation"),
               "Dropout": ("rate",)}
# Settings cnnkit does not implement: refused rather than silently ignored.
_KERAS_FIXED = {"dilation_rate": (1, [1, 1], (1, 1)), "groups": (1,), "use_bias": (True,),
                "data_format": ("channels_last", None), "center": (True,), "scale": (True,)}


def from_keras(config: dict) -> tuple[list[StepSpec], tuple[int, ...]]:
    """Steps and input shape from a Keras ``Sequential`` JSON config, or from the
    ``{"input_shape", "layers": [{"class": ...}]}`` a cnnkit model file stores."""
    if not isinstance(config, dict):
        raise ArchError("arch JSON: expected an object")
    if "layers" in config and "class_name" not in config:  # cnnkit's own header form
        specs = config["layers"]
        if not isinstance(specs, list):
            raise ArchError("arch JSON: layers must be a list")
        steps = []
        for k, spec in enumerate(specs, 1):
            if not isinstance(spec, dict) or spec.get("class") not in L.LAYERS:
                raise ArchError(f"arch JSON: layer {k} has no known class")
            args = {a: tuple(v) if isinstance(v, list) else v
                    for a, v in spec.items() if a != "class"}
            steps.append(StepSpec(spec["class"], spec["class"], args))
        return steps, tuple(config.get("input_shape", INPUT_SHAPE))
    if config.get("class_name") != "Sequential" or not isinstance(config.get("config"), dict):
        raise ArchError("arch JSON: expected a Keras Sequential config ({\"class_name\": "
                        "\"Sequential\", \"config\": {\"layers\": [...]}})")
    layers = config["config"].get("layers")
    if not isinstance(layers, list):
        raise ArchError("arch JSON: config.layers must be a list")
    steps, input_shape = [], INPUT_SHAPE
    for k, layer in enumerate(layers, 1):
        if not isinstance(layer, dict) or not isinstance(layer.get("config", {}), dict):
            raise ArchError(f"arch JSON: layer {k} is not an object with a config")
        name, cfg = layer.get("class_name"), layer.get("config", {})
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        if isinstance(shape, list) and len(shape) == 4:
            input_shape = tuple(shape[1:])
        if name == "InputLayer":
            continue
        if name == "Activation" and cfg.get("activation") == "relu":
            name = "ReLU"
        kind = _KERAS_CLASSES.get(name)
        if kind is None:
            raise ArchError(f"arch JSON: layer {k} is a {str(name)[:40]}, which cnnkit does "
                            f"not have (it has {', '.join(sorted(_KERAS_CLASSES))})")
        for key, allowed in _KERAS_FIXED.items():
            if key in cfg and cfg[key] not in allowed:
                raise ArchError(f"arch JSON: layer {k} ({name}) sets {key}={cfg[key]!r:.40}; "
                                f"cnnkit supports only {allowed[0]!r}")
        args = {a: cfg[a] for a in _KERAS_ARGS.get(kind, ()) if a in cfg}
        args = {a: tuple(v) if isinstance(v, list) else v for a, v in args.items()}
        if args.get("activation") == "linear":
            args["activation"] = None
        steps.append(StepSpec(f"{name} {layer.get('config', {}).get('name', '')}".strip(),
                              kind, args))
    return steps, input_shape


# building -----------------------------------------------------------------------------------
def _shape_text(shape) -> str:
    return "x".join(str(v) for v in shape) if len(shape) > 1 else f"flat {shape[0]}"


def _fit_problem(layer: L.Layer, shape: tuple[int, ...]) -> str | None:
    """Why ``layer`` cannot take a per-sample input ``shape``, or None."""
    spatial = isinstance(layer, (L.Conv2D, L._Pool2D, L.GlobalAveragePooling2D))
    if spatial and len(shape) != 3:
        return f"needs an HxWxC input, got {_shape_text(shape)} (it must come before flatten)"
    if isinstance(layer, L.Dense) and len(shape) != 1:
        return f"input {_shape_text(shape)} is not flat: put flatten (or gap) before dense"
    window = (("kernel", layer.kernel_size) if isinstance(layer, L.Conv2D) else
              ("pool window", layer.pool_size) if isinstance(layer, L._Pool2D) else None)
    if window and layer.padding == "valid" and (shape[0] < window[1][0]
                                                or shape[1] < window[1][1]):
        return (f"input {_shape_text(shape)} is smaller than the {window[0]} "
                f"{window[1][0]}x{window[1][1]}")
    return None


def build(steps: list[StepSpec], input_shape=INPUT_SHAPE, seed: int = 0,
          name: str = "sequential") -> Sequential:
    """A Sequential from steps; ArchError names the step that does not fit."""
    made = _plan(steps, tuple(input_shape))
    last = made[-1]
    if not isinstance(last, L.Dense) or last.activation != "softmax":
        raise ArchError(f"step {len(steps)} {steps[-1].text}: the last step must be "
                        f"'dense N softmax' (the class probabilities)")
    return Sequential(made, input_shape, seed=seed, name=name)


def _plan(steps: list[StepSpec], shape: tuple[int, ...]) -> list[L.Layer]:
    """The layers, unbuilt, each checked against its input shape and the parameter bound."""
    if not steps:
        raise ArchError("the architecture has no steps")
    made, total = [], 0
    for k, step in enumerate(steps, 1):
        where = f"step {k} {step.text}"
        try:
            layer = L.LAYERS[step.kind](**step.args)
        except (TypeError, ValueError) as exc:
            raise ArchError(f"{where}: {exc}") from None
        problem = _fit_problem(layer, shape)
        if problem:
            raise ArchError(f"{where}: {problem}")
        out = layer._output_shape(shape)
        if isinstance(layer, L.Conv2D):
            total += (layer.kernel_size[0] * layer.kernel_size[1] * shape[2] + 1) * layer.filters
        elif isinstance(layer, L.Dense):
            total += (shape[0] + 1) * layer.units
        if total > MAX_PARAMS:
            raise ArchError(f"{where}: the network passes {MAX_PARAMS:,} parameters, the most "
                            f"cnnkit trains")
        made.append(layer)
        shape = out
    return made


def check_config(config: dict) -> None:
    """Check a stored architecture (a model file's header) as a line is checked: each layer
    fits its input and the whole stays under MAX_PARAMS. Raises ArchError."""
    steps, input_shape = from_keras(config)
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and 1 <= v <= 4096 for v in shape):
        raise ArchError(f"input shape {list(shape)!r:.60} is not HxWxC")
    _plan(steps, shape)


def read_arch(path: Path) -> tuple[list[StepSpec], tuple[int, ...]]:
    """Steps from an architecture file: JSON (a Keras config) or text, one or more steps a
    line, ``#`` comments."""
    from cnnkit.files import check_source

    check_source(path, "architecture file", ArchError)
    try:
        raw = path.read_bytes()[:MAX_ARCH_BYTES + 1]
    except OSError as exc:
        from cnnkit.errors import os_message

        raise ArchError(os_message(exc, "read", path)) from None
    if len(raw) > MAX_ARCH_BYTES:
        raise ArchError(f"{path}: larger than {MAX_ARCH_BYTES // 1024} KB; not an architecture")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchError(f"{path}: not UTF-8 text or JSON") from None
    if text.lstrip().startswith("{"):
        try:
            return from_keras(json.loads(text))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ArchError(f"{path}: not valid JSON ({str(exc)[:80]})") from None
    lines = [line.split("#", 1)[0].strip().strip("|").strip() for line in text.splitlines()]
    return parse(" | ".join(line for line in lines if line)), INPUT_SHAPE


def resolve(arch: str, seed: int = 0, dropout: float | None = None) -> Sequential:
    """A model from a preset name, an architecture file, or an architecture line."""
    if arch == "digit_classifier":
        return digit_classifier(0.15 if dropout is None else dropout, seed=seed)
    if arch in PRESETS:
        return build(parse(PRESETS[arch]), seed=seed, name=arch)
    path = Path(arch)
    if len(arch) < 4096 and "|" not in arch and (path.suffix in (".txt", ".json", ".arch")
                                                 or path.is_file()):
        if not path.is_file():
            raise ArchError(f"{arch}: no such architecture file (presets: "
                            f"{', '.join(PRESETS)})")
        steps, shape = read_arch(path)
        return build(steps, shape, seed=seed, name=path.stem[:80])
    if len(arch.split()) == 1 and arch.lower() not in WORDS:
        import difflib

        close = difflib.get_close_matches(arch, list(PRESETS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ArchError(f"unknown architecture '{arch[:40]}': not a preset ({', '.join(PRESETS)})"
                        f", a file or a line of steps{hint}")
    return build(parse(arch), seed=seed)


def to_text(model: Sequential) -> str:
    """The model as an architecture line (builds the same layers again)."""
    def size(pair):
        return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"

    steps = []
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            words = ["conv", str(layer.filters), size(layer.kernel_size)]
            words += [f"stride={size(layer.strides)}"] if layer.strides != (1, 1) else []
            words += ["same"] if layer.padding == "same" else []
            words += [layer.activation] if layer.activation else []
        elif isinstance(layer, L._Pool2D):
            words = ["maxpool" if isinstance(layer, L.MaxPool2D) else "avgpool",
                     size(layer.pool_size)]
            words += [size(layer.strides)] if layer.strides != layer.pool_size else []
            words += ["same"] if layer.padding == "same" else []
        elif isinstance(layer, L.Dense):
            words = ["dense", str(layer.units)] + ([layer.activation] if layer.activation
                                                   else [])
        elif isinstance(layer, L.Dropout):
            words = ["dropout", f"{layer.rate:g}"]
        elif isinstance(layer, L.BatchNormalization):
            words = ["batchnorm"] + ([f"momentum={layer.momentum:g}"]
                                     if layer.momentum != 0.99 else []) + (
                [f"epsilon={layer.epsilon:g}"] if layer.epsilon != 1e-3 else [])
        else:
            words = [{"GlobalAveragePooling2D": "gap", "ReLU": "relu",
                      "Flatten": "flatten"}[layer.kind]]
        steps.append(" ".join(words))
    return " | ".join(steps)


def flops_per_image(model: Sequential) -> int:
    """Multiply-adds x 2 of one image's forward pass through the conv and dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            height, width, filters = layer.output_shape
            kh, kw = layer.kernel_size
            total += 2 * height * width * filters * kh * kw * layer.input_shape[2]
        elif isinstance(layer, L.Dense):
            total += 2 * layer.input_shape[0] * layer.units
    return total
