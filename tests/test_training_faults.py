"""Faults during `graphc train`, on real subprocesses: SIGINT/SIGTERM (one line, exit 130/143,
checkpoint kept, --resume byte-identical), a NaN loss (exit 2, epoch and step named, last good
checkpoint kept), damaged checkpoints (checksum; --resume falls back to the previous one), and
write failures (previous files intact, one line)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from cli_harness import assert_user_error, env, run_cli

SMALL = """graphc: 1
name: small
inputs:
  x: [N, 64]
  label: {shape: [N], dtype: int64}
layers:
  - dense: {units: 16, activation: relu}
  - dropout: {rate: 0.2}
  - dense: {units: 10, name: logits}
training:
  data: {dataset: digits, test_split: 0.2}
  validation: {split: 0.2}
  loss: {cross_entropy: {logits: logits, target: label}}
  optimizer: {adam: {lr: 0.01}}
  batch_size: 50
  epochs: EPOCHS
  metrics: [accuracy]
  early_stopping: {monitor: val_loss, patience: 10}
"""


def _spec(tmp_path, epochs: int = 5, lr: str = "0.01", name: str = "small.yaml") -> str:
    path = tmp_path / name
    path.write_text(SMALL.replace("EPOCHS", str(epochs)).replace("lr: 0.01", f"lr: {lr}"))
    return str(path)


def _train(spec: str, out, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return run_cli(["train", spec, "--quiet", "--out", str(out), *extra], timeout=timeout)


def _weights(path) -> dict[str, bytes]:
    with np.load(path) as f:
        return {k: f[k].tobytes() for k in f.files}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The uninterrupted run every interrupted one is compared with."""
    tmp = tmp_path_factory.mktemp("full")
    spec = _spec(tmp)
    r = _train(spec, tmp / "run")
    assert r.returncode == 0, r.stderr
    return tmp / "run"


def _history_len(out) -> int:
    try:
        return len(json.loads((out / "history.json").read_text()))
    except (OSError, ValueError):
        return 0


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_and_resume_is_identical(tmp_path, full_run, sig, status):
    spec = _spec(tmp_path)
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "graphc", "train", spec, "--quiet", "--out", str(out)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    deadline = time.time() + 300
    while _history_len(out) < 2 and p.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=300)
    if p.returncode == 0:
        pytest.skip("the run finished before the signal arrived (a very fast machine)")
    assert p.returncode == status, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"graphc train: stopped by {signal.Signals(sig).name}: the last complete checkpoint "
                               f"(epoch "), lines[0]
    assert "continue with --resume" in lines[0]
    assert not (out / "weights.npz").exists()
    assert not [f for f in os.listdir(out / "checkpoint") if f.startswith(".")]  # no temp files left
    r = _train(spec, out, "--resume")
    assert r.returncode == 0, r.stderr
    assert _weights(out / "weights.npz") == _weights(full_run / "weights.npz")
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]
    assert strip(json.loads((out / "history.json").read_text())) == \
        strip(json.loads((full_run / "history.json").read_text()))


def test_nan_loss_stops_with_epoch_and_step(tmp_path):
    """SGD at lr 1e12: the loss overflows in the first epoch. A run resumed from a good epoch-1
    checkpoint with the huge rate keeps that checkpoint."""
    spec = _spec(tmp_path, epochs=1)
    out = tmp_path / "run"
    assert _train(spec, out).returncode == 0
    before = (out / "checkpoint" / "checkpoint.npz").read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("EPOCHS", "3").replace("adam: {lr: 0.01}", "sgd: {lr: 1.0e12}"))
    r = _train(str(bad), out, "--resume")
    line = assert_user_error(r)
    assert line.startswith(f"{bad}:14:14: error: training stopped: the loss is "), line
    assert "at epoch 2, batch" in line and "(step " in line
    assert f"the last good checkpoint (epoch 1, with the best weights so far) is kept in {out}/checkpoint" in line
    assert (out / "checkpoint" / "checkpoint.npz").read_bytes() == before
    fresh = _train(str(bad), tmp_path / "fresh")
    line = assert_user_error(fresh)
    assert "at epoch 1, batch " in line and "no epoch had finished" in line


