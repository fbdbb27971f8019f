"""The spec's `training:` section: validated into a `TrainConfig`, every error located in the spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from graphc.errors import Location, SpecError, did_you_mean
from graphc.spec.params import substitute
from graphc.spec.yaml_loader import LocList, LocMap
from graphc.util.walk import rebuild

TRAINING_KEYS = ("model", "data", "validation", "loss", "regularization", "optimizer", "clip_grad_norm",
                 "schedule", "batch_size", "epochs", "metrics", "early_stopping", "seed", "shuffle", "gan")
DATASETS = ("digits", "iris", "breast_cancer", "diabetes")
DATA_KEYS = ("dataset", "npz", "test_split", "split_seed", "scale")
LOSSES: dict[str, tuple[str, ...]] = {  # loss -> its argument names, in order (`in: [...]` works too)
    "mse": ("pred", "target"), "mae": ("pred", "target"),
    "cross_entropy": ("logits", "target"), "categorical_crossentropy": ("probs", "target"),
    "bce": ("probs", "target"), "bce_with_logits": ("logits", "target"), "nll": ("log_probs", "target"),
    "kl_normal": ("mu", "logvar"),
}
OPTIMIZERS: dict[str, dict[str, Any]] = {  # defaults are torch.optim's
    "sgd": {"lr": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
    "rmsprop": {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False, "weight_decay": 0.0},
    "adagrad": {"lr": 0.01, "lr_decay": 0.0, "eps": 1e-10, "weight_decay": 0.0, "initial_accumulator_value": 0.0},
}
SCHEDULES: dict[str, dict[str, Any]] = {  # units are optimizer steps
    "step": {"every": None, "gamma": 0.1},
    "cosine": {"steps": None, "min_lr": 0.0},
    "warmup": {"steps": None},
}
CLASS_METRICS = ("accuracy", "precision", "recall", "f1", "confusion_matrix")
REGRESSION_METRICS = ("mse", "mae", "r2")
METRICS = CLASS_METRICS + REGRESSION_METRICS
EARLY_KEYS = ("monitor", "patience", "min_delta", "mode")
GAN_KEYS = ("generator", "discriminator", "combined", "noise", "real", "steps")


@dataclass
class LossTerm:
    kind: str  # a loss name, or "output" for a scalar output of the graph
    args: list[str]
    weight: float = 1.0
    loc: Location | None = None


@dataclass
class TrainConfig:
    """Everything `training:` says, with defaults filled in (see docs/training.md)."""

    model: str | None = None
    dataset: str | None = None
    npz: str | None = None
    test_split: float = 0.0
    split_seed: int | None = None  # seed of the test / validation splits (default: seed)
    scale: bool = True
    validation_split: float = 0.0
    losses: list[LossTerm] = field(default_factory=list)
    l1: float = 0.0
    l2: float = 0.0
    optimizer: str = "adam"
    opt_args: dict[str, Any] = field(default_factory=dict)
    clip_grad_norm: float | None = None
    schedule: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_size: int = 32
    epochs: int = 1
    metrics: list[str] = field(default_factory=list)
    monitor: str | None = None
    patience: int = 0
    min_delta: float = 0.0
    mode: str = "auto"
    seed: int = 0
    shuffle: bool = True
    gan: dict[str, Any] | None = None
    loc: Location | None = None

    @property
    def classification(self) -> bool:
        return any(t.kind in ("cross_entropy", "categorical_crossentropy", "nll", "bce", "bce_with_logits")
                   for t in self.losses)


def _map(value: Any, loc: Location, what: str, example: str) -> LocMap:
    if not isinstance(value, LocMap):
        raise SpecError(f"{what} must be a mapping", getattr(value, "loc", loc), f"write it like {example}")
    return value


def _keys(mapping: LocMap, allowed, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise SpecError(f"unknown key '{key}' in {what}", mapping.key_loc(key),
                            did_you_mean(str(key), allowed) or f"use one of: {', '.join(allowed)}")


def _one_key(mapping: Any, loc: Location, what: str, choices, example: str) -> tuple[str, Any, Location]:
    """A `{name: {args}}` choice (or a bare name): returns name, args and the name's location."""
    if isinstance(mapping, str):
        name, args, key_loc = mapping, None, loc
    else:
        mapping = _map(mapping, loc, what, example)
        if len(mapping) != 1:
            raise SpecError(f"{what} must have exactly one key", mapping.loc, f"write it like {example}")
        name = next(iter(mapping))
        args, key_loc = mapping[name], mapping.key_loc(name)
    if name not in choices:
        raise SpecError(f"unknown {what} '{name}'", key_loc, did_you_mean(str(name), choices)
                        or f"use one of: {', '.join(choices)}")
    return name, args, key_loc


