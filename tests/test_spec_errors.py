"""The bad-spec corpus: every file in tests/bad_specs/ fails `graphc check` cleanly.

Each file starts with `# expect: LINE:COL: fragment` (and optionally `# args: ...` with extra
command-line arguments). Through the CLI as a subprocess, it must exit with status 2 and print
exactly one line on stderr, `FILE:LINE:COL: error: ...` containing the fragment: no traceback.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

import graphc

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "bad_specs")
FILES = sorted(glob.glob(os.path.join(BAD, "*.yaml")))


def _header(path: str) -> tuple[int, int, str, list[str]]:
    with open(path, encoding="utf-8", errors="replace") as f:
        head = [f.readline().rstrip("\n") for _ in range(2)]
    args = [a for line in head if line.startswith("# args:") for a in line[len("# args:"):].split()]
    expect = next(line for line in head if line.startswith("# expect:"))
    m = re.match(r"# expect: (\d+):(\d+): (.+)$", expect)
    assert m, f"{path}: bad expect header {expect!r}"
    return int(m.group(1)), int(m.group(2)), m.group(3), args


def test_corpus_is_big_enough():
    assert len(FILES) >= 35


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f)[:-5] for f in FILES])
def test_bad_spec_cli(path):
    line, col, fragment, args = _header(path)
    name = os.path.basename(path)
    r = subprocess.run([sys.executable, "-m", "graphc", "check", name, *args], cwd=BAD,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr  # one line, no traceback
    assert "Traceback" not in r.stderr
    prefix = f"{name}:{line}:{col}: error: "
    assert lines[0].startswith(prefix), f"expected {prefix!r}, got {lines[0]!r}"
    assert fragment in lines[0], lines[0]
    assert r.stdout == ""


def test_contract_conv2d_message_exact():
    """The contract's example message, character for character."""
    path = os.path.join(BAD, "conv2d_on_flat.yaml")
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
    path = os.path.join(BAD, "set_unknown_param.yaml")
    with pytest.raises(graphc.SpecError, match="no parameter 'dropot'"):
        graphc.load(path, params={"dropot": 0.3})


def test_missing_file():
    r = subprocess.run([sys.executable, "-m", "graphc", "check", "no/such/spec.yaml"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "no such file" in r.stderr


def test_set_malformed():
    r = subprocess.run([sys.executable, "-m", "graphc", "check", "conv2d_on_flat.yaml", "--set", "novalue"],
                       cwd=BAD, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "--set takes key=value" in r.stderr
