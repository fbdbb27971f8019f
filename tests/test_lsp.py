"""`graphc lsp` as an editor sees it: a subprocess speaking JSON-RPC over stdio.

The client below writes the LSP framing by hand (Content-Length headers), so it checks the server
against the protocol itself, not against pygls's own client. Oracles: the known line and column of
the mistake in the document, the shape worked out by hand, the position of the definition.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

import pytest

pytest.importorskip("pygls")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
URI = "file:///tmp/graphc_lsp_test/model.yaml"
# line 5 (0-based) has the shape error: conv2d after dense; its op key starts at column 4
BAD = ("graphc: 1\nname: m\ninputs: {x: [N, 784]}\nlayers:\n  - dense: {units: 64, name: h}\n"
       "  - conv2d: {filters: 8, kernel: 3}\n  - dense: {units: 10, in: h, name: logits}\n")
GOOD = BAD.replace("  - conv2d: {filters: 8, kernel: 3}\n", "  - relu: {in: h}\n")


class Client:
    """A minimal LSP client: framed JSON-RPC requests and notifications over a pipe."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", "graphc", "lsp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.proc.stdin.write(f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict, timeout: float = 60) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == rid and "method" not in m, timeout)

    def wait(self, match, timeout: float = 60) -> dict:
        while True:
            message = self.messages.get(timeout=timeout)
            if match(message):
                return message

    def diagnostics(self, version: int | None = None, timeout: float = 60) -> list:
        message = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                            and (version is None or m["params"].get("version") == version), timeout)
        return message["params"]["diagnostics"]

    def close(self) -> None:
        try:
            self.request("shutdown", {}, timeout=10)
            self.notify("exit", {})
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001, S110 - a failed shutdown: the kill below ends the process
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def client():
    c = Client()
    try:
        init = c.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
        assert "hoverProvider" in init["result"]["capabilities"]
        c.notify("initialized", {})
        yield c
    finally:
        c.close()


def _open(c: Client, text: str) -> list:
    c.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "yaml", "version": 1, "text": text}})
    return c.diagnostics(version=1)


def test_shape_error_is_reported_at_its_line_and_column_then_cleared(client):
    diags = _open(client, BAD)
    assert len(diags) == 1
    start = diags[0]["range"]["start"]
    assert (start["line"], start["character"]) == (5, 4)
    assert diags[0]["range"]["end"] == {"line": 5, "character": 10}  # the op name `conv2d`
    assert "conv2d needs [N, C, H, W]" in diags[0]["message"]
    client.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2},
                                             "contentChanges": [{"text": GOOD}]})
    assert client.diagnostics(version=2) == []


def test_debounced_changes_publish_the_last_version(client):
    _open(client, GOOD)
    for version, text in ((2, BAD), (3, BAD + "  - relu:\n"), (4, GOOD)):
        client.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": version},
                                                 "contentChanges": [{"text": text}]})
    assert client.diagnostics(version=4) == []


def test_hover_on_a_layer_gives_its_shape_params_and_flops(client):
    _open(client, GOOD)
    reply = client.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 6}})
    text = reply["result"]["contents"]["value"]
    assert "`h` (dense)" in text and "output `[N, 64]`" in text
    assert "50,240 parameters" in text  # 784 * 64 + 64
    assert "**dense** (layer)" in text  # the op's documentation


def test_completion_and_definition(client):
    _open(client, GOOD)
    line6 = GOOD.splitlines()[6]
    col = line6.index("in: ") + 4
    reply = client.request("textDocument/completion", {"textDocument": {"uri": URI},
                                                      "position": {"line": 6, "character": col}})
    labels = {i["label"] for i in reply["result"]["items"]}
    assert {"x", "h", "relu_1"} <= labels
    reply = client.request("textDocument/definition", {"textDocument": {"uri": URI},
                                                      "position": {"line": 6, "character": col}})
    assert reply["result"]["range"]["start"] == {"line": 4, "character": 4}  # `- dense: {... name: h}`


def test_without_pygls_says_what_to_install(tmp_path):
    (tmp_path / "pygls.py").write_text("raise ImportError('no pygls here')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + ROOT)
    r = subprocess.run([sys.executable, "-m", "graphc", "lsp"], capture_output=True, text=True, env=env, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.strip() == "graphc lsp needs pygls: pip install 'graphc[lsp]'"