# a typical value of each numeric setting, for the hints of its errors
EXAMPLES = {"lr": 0.001, "momentum": 0.9, "batch_size": 64, "epochs": 10, "seed": 0, "patience": 5, "split": 0.2,
            "test_split": 0.2, "clip_grad_norm": 1.0, "steps": 1000, "every": 10, "gamma": 0.1, "weight": 1.0}


def _number(value: Any, loc: Location, what: str, low: float | None = None, high: float | None = None,
            integer: bool = False, example: Any = None) -> Any:
    key = what.split(": ")[-1].split()[-1]
    if example is None:
        example = EXAMPLES.get(key, low if low is not None else 1)
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise SpecError(f"{what} must be {kind}, got {value!r}", loc, f"write {kind}, like {key}: {example}")
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]" if low is not None else f"<= {high}"
        raise SpecError(f"{what} must be {rng}, got {value}", loc, f"use a value {rng}, like {key}: {example}")
    return value


def _args(raw: Any, loc: Location, what: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments checked against `defaults` (None default: required)."""
    given = LocMap() if raw is None else _map(raw, loc, what, "{lr: 0.001}")
    _keys(given, defaults, what)
    result = {}
    for key, default in defaults.items():
        if key in given:
            value, vloc = given[key], given.value_loc(key)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise SpecError(f"{what}: {key} must be true or false, got {value!r}", vloc,
                                    f"write {key}: true or {key}: false")
            elif default is None or isinstance(default, (int, float)):
                _number(value, vloc, f"{what}: {key}", 0, example=default or None)
            result[key] = value
        elif default is None:
            raise SpecError(f"{what} needs '{key}'", getattr(given, "loc", loc), f"add {key}: VALUE")
        else:
            result[key] = default
    return result


def _loss_terms(raw: Any, loc: Location) -> list[LossTerm]:
    if isinstance(raw, str):
        if raw in LOSSES:
            raise SpecError(f"loss '{raw}' needs its inputs", loc,
                            f"write it like {{{raw}: {{{', '.join(a + ': ...' for a in LOSSES[raw])}}}}}")
        return [LossTerm("output", [raw], 1.0, loc)]
    items = list(raw) if isinstance(raw, LocList) else [raw]
    locs = raw.item_locs if isinstance(raw, LocList) else [loc]
    terms = []
    for item, iloc in zip(items, locs):
        item = _map(item, iloc, "loss", "{cross_entropy: {logits: logits, target: label}}")
        weight = 1.0
        keys = [k for k in item if k != "weight"]
        if "weight" in item:
            weight = float(_number(item["weight"], item.value_loc("weight"), "loss weight"))
        if len(keys) != 1:
            raise SpecError("a loss is one mapping of one loss name, with an optional weight", item.loc,
                            "write one loss per list item, like {mse: {pred: y, target: t}, weight: 0.5}")
        name = keys[0]
        if name not in LOSSES:
            raise SpecError(f"unknown loss '{name}'", item.key_loc(name),
                            did_you_mean(str(name), LOSSES) or f"use one of: {', '.join(LOSSES)}")
        want = LOSSES[name]
        args = _map(item[name], item.value_loc(name), f"loss {name}", "{" + ", ".join(f"{a}: ..." for a in want) + "}")
        if "in" in args:
            _keys(args, ("in",), f"loss {name}")
            names = args["in"]
            if not isinstance(names, list) or len(names) != len(want):
                raise SpecError(f"loss {name}: in must list {len(want)} names", args.value_loc("in"),
                                f"write in: [{', '.join(want)}] with the names of layers or inputs")
        else:
            _keys(args, want, f"loss {name}")
            missing = [a for a in want if a not in args]
            if missing:
                raise SpecError(f"loss {name} needs '{missing[0]}'", args.loc,
                                f"add {missing[0]}: NAME, the layer or input it reads")
            names = [args[a] for a in want]
        for n in names:
            if not isinstance(n, str):
                raise SpecError(f"loss {name}: inputs are layer or input names, got {n!r}", args.loc,
                                "write the name of a layer or an input")
        terms.append(LossTerm(name, [str(n) for n in names], weight, item.key_loc(name)))
    return terms


# -- one parser per key of the section: parser(cfg, value, location) fills cfg ------------------
def _model(cfg: TrainConfig, value: Any, loc: Location) -> None:
    if not isinstance(value, str):
        raise SpecError("training: model must be a model name", loc, "write the name of one of the spec's models")
    cfg.model = value


def _data(cfg: TrainConfig, value: Any, loc: Location) -> None:
    data = _map(value, loc, "data", "{dataset: digits}")
    _keys(data, DATA_KEYS, "data")
    if ("dataset" in data) == ("npz" in data):
        raise SpecError("data needs exactly one of 'dataset:' or 'npz:'", data.loc,
                        "write data: {dataset: digits} or data: {npz: train.npz}")
    if "dataset" in data:
        if data["dataset"] not in DATASETS:
            raise SpecError(f"unknown dataset '{data['dataset']}'", data.value_loc("dataset"),
                            did_you_mean(str(data["dataset"]), DATASETS)
                            or f"use a bundled one: {', '.join(DATASETS)}; or your own arrays, data: {{npz: file.npz}}")
        cfg.dataset = data["dataset"]
    else:
        if not isinstance(data["npz"], str):
            raise SpecError("data: npz must be a path to an .npz file", data.value_loc("npz"),
                            "write a path, like npz: train.npz")
        cfg.npz = data["npz"]
    if "test_split" in data:
        cfg.test_split = float(_number(data["test_split"], data.value_loc("test_split"), "test_split", 0.0, 0.9))
    if "split_seed" in data:
        cfg.split_seed = int(_number(data["split_seed"], data.value_loc("split_seed"), "split_seed", 0, integer=True))
    if "scale" in data:
        if not isinstance(data["scale"], bool):
            raise SpecError("data: scale must be true or false", data.value_loc("scale"),
                            "write scale: true or scale: false")
        cfg.scale = data["scale"]


def _validation(cfg: TrainConfig, value: Any, loc: Location) -> None:
    val = _map(value, loc, "validation", "{split: 0.2}")
    _keys(val, ("split",), "validation")
    if "split" in val:
        cfg.validation_split = float(_number(val["split"], val.value_loc("split"), "validation split", 0.0, 0.9))


def _gan_section(cfg: TrainConfig, value: Any, loc: Location) -> None:
    cfg.gan = _gan(value, loc)


def _loss(cfg: TrainConfig, value: Any, loc: Location) -> None:
    cfg.losses = _loss_terms(value, loc)


def _regularization(cfg: TrainConfig, value: Any, loc: Location) -> None:
    reg = _map(value, loc, "regularization", "{l2: 0.0001}")
    _keys(reg, ("l1", "l2"), "regularization")
    cfg.l1 = float(_number(reg.get("l1", 0.0), reg.value_loc("l1"), "l1", 0.0))
    cfg.l2 = float(_number(reg.get("l2", 0.0), reg.value_loc("l2"), "l2", 0.0))


def _optimizer(cfg: TrainConfig, value: Any, loc: Location) -> None:
    name, args, key_loc = _one_key(value, loc, "optimizer", OPTIMIZERS, "{adam: {lr: 0.001}}")
    cfg.optimizer = name
    cfg.opt_args = _args(args, key_loc, f"optimizer {name}", OPTIMIZERS[name])


def _schedule(cfg: TrainConfig, value: Any, loc: Location) -> None:
    sched = _map(value, loc, "schedule", "{cosine: {steps: 1000}, warmup: {steps: 100}}")
    _keys(sched, SCHEDULES, "schedule")
    if "step" in sched and "cosine" in sched:
        raise SpecError("schedule: use either step or cosine, not both", sched.key_loc("cosine"),
                        "remove one of them")
    for key in sched:
        cfg.schedule[key] = _args(sched[key], sched.value_loc(key), f"schedule {key}", SCHEDULES[key])


def _metrics(cfg: TrainConfig, value: Any, loc: Location) -> None:
    if not isinstance(value, list):
        raise SpecError("metrics must be a list", loc,
                        f"write it like metrics: [{value if isinstance(value, str) else 'accuracy, f1'}]")
    locs = value.item_locs if isinstance(value, LocList) else [loc] * len(value)
    for m, mloc in zip(value, locs):
        if m not in METRICS:
            raise SpecError(f"unknown metric '{m}'", mloc, did_you_mean(str(m), METRICS)
                            or f"use one of: {', '.join(METRICS)}")
    cfg.metrics = [str(m) for m in value]


def _early_stopping(cfg: TrainConfig, value: Any, loc: Location) -> None:
    """Reads cfg.metrics and cfg.validation_split: runs after them."""
    es = _map(value, loc, "early_stopping", "{monitor: val_loss, patience: 5}")
    _keys(es, EARLY_KEYS, "early_stopping")
    monitor = es.get("monitor", "val_loss")
    allowed = ["loss", "val_loss"] + [f"val_{m}" for m in cfg.metrics if m != "confusion_matrix"]
    if monitor not in allowed:
        raise SpecError(f"early_stopping cannot monitor '{monitor}'", es.value_loc("monitor"),
                        did_you_mean(str(monitor), allowed) or f"use one of: {', '.join(allowed)}")
    cfg.monitor = monitor
    cfg.patience = int(_number(es.get("patience", 5), es.value_loc("patience"), "patience", 0, integer=True))
    cfg.min_delta = float(_number(es.get("min_delta", 0.0), es.value_loc("min_delta"), "min_delta", 0.0))
    mode = es.get("mode", "auto")
    if mode not in ("auto", "min", "max"):
        raise SpecError(f"early_stopping mode must be auto, min or max, got {mode!r}", es.value_loc("mode"),
                        "use mode: auto, min or max")
    cfg.mode = mode
    if monitor.startswith("val_") and cfg.validation_split <= 0:
        raise SpecError(f"early_stopping monitors {monitor} but there is no validation split",
                        es.value_loc("monitor"), "add validation: {split: 0.2}")


def _number_key(field_name: str, low: float, integer: bool = False) -> Parser:
    """A parser storing a number >= low in `field_name` (an integer when `integer`)."""
    def parse(cfg: TrainConfig, value: Any, loc: Location) -> None:
        number = _number(value, loc, field_name, low, integer=integer)
        setattr(cfg, field_name, int(number) if integer else float(number))
    return parse


def _shuffle(cfg: TrainConfig, value: Any, loc: Location) -> None:
    if not isinstance(value, bool):
        raise SpecError("shuffle must be true or false", loc, "write shuffle: true or shuffle: false")
    cfg.shuffle = value


Parser = Callable[[TrainConfig, Any, Location], None]

# The keys of `training:` and their parsers, in the order they run (a later one may read what an
# earlier one set: early_stopping reads metrics and validation; loss is optional with gan).
SECTION: dict[str, Parser] = {
    "model": _model, "data": _data, "validation": _validation, "gan": _gan_section, "loss": _loss,
    "regularization": _regularization, "optimizer": _optimizer,
    "clip_grad_norm": _number_key("clip_grad_norm", 0.0), "schedule": _schedule,
    "batch_size": _number_key("batch_size", 1, integer=True), "epochs": _number_key("epochs", 1, integer=True),
    "metrics": _metrics, "early_stopping": _early_stopping, "seed": _number_key("seed", 0, integer=True),
    "shuffle": _shuffle,
}
# keys that must be there: (required unless, message, hint)
REQUIRED: dict[str, tuple[Callable[[TrainConfig], bool], str, str]] = {
    "data": (lambda cfg: False, "training needs 'data:'",
             "add it, like data: {dataset: digits} or data: {npz: train.npz}"),
    "loss": (lambda cfg: cfg.gan is not None, "training needs 'loss:'",
             "add it, like loss: {cross_entropy: {logits: logits, target: label}}"),
}


def parse_training(raw: LocMap | None, params: dict[str, Any] | None = None,
                   where: Location | None = None) -> TrainConfig:
    """Validate a spec's `training:` mapping (with `$params` substituted): each key by its parser in SECTION."""
    if raw is None:
        raise SpecError("this spec has no training: section", where,
                        "add one, like training: {data: {dataset: digits}, loss: ..., optimizer: {adam: {lr: 0.001}}}")
    t = _map(raw, where, "training", "{loss: ..., optimizer: ...}")
    if params:
        t = _substituted(t, params)
    _keys(t, TRAINING_KEYS, "training")
    cfg = TrainConfig(loc=t.loc, opt_args=dict(OPTIMIZERS["adam"]))
    for key, parse in SECTION.items():
        if key in t:
            parse(cfg, t[key], t.value_loc(key))
        elif key in REQUIRED and not REQUIRED[key][0](cfg):
            raise SpecError(REQUIRED[key][1], t.loc, REQUIRED[key][2])
    return cfg


def _gan(raw: Any, loc: Location) -> dict[str, Any]:
    g = _map(raw, loc, "gan", "{generator: generator, discriminator: discriminator, combined: combined, "
                              "noise: z, real: x}")
    _keys(g, GAN_KEYS, "gan")
    for key in ("generator", "discriminator", "combined"):
        if not isinstance(g.get(key, key), str):
            raise SpecError(f"gan: {key} must be a model name", g.value_loc(key), "write the name of one of the models")
    out = {k: str(g.get(k, k)) for k in ("generator", "discriminator", "combined")}
    out["noise"] = g.get("noise", "z")
    out["real"] = g.get("real", "x")
    out["steps"] = int(_number(g.get("steps", 1), g.value_loc("steps"), "gan: steps", 1, integer=True))
    out["loc"] = g.loc
    return out


def _substituted(t: LocMap, params: dict[str, Any]) -> LocMap:
    """Replace `$name` references in every value (keeping locations)."""
    def split(item: tuple[Any, Location]):
        value = item[0]
        if isinstance(value, LocMap):
            return [(x, value.value_loc(k)) for k, x in value.items()], lambda done: _located(LocMap(zip(value, done)), value)
        if isinstance(value, LocList):
            return [(x, value.item_loc(i)) for i, x in enumerate(value)], lambda done: _located(LocList(done), value)
        return None

    def leaf(item: tuple[Any, Location]) -> Any:
        value, loc = item
        return substitute(value, params, loc) if isinstance(value, str) and "$" in value else value
    return rebuild((t, t.loc), split, leaf)


def _located(out: Any, like: Any) -> Any:
    """`out` with the locations of `like` (the LocMap or LocList it was rebuilt from)."""
    if isinstance(like, LocMap):
        out.loc, out.key_locs, out.value_locs = like.loc, like.key_locs, like.value_locs
    else:
        out.loc, out.item_locs = like.loc, like.item_locs
    return out
