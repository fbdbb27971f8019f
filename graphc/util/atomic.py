"""Atomic file output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

from graphc.errors import SpecError


def write_fix(e: OSError) -> str:
    """What to do about a failed write, from its errno (the SpecError hint)."""
    if e.errno in (errno.EACCES, errno.EPERM):
        return "give a folder you can write (--out, -o), or change this folder's permissions"
    if e.errno == errno.EROFS:
        return "give a folder on a writable file system (--out, -o)"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some disk space, or give a folder on another disk (--out, -o)"
    return "give another folder (--out, -o)"


@contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path; on success it replaces `path` in one step, on failure it is removed.
    A failed write (full disk, read-only folder) leaves the previous `path` as it was and is one
    SpecError line."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SpecError(f"cannot write {path}: the folder {directory} does not exist",
                        hint="create the folder first, or give a path in an existing one")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix or ".tmp", dir=directory)
    except OSError as e:
        kept = " (the previous file is kept)" if os.path.exists(path) else ""
        raise SpecError(f"cannot write {path}: {e.strerror or e}{kept}", hint=write_fix(e)) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the permissions a plain open() would
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        kept = " (the previous file is kept)" if os.path.exists(path) else ""
        raise SpecError(f"cannot write {path}: {e.strerror or e}{kept}", hint=write_fix(e)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
