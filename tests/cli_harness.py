"""Run the graphc CLI as a user would: a subprocess with no stdin, a memory limit (as `ulimit -v`)
and a time limit; and the checks every bad-input case makes (exit 2, one located line, no trace)."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_LIMIT = 3 * 2 ** 30  # bytes of address space (ulimit -v)
TIME_LIMIT = 120  # seconds; a hang fails the test instead of stalling CI
LOCATED = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.+)$")


def _limit(memory: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


def env(**extra: str) -> dict:
    """The environment for a graphc subprocess: this tree first on PYTHONPATH."""
    result = dict(os.environ)
    result["PYTHONPATH"] = ROOT + os.pathsep + result.get("PYTHONPATH", "")
    result.update(extra)
    return result


def run_cli(args: list[str], cwd: str | None = None, memory: int = MEMORY_LIMIT, timeout: float = TIME_LIMIT,
            python: list[str] | None = None, environ: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m graphc ARGS` with no stdin, limited memory and time; text output captured."""
    command = (python or [sys.executable]) + ["-m", "graphc", *args]
    return subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limit(memory), env=environ or env())


def assert_user_error(r: subprocess.CompletedProcess, located: bool = True) -> str:
    """Exit status 2, exactly one stderr line (located `file:line:col: error: ...` unless told), no
    traceback; returns the line."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1, r.stderr[-2000:]
    if located:
        assert LOCATED.match(lines[0]), lines[0]
    return lines[0]