def _two_epochs(tmp_path):
    spec = _spec(tmp_path, epochs=2)
    out = tmp_path / "run"
    assert _train(spec, out).returncode == 0
    return spec, out


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "tampered", "garbage"])
def test_damaged_checkpoint_falls_back_to_previous(tmp_path, damage):
    spec, out = _two_epochs(tmp_path)
    ckpt = out / "checkpoint" / "checkpoint.npz"
    prev = out / "checkpoint" / "checkpoint.prev.npz"
    assert json.loads(bytes(np.load(prev)["__meta__"]))["epoch"] == 1
    data = bytearray(ckpt.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip_byte":  # one zip byte: the zip CRC reports it
        data[len(data) // 3] ^= 0xFF
    elif damage == "tampered":  # a valid zip whose array changed: only the checksum can tell
        with np.load(ckpt) as f:
            payload = {k: f[k].copy() for k in f.files}
        name = next(k for k in sorted(payload) if k.startswith("param."))
        payload[name].flat[0] += 1
        with open(ckpt, "wb") as f:
            np.savez(f, **payload)
        data = bytearray(ckpt.read_bytes())
    else:
        data = bytearray(b"\x00garbage" * 100)
    ckpt.write_bytes(bytes(data))
    r = _train(spec, out, "--resume", "--epochs", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {ckpt}: "), r.stderr
    assert "resuming from the previous checkpoint (epoch 1)" in lines[0]
    assert ("checksum does not match" in lines[0]) == (damage == "tampered")
    assert [e["epoch"] for e in json.loads((out / "history.json").read_text())] == [1, 2, 3]


def test_both_checkpoints_damaged(tmp_path):
    spec, out = _two_epochs(tmp_path)
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        (out / "checkpoint" / name).write_bytes(b"PK\x03\x04 not really")
    line = assert_user_error(_train(spec, out, "--resume"), located=False)
    assert line.startswith(f"error: --resume: {out}/checkpoint/checkpoint.npz: it cannot be read"), line


# Injected write failures: a wrapper process makes writes fail as a full disk would, on the
# run's Nth atomic rename, then runs the real CLI.
FAIL_ON_NTH_REPLACE = """
import errno, os, sys
real, count, nth = os.replace, [0], int(sys.argv[1])
def replace(src, dst, *a, **k):
    count[0] += 1
    if count[0] >= nth:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
    return real(src, dst, *a, **k)
os.replace = replace
sys.argv = ["graphc"] + sys.argv[4:]  # after: -c N -m graphc
from graphc.cli import entry
entry()
"""


@pytest.mark.parametrize("nth", [1, 3, 4])
def test_full_disk_keeps_previous_files(tmp_path, nth):
    spec, out = _two_epochs(tmp_path)
    before = {p: (out / p).read_bytes() for p in ("checkpoint/checkpoint.npz", "checkpoint/checkpoint.prev.npz",
                                                   "history.json", "weights.npz", "model.onnx")}
    r = run_cli(["train", spec, "--quiet", "--out", str(out), "--resume", "--epochs", "4"],
                python=[sys.executable, "-c", FAIL_ON_NTH_REPLACE, str(nth)])
    line = assert_user_error(r, located=False)
    assert line.startswith(f"error: cannot write {out}/") and "No space left on device" in line, line
    assert "(the previous file is kept)" in line
    arrays_ok = np.load(out / "checkpoint" / "checkpoint.npz")  # still a readable checkpoint
    assert json.loads(bytes(arrays_ok["__meta__"]))["epoch"] >= 2
    for p in ("weights.npz", "model.onnx"):
        assert (out / p).read_bytes() == before[p]
    assert not [f for d in (out, out / "checkpoint") for f in os.listdir(d) if f.startswith(".")]


def test_write_failure_in_process(tmp_path, monkeypatch):
    """The same through the Python API: the failing write is a SpecError, the old file stays."""
    import errno

    import graphc
    from graphc.util import atomic

    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    model = graphc.loads("graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n  - relu:\n")

    def fail(src, dst):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), dst)

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(graphc.SpecError, match="Read-only file system \\(the previous file is kept\\)"):
        model.export(str(path))
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


def test_unwritable_run_folder(tmp_path):
    """A run folder under a regular file cannot be created: one line, exit 2."""
    (tmp_path / "file").write_text("x")
    spec = _spec(tmp_path, epochs=1)
    line = assert_user_error(_train(spec, tmp_path / "file" / "run"), located=False)
    assert line.startswith("error: cannot create the run folder") and "Not a directory" in line


# A read-only output folder, for real: the CLI runs as the unprivileged uid 65534 (nobody), which
# cannot write a root-owned folder. Needs root to switch users. When uid 65534 can start this
# Python itself, the switch happens before exec (preexec_fn); when it cannot (the interpreter
# lives under a private home, as with pyenv as root), a wrapper imports graphc and runs one warm-up
# command as root (so every lazily imported module is loaded), then drops to uid 65534 and runs
# the real command: the write still meets the kernel's permission check.
NOBODY = 65534
DROP_AFTER_WARM_UP = """
import contextlib, io, json, os, sys
warm, argv = json.loads(sys.argv[1]), sys.argv[4:]  # after: -c WARM -m graphc
from graphc.cli import entry, main
with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    assert main(warm) == 0, "the warm-up command failed"
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
sys.argv = ["graphc"] + argv
entry()
"""


def _drop_privileges() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _as_nobody(args: list[str], warm: list[str], cwd: str) -> subprocess.CompletedProcess:
    """`graphc ARGS` as uid 65534: switched before exec when it can run this Python, else after a warm-up."""
    try:
        direct = subprocess.run([sys.executable, "-c", "import graphc, numpy, onnx"], cwd=cwd, capture_output=True,
                                env=env(), preexec_fn=_drop_privileges, stdin=subprocess.DEVNULL,
                                timeout=120).returncode == 0
    except OSError:  # uid 65534 cannot even start the interpreter
        direct = False
    if direct:
        command = [sys.executable, "-m", "graphc", *args]
        return subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=600, preexec_fn=_drop_privileges, env=env())
    return run_cli(args, cwd=cwd, python=[sys.executable, "-c", DROP_AFTER_WARM_UP, json.dumps(warm)])


