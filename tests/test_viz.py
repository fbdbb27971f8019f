"""graphc viz: SVG structure (nodes, edges, shape labels, clusters, x6 fold), determinism, fallback.

The oracles are hand counts of the specs below (layers, edges, shapes worked out by hand),
the ONNX file's own node list, and the SVG that Graphviz itself writes (parsed with ElementTree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import onnx
import pytest

import graphc
from graphc.cli import main
from graphc.viz import to_dot
from graphc.viz.render import svg_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "specs", "mnist_cnn.yaml")
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")

BLOCK_SPEC = """
graphc: 1
name: enc
inputs: {tokens: {shape: [N, 16], dtype: int64}}
blocks:
  encoder_layer:
    params: {d_model: 32, ff: 64}
    inputs: [x]
    layers:
      - layernorm: {name: ln1}
      - dense: {units: $d_model, name: att}
      - add: {in: [x, att], name: res1}
      - layernorm: {name: ln2}
      - dense: {units: $ff, activation: gelu}
      - dense: {units: $d_model, name: ff_out}
      - add: {in: [res1, ff_out]}
layers:
  - embedding: {vocab: 100, dim: 32, in: tokens}
  - encoder_layer: {repeat: 6, name: enc}
  - dense: {units: 10, name: logits}
"""

MLP_SPEC = """
graphc: 1
name: mlp
inputs: {x: [N, 20]}
layers:
  - dense: {units: 16, activation: relu}
  - dense: {units: 3, name: out}
