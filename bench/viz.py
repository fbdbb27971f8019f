"""Render time of `graphc viz` for generated 100, 1,000 and 10,000-layer specs.

Two spec shapes per size: `repeated` (a 3-layer pattern dense 64 + relu, layernorm, dropout,
repeated: folded to one x-cluster) and `irregular` (dense layers of varying widths, nothing
repeats: the middle of the chain is elided). Measured:

- `cli`: `python -m graphc viz spec.yaml -o out.svg` as a fresh process (what a user waits),
- in-process stages: `build_s` (spec -> checked graph), `view_s` (graph -> DOT), `dot_s`
  (Graphviz layout to SVG), and `expand_view_s` / `expand_dot_s` / `expand_svg_bytes` (the
  same with --expand: every layer drawn, up to --expand-max layers),
- the reference, in the same run: PyTorch building the same architecture as an nn.Sequential
  and tracing it with torch.fx (the work before any drawing); `ratio` = graphc in-process
  total / that.

Target: 10,000 layers in under 10 s (`cli.wall_s`). Results: bench/results/viz.json.

`browser` rows (the interactive page, `graphc viz spec.yaml -o page.html`, in headless Chromium
through Selenium; skipped with the reason when it is missing): `html_cli_s` (writing the page, a
fresh process), `html_bytes`, `first_render_s` (load to the first drawing, wall) and the page's
own `page_first_render_ms`, `expand_s` (click on the first folded group until it is drawn) and
`page_expand_ms`; and the layout choice's measurement: `wasm_layout_ms` (Graphviz in
WebAssembly, in the page) against `native_dot_s` (the same DOT through the `dot` program,
graphc.viz.render.run_dot) for the first and the expanded drawing, and `expansion_states` (the
groups of the page: pre-rendering one SVG per state would need at least that many layouts, and
2^groups for every combination).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, print_table, time_process, write_json  # noqa: E402

import graphc  # noqa: E402
from graphc.viz import svg_text, to_dot  # noqa: E402


def layer_specs(n: int, kind: str) -> list[tuple[str, dict]]:
    """The layers of a generated spec as (op, attrs), plus a final dense 10."""
    layers = []
    for i in range(n - 1):
        if kind == "repeated":
            layers.append([("dense", {"units": 64, "activation": "relu"}), ("layernorm", {}),
                           ("dropout", {"rate": 0.1})][i % 3])
        else:
            layers.append(("dense", {"units": 16 + (i * 7919) % 48, "activation": "relu"}))
    return layers + [("dense", {"units": 10, "name": "logits"})]


def spec_text(n: int, kind: str) -> str:
    def fmt(attrs: dict) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in attrs.items()) + "}"

    lines = ["graphc: 1", f"name: {kind}_{n}", "inputs: {x: [N, 64]}", "layers:"]
    lines += [f"  - {op}: {fmt(a)}" for op, a in layer_specs(n, kind)]
    return "\n".join(lines) + "\n"


def torch_reference(n: int, kind: str) -> float:
    """Seconds for PyTorch to build the same nn.Sequential and trace it with torch.fx."""
    import torch
    from torch import nn

    start = time.perf_counter()
    mods, width = [], 64
    for op, a in layer_specs(n, kind):
        if op == "dense":
            mods.append(nn.Linear(width, a["units"]))
            width = a["units"]
            if a.get("activation") == "relu":
                mods.append(nn.ReLU())
        elif op == "layernorm":
            mods.append(nn.LayerNorm(width))
        else:
            mods.append(nn.Dropout(a["rate"]))
    model = nn.Sequential(*mods)
    torch.fx.symbolic_trace(model)
    return time.perf_counter() - start


def measure(n: int, kind: str, tmp: str, expand_max: int, timeout: float) -> dict:
    path = os.path.join(tmp, f"{kind}_{n}.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(spec_text(n, kind))
    out = os.path.join(tmp, f"{kind}_{n}.svg")
    cli = time_process([sys.executable, "-m", "graphc", "viz", path, "-o", out], timeout=timeout, cwd=ROOT)
    cli.pop("stdout", None)
    notes = [line for line in cli.pop("stderr", "").splitlines() if line.startswith("note:")]
    t0 = time.perf_counter()
    graph = graphc.load(path).graph
    t1 = time.perf_counter()
    dot = to_dot(graph)
    t2 = time.perf_counter()
    svg = svg_text(dot) or ""
    t3 = time.perf_counter()
    row = {"n": n, "kind": kind, "cli": cli, "build_s": t1 - t0, "view_s": t2 - t1, "dot_s": t3 - t2,
           "total_s": t3 - t0, "svg_bytes": len(svg), "drawn_nodes": svg.count('class="node"'), "notes": notes}
    if n <= expand_max:
        t4 = time.perf_counter()
        expanded = to_dot(graph, expand=True)
        t5 = time.perf_counter()
        row["expand_svg_bytes"] = len(svg_text(expanded) or "")
        row["expand_view_s"], row["expand_dot_s"] = t5 - t4, time.perf_counter() - t5
    try:
        row["torch_s"] = torch_reference(n, kind)
        row["ratio"] = row["total_s"] / row["torch_s"]
    except ImportError:
        row["torch_s"] = row["ratio"] = None
    return row


def browser_row(n: int, kind: str, tmp: str, timeout: float) -> dict:
    """The interactive page of the generated spec in headless Chromium."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from viz_browser import chrome, click_and_wait, console_errors, missing, open_page  # noqa: E402

    from graphc.viz.render import run_dot

    why = missing()
    if why:
        return {"n": n, "kind": kind, "skipped": why}
    spec = os.path.join(tmp, f"{kind}_{n}.yaml")
    if not os.path.exists(spec):
        with open(spec, "w", encoding="utf-8") as f:
            f.write(spec_text(n, kind))
    page = os.path.join(tmp, f"{kind}_{n}.html")
    cli = time_process([sys.executable, "-m", "graphc", "viz", spec, "-o", page], timeout=timeout, cwd=ROOT)
    if cli.get("rc") != 0 or not os.path.exists(page):
        return {"n": n, "kind": kind, "error": f"graphc viz -o page.html failed: {cli.get('stderr', '')[-500:]}"}
    row = {"n": n, "kind": kind, "html_cli_s": cli.get("wall_s"), "html_bytes": os.path.getsize(page)}
    with chrome() as d:
        row["first_render_s"] = open_page(d, page, timeout)
        timings = d.execute_script("return window.graphcTimings")
        row["page_first_render_ms"] = timings.get("firstRender")
        row["wasm_layout_ms"] = {"first": timings["renders"][0]}
        row["expansion_states"] = d.execute_script(
            "return JSON.parse(document.getElementById('graphc-data').textContent)"
            ".views.layer.items.filter(i => i[1] === 'group').length")
        first_dot = d.execute_script("return window.graphcDot()")
        groups = d.find_elements("css selector", '[data-group][data-expanded="false"]')
        before = len(d.find_elements("css selector", "[data-node]"))
        if groups:
            row["expand_s"] = click_and_wait(d, groups[0], timeout)
            row["page_expand_ms"] = d.execute_script("return window.graphcTimings.last")
            row["wasm_layout_ms"]["expanded"] = row["page_expand_ms"]
        row["nodes_drawn"] = [before, len(d.find_elements("css selector", "[data-node]"))]
        expanded_dot = d.execute_script("return window.graphcDot()")
        row["console_errors"] = console_errors(d)
    native = {}
    for name, dot in (("first", first_dot), ("expanded", expanded_dot)):
        t = time.perf_counter()
        run_dot(dot, "svg")
        native[name] = time.perf_counter() - t
    row["native_dot_s"] = native
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tiny run (20 layers) for the smoke test")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--expand-max", type=int, default=10000, help="largest n also drawn with --expand")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--keep", metavar="DIR", help="keep the generated specs and SVGs here")
    ap.add_argument("--no-browser", action="store_true", help="skip the interactive page in Chromium")
    args = ap.parse_args()
    sizes = [20] if args.quick else [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or tmp
        os.makedirs(where, exist_ok=True)
        for n in sizes:
            for kind in ("repeated", "irregular"):
                row = measure(n, kind, where, args.expand_max, args.timeout)
                rows.append(row)
                print_table([[n, kind, row["cli"].get("wall_s"), row["build_s"], row["view_s"], row["dot_s"],
                              row.get("expand_dot_s"), row["drawn_nodes"], row["torch_s"], row["ratio"]]],
                            ["n", "kind", "cli_wall_s", "build_s", "view_s", "dot_s", "expand_dot_s", "nodes",
                             "torch_s", "ratio"])
        browser = []
        for n in ([] if args.no_browser else sizes):
            for kind in ("repeated", "irregular"):
                row = browser_row(n, kind, where, args.timeout)
                browser.append(row)
                print_table([[n, kind, row.get("html_cli_s"), row.get("html_bytes"), row.get("first_render_s"),
                              row.get("expand_s"), row.get("expansion_states"), row.get("skipped", "")]],
                            ["n", "kind", "html_cli_s", "html_bytes", "first_render_s", "expand_s", "groups", "skipped"])
    biggest = max(rows, key=lambda r: r["n"])
    target = {"layers": biggest["n"], "limit_s": 10.0,
              "met": all((r["cli"].get("wall_s") or 1e9) < 10.0 for r in rows if r["n"] == biggest["n"])}
    print("wrote", write_json("viz", {"quick": args.quick, "rows": rows, "browser": browser, "target": target}))


if __name__ == "__main__":
    main()
