"""graphc summary: parameter counts against PyTorch, MACs/FLOPs against hand-computed values."""

from __future__ import annotations

import json
import os

import pytest

import graphc
from graphc.cli import main
from graphc.summary import summary_data

torch = pytest.importorskip("torch")
nn = torch.nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "specs", "mnist_cnn.yaml")


def spec(name: str, inputs: str, layers: list[str]) -> str:
    return "\n".join(["graphc: 1", f"name: {name}", f"inputs: {inputs}", "layers:"] +
                     [f"  - {layer}" for layer in layers]) + "\n"


MLP = spec("mlp", "{x: [N, 784]}", ["dense: {units: 64, activation: relu}", "dense: {units: 64, activation: relu}",
                                     "dense: {units: 10}"])
SMALL_CNN = spec("small_cnn", "{x: [N, 1, 8, 8]}", [
    "conv2d: {filters: 16, kernel: 3, padding: same, activation: relu}", "maxpool2d: {size: 2}",
    "conv2d: {filters: 32, kernel: 3, bias: false}", "global_avgpool:", "dense: {units: 10}"])
GROUPS = spec("groups", "{x: [N, 8, 10, 10]}", [
    "conv2d: {filters: 16, kernel: 3, groups: 4}", "conv2d: {filters: 16, kernel: [1, 3], groups: 16, bias: false}"])
BATCHNORM = spec("bn", "{x: [N, 3, 8, 8]}", [
    "conv2d: {filters: 8, kernel: 3}", "batchnorm:", "relu:", "flatten:", "dense: {units: 4}", "batchnorm:"])


def torch_models():
    return {
        "mlp": (MLP, nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))),
        "mnist": (None, nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128),
                                      nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))),
        "small_cnn": (SMALL_CNN, nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                               nn.Conv2d(16, 32, 3, bias=False), nn.AdaptiveAvgPool2d(1),
                                               nn.Flatten(), nn.Linear(32, 10))),
        "groups": (GROUPS, nn.Sequential(nn.Conv2d(8, 16, 3, groups=4),
                                         nn.Conv2d(16, 16, (1, 3), groups=16, bias=False))),
        "batchnorm": (BATCHNORM, nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                                               nn.Linear(8 * 6 * 6, 4), nn.BatchNorm1d(4))),
    }


@pytest.mark.parametrize("name", ["mlp", "mnist", "small_cnn", "groups", "batchnorm"])
def test_param_counts_match_pytorch(name):
    text, module = torch_models()[name]
    model = graphc.load(MNIST) if text is None else graphc.loads(text)
    d = summary_data(model.graph)
    trainable = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))
    assert d["trainable_params"] == trainable
    assert d["non_trainable_params"] == buffers
    assert d["total_params"] == trainable + buffers
    assert d["param_bytes"] == 4 * (trainable + buffers)
    # per layer: the rows with parameters match PyTorch's modules with parameters, in order
    ours = [r["params"] for r in d["layers"] if r["params"]]
    theirs = [sum(p.numel() for p in m.parameters()) + sum(b.numel() for n, b in m.named_buffers()
                                                            if not n.endswith("num_batches_tracked"))
              for m in module if any(True for _ in m.parameters())]
    assert ours == theirs


def test_dense_macs_and_flops_by_hand():
    layers = ["dense: {units: 30}", "dense: {units: 5, bias: false, activation: relu}"]
    d = summary_data(graphc.loads(spec("d", "{x: [N, 20]}", layers)).graph)
    first, second = d["layers"]
    assert first["macs"] == 20 * 30 and first["flops"] == 2 * 600 + 30  # + 30 bias adds
    assert second["macs"] == 30 * 5 and second["flops"] == 2 * 150 + 5  # no bias, + 5 relu
    assert d["macs"] == 750 and d["flops"] == 1230 + 305


