"""What `graphc lsp` answers, tested on the analysis functions directly (no subprocess).

Oracles: positions counted by hand in the texts below, shapes and parameter counts worked out by
hand, and the ops of the registry.
"""

from __future__ import annotations

from graphc.editor.analysis import analyze, completions, definition, hover

SPEC = """\
graphc: 1
name: m
params: {width: 16}
inputs: {x: [N, 5, 8]}
blocks:
  res:
    inputs: [x]
    layers:
      - dense: {units: 8, name: fc}
      - add: {in: [x, fc]}
layers:
  - res: {repeat: 2, name: r}
  - lstm: {hidden: 4, in: r}
  - dense: {units: $width, in: lstm_1.h}
"""


def test_clean_spec_has_no_diagnostics():
    assert analyze(SPEC).diagnostics == []


def test_yaml_and_schema_and_reference_errors_are_located():
    (d,) = analyze("graphc: 1\nname: m\ninputs: {x: [N, 4]}\nlayers:\n  - dense: {units: 4\n").diagnostics
    assert d.line == 5 and "YAML syntax" in d.message
    diags = analyze(SPEC.replace("in: r}", "in: rr}")).diagnostics
    assert [(d.line, d.col, d.end_col) for d in diags] == [(12, 26, 28)]  # `rr` in `  - lstm: {hidden: 4, in: rr}`
    assert "unknown name 'rr'" in diags[0].message and "did you mean 'r'?" in diags[0].message
    diags = analyze(SPEC.replace("{units: 8, name: fc}", "{units: 8, name: fc, bias: maybe}")).diagnostics
    assert diags and diags[0].line == 8


def test_hover_on_layers_and_ops():
    a = analyze(SPEC)
    text = hover(a, 13, 4)  # `- dense: {units: $width, in: lstm_1.h}` on `dense`
    assert "**dense** (layer)" in text and "output `[N, 16]`" in text and "80 parameters" in text  # 4*16 + 16
    text = hover(a, 8, 9)  # the block's dense: 2 copies of 8*8 + 8
    assert "(2 copies)" in text and "144 parameters" in text
    assert "`r` (res x2)" in hover(a, 11, 4)


def test_completions():
    a = analyze(SPEC)
    ops = {label for label, kind, _ in completions(a, 11, 4)}
    assert {"dense", "conv2d", "softmax", "res"} <= ops
    attrs = {label for label, *_ in completions(a, 12, len("  - lstm: {"))}
    assert {"hidden", "layers", "bidirectional", "name", "in"} <= attrs
    refs = {label for label, *_ in completions(a, 13, len("  - dense: {units: $width, in: "))}
    assert {"x", "r", "lstm_1", "lstm_1.h", "lstm_1.c"} <= refs
    params = [label for label, *_ in completions(a, 13, len("  - dense: {units: $"))]
    assert params == ["$width"]


def test_definition_of_references_and_block_uses():
    a = analyze(SPEC)
    loc = definition(a, 13, len("  - dense: {units: $width, in: lstm"))
    assert (loc.line, loc.col) == (13, 5)  # the lstm layer (1-based)
    loc = definition(a, 11, 5)  # `res` used as a layer -> its definition under blocks:
    assert (loc.line, loc.col) == (6, 3)
    loc = definition(a, 9, len("      - add: {in: [x, f"))  # inside the block: its own layer fc
    assert (loc.line, loc.col) == (9, 9)
