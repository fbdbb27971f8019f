"""DOT -> svg/png/pdf/dot files (atomic), with a fallback to the .dot file when Graphviz is missing."""

from __future__ import annotations

import os
import shutil
import subprocess

from graphc.errors import GraphcError
from graphc.util.atomic import atomic_path, write_text

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz)"


def output_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext == "gv":
        return "dot"
    if ext not in FORMATS:
        raise GraphcError(f"cannot tell the format of {path}: use .svg, .png, .pdf or .dot")
    return ext


def dot_program() -> str | None:
    """The Graphviz `dot` executable, or None (GRAPHC_NO_DOT=1 pretends it is missing)."""
    if os.environ.get("GRAPHC_NO_DOT"):
        return None
    return shutil.which("dot")


def run_dot(source: str, fmt: str, out_path: str | None = None, timeout: float = 600) -> bytes:
    """Run `dot -T<fmt>`; writes to out_path when given, else returns the bytes."""
    exe = dot_program()
    if exe is None:
        raise GraphcError(f"the Graphviz program 'dot' is not installed: {INSTALL_HINT}")
    cmd = [exe, f"-T{fmt}"] + (["-o", out_path] if out_path else [])
    try:
        proc = subprocess.run(cmd, input=source.encode("utf-8"), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GraphcError(f"dot took more than {timeout:g} s to lay this graph out: draw less of it "
                          "(without --expand, with --depth, or --level layer)") from None
    if proc.returncode != 0:
        raise GraphcError(f"dot failed: {proc.stderr.decode(errors='replace').strip()[:500]}")
    return proc.stdout


def render(source: str, path: str) -> tuple[str, str | None]:
    """Write `source` to `path` in the format its extension names.

    Returns (the path written, a message or None). Without Graphviz the DOT source goes to
    `<path minus extension>.dot` and the message says how to install it.
    """
    fmt = output_format(path)
    if fmt == "dot":
        write_text(path, source)
        return path, None
    if dot_program() is None:
        dot_path = os.path.splitext(path)[0] + ".dot"
        write_text(dot_path, source)
        return dot_path, (f"Graphviz 'dot' not found: wrote {dot_path}; {INSTALL_HINT}, "
                          f"then: dot -T{fmt} {dot_path} -o {path}")
    with atomic_path(path, suffix=f".{fmt}") as tmp:
        run_dot(source, fmt, tmp)
    return path, None


def svg_text(source: str) -> str | None:
    """The SVG of `source` as text, or None without Graphviz (for notebooks)."""
    if dot_program() is None:
        return None
    return run_dot(source, "svg").decode("utf-8")