@pytest.fixture
def shared_tmp():
    """A folder every user can read (pytest's own tmp folders are private to root)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root, to run graphc as the unprivileged uid 65534")
    base = tempfile.mkdtemp(prefix="graphc-readonly-")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _tree(folder: str) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files}


def _read_only_for_nobody(folder: str) -> None:
    """Root-owned, readable by all, writable by root only."""
    for d, dirs, files in os.walk(folder):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)


def test_read_only_output_folder_compile(shared_tmp):
    """`graphc compile -o` as nobody: into a folder it cannot write, and over a previous model there."""
    spec = os.path.join(shared_tmp, "m.yaml")
    with open(spec, "w") as f:
        f.write("graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n  - dense: {units: 3}\n")
    ro = os.path.join(shared_tmp, "ro")
    os.mkdir(ro)
    assert run_cli(["compile", spec, "-o", os.path.join(ro, "model.onnx")]).returncode == 0  # the previous, as root
    _read_only_for_nobody(shared_tmp)
    before = _tree(ro)
    warm = ["compile", spec, "-o", os.path.join(shared_tmp, "warm.onnx")]
    for target in (os.path.join(ro, "new.onnx"), os.path.join(ro, "model.onnx")):
        r = _as_nobody(["compile", spec, "-o", target], warm, shared_tmp)
        line = assert_user_error(r, located=False)
        kept = " (the previous file is kept)" if target.endswith("model.onnx") else ""
        assert line == (f"error: cannot write {target}: Permission denied{kept} (give a folder you can write "
                        "(--out, -o), or change this folder's permissions)"), line
        assert _tree(ro) == before  # the previous model intact, no temporary file left


@pytest.mark.slow
def test_read_only_output_folder_train(shared_tmp):
    """`graphc train` as nobody: a run folder it cannot create, and a previous run it cannot overwrite.
    (Its data is an .npz in the shared folder: uid 65534 may not read scikit-learn's bundled files.)"""
    rng = np.random.default_rng(0)
    np.savez(os.path.join(shared_tmp, "data.npz"), x=rng.normal(size=(120, 64)).astype(np.float32),
             label=rng.integers(0, 10, size=120).astype(np.int64))
    spec = _spec(pathlib.Path(shared_tmp), epochs=1)
    with open(spec) as f:
        text = f.read().replace("data: {dataset: digits, test_split: 0.2}", "data: {npz: data.npz}")
    with open(spec, "w") as f:
        f.write(text)
    previous = os.path.join(shared_tmp, "previous")
    assert _train(spec, previous).returncode == 0  # a good run, as root
    _read_only_for_nobody(shared_tmp)
    before = _tree(previous)
    assert {"model.onnx", "weights.npz", "history.json"} <= set(before)
    warm = ["train", spec, "--quiet", "--out", os.path.join(shared_tmp, "warm")]
    new = os.path.join(shared_tmp, "previous", "new_run")
    r = _as_nobody(["train", spec, "--quiet", "--out", new], warm, shared_tmp)
    line = assert_user_error(r, located=False)
    assert line == (f"error: cannot create the run folder {new}: Permission denied (give a folder you can write "
                    "(--out, -o), or change this folder's permissions)"), line
    r = _as_nobody(["train", spec, "--quiet", "--out", previous], warm, shared_tmp)
    line = assert_user_error(r, located=False)
    assert line.startswith(f"error: cannot write {previous}/") and "Permission denied" in line, line
    assert line.endswith("(give a folder you can write (--out, -o), or change this folder's permissions)"), line
    assert _tree(previous) == before  # every previous file intact, no temporary file left


def test_unreadable_bundled_data_is_one_error(monkeypatch):
    """scikit-learn's data file unreadable (found running as nobody): a SpecError naming it, no traceback."""
    import sklearn.datasets

    from graphc.errors import SpecError
    from graphc.training import data

    def denied():
        raise PermissionError(13, "Permission denied", "/site-packages/sklearn/datasets/data/digits.csv.gz")

    monkeypatch.setattr(sklearn.datasets, "load_digits", denied)
    with pytest.raises(SpecError) as info:
        data._sklearn("digits")
    assert info.value.message == ("cannot read the bundled data set 'digits': Permission denied: "
                                  "/site-packages/sklearn/datasets/data/digits.csv.gz")
    assert info.value.hint.startswith("reinstall scikit-learn")