"""


def deep_spec(n: int, irregular: bool = False) -> str:
    lines = ["graphc: 1", "name: deep", "inputs: {x: [N, 8]}", "layers:"]
    for i in range(n):
        units = 4 + (i * 7919) % 13 if irregular else 8
        lines.append(f"  - dense: {{units: {units}, activation: relu}}")
    return "\n".join(lines + ["  - dense: {units: 2, name: logits}"]) + "\n"


def parse_svg(text: str):
    """(node titles, edge titles, edge label texts, cluster label texts) of a Graphviz SVG."""
    root = ET.fromstring(text.encode())
    nodes, edges, edge_labels, clusters = [], [], [], []
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class")
        title = g.find(f"{SVG}title")
        texts = [t.text or "" for t in g.findall(f"{SVG}text")]
        if cls == "node":
            nodes.append((title.text, texts))
        elif cls == "edge":
            edges.append(title.text)
            edge_labels += texts
        elif cls == "cluster":
            clusters.append(" ".join(texts))
    return nodes, edges, edge_labels, clusters


def _texts(nodes) -> list[str]:
    return [" ".join(t) for _, t in nodes]


@needs_dot
def test_mnist_layer_view_svg():
    model = graphc.load(MNIST)
    nodes, edges, labels, clusters = parse_svg(svg_text(to_dot(model.graph)))
    # 2 inputs (image, label) + 8 layers + 1 output + the legend
    assert len(nodes) == 12
    # image -> conv2d_1 -> conv2d_2 -> maxpool -> dropout -> flatten -> dense -> dropout -> logits -> output
    assert len(edges) == 9
    for shape in ("N x 1 x 28 x 28", "N x 32 x 26 x 26", "N x 64 x 24 x 24", "N x 64 x 12 x 12", "N x 9216",
                  "N x 128", "N x 10"):
        assert shape in labels, shape
    texts = _texts(nodes)
    assert any("conv2d_1" in t and "filters=32" in t and "320 params" in t for t in texts)  # 32*1*3*3 + 32
    assert any("1,179,776 params" in t for t in texts)  # 9216*128 + 128
    assert any(t.startswith("label") and "N int64" in t for t in texts)  # dtype shown when not float32
    assert clusters == []


@needs_dot
def test_repeat_folds_to_x6_cluster():
    model = graphc.loads(BLOCK_SPEC)
    nodes, edges, labels, clusters = parse_svg(svg_text(to_dot(model.graph)))
    assert len(clusters) == 1 and "x6" in clusters[0] and "enc: encoder_layer" in clusters[0]
    # tokens + embedding + 7 layers of copy 0 + logits + output + legend
    assert len(nodes) == 12
    # tokens->emb, emb->ln1, emb->res1, ln1->att, att->res1, res1->ln2, res1->add, ln2->dense,
    # dense->ff_out, ff_out->add, add->logits, logits->output (copy-to-copy edges are not drawn)
    assert len(edges) == 12
    assert "N x 16 int64" in labels and "N x 16 x 64" in labels


@needs_dot
def test_expand_draws_every_copy():
    model = graphc.loads(BLOCK_SPEC)
    nodes, edges, _, clusters = parse_svg(svg_text(to_dot(model.graph, expand=True)))
    assert len(clusters) == 7  # the block and its 6 copies
    assert sum("enc.3" in c for c in clusters) == 1
    assert len(nodes) == 1 + 1 + 6 * 7 + 1 + 1 + 1
    # tokens->embedding; per copy: its input feeds ln1 and res1 (2) + 7 inner edges; add->logits->output
    assert len(edges) == 1 + 6 * 9 + 2


@needs_dot
def test_depth_zero_collapses_blocks():
    model = graphc.loads(BLOCK_SPEC)
    nodes, edges, _, clusters = parse_svg(svg_text(to_dot(model.graph, depth=0)))
    assert clusters == []
    assert len(nodes) == 6  # tokens, embedding, enc (one box), logits, output, legend
    assert any("enc: encoder_layer" in t and "x6" in t for t in _texts(nodes))
    assert len(edges) == 4


@needs_dot
def test_op_view_groups_nodes_in_layer_clusters():
    model = graphc.loads(MLP_SPEC)
    g = model.graph
    nodes, edges, labels, clusters = parse_svg(svg_text(to_dot(g, level="op")))
    assert len(clusters) == 2 and any(c.startswith("dense_1") for c in clusters)
    n_params = len(g.params)  # 4: two weights, two biases, each drawn as its own node
    assert n_params == 4
    assert len(nodes) == 1 + len(g.nodes) + n_params + 1 + 1
    assert "16 x 20" in labels  # dense_1.weight [16, 20] into its node


def test_layer_view_rankdir_and_no_python_hash():
    model = graphc.loads(MLP_SPEC)
    assert "rankdir=LR" in to_dot(model.graph, rankdir="LR")
    code = ("import graphc; from graphc.viz import to_dot; import sys; "
            f"sys.stdout.write(to_dot(graphc.loads({BLOCK_SPEC!r}).graph, level='op'))")
    outs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.add(subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True).stdout)
    assert len(outs) == 1


@needs_dot
def test_cli_writes_same_bytes_atomically(tmp_path, capsys):
    out = tmp_path / "m.svg"
    assert main(["viz", MNIST, "-o", str(out)]) == 0
    first = out.read_bytes()
    assert main(["viz", MNIST, "-o", str(out)]) == 0
    assert out.read_bytes() == first
    assert sorted(os.listdir(tmp_path)) == ["m.svg"]  # no temporary files left
    assert main(["viz", MNIST, "-o", str(tmp_path / "m.dot")]) == 0
    assert (tmp_path / "m.dot").read_text().startswith("digraph mnist_cnn {")
    assert main(["viz", MNIST, "-o", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_dot_writes_dot_file(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["viz", MNIST, "-o", str(tmp_path / "m.svg")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "apt-get install graphviz" in out[0]
    assert (tmp_path / "m.dot").read_text().startswith("digraph")
    assert not (tmp_path / "m.svg").exists()
    assert graphc.load(MNIST)._repr_svg_() is None


def test_bad_output_extension_is_a_user_error(tmp_path, capsys):
    assert main(["viz", MNIST, "-o", str(tmp_path / "m.jpg")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ".svg" in err


@needs_dot
def test_long_chain_collapses(tmp_path):
    model = graphc.loads(deep_spec(300))
    nodes, edges, _, clusters = parse_svg(svg_text(to_dot(model.graph)))
    # dense_1 reads x, dense_2..dense_300 are identical: one x299 cluster
    assert len(clusters) == 1 and "x299" in clusters[0] and "dense_300" in clusters[0]
    assert len(nodes) == 1 + 1 + 1 + 1 + 1 + 1  # x, dense_1, dense_2, logits, output, legend
    assert len(edges) == 4


@needs_dot
def test_irregular_long_chain_is_elided():
    model = graphc.loads(deep_spec(200, irregular=True))
    dot = to_dot(model.graph)
    assert "layers not drawn" in dot and "--expand" in dot
    nodes, _, _, _ = parse_svg(svg_text(dot))
    assert len(nodes) <= 80 + 6  # 80 layers drawn, the elided box, x, logits, output, legend


@needs_dot
def test_onnx_file_is_drawn(tmp_path):
    path = str(tmp_path / "m.onnx")
    graphc.load(MNIST).export(path)
    onnx_nodes = onnx.load(path).graph.node
    out = tmp_path / "m.svg"
    assert main(["viz", path, "-o", str(out)]) == 0
    nodes, edges, labels, _ = parse_svg(out.read_text())
    layers = {n.name.split("/")[0] for n in onnx_nodes}  # graphc names nodes <layer>/<op>: one box per layer
    assert len(nodes) == 1 + len(layers) + 1 + 1  # image, one box per layer, logits, legend
    assert "N x 9216" in labels and any("conv2d_1" in t for t in _texts(nodes))


def test_grad_view_marks_backward():
    pytest.importorskip("graphc.autodiff")
    model = graphc.loads(MLP_SPEC)
    dot = to_dot(model.graph, level="grad")
    assert "backward (gradient) graph" in dot
    assert dot.count("dashed") > 3
    assert "grad." in dot


def test_passes_view_side_by_side():
    passes = pytest.importorskip("graphc.passes")
    if not hasattr(passes, "optimize"):
        pytest.skip("graphc.passes.optimize not there yet")
    from graphc.viz.views import ViewOptions, build_passes_view

    dot = build_passes_view(graphc.load(MNIST).graph, ViewOptions(level="op")).dot
    assert "cluster_before" in dot and "cluster_after" in dot
    assert "before optimization" in dot and "after optimization" in dot


def test_example_notebook_is_valid_nbformat4():
    import json

    with open(os.path.join(ROOT, "examples", "notebook.ipynb"), encoding="utf-8") as f:
        nb = json.load(f)
    assert nb["nbformat"] == 4 and nb["cells"]
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["source"], list)
        if cell["cell_type"] == "code":
            compile("".join(cell["source"]), "cell", "exec")


def test_readme_diagram_is_committed():
    path = os.path.join(ROOT, "docs", "images", "mnist_cnn.svg")
    with open(path, encoding="utf-8") as f:
        nodes, edges, labels, _ = parse_svg(f.read())
    assert any("conv2d_1" in t for t in _texts(nodes)) and "N x 9216" in labels


def test_grad_view_of_onnx_file(tmp_path, capsys):
    path = str(tmp_path / "m.onnx")
    graphc.load(MNIST).export(path)
    assert main(["viz", path, "--level", "grad", "-o", str(tmp_path / "g.dot")]) == 0
    assert "backward (gradient) graph" in (tmp_path / "g.dot").read_text()


def test_bench_quick(tmp_path):
    env = dict(os.environ, GRAPHC_BENCH_RESULTS=str(tmp_path))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "viz.py"), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    data = json.loads((tmp_path / "viz.json").read_text())
    assert data["benchmark"] == "viz" and data["quick"] is True
    assert {r["kind"] for r in data["rows"]} == {"repeated", "irregular"}
    assert all(r["cli"]["rc"] == 0 for r in data["rows"])


@needs_dot
def test_dot_quotes_labels_and_renders_them_back():
    """Quotes, backslashes, newlines and DOT keywords survive the graphviz package's quoting:
    the SVG that real `dot` draws shows each label line as written."""
    from graphc.viz.dot import Dot

    d = Dot("graph", {"label": 'title "q"'}, {"shape": "box"}, {})
    d.node("node", label='say "hi"\nback\\slash')
    d.cluster("c", label="strict")
    d.node("edge", label="subgraph")
    d.end()
    d.edge("node", "edge", label="a -> b")
    svg = svg_text(d.text())
    for text in ("say &quot;hi&quot;", "back\\slash", "subgraph", "strict", "a &#45;&gt; b", "title &quot;q&quot;"):
        assert text in svg, text


@needs_dot
def test_dot_errors_are_one_graphc_error():
    from graphc.errors import GraphcError
    from graphc.viz.render import render

    with pytest.raises(GraphcError, match="^dot failed: "):
        svg_text("digraph { a -> }")
    with pytest.raises(GraphcError, match="dot failed"):
        render("digraph { a -> }", "/nonexistent-dir/x.svg")


@needs_dot
def test_dot_past_its_time_limit_is_one_line_and_keeps_the_old_file(tmp_path):
    """A real `dot` stopped by GRAPHC_DOT_TIMEOUT: exit 2, one line, the previous picture intact."""
    out = tmp_path / "m.svg"
    out.write_text("previous picture")
    env = dict(os.environ, GRAPHC_DOT_TIMEOUT="0.001")
    done = subprocess.run([sys.executable, "-m", "graphc", "viz", MNIST, "-o", str(out)], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "dot ran past 0.001 s" in lines[0] and "GRAPHC_DOT_TIMEOUT" in lines[0]
    assert out.read_text() == "previous picture"


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_bad_dot_timeout_is_a_user_error(tmp_path, monkeypatch, capsys, value):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' not installed")
    monkeypatch.setenv("GRAPHC_DOT_TIMEOUT", value)
    assert main(["viz", MNIST, "-o", str(tmp_path / "m.svg")]) == 2
    err = capsys.readouterr().err
    assert "GRAPHC_DOT_TIMEOUT" in err and "Traceback" not in err
