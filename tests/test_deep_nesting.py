"""graphc's walkers of nested things are iterative: each is run on input nested deeper than
Python's recursion limit, with the limit lowered to a little above the caller's depth (so one
Python frame per level would fail at once), and compared with hand-computed results.

The YAML reader caps nesting at 100 levels (tests/test_yaml_hazards.py); these call the walkers
directly with deeper values, as the Python front end and derived dims can make them."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest
from cli_harness import run_cli

from graphc.errors import Location
from graphc.functional.model import _add_blocks
from graphc.functional.trace import BlockDef, Component, locmap, plain
from graphc.ir.digest import _canon
from graphc.ir.symbolic import normalize, parse
from graphc.onnx_in.scopes import view_depth
from graphc.passes.cse import freeze
from graphc.spec.build import parse_spec
from graphc.spec.params import substitute
from graphc.spec.validate import _depth_len, _is_numbers
from graphc.spec.writer import _plain
from graphc.spec.yaml_loader import LocList, LocMap
from graphc.training.config import _substituted
from graphc.util.walk import post_order, rebuild, trampoline
from graphc.viewer.page_data import _fmt, view_data
from graphc.viz.structure import layer_tree
from graphc.viz.views import build_view, fmt_value

DEEP = 5000  # > sys.getrecursionlimit() (1000)
MARGIN = 150  # frames allowed above the test's own depth while a walker runs
LOC = Location("spec.yaml", 3, 5)


@contextmanager
def shallow_stack(margin: int = MARGIN):
    """Lower the recursion limit to the current depth + `margin` for the block's duration."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + margin)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def nest(leaf, depth: int, wrap):
    value = leaf
    for _ in range(depth):
        value = wrap(value)
    return value


def unnest(value, depth: int, kind, down):
    """Walk `depth` levels down with `down`, checking each level is a `kind`; the leaf."""
    for _ in range(depth):
        assert type(value) is kind, type(value)
        value = down(value)
    return value


def test_deep_is_past_the_limit():
    assert DEEP > sys.getrecursionlimit() and MARGIN < DEEP


# -- symbolic dims -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("(" * DEEP + "N+1" + ")" * DEEP, "N+1"),
    ("-" * (DEEP + 1) + "N", "-N"),  # an odd number of unary minuses
    ("-" * DEEP + "N", "N"),
    ("(N+" * DEEP + "N" + ")" * DEEP, f"N*{DEEP + 1}"),
    ("2*(" * 3000 + "H" + ")" * 3000, f"H*{2 ** 3000}"),
    ("(" * DEEP + "N" + ")" * (DEEP - 1), "(" * DEEP + "N" + ")" * (DEEP - 1)),  # unbalanced: an atom as written
])
def test_dim_expression_nested_past_the_limit(text, want):
    parse.cache_clear()
    with shallow_stack():
        assert normalize(text) == want


def test_deep_dim_polynomial():
    with shallow_stack():
        got = parse("(" * DEEP + "N*N-(2*N)" + ")" * DEEP)
    assert got == (((("N", 1),), Fraction(-2)), ((("N", 2),), Fraction(1)))


# -- value walkers -----------------------------------------------------------------------------
def test_substitute_deep_lists_and_maps():
    value = nest("$a * 2", DEEP, lambda x: [{"k": x}])
    with shallow_stack():
        out = substitute(value, {"a": 3}, LOC)
    for _ in range(DEEP):
        assert type(out) is list and len(out) == 1 and type(out[0]) is dict
        out = out[0]["k"]
    assert out == 6


def _locmap(inner, key: str = "k") -> LocMap:
    m = LocMap({key: inner, "other": 1})
    m.loc, m.key_locs, m.value_locs = LOC, {key: LOC}, {key: Location("spec.yaml", 9, 1)}
    return m


