"""`graphc schema`: the JSON Schema of the spec language, checked with the jsonschema package.

Oracles: the good specs of specs/ (all must validate), the schema-level bad specs of the corpus
(all must be rejected), and small hand-written specs for the if/then rule and YAML 1.2 numbers.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")

from graphc.editor.schema import build_schema
from graphc.spec.yaml_loader import load_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
BAD = os.path.join(ROOT, "tests", "bad_specs")
# Bad specs whose mistake is structural or an attribute's type: the schema alone rejects them.
# (A file in tests/bad_specs with a line `# kind: schema` is treated the same way.)
SCHEMA_KIND = [
    "attrs_not_mapping", "bad_activation", "bad_dtype", "bad_name_ident", "bad_padding",
    "bias_not_bool", "dense_missing_units", "dropout_rate", "empty_layers", "eps_string",
    "filters_negative", "in_not_name", "input_bad_dim", "input_dim_zero", "layer_is_string",
    "layer_two_keys", "missing_graphc", "missing_inputs", "missing_name", "model_unknown_key",
    "models_and_layers", "not_a_mapping", "perm_not_list", "repeat_non_block", "repeat_zero",
    "stride_zero", "units_string", "units_zero", "unknown_attr_typo", "unknown_op_typo",
    "unknown_top_key", "wrong_version",
]


def _schema_kind() -> list[str]:
    found = {os.path.splitext(os.path.basename(p))[0]: p
             for p in glob.glob(os.path.join(BAD, "**", "*.yaml"), recursive=True)}
    names = {found.get(n, os.path.join(BAD, n + ".yaml")) for n in SCHEMA_KIND}  # (grouped by kind in folders)
    for path in glob.glob(os.path.join(BAD, "**", "*.yaml"), recursive=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            if any(line.strip() == "# kind: schema" for line in f.read().splitlines()[:5]):
                names.add(path)
    return sorted(names)


@pytest.fixture(scope="module")
def validator():
    schema = build_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _read(path: str):
    with open(path, encoding="utf-8") as f:
        return load_yaml(f.read(), path)  # graphc's own reading (1e-5 is a number, as YAML 1.2)


@pytest.mark.parametrize("path", SPECS, ids=os.path.basename)
def test_every_spec_validates(validator, path):
    errors = [e.message for e in validator.iter_errors(_read(path))]
    assert errors == []


@pytest.mark.parametrize("path", _schema_kind(), ids=os.path.basename)
def test_schema_kind_bad_specs_are_rejected(validator, path):
    assert os.path.exists(path), path
    assert not validator.is_valid(_read(path))


def _spec(layers: str, extra: str = "") -> dict:
    return load_yaml(f"graphc: 1\nname: m\n{extra}inputs: {{x: [N, 4]}}\nlayers:\n{layers}", "t.yaml")


def test_unknown_op_is_rejected_only_without_blocks_or_models(validator):
    assert not validator.is_valid(_spec("  - mystery: {units: 4}\n"))
    with_block = _spec("  - mystery: {repeat: 2}\n", "blocks:\n  mystery:\n    layers:\n      - relu:\n")
    assert validator.is_valid(with_block)
    assert validator.is_valid(_spec("  - dense: {units: 4}\n"))
    # a known op keeps its attribute checks even in a spec with blocks
    assert not validator.is_valid(_spec("  - dense: {unit: 4}\n", "blocks:\n  b:\n    layers:\n      - relu:\n"))


def test_yaml_12_numbers_are_numbers_for_loader_and_schema(validator):
    text = "  - layernorm: {eps: 1e-5}\n  - batchnorm: {eps: .5e-3, momentum: 1.5e-1}\n"
    data = _spec(text)
    assert data["layers"][0]["layernorm"]["eps"] == 1e-5
    assert data["layers"][1]["batchnorm"]["eps"] == 0.5e-3
    assert validator.is_valid(data)
    # PyYAML alone (YAML 1.1) reads 1e-5 as a string: the schema would reject that reading
    naive = yaml.safe_load("graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n" + text)
    assert naive["layers"][0]["layernorm"]["eps"] == "1e-5"
    assert not validator.is_valid(naive)


def test_schema_lists_every_op_with_attributes_defaults_and_docs():
    from graphc.layers.base import LAYERS
    from graphc.ops import OPS

    schema = build_schema()
    defs = schema["$defs"]
    for name in list(LAYERS) + [k for k, v in OPS.items() if v.public]:
        assert f"op_{name}" in defs, name
    dense = defs["op_dense"]
    assert dense["required"] == ["units"] and dense["description"]
    assert dense["properties"]["bias"]["default"] is True
    assert defs["op_layernorm"]["properties"]["eps"]["default"] == 1e-5
    assert set(schema["properties"]) >= {"blocks", "models", "training"}
    assert "optimizer" in defs["training"]["properties"]


def test_cli_writes_the_schema(tmp_path):
    out = tmp_path / "graphc.schema.json"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "graphc", "schema", "-o", str(out)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text()) == build_schema()
