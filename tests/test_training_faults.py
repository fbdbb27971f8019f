"""Faults during `graphc train`, on real subprocesses: SIGINT/SIGTERM (one line, exit 130/143,
checkpoint kept, --resume byte-identical), a NaN loss (exit 2, epoch and step named, last good
checkpoint kept), damaged checkpoints (checksum; --resume falls back to the previous one), and
write failures (previous files intact, one line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
