"""The bad-input corpus: every file in tests/bad_specs/<kind>/ fails cleanly, as a user sees it.

Kinds: yaml, schema, reference, shape, training, numeric, models. Each file starts with
`# expect: LINE:COL: MESSAGE` (the exact message after `error: `: what is wrong and, where it
helps, what would fix it), optionally `# args: ...` (extra arguments) and `# command: train`
(default: check). Through the CLI as a subprocess (no stdin, memory and time limits) it must exit
with status 2 and print exactly that one line on stderr, `FILE:LINE:COL: error: MESSAGE`.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

import graphc
from cli_harness import assert_user_error, run_cli

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "bad_specs")
KINDS = ("yaml", "schema", "reference", "shape", "training", "numeric", "models")
FILES = sorted(glob.glob(os.path.join(BAD, "*", "*.yaml")))


def _header(path: str) -> tuple[int, int, str, list[str], str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        head = [f.readline().rstrip("\n") for _ in range(3)]
    args = [a for line in head if line.startswith("# args:") for a in line[len("# args:"):].split()]
    command = next((line[len("# command:"):].strip() for line in head if line.startswith("# command:")), "check")
    expect = next(line for line in head if line.startswith("# expect:"))
    m = re.match(r"# expect: (\d+):(\d+): (.+)$", expect)
    assert m, f"{path}: bad expect header {expect!r}"
    return int(m.group(1)), int(m.group(2)), m.group(3), args, command


def test_corpus_is_big_enough():
    counts = {kind: len(glob.glob(os.path.join(BAD, kind, "*.yaml"))) for kind in KINDS}
    assert sum(counts.values()) == len(FILES) >= 150, counts
    assert all(n >= 10 for n in counts.values()), counts


@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(f, BAD)[:-5] for f in FILES])
def test_bad_spec_cli(path, tmp_path):
    line, col, message, args, command = _header(path)
    name = os.path.basename(path)
    extra = ["--out", str(tmp_path / "run"), "--quiet", "--epochs", "1"] if command == "train" else []
    r = run_cli([command, name, *args, *extra], cwd=os.path.dirname(path), timeout=120)
    got = assert_user_error(r)  # exit 2, one located line, no traceback
    assert got == f"{name}:{line}:{col}: error: {message}"
    assert r.stdout == ""


def test_contract_conv2d_message_exact():
    """The contract's example message, character for character."""
    path = os.path.join(BAD, "shape", "conv2d_on_flat.yaml")
    with pytest.raises(graphc.SpecError) as info:
        graphc.load(path)
    e = info.value
    assert str(e) == (f"{path}:6:5: error: conv2d_1: input x has shape [N, 784], conv2d needs [N, C, H, W] "
                      "(add a reshape layer before it?)")
    assert (e.loc.line, e.loc.col) == (6, 5)


def test_python_api_raises_spec_error_with_location():
    with pytest.raises(graphc.SpecError) as info:
        graphc.loads("graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n  - dense: {unit: 3}\n", file="s.yaml")
    assert info.value.loc.file == "s.yaml" and (info.value.loc.line, info.value.loc.col) == (5, 13)
    assert "did you mean 'units'?" in str(info.value)


def test_set_unknown_param_python_api():
    path = os.path.join(BAD, "schema", "set_unknown_param.yaml")
    with pytest.raises(graphc.SpecError, match="no parameter 'dropot'"):
        graphc.load(path, params={"dropot": 0.3})


def test_missing_file():
    r = subprocess.run([sys.executable, "-m", "graphc", "check", "no/such/spec.yaml"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "no such file" in r.stderr


def test_set_malformed():
    r = subprocess.run([sys.executable, "-m", "graphc", "check", "conv2d_on_flat.yaml", "--set", "novalue"],
                       cwd=os.path.join(BAD, "shape"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "--set takes key=value" in r.stderr