def test_conv_macs_and_flops_by_hand():
    d = summary_data(graphc.loads(spec("c", "{x: [N, 3, 10, 10]}", [
        "conv2d: {filters: 8, kernel: 3, padding: 1}",              # 8 x 10 x 10 out, 3*3*3 per output
        "conv2d: {filters: 4, kernel: 3, stride: 2, bias: false}",  # (10-3)//2+1 = 4: 4 x 4 x 4 out
        "conv2d: {filters: 8, kernel: 2, groups: 4, bias: false}",  # 3 x 3 out, Cin/groups = 1
    ])).graph)
    a, b, c = d["layers"]
    assert a["macs"] == 8 * 10 * 10 * 3 * 3 * 3 == 21600
    assert a["flops"] == 2 * 21600 + 800
    assert b["macs"] == 4 * 4 * 4 * 8 * 3 * 3 == 4608 and b["flops"] == 2 * 4608
    assert c["macs"] == 8 * 3 * 3 * (4 // 4) * 2 * 2 == 288 and c["flops"] == 576


def test_block_rows_and_activation_memory():
    text = """
graphc: 1
name: b
inputs: {x: [N, 4]}
blocks:
  mlp_block:
    inputs: [x]
    layers:
      - dense: {units: 4, activation: relu}
layers:
  - mlp_block: {repeat: 3, name: body}
"""
    d = summary_data(graphc.loads(text).graph)
    assert [r["layer"] for r in d["layers"]] == ["body"]
    row = d["layers"][0]
    assert row["op"] == "mlp_block x3" and row["params"] == 3 * (16 + 4)
    assert row["macs"] == 3 * 16 and row["flops"] == 3 * (32 + 4 + 4)
    assert d["activation_bytes"] == 3 * 2 * 4 * 4  # gemm and relu outputs, 4 floats each, per copy


def test_cli_formats(capsys):
    assert main(["summary", MNIST, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total_params"] == 1199882 and d["symbolic_dims"] == ["N"]
    conv2 = next(r for r in d["layers"] if r["layer"] == "conv2d_2")
    assert conv2["macs"] == 64 * 24 * 24 * 32 * 3 * 3
    assert main(["summary", MNIST]) == 0
    table = capsys.readouterr().out
    assert "FLOPs per example" in table and "1,199,882" in table and "[N, 9216]" in table
    assert main(["summary", MNIST, "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.splitlines()[0].startswith("| layer | op |") and "| conv2d_1 | conv2d |" in md


def test_lstm_macs_by_hand_and_params_match_pytorch():
    d = summary_data(graphc.loads(spec("r", "{x: [N, 5, 3]}", ["lstm: {hidden: 4}"])).graph)
    (row,) = d["layers"]
    assert row["params"] == sum(p.numel() for p in nn.LSTM(3, 4).parameters())  # 4*4*(3+4) + 2*4*4 = 144
    assert row["macs"] == 5 * (4 * 4 * 3 + 4 * 4 * 4)  # 5 steps x (W_ih + W_hh)
    assert row["flops"] == 2 * 560 + 5 * (32 + 16)  # + per step: both biases (2 x 16), 16 gate elements


def test_every_graphc_op_has_a_cost_rule_in_a_gradient_graph():
    """The gradient graph of a CNN (maxpool_grad, slice and reshape ops, ...) has no uncounted op:
    each op's cost comes from its OpDef. Hand-worked: upsample copies (0 FLOPs); a one-per-element
    rule for the noise of a sampling op."""
    from graphc.ir.builder import Builder
    from graphc.ir.graph import Graph
    from graphc.ir.types import TensorType
    from graphc.summary import node_cost

    grad = graphc.load(MNIST).grad()
    assert summary_data(grad.graph)["uncounted_ops"] == []
    g = Graph("m")
    b = Builder(g)
    x = g.add_input("x", TensorType("float32", ("N", 2, 3, 4)))
    up = b.upsample(x, scale=2)
    noise = b.random_normal_like(x)
    assert node_cost(up.producer) == (0, 0, True)
    assert node_cost(noise.producer) == (0, 2 * 3 * 4, True)
