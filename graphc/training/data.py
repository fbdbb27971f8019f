"""Training data: bundled scikit-learn sets or an .npz, mapped onto the model's inputs, split
(stratified for class labels), scaled, and cut into seeded shuffled batches."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from graphc.errors import SpecError
from graphc.ir.graph import Value
from graphc.ir.types import is_float, np_dtype
from graphc.runtime.weights import read_npz
from graphc.training.config import TrainConfig
from graphc.util.missing import require

Arrays = dict[str, np.ndarray]


@dataclass
class Splits:
    train: Arrays
    val: Arrays | None
    test: Arrays | None
    feature: str | None  # the input fed with features (scaled)
    target: str | None  # the input fed with targets / labels


def _sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    datasets = require("sklearn.datasets", f"the bundled data set '{name}'")
    loader = {"digits": datasets.load_digits, "iris": datasets.load_iris,
              "breast_cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}[name]
    try:
        bunch = loader()
    except OSError as e:  # its data file unreadable (permissions) or missing (a broken install)
        raise SpecError(f"cannot read the bundled data set '{name}': {e.strerror or e}: {e.filename}",
                        hint="reinstall scikit-learn so this user can read its files (pip install --force-reinstall "
                             "scikit-learn), or give your own arrays with data: {npz: file.npz}") from None
    return np.asarray(bunch.data), np.asarray(bunch.target)


def _shape_for(value: Value, n: int, array: np.ndarray, what: str) -> np.ndarray:
    """Reshape `array` (n rows) to the input's shape (symbolic dims: the batch axis)."""
    dims = [n if not isinstance(d, int) else d for d in value.shape]
    if int(np.prod(dims)) != array.size:
        raise SpecError(f"{what} has {array.size // max(n, 1)} values per sample, input {value.name} "
                        f"needs shape {list(value.shape)}")
    return array.reshape(dims).astype(np_dtype(value.dtype))


def load_arrays(cfg: TrainConfig, inputs: list[Value], spec_dir: str = ".") -> tuple[Arrays, str | None, str | None]:
    """Arrays named like the batch inputs, plus which input is the feature and which the target."""
    if cfg.npz is not None:
        path = cfg.npz if os.path.isabs(cfg.npz) else os.path.join(spec_dir, cfg.npz)
        if not os.path.exists(path) and os.path.exists(cfg.npz):
            path = cfg.npz

        if not os.path.exists(path):
            raise SpecError(f"training data file {cfg.npz} not found; paths are relative to the spec's folder", cfg.loc,
                            "give a path relative to the spec, or an absolute one")
        raw = read_npz(path)
        missing = [v.name for v in inputs if v.name not in raw]
        if missing:
            raise SpecError(f"data {cfg.npz} has no array named {missing[0]}", cfg.loc,
                            f"rename its arrays like the model inputs; it has: {', '.join(raw) or 'nothing'}")
        n = len(raw[inputs[0].name])
        arrays = {v.name: _shape_for(v, n, raw[v.name], f"array {v.name}") for v in inputs}
        feature = next((v.name for v in inputs if is_float(v.dtype)), None)
        target = next((v.name for v in inputs if v.name != feature), None)
        return arrays, feature, target
    x, y = _sklearn(cfg.dataset)
    floats = [v for v in inputs if is_float(v.dtype)]
    if not floats or len(inputs) > 2:
        raise SpecError(f"dataset {cfg.dataset} gives features and targets: the model needs one float input for "
                        f"the features (and one for targets), it has {', '.join(v.name for v in inputs)}", cfg.loc,
                        "give the model one float input and one for the targets, or use data: {npz: ...}")
    feature = floats[0]
    target = next((v for v in inputs if v is not feature), None)
    n = len(x)
    arrays = {feature.name: _shape_for(feature, n, x, f"dataset {cfg.dataset}")}
    if target is not None:
        arrays[target.name] = _shape_for(target, n, y, f"dataset {cfg.dataset} targets")
    return arrays, feature.name, target.name if target is not None else None


def _take(arrays: Arrays, idx: np.ndarray) -> Arrays:
    return {k: v[idx] for k, v in arrays.items()}


def _split(arrays: Arrays, frac: float, stratify: np.ndarray | None, seed: int) -> tuple[Arrays, Arrays]:
    train_test_split = require("sklearn.model_selection", "splitting the data").train_test_split

    n = len(next(iter(arrays.values())))
    idx = np.arange(n)
    try:
        a, b = train_test_split(idx, test_size=frac, random_state=seed, stratify=stratify)
    except ValueError:  # a class too small to stratify: plain seeded split
        a, b = train_test_split(idx, test_size=frac, random_state=seed)
    return _take(arrays, np.sort(a)), _take(arrays, np.sort(b))


def make_splits(cfg: TrainConfig, inputs: list[Value], spec_dir: str = ".") -> Splits:
    arrays, feature, target = load_arrays(cfg, inputs, spec_dir)
    labels = lambda a: a[target].reshape(len(a[target])) if target and not is_float_array(a[target]) \
        and a[target].ndim == 1 else None  # noqa: E731
    test = val = None
    seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    if cfg.test_split > 0:
        arrays, test = _split(arrays, cfg.test_split, labels(arrays), seed)
    if cfg.validation_split > 0:
        arrays, val = _split(arrays, cfg.validation_split, labels(arrays), seed)
    if feature is not None and cfg.scale:
        _scale(cfg, feature, arrays, [s for s in (val, test) if s is not None])
    return Splits(arrays, val, test, feature, target)


def is_float_array(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.floating)


def _scale(cfg: TrainConfig, feature: str, train: Arrays, others: list[Arrays]) -> None:
    """digits: pixels / 16; other bundled sets: standardized with the training split's statistics."""
    if cfg.npz is not None:
        return
    if cfg.dataset == "digits":
        for a in [train] + others:
            a[feature] = a[feature] / np.asarray(16.0, a[feature].dtype)
        return
    x = train[feature]
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1).astype(x.dtype)
    for a in [train] + others:
        a[feature] = ((a[feature] - mean) / std).astype(x.dtype)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True) -> list[np.ndarray]:
    """Index arrays of one epoch: a permutation seeded by (seed, epoch), the last batch short."""
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]
