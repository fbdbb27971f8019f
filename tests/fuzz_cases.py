"""Fuzz inputs and the property they must keep, shared by tests/test_fuzz.py (hypothesis, a fixed
budget) and bench/fuzz.py (long runs): whatever the input, a graphc command answers 0 or 2 (its own
SpecError / GraphcError), never 1 (an internal error) or an exception escaping `main`."""

from __future__ import annotations

import contextlib
import glob
import io
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(p for p in glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
TOKENS = ["graphc: 1", "name: m", "inputs:", "layers:", "- dense: {units: 3}", "in: [a, b]", "$p", "${", "&a", "*a",
          "<<: *a", "!!python/object:os.system", "[", "]", "{", "}", ":", "- ", "\t", "\n", "  ", "'", '"', "#", "---",
          "9223372036854775807", "-1", "0", "1e400", "nan", ".inf", "~", "null", "true", "\x00", "\ufeff", "é",
          "repeat: 1000000", "units: 1000000000000", "models:", "blocks:", "training:", "outputs: [x]"]
COMMANDS = (["check"], ["summary"], ["compile", "-o", "out.onnx"], ["viz", "-o", "out.dot"])


def mutate(text: str, ops: list[tuple[int, float, int]]) -> str:
    """Apply (kind, where in [0, 1), payload) edits: 0 delete a span, 1 insert a token, 2 duplicate a
    span, 3 swap two lines, 4 replace a character, 5 truncate."""
    for kind, where, payload in ops:
        i = int(where * len(text)) if text else 0
        if kind == 0:
            text = text[:i] + text[i + 1 + payload % 40:]
        elif kind == 1:
            text = text[:i] + TOKENS[payload % len(TOKENS)] + text[i:]
        elif kind == 2:
            text = text[:i] + text[i:i + 1 + payload % 60] * 2 + text[i + 1 + payload % 60:]
        elif kind == 3:
            lines = text.split("\n")
            if len(lines) > 1:
                a, b = i % len(lines), payload % len(lines)
                lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        elif kind == 4:
            text = text[:i] + chr(32 + payload % 95) + text[i + 1:]
        else:
            text = text[:i]
    return text


def random_ops(rng: random.Random) -> list[tuple[int, float, int]]:
    return [(rng.randrange(6), rng.random(), rng.randrange(1000)) for _ in range(rng.randint(1, 4))]


def mutate_bytes(data: bytes, ops: list[tuple[int, float, int]]) -> bytes:
    """Byte edits of a binary file: 0 flip a byte, 1 truncate, 2 delete a span, 3 insert bytes."""
    for kind, where, payload in ops:
        i = int(where * len(data)) if data else 0
        if kind % 4 == 0 and data:
            i = min(i, len(data) - 1)
            data = data[:i] + bytes([data[i] ^ (1 + payload % 255)]) + data[i + 1:]
        elif kind % 4 == 1:
            data = data[:i]
        elif kind % 4 == 2:
            data = data[:i] + data[i + 1 + payload % 64:]
        else:
            data = data[:i] + bytes([payload % 256]) * (1 + payload % 8) + data[i:]
    return data


def run_main(args: list[str], cwd: str) -> tuple[int, str]:
    """graphc.cli.main(args) in cwd, output captured: (status, stderr)."""
    from graphc.cli import main

    err, out = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                status = main(args)
            except SystemExit as e:  # argparse's usage errors
                status = e.code if isinstance(e.code, int) else 2
    finally:
        os.chdir(old)
    return status, err.getvalue()


def check_spec_text(text: str, folder: str, commands=COMMANDS) -> list[str]:
    """Failures (empty when fine) of every command on one spec text."""
    path = os.path.join(folder, "fuzz.yaml")
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(text)
    failures = []
    for command in commands:
        status, err = run_main([command[0], "fuzz.yaml", *command[1:]], folder)
        if status not in (0, 2) or "Traceback" in err or (status == 2 and len(err.strip().splitlines()) != 1):
            failures.append(f"{command[0]}: status {status}: {err.strip()[-1500:]}")
        if status == 2 and command[0] == "check":
            break  # the spec is bad: the other commands give the same error
    return failures


def check_onnx_bytes(data: bytes, folder: str) -> list[str]:
    path = os.path.join(folder, "fuzz.onnx")
    with open(path, "wb") as f:
        f.write(data)
    failures = []
    for command in (["summary"], ["viz", "-o", "out.dot"]):
        status, err = run_main([command[0], "fuzz.onnx", *command[1:]], folder)
        if status not in (0, 2) or "Traceback" in err:
            failures.append(f"{command[0]}: status {status}: {err.strip()[-1500:]}")
    return failures
