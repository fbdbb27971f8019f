"""Training pictures (curves.png, samples.png), the GAN's discriminator accuracy, progress bars.

Oracles: PNG headers read with Pillow; the discriminator accuracy recomputed in numpy from the
saved weights.npz on scikit-learn's digits; the curves' panels from the history file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SPECS


def train(spec: str, out: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "graphc", "train", os.path.join(SPECS, spec), "--out", out, *extra],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})},
                       timeout=900)
    assert r.returncode == 0, r.stderr
    return r


def png_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size


def test_curves_png(tmp_path):
    out = str(tmp_path / "run")
    r = train("train_mlp_digits.yaml", out, "--epochs", "2")
    assert "\r" not in r.stdout + r.stderr  # not a terminal: plain lines, no bar
    history = json.load(open(os.path.join(out, "history.json")))
    panels = {k.removeprefix("val_") for k in history[0] if k not in ("epoch", "seconds")}
    assert "loss" in panels and "val_loss" in history[0]
    cols = min(3, len(panels))
    assert png_size(os.path.join(out, "curves.png")) == (400 * cols, 300 * -(-len(panels) // cols))
    assert not os.path.exists(os.path.join(out, "samples.png"))  # not a generative model


def test_vae_samples_png(tmp_path):
    out = str(tmp_path / "vae")
    train("train_vae.yaml", out, "--epochs", "2")
    assert png_size(os.path.join(out, "samples.png")) == (8 * 100, 3 * 100)  # inputs, reconstructions, samples
    assert png_size(os.path.join(out, "curves.png")) == (400, 300)  # loss only (the VAE has no metrics)


def _dense(x, w, b):
    return x @ w.T + b


def test_gan_accuracy_and_samples(tmp_path):
    from sklearn.datasets import load_digits

    out = str(tmp_path / "gan")
    r = train("train_gan.yaml", out, "--epochs", "1")
    assert "d_acc_real" in r.stdout
    history = json.load(open(os.path.join(out, "history.json")))
    rec = history[-1]
    assert 0.0 <= rec["d_acc_real"] <= 1.0 and 0.0 <= rec["d_acc_fake"] <= 1.0
    w = np.load(os.path.join(out, "weights.npz"))

    def disc(x):
        h = _dense(x, w["discriminator.hidden.weight"], w["discriminator.hidden.bias"])
        h = np.where(h > 0, h, 0.01 * h)
        return 1 / (1 + np.exp(-_dense(h, w["discriminator.real.weight"], w["discriminator.real.bias"])))

    real = (load_digits().data / 16.0).astype(np.float32)
    acc_real = float(np.mean(disc(real) > 0.5))
    z = np.random.default_rng([0, 8]).standard_normal((len(real), 16)).astype(np.float32)
    g = np.maximum(_dense(z, w["generator.dense_1.weight"], w["generator.dense_1.bias"]), 0)
    fake = 1 / (1 + np.exp(-_dense(g, w["generator.image.weight"], w["generator.image.bias"])))
    acc_fake = float(np.mean(disc(fake) < 0.5))
    assert abs(rec["d_acc_real"] - acc_real) <= 2 / len(real)
    assert abs(rec["d_acc_fake"] - acc_fake) <= 2 / len(real)
    assert png_size(os.path.join(out, "samples.png")) == (800, 800)  # 8 x 8 generator samples
    assert png_size(os.path.join(out, "curves.png")) == (1200, 600)  # d_loss, g_loss, d_acc_real, d_acc_fake


def test_progress_bar_on_a_terminal(tmp_path):
    """Under a pseudo-terminal, tqdm draws steps, the running loss and the rate."""
    pty = pytest.importorskip("pty")
    script = ("import sys, graphc.cli; sys.exit(graphc.cli.main(['train', %r, '--epochs', '1', '--out', %r]))"
              % (os.path.join(SPECS, "train_mlp_digits.yaml"), str(tmp_path / "run")))
    env = {**os.environ, "PYTHONPATH": ROOT, "GRAPHC_PROGRESS_DELAY": "0", "COLUMNS": "120"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the terminal (120 columns)
        import fcntl
        import struct
        import termios

        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        os.execve(sys.executable, [sys.executable, "-c", script], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "epoch 1/1:" in text and "loss=" in text and ("step/s" in text or "s/step" in text)
    assert "21/21" in text  # 1,797 rows, 20% test, 10% of the rest validation: 1,293 / batch 64 -> 21 steps
