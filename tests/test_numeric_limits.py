"""Sizes that cannot exist or do not fit: refused before anything is allocated, with the size the
model would need (run as a user would: subprocess, memory limit, no stdin)."""

from __future__ import annotations

import re

import pytest
from cli_harness import assert_user_error, run_cli

HEAD = "graphc: 1\nname: m\n"
INT64_MAX = 2 ** 63 - 1


def _spec(tmp_path, text: str) -> str:
    (tmp_path / "spec.yaml").write_text(HEAD + text)
    return "spec.yaml"


@pytest.mark.parametrize("command", ["check", "compile", "summary", "viz", "grad"])
def test_dim_near_2_63_then_flatten(tmp_path, command):
    _spec(tmp_path, f"inputs: {{x: [N, {INT64_MAX}, {INT64_MAX}]}}\nlayers:\n  - flatten:\n")
    line = assert_user_error(run_cli([command, "spec.yaml"], cwd=tmp_path))
    assert line.startswith("spec.yaml:3:13: error: input x would have 8.507e+37 elements, more than int64"), line


def test_flatten_product_overflows(tmp_path):
    """Each dim fits int64 on its own; flatten's product of the two does not."""
    _spec(tmp_path, "inputs: {x: [N, 4294967296]}\nlayers:\n  - reshape: {shape: [0, 65536, 65536]}\n"
          "  - transpose: {perm: [0, 2, 1]}\n")
    r = run_cli(["check", "spec.yaml"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # 2^32 elements per row: fine (nothing is allocated)
    _spec(tmp_path, f"inputs: {{x: [N, {2 ** 62}]}}\nlayers:\n  - reshape: {{shape: [0, {2 ** 31}, {2 ** 31}, 2]}}\n"
          f"  - flatten:\n  - reshape: {{shape: [{2 ** 62}, {2 ** 62}]}}\n")
    line = assert_user_error(run_cli(["check", "spec.yaml"], cwd=tmp_path))
    assert "more than int64" in line or "reshape" in line, line


def test_dim_over_int64(tmp_path):
    _spec(tmp_path, f"inputs: {{x: [N, {2 ** 63}]}}\nlayers:\n  - relu:\n")
    line = assert_user_error(run_cli(["check", "spec.yaml"], cwd=tmp_path))
    assert line == ("spec.yaml:3:13: error: input x has a dim of 9.223e+18, more than int64 can hold (2^63-1) "
                    "(use a dim of at most 2^63-1)")


def test_billion_unit_dense_refused_with_size(tmp_path):
    """10^9 units on 4 features: 5e9 values (18.6 GiB), refused under a 3 GiB ulimit."""
    _spec(tmp_path, "inputs: {x: [N, 4]}\nlayers:\n  - dense: {units: 1000000000}\n")
    for command in ("check", "compile", "summary", "train"):
        line = assert_user_error(run_cli([command, "spec.yaml"], cwd=tmp_path))
        assert line.startswith("spec.yaml:5:5: error: dense_1: the model's parameters need "), line
        assert "(5,000,000,000 values, 18.6 GiB; dense_1.weight [1000000000, 4] alone is 14.9 GiB)" in line, line
        assert "more than the memory ulimit -v leaves" in line and "--max-memory" in line


def test_parameter_count_beyond_memory_totals_whole_model(tmp_path):
    """Many layers each fine alone: the error gives the whole model's total, not the first layer's."""
    layers = "".join("  - dense: {units: 8192}\n" for _ in range(40))
    _spec(tmp_path, "inputs: {x: [N, 8192]}\nlayers:\n" + layers)
    line = assert_user_error(run_cli(["check", "spec.yaml", "--max-memory", "1GB"], cwd=tmp_path, timeout=300))
    values = 40 * (8192 * 8192 + 8192)
    assert f"({values:,} values, {values * 4 / 2 ** 30:.1f} GiB;" in line, line
    assert "more than the --max-memory limit (953.7 MiB)" in line


def test_max_memory_override(tmp_path):
    """The same spec passes with a higher limit and fails with a lower one."""
    _spec(tmp_path, "inputs: {x: [N, 1000]}\nlayers:\n  - dense: {units: 1000}\n")
    assert run_cli(["check", "spec.yaml", "--max-memory", "64MB"], cwd=tmp_path).returncode == 0
    line = assert_user_error(run_cli(["check", "spec.yaml", "--max-memory", "10MB"], cwd=tmp_path))
    assert "more than the --max-memory limit (9.5 MiB)" in line
    env_run = run_cli(["check", "spec.yaml"], cwd=tmp_path,
                      environ={**__import__("cli_harness").env(), "GRAPHC_MAX_MEMORY": "1MB"})
    assert "more than the GRAPHC_MAX_MEMORY limit" in assert_user_error(env_run)


def test_max_memory_bad_value(tmp_path):
    _spec(tmp_path, "inputs: {x: [N, 4]}\nlayers:\n  - relu:\n")
    r = run_cli(["check", "spec.yaml", "--max-memory", "lots"], cwd=tmp_path)
    assert assert_user_error(r, located=False) == ("error: --max-memory: cannot read the size 'lots' "
                                                   "(write it like 8GB, 512MiB or 2e9)")


def test_parse_size():
    from graphc.limits import parse_size

    assert parse_size("8GB") == 8 * 10 ** 9 and parse_size("512MiB") == 512 * 2 ** 20
    assert parse_size("2e9") == 2 * 10 ** 9 and parse_size("1.5k") == 1500


def test_python_api_limit():
    import graphc
    from graphc.limits import set_max_memory

    set_max_memory("1MB")
    try:
        with pytest.raises(graphc.SpecError, match=re.escape("more than the --max-memory limit")):
            graphc.loads(HEAD + "inputs: {x: [N, 1000]}\nlayers:\n  - dense: {units: 1000}\n")
    finally:
        set_max_memory(None)
    assert graphc.loads(HEAD + "inputs: {x: [N, 1000]}\nlayers:\n  - dense: {units: 1000}\n").graph.param_count() \
        == 1000 * 1000 + 1000


def test_training_state_checked_before_allocation(tmp_path):
    """Parameters fit (36 KiB) but the training state (two copies of parameters and Adam's slots) does not."""
    import os

    from cli_harness import ROOT

    spec = os.path.join(ROOT, "specs", "train_mlp_digits.yaml")
    r = run_cli(["train", spec, "--out", str(tmp_path / "run"), "--quiet", "--max-memory", "200KB"])
    line = assert_user_error(r, located=False)
    assert line.startswith("error: the training state (parameters and optimizer slots, two copies) needs "), line
    assert not (tmp_path / "run" / "checkpoint").exists()