def test_substitute_and_training_config_keep_locations_deep():
    deep = nest("$lr", DEEP, _locmap)
    with shallow_stack():
        out = substitute(deep, {"lr": 0.5}, LOC)
        cfg = _substituted(deep, {"lr": 0.25})
    for got, leaf in ((out, 0.5), (cfg, 0.25)):
        assert got.loc == LOC and got.value_loc("k") == Location("spec.yaml", 9, 1)
        assert unnest(got, DEEP, LocMap, lambda m: m["k"]) == leaf


def test_locmap_and_plain_deep():
    with shallow_stack():
        located = locmap(nest(1, DEEP, lambda x: {"k": (x,)}), LOC)
        plained = plain(nest(np.int64(7), DEEP, lambda x: (x,)))
    value = located
    for _ in range(DEEP):
        assert type(value) is LocMap and value.loc == LOC and value.value_loc("k") == LOC
        value = value["k"]
        assert type(value) is LocList and value.item_loc(0) == LOC
        value = value[0]
    assert value == 1
    bottom = unnest(plained, DEEP, list, lambda v: v[0])
    assert bottom == 7 and type(bottom) is int


def test_writer_plain_drops_private_keys_deep():
    with shallow_stack():
        out = _plain(nest("v", DEEP, lambda x: {"a": [x], "_hidden": 1}))
    for _ in range(DEEP):
        assert type(out) is dict and list(out) == ["a"] and type(out["a"]) is list
        out = out["a"][0]
    assert out == "v"


def test_digest_canon_deep():
    with shallow_stack():
        lists = _canon(nest(1, DEEP, lambda x: [x]))
        maps = _canon(nest(1.5, DEEP, lambda x: {"b": x, "a": 2}))
    assert lists == "[" * DEEP + "1" + "]" * DEEP
    assert maps == "{'a':2,'b':" * DEEP + "1.5" + "}" * DEEP


def test_cse_freeze_deep():
    with shallow_stack():
        out = freeze(nest(1.5, DEEP, lambda x: {"k": [x]}))
    for _ in range(DEEP):
        assert type(out) is tuple and len(out) == 1 and out[0][0] == "k"
        out = out[0][1]
        assert type(out) is tuple and len(out) == 1
        out = out[0]
    assert out == ("float", 1.5)


def test_constant_value_check_deep():
    depth = 2000  # _depth_len looks down each level: quadratic, so a little less deep
    with shallow_stack():
        assert _is_numbers(nest(1.0, depth, lambda x: [x]))
        assert _depth_len(nest(1.0, depth, lambda x: [x])) == (1,) * depth
        assert not _is_numbers(nest("a", depth, lambda x: [x]))
        assert not _is_numbers(nest([[1], [1, 2]], depth, lambda x: [x]))  # not rectangular at the bottom


def test_attribute_text_deep():
    with shallow_stack():
        texts = [_fmt(nest(1.5, DEEP, lambda x: [x])), fmt_value(nest(2.0, DEEP, lambda x: (x, 3)))]
    assert texts[0] == "[" * DEEP + "1.5" + "]" * DEEP
    assert texts[1] == "[" * DEEP + "2" + ", 3]" * DEEP


# -- blocks nested in blocks -------------------------------------------------------------------
def _chain_spec(depth: int) -> str:
    """b0 is a relu; b<i> uses b<i-1>; the model uses b<depth-1>: blocks nested `depth` deep."""
    text = "graphc: 1\nname: deep\ninputs: {x: [N, 4]}\nblocks:\n  b0:\n    inputs: [x]\n    layers:\n      - relu:\n"
    text += "".join(f"  b{i}:\n    inputs: [x]\n    layers:\n      - b{i - 1}:\n" for i in range(1, depth))
    return text + f"layers:\n  - b{depth - 1}:\n"


def _relu_name(depth: int) -> str:
    return ".".join(f"b{i}_1" for i in reversed(range(depth))) + ".relu_1"


