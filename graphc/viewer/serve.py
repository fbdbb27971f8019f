"""`graphc serve spec.yaml [--port 8000] [--host 127.0.0.1] [--run DIR]`: the viewer, live.

A threading stdlib HTTP server. `/` is the viewer page of the spec as it is now (rebuilt when
the spec file or the run folder changed; a spec with an error gives a page showing the located
error); `/__graphc/version` is a fingerprint of those files, which the page polls to reload
itself. Ctrl-C stops the server cleanly.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from graphc.errors import GraphcError, ShapeError, SpecError
from graphc.viewer.html import error_page, model_page
import signal


def fingerprint(paths: list[str]) -> str:
    """A short hash of the size and modification time of each path (and a run folder's files)."""
    h = hashlib.sha256()
    for path in paths:
        entries = [path]
        if os.path.isdir(path):
            entries += sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith((".png", ".json")))
        for p in entries:
            try:
                st = os.stat(p)
                h.update(f"{p}:{st.st_mtime_ns}:{st.st_size};".encode())
            except OSError:
                h.update(f"{p}:missing;".encode())
    return h.hexdigest()[:16]


def default_run(spec: str, model_name: str | None = None) -> str | None:
    """runs/<spec name>/ (graphc train's default) or runs/<file name>/, when one holds a run."""
    names = [model_name] if model_name else []
    names.append(os.path.splitext(os.path.basename(spec))[0])
    for name in names:
        candidate = os.path.join("runs", name)
        if os.path.isfile(os.path.join(candidate, "history.json")):
            return candidate
    return None


class PageSource:
    """Builds the page for the current version of the files, once per version."""

    def __init__(self, spec: str, load: Callable[[], object], run_dir: str | None, rankdir: str = "TB"):
        """`run_dir` None: pick up runs/<spec name>/ when there is one."""
        self.spec, self.load, self.run_dir, self.rankdir = spec, load, run_dir, rankdir
        self.auto_run = run_dir is None
        self.lock = threading.Lock()
        self.cached: tuple[str, bytes] | None = None

    def version(self) -> str:
        return fingerprint([self.spec] + ([self.run_dir] if self.run_dir else []))

    def page(self) -> tuple[str, bytes]:
        with self.lock:
            version = self.version()
            if self.cached and self.cached[0] == version:
                return self.cached
            serve = {"version": version}
            try:
                graph = self.load()
                if self.auto_run:
                    self.run_dir = default_run(self.spec, graph.name)
                run = self.run_dir if self.run_dir and os.path.isdir(self.run_dir) else None
                text = model_page(graph, self.spec, run, self.rankdir, serve=serve)
            except SpecError as e:
                text = error_page(str(e), serve)
            except ShapeError as e:
                text = error_page(f"error: {e.message}" + (f" ({e.hint})" if e.hint else ""), serve)
            except GraphcError as e:
                text = error_page(f"error: {e}", serve)
            except Exception as e:  # noqa: BLE001 - a bug in graphc: show it in the page, keep serving
                text = error_page(f"graphc: internal error (a bug in graphc, please report it): {e!r}", serve)
            self.cached = (version, text.encode("utf-8"))
            return self.cached


def make_handler(source: PageSource):
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, source.page()[1], "text/html; charset=utf-8")
            elif path == "/__graphc/version":
                self._send(200, source.version().encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        do_HEAD = do_GET

        def log_message(self, format: str, *args) -> None:  # quiet: one line per page load only
            if self.path.split("?", 1)[0] in ("/", "/index.html"):
                print(f"{self.address_string()} GET {self.path}", file=sys.stderr)

    return Handler


def serve(source: PageSource, host: str = "127.0.0.1", port: int = 8000, ready: Callable[[str], None] | None = None) -> int:
    """Serve until Ctrl-C (or SIGTERM); returns the exit status."""

    try:
        httpd = ThreadingHTTPServer((host, port), make_handler(source))
    except OSError as e:
        raise GraphcError(f"cannot listen on {host}:{port}: {e.strerror or e} (choose another --port)") from None
    httpd.daemon_threads = True
    url = f"http://{host}:{httpd.server_address[1]}/"
    print(f"serving {source.spec} on {url} (Ctrl-C stops)", flush=True)
    if ready:
        ready(url)

    def stop(signum, frame):  # SIGTERM: stop as Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        httpd.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
