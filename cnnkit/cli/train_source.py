"""Where ``cnnkit train`` gets its pictures and its starting model: MNIST or a folder
dataset, a fresh network or a trained one to fine-tune (``--init``)."""

from __future__ import annotations

from pathlib import Path

from cnnkit.cli import common, folder_opts


def training_data(images_dir: Path | None, data: Path | None, no_verify: bool, size, color,
                  fit, prepare, strict: bool, init: Path | None, resume: Path | None,
                  quiet: bool, mix_mnist: int = 0, seed: int = 0) -> dict:
    """images, labels, test (or None), the header's ``data`` field and its other fields
    (``classes``, ``image``), and the ``--init`` model (or None)."""
    from cnnkit.nn.io import load_model

    start = load_model(init) if init is not None else None
    if images_dir is None:
        from cnnkit.cli.data_cmd import load_data
        from cnnkit.cli.train_cmd import _data_info

        images, labels = load_data("train", data, verify=not no_verify)
        test = load_data("test", data, verify=not no_verify)  # a bad file fails before training
        return {"images": images, "labels": labels, "test": test, "data": _data_info(data),
                "fields": {}, "start": start, "shape": (28, 28, 1), "classes": 10}
    from cnnkit.data.folder import has_splits

    if resume is not None:  # the checkpoint's own picture options, whatever is typed now
        from cnnkit.nn.io import load_checkpoint

        options = folder_opts.options_from_header(load_checkpoint(resume)[1].get("image", {}))
    else:
        shape = tuple(start[0].input_shape) if start is not None else None
        options = folder_opts.folder_options(size, color, fit, prepare, shape)
    train = folder_opts.load_images(images_dir, options, "train", strict, quiet)
    test = None
    if has_splits(images_dir) and (images_dir / "test").is_dir():
        tested = folder_opts.load_images(images_dir, options, "test", strict, quiet)
        if tested.classes != train.classes:
            raise common.fail(f"{images_dir}: test/ has the classes {', '.join(tested.classes)}"
                              f" but train/ has {', '.join(train.classes)}; they must match")
        test = (tested.images, tested.labels)
    shape = (*options.size, options.channels)
    images, labels, info = train.images, train.labels, folder_opts.folder_info(train)
    if mix_mnist:
        images, labels = _mix_mnist(train, options, mix_mnist, data, no_verify, seed)
        info["mnist_mixed_in"] = int(len(labels) - len(train.labels))
        if not quiet:
            common.err.print(f"mixed in {info['mnist_mixed_in']:,} MNIST training digits")
    return {"images": images, "labels": labels, "test": test, "data": info,
            "fields": {"classes": train.classes, "image": folder_opts.image_header(options)},
            "start": start, "shape": shape, "classes": len(train.classes)}


def fit_network(network, shape: tuple[int, int, int], classes: int, seed: int):
    """``--arch``'s network rebuilt for a folder dataset: its pictures' (H, W, C) as input,
    its class count as the last step's units. Raises ValueError when a step does not fit."""
    from cnnkit.nn.model import Sequential

    config = network.config()
    if tuple(config["input_shape"]) == tuple(shape) and network.output_shape[-1] == classes:
        return network
    config["input_shape"] = list(shape)
    config["layers"][-1]["units"] = classes
    rebuilt = Sequential.from_config(config, seed=seed)
    rebuilt.name = network.name
    return rebuilt


def start_model(source: dict, network, init: Path | None, seed: int, freeze: list[str],
                quiet: bool):
    """The network training starts from: ``--init``'s (adapted to the classes) or
    ``network`` (``--arch``'s). Raises ValueError."""
    from cnnkit.nn.finetune import adapt

    if source["start"] is None:
        return network
    model, replaced = adapt(source["start"][0], source["shape"], source["classes"], seed=seed)
    if not quiet:
        new = f"; a new output layer for {source['classes']} classes" if replaced else ""
        frozen = f"; frozen: {', '.join(freeze)}" if freeze else ""
        common.err.print(f"fine-tuning {common.escape(init)}{new}{frozen}")
    return model


def evaluation_pictures(images_dir: Path, header: dict, network, names: list[str], prepare,
                        strict: bool, quiet: bool):
    """(images, labels, root, files) of a folder dataset for ``evaluate``: its test/ part if
    it has one, prepared as the model's training pictures were (the header's ``image``), the
    folder's classes matched to the model's by name."""
    import numpy as np

    from cnnkit.data.folder import has_splits

    image = header.get("image")
    if image:
        options = folder_opts.options_from_header(image)
    else:  # a model trained on MNIST (the bundled one): its input shape, and --prepare
        shape = tuple(network.input_shape)
        options = folder_opts.folder_options(shape[:2], None if shape[2] == 1 else
                                             folder_opts.Color.rgb, folder_opts.Fit.pad,
                                             prepare, shape)
    split = "test" if has_splits(images_dir) else None
    dataset = folder_opts.load_images(images_dir, options, split, strict, quiet)
    position = {name: k for k, name in enumerate(names)}
    unknown = [c for c in dataset.classes if c not in position]
    if unknown:
        raise common.fail(f"{dataset.root}: the class folder '{unknown[0]}' is not one of the "
                          f"model's classes ({', '.join(names[:12])})")
    mapping = np.array([position[c] for c in dataset.classes], np.int64)
    return dataset.images, mapping[dataset.labels], dataset.root, dataset.files


def _mix_mnist(train, options, count: int, data: Path | None, no_verify: bool, seed: int):
    """The folder's pictures plus ``count`` MNIST training digits (chosen by ``seed``) of the
    classes the folder has: rehearsal, so fine-tuning does not forget MNIST."""
    import numpy as np

    from cnnkit.cli.data_cmd import load_data

    if options.size != (28, 28) or options.color != "grey":
        raise common.fail("--mix-mnist needs 28x28 grey pictures (--prepare digits)", 2)
    digits = {name: k for k, name in enumerate(train.classes) if name in "0123456789"
              and len(name) == 1}
    if not digits:
        raise common.fail(f"{train.root}: --mix-mnist needs class folders named 0 to 9", 2)
    images, labels = load_data("train", data, verify=not no_verify)
    mapping = np.full(10, -1, np.int64)
    for name, k in digits.items():
        mapping[int(name)] = k
    usable = np.flatnonzero(mapping[labels] >= 0)
    picked = np.random.default_rng([seed, 3]).permutation(usable)[:count]
    return (np.concatenate([train.images, images[picked]]),
            np.concatenate([train.labels, mapping[labels[picked]]]))
