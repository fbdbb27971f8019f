"""DOT -> svg/png/pdf/dot files (atomic) through the `graphviz` package, with a fallback to the
.dot file when the Graphviz `dot` program is missing."""

from __future__ import annotations

import os
import shutil
import subprocess

import graphviz

from graphc.errors import GraphcError
from graphc.util.atomic import write_bytes, write_text

FORMATS = ("svg", "png", "pdf", "dot")
ENGINE = "dot"
INSTALL_HINT = "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz)"
DOT_TIMEOUT_S = 300.0  # GRAPHC_DOT_TIMEOUT overrides (seconds)


def output_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext == "gv":
        return "dot"
    if ext not in FORMATS:
        raise GraphcError(f"cannot tell the format of {path}: use .svg, .png, .pdf or .dot")
    return ext


def dot_timeout() -> float:
    """Seconds `dot` may run: GRAPHC_DOT_TIMEOUT, else DOT_TIMEOUT_S."""
    raw = os.environ.get("GRAPHC_DOT_TIMEOUT", "")
    try:
        value = float(raw) if raw else DOT_TIMEOUT_S
    except ValueError:
        raise GraphcError(f"GRAPHC_DOT_TIMEOUT={raw!r} is not a number of seconds; set it to e.g. 600") from None
    if value <= 0:
        raise GraphcError(f"GRAPHC_DOT_TIMEOUT={raw!r} must be positive; set it to e.g. 600")
    return value


def run_dot(source: str, fmt: str) -> bytes:
    """The `dot -T<fmt>` output of `source`; graphviz.ExecutableNotFound without Graphviz
    (GRAPHC_NO_DOT=1 pretends it is missing), GraphcError when dot rejects the source or runs
    past dot_timeout() (the graphviz package's pipe() has no timeout, so dot runs here)."""
    exe = None if os.environ.get("GRAPHC_NO_DOT") else shutil.which(ENGINE)
    if exe is None:
        raise graphviz.ExecutableNotFound([ENGINE])
    limit = dot_timeout()
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                              timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise GraphcError(f"dot ran past {limit:g} s; draw less (--depth 1, or no --expand), write .dot "
                          f"and render it yourself, or raise GRAPHC_DOT_TIMEOUT") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        raise GraphcError(f"dot failed: {detail[:500]}")
    return done.stdout


def render(source: str, path: str) -> tuple[str, str | None]:
    """Write `source` to `path` in the format its extension names.

    Returns (the path written, a message or None). Without Graphviz the DOT source goes to
    `<path minus extension>.dot` and the message says how to install it.
    """
    fmt = output_format(path)
    if fmt == "dot":
        write_text(path, source)
        return path, None
    try:
        data = run_dot(source, fmt)
    except graphviz.ExecutableNotFound:
        dot_path = os.path.splitext(path)[0] + ".dot"
        write_text(dot_path, source)
        return dot_path, (f"Graphviz 'dot' not found: wrote {dot_path}; {INSTALL_HINT}, "
                          f"then: dot -T{fmt} {dot_path} -o {path}")
    write_bytes(path, data)
    return path, None


def svg_text(source: str) -> str | None:
    """The SVG of `source` as text, or None without Graphviz (for notebooks)."""
    try:
        return run_dot(source, "svg").decode("utf-8")
    except graphviz.ExecutableNotFound:
        return None
