"""`graphc compile spec.yaml --train`: the whole training step as one standard ONNX model."""

from __future__ import annotations

from graphc.training.config import TrainConfig, parse_training
from graphc.training.step import TrainStep, build_train_step


def train_config(model) -> TrainConfig:
    """The validated `training:` section of a loaded Model's spec."""
    spec = model.spec
    return parse_training(spec.training, spec.params, spec.loc)


def train_step_for(model, cfg: TrainConfig | None = None) -> TrainStep:
    cfg = cfg or train_config(model)
    if cfg.gan is not None:
        from graphc.errors import SpecError

        raise SpecError("a gan: training section has two train steps (discriminator and generator); "
                        "use graphc train", cfg.loc)
    graph = model.graph
    if cfg.model and cfg.model != model.model_name:
        graph = model.spec.build(cfg.model)
    return build_train_step(graph, cfg)


def optimized(graph, opt_level: int):
    """Run graphc's optimization passes on a step graph when they are available."""
    if opt_level <= 0:
        return graph
    try:
        from graphc.passes import optimize
    except ImportError:
        return graph
    return optimize(graph, level=opt_level)


def train_step_bytes(model, opt_level: int = 2, cfg: TrainConfig | None = None) -> bytes:
    from graphc.export.onnx_export import model_bytes

    step = train_step_for(model, cfg)
    return model_bytes(optimized(step.graph, opt_level))


def export_train_step(model, path: str, opt_level: int = 2) -> str:
    """Write the train-step ONNX model atomically; returns the path."""
    from graphc.util.atomic import write_bytes

    write_bytes(path, train_step_bytes(model, opt_level))
    return path
