"""The bad-input corpus: every file in tests/bad_specs/<kind>/ fails cleanly, as a user sees it.

Kinds: yaml, schema, reference, shape, training, numeric, models. Each file starts with
`# expect: LINE:COL: MESSAGE` (the exact message after `error: `: what is wrong and, where it
helps, what would fix it), optionally `# args: ...` (extra arguments) and `# command: train`
(default: check). Through the CLI as a subprocess (no stdin, memory and time limits) it must exit
with status 2 and print exactly that one line on stderr, `FILE:LINE:COL: error: MESSAGE`.

The fix convention (docs/spec-language.md, "Errors"): every corpus message says what would fix
it. It ends with one parenthesized part, the error's hint, and that part starts with a
did-you-mean or with what to do: one of FIX_STARTS (`(did you mean 'dense'?)`, `(add a reshape
layer before it?)`, `(use one of: l1, l2)`, `(remove the second 'r')`, ...). Each case's
LINE:COL must lie inside its file. `test_fix_convention_can_fail` shows the check rejecting
messages without a fix.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

import graphc
from cli_harness import LOCATED, assert_user_error, run_cli

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


FIX_STARTS = ("did you mean", "add", "remove", "use", "give", "write", "rename", "declare", "define", "move",
              "raise", "split", "save", "replace", "close", "put", "make", "change", "indent", "list", "read",
              "merge")


def fix_part(message: str) -> str | None:
    """The message's last parenthesized part (parentheses balanced), or None when it does not end with one."""
    depth = 0
    for i in range(len(message) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(message[i], 0)
        if depth == 0:
            return message[i + 1:-1] if message[i] == "(" and message.endswith(")") else None
    return None


def convention_problems(name: str, line: int, col: int, message: str, text: str) -> list[str]:
    """What is wrong with one corpus message under the convention (empty: nothing)."""
    problems = []
    full = f"{name}:{line}:{col}: error: {message}"
    if not LOCATED.match(full):
        problems.append("not FILE:LINE:COL: error: MESSAGE")
    lines = text.split("\n")
    if not 1 <= line <= len(lines) or not 1 <= col <= len(lines[line - 1]) + 1:
        problems.append(f"{line}:{col} is outside the file")
    fix = fix_part(message)
    if fix is None:
        problems.append("no (fix) at the end")
    elif not any(fix.startswith(word + " ") for word in FIX_STARTS):
        problems.append(f"the fix '({fix})' starts with none of FIX_STARTS")
    return problems


@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(f, BAD)[:-5] for f in FILES])
def test_message_says_what_would_fix_it(path):
    line, col, message, _, _ = _header(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert convention_problems(os.path.basename(path), line, col, message, text) == []


def test_fix_convention_can_fail():
    """The check rejects a message with no fix, a hint that is no fix, and a location off the file."""
    text = "graphc: 1\nname: m\n"
    assert convention_problems("s.yaml", 2, 1, "model gen uses itself", text) == ["no (fix) at the end"]
    assert convention_problems("s.yaml", 1, 1, "unknown name 'x' in in: (known here: p)", text) == [
        "the fix '(known here: p)' starts with none of FIX_STARTS"]
    assert convention_problems("s.yaml", 9, 1, "duplicate key 'a' (remove one of them)", text) == [
        "9:1 is outside the file"]
    assert convention_problems("s.yaml", 2, 1, "bad (use (nested) parts) (remove it)", text) == []
    assert fix_part("a (b (c) d)") == "b (c) d" and fix_part("a (b) c") is None and fix_part("a b)") is None


_TOKEN = re.compile(r"\$?[A-Za-z0-9_.-]+|'[^']*'")
_SUGGESTED = re.compile(r"^(?:did you mean|rename it, like) '([^']+)'\??$")


def _apply_suggestion(path: str) -> tuple[str, str, str] | None:
    """(fixed text, old token, new token) when the case's fix is a did-you-mean or a rename of the
    token written at its LINE:COL, else None."""
    line, col, message, args, command = _header(path)
    m = _SUGGESTED.match(fix_part(message) or "")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    token = _TOKEN.match(lines[line - 1][col - 1:]) if m and command == "check" and not args else None
    if token is None or f"'{token.group(0).strip(chr(39)).lstrip('$')}'" not in message.replace("$", "'", 1) \
            and f"'{token.group(0).strip(chr(39))}'" not in message and f"got {token.group(0)}" not in message:
        return None
    new = ("$" if token.group(0).startswith("$") else "") + m.group(1)
    lines[line - 1] = lines[line - 1][:col - 1] + new + lines[line - 1][col - 1 + len(token.group(0)):]
    return "\n".join(lines), token.group(0), new


SUGGESTING = [f for f in FILES if _apply_suggestion(f) is not None]


@pytest.mark.parametrize("path", SUGGESTING, ids=[os.path.relpath(f, BAD)[:-5] for f in SUGGESTING])
def test_suggested_fix_fixes_it(path):
    """An oracle for the fixes that name a replacement: writing it in place of the token at LINE:COL
    leaves no error at that place (the spec checks, or fails elsewhere for another reason)."""
    line, col, _, _, _ = _header(path)
    fixed, old, new = _apply_suggestion(path)
    try:
        graphc.loads(fixed, file=os.path.basename(path))
    except graphc.SpecError as e:
        assert (e.loc.line, e.loc.col) != (line, col), (old, new, str(e))


def test_suggestions_are_checked():
    assert len(SUGGESTING) >= 20, [os.path.relpath(f, BAD) for f in SUGGESTING]


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
