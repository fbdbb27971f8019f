"""Every spec in specs/ exports the same ONNX bytes as recorded in tests/data/spec_hashes.json.

The record is the SHA-256 of: each model's inference graph at the default -O level and at -O0, the
`compile --train` step for specs with a (non-GAN) training section, the discriminator and
generator steps of a GAN training section, and the gradient graph (`Model.grad()`) of the
default model. A refactoring must leave every hash alone; an intended change to the bytes
regenerates the file (`python tests/test_spec_hashes.py --write`) and is named in the commit.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = os.path.join(ROOT, "tests", "data", "spec_hashes.json")
SPEC_FILES = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gan_steps(model) -> dict[str, bytes]:
    from dataclasses import replace

    from graphc.export.onnx_export import to_onnx
    from graphc.training.compile import optimized, train_config
    from graphc.training.config import LossTerm
    from graphc.training.gan import _with_target
    from graphc.training.step import build_train_step

    cfg = train_config(model)
    gan, spec = cfg.gan, model.spec
    out = {}
    for key, only in (("discriminator", None), ("combined", gan["generator"] + ".")):
        graph, target = _with_target(spec.build(gan[key]))
        step_cfg = replace(cfg, losses=[LossTerm("bce", [target, "gan_target"], 1.0, gan["loc"])], metrics=[])
        train_only = None if only is None else (lambda n, p=only: n.startswith(p))
        step = build_train_step(graph, step_cfg, train_only=train_only)
        out[f"train.{key}"] = to_onnx(optimized(step.graph, 2)).SerializeToString(deterministic=True)
    return out


def spec_hashes(path: str) -> dict[str, str]:
    """name -> SHA-256 of every artifact recorded for one spec (an error's class name if it fails)."""
    import graphc
    from graphc.training.compile import train_config, train_step_bytes

    model = graphc.load(path)
    result: dict[str, str] = {}
    for name in model.spec.model_names():
        one = graphc.load(path, model=name)
        result[f"model.{name}"] = _sha(one.onnx_bytes())
        result[f"model.{name}.O0"] = _sha(one.onnx_bytes(opt_level=0))
    if model.spec.training is not None:
        if train_config(model).gan is not None:
            result.update({k: _sha(v) for k, v in _gan_steps(model).items()})
        else:
            result["train"] = _sha(train_step_bytes(model))
    try:
        result["grad"] = _sha(model.grad().onnx_bytes())
    except Exception as e:  # noqa: BLE001 - recorded: the same spec must keep failing the same way
        result["grad"] = f"error: {type(e).__name__}"
    return result


def _key(path: str) -> str:
    return os.path.basename(path)


def _recorded() -> dict:
    with open(RECORD, encoding="utf-8") as f:
        return json.load(f)


def test_every_spec_is_recorded():
    assert sorted(_recorded()) == sorted(_key(p) for p in SPEC_FILES), \
        "a spec was added or removed: python tests/test_spec_hashes.py --write"


@pytest.mark.parametrize("path", SPEC_FILES, ids=[_key(p) for p in SPEC_FILES])
def test_spec_bytes_unchanged(path):
    want = _recorded().get(_key(path))
    assert want is not None, "not recorded: python tests/test_spec_hashes.py --write"
    assert spec_hashes(path) == want


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/test_spec_hashes.py --write")
    record = {_key(p): spec_hashes(p) for p in SPEC_FILES}
    os.makedirs(os.path.dirname(RECORD), exist_ok=True)
    with open(RECORD, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {RECORD}")