def test_block_chain_builds_past_the_limit():
    depth = 1100
    spec = parse_spec(_chain_spec(depth), "deep.yaml")
    with shallow_stack():
        g = spec.build()
        tree = layer_tree(g)
        names = list(tree[0].layer_names())
        boxes = view_depth(g)
    assert [(n.op, n.name) for n in g.nodes] == [("relu", _relu_name(depth) + "/relu")]
    assert [v.name for v in g.outputs] == [f"b{depth - 1}_1"]
    assert len(g.layers) == depth + 1 and names == [_relu_name(depth)] and boxes is None
    item = tree[0]
    for i in reversed(range(depth)):  # one block item per level, the relu at the bottom
        assert item.kind == "block" and item.name == ".".join(f"b{j}_1" for j in reversed(range(i, depth)))
        (item,) = item.copies[0]
    assert item.kind == "layer" and item.name == _relu_name(depth)


def test_block_chain_is_drawn_past_the_margin():
    """The DOT view and the viewer page of blocks nested 400 deep, with 150 frames to spare."""
    depth = 400
    g = parse_spec(_chain_spec(depth), "deep.yaml").build()
    with shallow_stack():
        dot = build_view(g, expand=True).dot
        page = view_data(g)
    assert dot.count("subgraph cluster") == depth
    items = page["items"]  # [parent, kind, name, label, color, flags]
    groups = [i for i, item in enumerate(items) if item[1] == "group"]
    assert [items[i][0] for i in groups] == [-1] + groups[:-1]  # each block group inside the one before
    assert [items[i][2] for i in groups] == [".".join(f"b{j}_1" for j in reversed(range(i, depth)))
                                             for i in reversed(range(depth))]


def test_block_chain_compiles_and_runs(tmp_path):
    """`graphc compile` of blocks nested 1,100 deep; onnxruntime's output is numpy's relu."""
    (tmp_path / "deep.yaml").write_text(_chain_spec(1100))
    r = run_cli(["compile", "deep.yaml", "-o", "m.onnx"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, np.maximum(x, 0))


def test_traced_blocks_nested_past_the_limit():
    """gc.repeat blocks using blocks, 5,000 deep: every block is registered, innermost first."""
    block = None
    for i in range(DEEP):
        body = {"inputs": ["x"], "layers": [{"relu": {}}]}
        block = BlockDef(f"t{i}", body, locmap(body, LOC), {} if block is None else {block.name: block})
    comp, blocks = Component(), {}
    with shallow_stack():
        comp.add_block(block, LOC)
        _add_blocks(block, blocks)
    assert list(comp.spec.blocks) == [f"t{i}" for i in range(DEEP)] == list(blocks)


# -- the helpers -------------------------------------------------------------------------------
def test_rebuild_order_is_the_recursive_order():
    """Leaves in depth-first order (so the first error is the recursive version's), parents after."""
    seen = []

    def split(v):
        return (v, lambda done: ("list", done)) if isinstance(v, list) else None

    def leaf(v):
        seen.append(v)
        if isinstance(v, str):
            raise ValueError(v)
        return v * 10
    assert rebuild([1, [2, [3, []], 4], 5], split, leaf) == \
        ("list", [10, ("list", [20, ("list", [30, ("list", [])]), 40]), 50])
    assert seen == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="^first$"):
        rebuild([1, [[["first"]], "second"]], split, leaf)
    assert post_order("a", lambda n: {"a": ["b", "c"], "b": ["d"]}.get(n, [])) == ["d", "b", "c", "a"]


def test_trampoline_depth_and_exceptions():
    """100,000 nested calls; an exception at the bottom is caught by a try around a call above."""
    def count(n: int):
        if n == 0:
            return 0
        return 1 + (yield count(n - 1))

    def fail(n: int):
        if n == 0:
            raise KeyError("bottom")
        yield fail(n - 1)

    def catcher():
        try:
            yield fail(DEEP)
        except KeyError as e:
            return f"caught {e.args[0]}"

    with shallow_stack():
        assert trampoline(count(100_000)) == 100_000
        assert trampoline(catcher()) == "caught bottom"
        with pytest.raises(KeyError):
            trampoline(fail(DEEP))
