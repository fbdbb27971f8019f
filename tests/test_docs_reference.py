"""The user docs stay in step with the code: generated reference tables, every CLI flag."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from graphc.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_spec_language_reference_is_up_to_date():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "gen_reference.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + "\n(run: python docs/gen_reference.py)"


def test_reference_lists_every_layer_and_public_op():
    from graphc.layers import LAYERS
    from graphc.ops import OPS

    with open(os.path.join(ROOT, "docs", "spec-language.md"), encoding="utf-8") as f:
        text = f.read()
    for name in LAYERS:
        assert f"#### `{name}`" in text
    for name, d in OPS.items():
        if d.public and name not in LAYERS:
            assert f"| `{name}` |" in text


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_cli_doc_has_every_command_and_flag(command):
    with open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8") as f:
        text = f.read()
    assert f"## `graphc {command}`" in text
    section = text.split(f"## `graphc {command}`", 1)[1].split("\n## ", 1)[0]
    common = text.split("## Options of every command", 1)[1].split("\n## ", 1)[0]
    for action in _subparsers()[command]._actions:
        for flag in action.option_strings:
            assert f"`{flag}" in section or f"`{flag}" in common or f" {flag} " in section, \
                f"docs/cli.md: graphc {command} {flag} is not documented"
        if action.choices and action.option_strings:
            for choice in action.choices:
                assert str(choice) in section, f"docs/cli.md: graphc {command} {action.option_strings[0]} {choice}"
