"""`graphc serve`: a real server process on a free port, fetched over HTTP; edits show up,
a broken spec shows its located error, Ctrl-C (SIGINT) stops it and leaves no process."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from conftest import ROOT, SPECS


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read().decode("utf-8")


def fetch_when(url: str, needle: str) -> str | None:
    page = fetch(url)
    return page if needle in page else None


def wait_until(fn, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_serve_reload_error_and_stop(tmp_path):
    spec = tmp_path / "model.yaml"
    shutil.copy(os.path.join(SPECS, "mnist_cnn.yaml"), spec)
    run = tmp_path / "runs" / "mnist_cnn"  # graphc train's default run folder: runs/<spec name>/
    run.mkdir(parents=True)
    (run / "history.json").write_text('[{"epoch": 1, "loss": 0.5, "seconds": 0.1}]')
    (run / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    proc = subprocess.Popen([sys.executable, "-m", "graphc", "serve", str(spec), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(tmp_path),
                            env={**os.environ, "PYTHONPATH": ROOT})
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert url, line  # listens on 127.0.0.1 unless --host says otherwise
        base = url.group(0)
        page = fetch(base)
        assert 'data-role="details"' in page and '"logits"' in page and "[N, 10]" in page
        assert '"curves.png":"data:image/png;base64,' in page and '"dir":"runs/mnist_cnn"' in page
        version = fetch(base + "__graphc/version")

        # an edit: logits now has 7 units; the version changes (the page polls it and reloads)
        text = spec.read_text()
        spec.write_text(text.replace("units: 10, name: logits", "units: 7, name: logits"))
        wait_until(lambda: fetch(base + "__graphc/version") != version)
        page = fetch(base)
        assert "[N, 7]" in page and "[N, 10]" not in page

        # a broken spec: the page shows the located error instead of a blank page
        broken = spec.read_text().replace("filters: 64", "filters: sixty-four")
        spec.write_text(broken)
        line_no = next(i for i, line in enumerate(broken.splitlines(), 1) if "sixty-four" in line)
        page = wait_until(lambda: fetch_when(base, '<body data-state="error">'))
        assert re.search(rf"model\.yaml:{line_no}:\d+: error: ", page), page[-2000:]
        assert "__graphc/version" in page  # it keeps polling, to reload once the spec is fixed

        spec.write_text(text)
        page = wait_until(lambda: fetch_when(base, "[N, 10]"))
        assert 'id="graphc-data"' in page  # fixed: the viewer again
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err  # Ctrl-C stops it cleanly: no traceback, status 0
    assert "Traceback" not in err and "stopped" in err


def test_serve_bad_inputs_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args, message in (([os.path.join(SPECS, "mlp_small.yaml"), "--port", str(port)], "Address already in use"),
                              ([str(tmp_path / "nope.yaml")], "no such file"),
                              ([os.path.join(SPECS, "mlp_small.yaml"), "--run", str(tmp_path / "x")], "no run folder")):
            r = subprocess.run([sys.executable, "-m", "graphc", "serve", *args], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
            assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
