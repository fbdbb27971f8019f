"""One self-contained HTML page per model (`graphc viz spec.yaml -o model.html`).

The page inlines its styles, its script (graphc/viewer/page/app.js), the vendored Graphviz
WebAssembly build (@viz-js/viz, graphc/viewer/page/viz-global.js) and the model's data
(graphc/viewer/page_data.py), so it opens offline from file:// and nothing is fetched.
A run folder's training pictures (curves.png, samples.png) are inlined as data: URLs.
"""

from __future__ import annotations

import base64
import html
import json
import os
from functools import cache
from importlib import resources

from graphc.errors import GraphcError
from graphc.ir.graph import Graph
from graphc.util.atomic import write_text
from graphc.viewer.page_data import page_data

RUN_IMAGES = ("curves.png", "samples.png")


@cache
def _asset(name: str) -> str:
    return (resources.files("graphc.viewer") / "page" / name).read_text(encoding="utf-8")


def _fill(template: str, **parts: str) -> str:
    for key, value in parts.items():
        template = template.replace("{" + key + "}", value, 1)
    return template


def run_data(run_dir: str) -> dict:
    """The pictures and last history record of a `graphc train` run folder."""
    if not os.path.isdir(run_dir):
        raise GraphcError(f"no run folder {run_dir} (graphc train writes runs/<spec name>/)")
    images = {}
    for name in RUN_IMAGES:
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                images[name] = "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")
    last = None
    history = os.path.join(run_dir, "history.json")
    if os.path.exists(history):
        try:
            with open(history, encoding="utf-8") as f:
                records = json.load(f)
            last = records[-1] if records else None
        except (OSError, ValueError):
            last = None
    if not images and last is None:
        raise GraphcError(f"{run_dir} holds no curves.png, samples.png or history.json (is it a graphc train run folder?)")
    return {"dir": run_dir, "images": images, "last": last}


def page_html(data: dict) -> str:
    """The page for `data` (from page_data), with every asset inlined."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=False).replace("</", "<\\/")
    return _fill(_asset("page.html"), title=html.escape(data.get("title", "graphc")), css=_asset("page.css"),
                 data=text, viz=_asset("viz-global.js"), app=_asset("app.js"))


def model_page(graph: Graph, source: str, run_dir: str | None = None, rankdir: str = "TB",
               views: tuple[str, ...] = ("grad", "passes"), serve: dict | None = None) -> str:
    """The HTML text of the viewer for `graph` (read from `source`)."""
    data = page_data(graph, source, views, rankdir)
    if run_dir:
        data["run"] = run_data(run_dir)
    if serve:
        data["serve"] = serve
    return page_html(data)


def write_html(graph: Graph, path: str, source: str, run_dir: str | None = None, rankdir: str = "TB",
               views: tuple[str, ...] = ("grad", "passes")) -> str:
    """Write the viewer page to `path` (atomically); returns the path."""
    write_text(path, model_page(graph, source, run_dir, rankdir, views))
    return path


def error_page(message: str, serve: dict | None = None) -> str:
    """A page showing a located error (for `graphc serve` while the spec is broken)."""
    poll = ""
    if serve:
        poll = ("<script>(function(){var v=%s;function p(){fetch('/__graphc/version').then(function(r){return r.text()})"
                ".then(function(t){if(t.trim()!==v)location.reload();else setTimeout(p,700)})"
                ".catch(function(){setTimeout(p,2000)})}setTimeout(p,700)})();</script>") % json.dumps(serve["version"])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>graphc: error</title>"
            f"<style>{_asset('page.css')}</style></head><body data-state=\"error\">"
            "<header><h1>graphc: the spec has an error</h1></header>"
            f"<pre data-role=\"error\">{html.escape(message)}</pre>"
            "<p class=\"hint\" style=\"padding:0 12px\">Fix the spec and save: this page reloads by itself.</p>"
            f"{poll}</body></html>\n")
