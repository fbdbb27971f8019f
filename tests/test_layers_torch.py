"""Every spec layer against the PyTorch module with the same weights.

Each test writes a one-layer spec, saves the torch module's `state_dict` to an .npz under the
contract's parameter names (`<layer>.<param>`), loads it with `Model.load_weights`, runs the
model on onnxruntime (`Model.run`) with a symbolic batch dim fed batch 1 and 7, and compares
with the torch module in eval mode: float32, rtol 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_models import randomize, save_state

import graphc

torch.set_num_threads(1)

RTOL, ATOL = 1e-5, 1e-5
LAYER = "L"
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own notice  # the name every test gives its layer


def spec_text(layer_yaml: str, in_dims: str, dtype: str = "float32") -> str:
    return f"""graphc: 1
name: layer_test
inputs:
  x: {{shape: [N, {in_dims}], dtype: {dtype}}}
layers:
  - {layer_yaml}
"""


def check_layer(tmp_path, layer_yaml: str, module: nn.Module, in_dims: str, *, make_input=None,
                dtype: str = "float32", weights_of: nn.Module | None = None, rtol: float = RTOL,
                atol: float = ATOL) -> None:
    """`weights_of`: the submodule whose state_dict holds the layer's parameters (default: module)."""
    model = graphc.loads(spec_text(layer_yaml, in_dims, dtype))
    module = module.eval()
    if model.graph.params:
        model.load_weights(save_state(weights_of or module, tmp_path / "w.npz", LAYER))
    else:
        assert not any(True for _ in module.parameters()), "the torch twin has parameters, the layer has none"
    shape = [int(d) for d in in_dims.split(",")]
    rng = np.random.default_rng(0)
    for batch in (1, 7):
        x = make_input(rng, [batch] + shape) if make_input else rng.standard_normal([batch] + shape).astype(dtype)
        got = model.run({"x": x})
        assert len(got) == 1
        (out,) = got.values()
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        assert out.shape == want.shape, f"batch {batch}: graphc {out.shape}, torch {want.shape}"
        assert out.dtype == want.dtype
        np.testing.assert_allclose(out, want, rtol=rtol, atol=atol, err_msg=f"batch {batch}")


def torch_same_padding(x: torch.Tensor, kernel, stride, dilation) -> torch.Tensor:
    """Keras/TensorFlow 'same' padding written out: out = ceil(in / stride), extra pad at the end."""
    pads = []
    for i in reversed(range(len(kernel))):
        size = x.shape[2 + i]
        out = -(-size // stride[i])
        total = max((out - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SamePadConv(nn.Module):
    """A Conv{1,2}d with TensorFlow-style 'same' padding (PyTorch's padding='same' needs stride 1)."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        c = self.conv
        return c(torch_same_padding(x, c.kernel_size, c.stride, c.dilation))


def act_after(module: nn.Module, act: nn.Module) -> nn.Module:
    return nn.Sequential(module, act)


# -- dense ----------------------------------------------------------------------------------
@pytest.mark.parametrize("in_dims,yaml", [
    ("20", "dense: {units: 5, name: L}"),
    ("4, 20", "dense: {units: 6, name: L}"),
    ("2, 3, 8", "dense: {units: 4, name: L}"),
])
def test_dense(tmp_path, in_dims, yaml):
    fan_in = int(in_dims.split(",")[-1])
    units = int(yaml.split("units: ")[1].split(",")[0])
    check_layer(tmp_path, yaml, randomize(nn.Linear(fan_in, units)), in_dims)


@pytest.mark.parametrize("in_dims", ["12", "3, 12"])
def test_dense_no_bias(tmp_path, in_dims):
    check_layer(tmp_path, "dense: {units: 7, bias: false, name: L}", randomize(nn.Linear(12, 7, bias=False)), in_dims)


ACTIVATIONS = {
    "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.01), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(),
    "softmax": nn.Softmax(dim=-1), "log_softmax": nn.LogSoftmax(dim=-1), "gelu": nn.GELU(), "elu": nn.ELU(),
    "hardswish": nn.Hardswish(),
    "selu": nn.SELU(), "softplus": nn.Softplus(), "linear": nn.Identity(),
}


def test_activation_table_is_complete():
    from graphc.ops.registry import activations

    assert set(activations()) == set(ACTIVATIONS)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_activation(tmp_path, act):
    twin = nn.Sequential(randomize(nn.Linear(10, 6)), ACTIVATIONS[act])
    check_layer(tmp_path, f"dense: {{units: 6, activation: {act}, name: L}}", twin, "10", weights_of=twin[0],
                make_input=lambda rng, s: (rng.standard_normal(s) * 2).astype(np.float32))


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activation_layer(tmp_path, act):
    """Each activation used as a layer of its own, on [N, 3, 5] (softmax over the last axis)."""
    check_layer(tmp_path, f"{act}: {{name: L}}" if act != "linear" else "linear: {name: L}",
                ACTIVATIONS[act], "3, 5", make_input=lambda rng, s: (rng.standard_normal(s) * 3).astype(np.float32))


@pytest.mark.parametrize("yaml,twin", [
    ("leaky_relu: {alpha: 0.2, name: L}", nn.LeakyReLU(0.2)),
    ("softmax: {axis: 1, name: L}", nn.Softmax(dim=1)),
    ("log_softmax: {axis: 1, name: L}", nn.LogSoftmax(dim=1)),
])
def test_activation_attributes(tmp_path, yaml, twin):
    check_layer(tmp_path, yaml, twin, "3, 5")


# -- convolution ----------------------------------------------------------------------------
CONV2D = [
    ("conv2d: {filters: 4, kernel: 3, name: L}", lambda: nn.Conv2d(3, 4, 3), "3, 9, 8"),
    ("conv2d: {filters: 4, kernel: 3, stride: 2, padding: 1, name: L}",
     lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), "3, 9, 8"),
    ("conv2d: {filters: 5, kernel: [3, 2], stride: [1, 2], padding: [2, 1], name: L}",
     lambda: nn.Conv2d(3, 5, (3, 2), stride=(1, 2), padding=(2, 1)), "3, 9, 8"),
    ("conv2d: {filters: 4, kernel: 3, padding: same, name: L}",
     lambda: nn.Conv2d(3, 4, 3, padding="same"), "3, 9, 8"),
    ("conv2d: {filters: 4, kernel: 4, padding: same, name: L}",  # even kernel: extra pad at the end
     lambda: nn.Conv2d(3, 4, 4, padding="same"), "3, 9, 8"),
    ("conv2d: {filters: 4, kernel: 3, stride: 2, padding: same, name: L}",
     lambda: SamePadConv(nn.Conv2d(3, 4, 3, stride=2)), "3, 9, 8"),
    ("conv2d: {filters: 4, kernel: 3, padding: valid, name: L}", lambda: nn.Conv2d(3, 4, 3), "3, 9, 8"),
    ("conv2d: {filters: 4, kernel: 3, dilation: 2, padding: 2, name: L}",
     lambda: nn.Conv2d(3, 4, 3, dilation=2, padding=2), "3, 9, 8"),
    ("conv2d: {filters: 4, kernel: 3, dilation: 2, padding: same, name: L}",
     lambda: nn.Conv2d(3, 4, 3, dilation=2, padding="same"), "3, 9, 8"),
    ("conv2d: {filters: 6, kernel: 3, groups: 2, padding: 1, name: L}",
     lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1), "4, 7, 7"),
    ("conv2d: {filters: 4, kernel: 3, groups: 4, name: L}", lambda: nn.Conv2d(4, 4, 3, groups=4), "4, 7, 7"),
    ("conv2d: {filters: 4, kernel: 1, bias: false, name: L}", lambda: nn.Conv2d(3, 4, 1, bias=False), "3, 5, 5"),
]


@pytest.mark.parametrize("yaml,make,in_dims", CONV2D, ids=[c[0].split("{")[1].rstrip("}") for c in CONV2D])
def test_conv2d(tmp_path, yaml, make, in_dims):
    module = randomize(make())
    check_layer(tmp_path, yaml, module, in_dims, weights_of=module.conv if isinstance(module, SamePadConv) else None)


def test_conv2d_pads_begin_end(tmp_path):
    """padding: [top, left, bottom, right] (ONNX order) against an explicit F.pad."""
    conv = randomize(nn.Conv2d(3, 4, 3))

    class Twin(nn.Module):
        def forward(self, x):
            return conv(F.pad(x, [0, 2, 1, 0]))  # F.pad: left, right, top, bottom

    check_layer(tmp_path, "conv2d: {filters: 4, kernel: 3, padding: [1, 0, 0, 2], name: L}", Twin(), "3, 8, 8",
                weights_of=conv)


@pytest.mark.parametrize("act,twin", [("relu", nn.ReLU()), ("softmax", nn.Softmax(dim=1)), ("tanh", nn.Tanh())])
def test_conv2d_activation(tmp_path, act, twin):
    """`activation:` on conv acts like a following layer; softmax over channels (axis 1)."""
    seq = nn.Sequential(randomize(nn.Conv2d(2, 3, 3, padding=1)), twin)
    check_layer(tmp_path, f"conv2d: {{filters: 3, kernel: 3, padding: 1, activation: {act}, name: L}}", seq,
                "2, 5, 5", weights_of=seq[0])


@pytest.mark.parametrize("yaml,make", [
    ("conv1d: {filters: 4, kernel: 3, name: L}", lambda: nn.Conv1d(3, 4, 3)),
    ("conv1d: {filters: 4, kernel: 3, stride: 2, padding: 1, name: L}",
     lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1)),
    ("conv1d: {filters: 4, kernel: 4, padding: same, name: L}", lambda: nn.Conv1d(3, 4, 4, padding="same")),
    ("conv1d: {filters: 6, kernel: 3, dilation: 2, groups: 3, name: L}",
     lambda: nn.Conv1d(3, 6, 3, dilation=2, groups=3)),
    ("conv1d: {filters: 4, kernel: 2, bias: false, padding: valid, name: L}", lambda: nn.Conv1d(3, 4, 2, bias=False)),
], ids=["plain", "stride_pad", "same", "dilation_groups", "nobias_valid"])
def test_conv1d(tmp_path, yaml, make):
    check_layer(tmp_path, yaml, randomize(make()), "3, 12")


@pytest.mark.parametrize("yaml,make,in_dims", [
    ("conv_transpose2d: {filters: 4, kernel: 3, name: L}", lambda: nn.ConvTranspose2d(3, 4, 3), "3, 5, 5"),
    ("conv_transpose2d: {filters: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1, name: L}",
     lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), "3, 5, 6"),
    ("conv_transpose2d: {filters: 4, kernel: 4, stride: 2, padding: 1, name: L}",
     lambda: nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1), "3, 7, 7"),
    ("conv_transpose2d: {filters: 6, kernel: [3, 2], stride: [1, 2], groups: 2, dilation: 2, name: L}",
     lambda: nn.ConvTranspose2d(4, 6, (3, 2), stride=(1, 2), groups=2, dilation=2), "4, 4, 5"),
    ("conv_transpose2d: {filters: 2, kernel: 2, stride: 2, bias: false, name: L}",
     lambda: nn.ConvTranspose2d(3, 2, 2, stride=2, bias=False), "3, 4, 4"),
], ids=["plain", "stride_pad_outpad", "k4s2p1", "groups_dilation", "nobias"])
def test_conv_transpose2d(tmp_path, yaml, make, in_dims):
    check_layer(tmp_path, yaml, randomize(make()), in_dims)


# -- pooling --------------------------------------------------------------------------------
@pytest.mark.parametrize("yaml,twin,in_dims", [
    ("maxpool2d: {size: 2, name: L}", nn.MaxPool2d(2), "3, 8, 8"),
    ("maxpool2d: {size: 2, name: L}", nn.MaxPool2d(2), "3, 9, 7"),  # floor, as PyTorch
    ("maxpool2d: {size: 3, stride: 2, padding: 1, name: L}", nn.MaxPool2d(3, 2, 1), "3, 9, 8"),
    ("maxpool2d: {size: [3, 2], stride: [1, 2], name: L}", nn.MaxPool2d((3, 2), (1, 2)), "2, 6, 7"),
    ("avgpool2d: {size: 2, name: L}", nn.AvgPool2d(2), "3, 8, 8"),
    ("avgpool2d: {size: 3, stride: 2, padding: 1, name: L}", nn.AvgPool2d(3, 2, 1), "3, 9, 8"),
    ("avgpool2d: {size: [2, 3], stride: 1, padding: [1, 1], name: L}", nn.AvgPool2d((2, 3), 1, (1, 1)), "2, 5, 6"),
    ("global_avgpool: {name: L}", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), "3, 5, 6"),
    ("global_avgpool: {keepdims: true, name: L}", nn.AdaptiveAvgPool2d(1), "3, 5, 6"),
    ("global_avgpool: {name: L}", nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten()), "3, 7"),
], ids=["max2", "max2_odd", "max3s2p1", "max_rect", "avg2", "avg3s2p1_count_pad", "avg_rect_pad", "gap",
        "gap_keepdims", "gap_1d"])
def test_pooling(tmp_path, yaml, twin, in_dims):
    check_layer(tmp_path, yaml, twin, in_dims)


def test_maxpool_negative_inputs_with_padding(tmp_path):
    """Padding must never win a max: all-negative inputs."""
    check_layer(tmp_path, "maxpool2d: {size: 3, stride: 2, padding: 1, name: L}", nn.MaxPool2d(3, 2, 1), "2, 5, 5",
                make_input=lambda rng, s: -rng.uniform(0.5, 2.0, s).astype(np.float32))


# -- shape layers, dropout, upsample -----------------------------------------------------------
class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


@pytest.mark.parametrize("yaml,twin,in_dims", [
    ("flatten: {name: L}", nn.Flatten(), "3, 4, 5"),
    ("flatten: {name: L}", nn.Flatten(), "6"),
    ("reshape: {shape: [0, 3, -1], name: L}", Reshape(3, -1), "12"),
    ("reshape: {shape: [N, 4, 3], name: L}", Reshape(4, 3), "3, 4"),
    ("reshape: {shape: [N, -1], name: L}", Reshape(-1), "2, 3, 4"),
    ("dropout: {rate: 0.5, name: L}", nn.Dropout(0.5), "3, 4"),
    ("upsample: {name: L}", nn.Upsample(scale_factor=2, mode="nearest"), "2, 3, 4"),
    ("upsample: {scale: 3, name: L}", nn.Upsample(scale_factor=3, mode="nearest"), "2, 5"),
], ids=["flatten", "flatten_2d", "reshape_keep_infer", "reshape_symbolic", "reshape_infer", "dropout",
        "upsample", "upsample_1d_x3"])
def test_shape_layers(tmp_path, yaml, twin, in_dims):
    check_layer(tmp_path, yaml, twin, in_dims)


# -- normalization and embedding --------------------------------------------------------------
@pytest.mark.parametrize("yaml,make,in_dims", [
    ("batchnorm: {name: L}", lambda: nn.BatchNorm2d(3), "3, 4, 5"),
    ("batchnorm: {eps: 0.001, name: L}", lambda: nn.BatchNorm2d(3, eps=1e-3), "3, 4, 5"),
    ("batchnorm: {name: L}", lambda: nn.BatchNorm1d(6), "6"),
    ("batchnorm: {name: L}", lambda: nn.BatchNorm1d(4), "4, 9"),
    ("layernorm: {name: L}", lambda: nn.LayerNorm(8), "8"),
    ("layernorm: {name: L}", lambda: nn.LayerNorm(8), "5, 8"),
    ("layernorm: {eps: 0.001, name: L}", lambda: nn.LayerNorm(6, eps=1e-3), "2, 3, 6"),
], ids=["bn2d", "bn2d_eps", "bn1d_2d", "bn1d_3d", "ln_2d", "ln_3d", "ln_eps"])
def test_normalization(tmp_path, yaml, make, in_dims):
    check_layer(tmp_path, yaml, randomize(make()), in_dims)


def test_batchnorm_running_stats_matter(tmp_path):
    """Loaded running statistics are used (the default ones would give another answer)."""
    bn = randomize(nn.BatchNorm2d(3))
    model = graphc.loads(spec_text("batchnorm: {name: L}", "3, 2, 2"))
    x = np.random.default_rng(0).standard_normal((7, 3, 2, 2)).astype(np.float32)
    (before,) = model.run({"x": x}).values()
    model.load_weights(save_state(bn, tmp_path / "w.npz", LAYER))
    (after,) = model.run({"x": x}).values()
    with torch.no_grad():
        want = bn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(after, want, rtol=RTOL, atol=ATOL)
    assert not np.allclose(before, want)


@pytest.mark.parametrize("in_dims", ["5", "2, 3"])
def test_embedding(tmp_path, in_dims):
    emb = randomize(nn.Embedding(11, 4))
    check_layer(tmp_path, "embedding: {vocab: 11, dim: 4, name: L}", emb, in_dims, dtype="int64",
                make_input=lambda rng, s: rng.integers(0, 11, s).astype(np.int64))


def test_default_init_matches_pytorch_distribution():
    """Dense/conv weights are U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch's default, and seeded."""
    text = spec_text("conv2d: {filters: 64, kernel: 3, name: L}", "8, 6, 6")
    a, b = graphc.loads(text, seed=0).weights, graphc.loads(text, seed=0).weights
    c = graphc.loads(text, seed=1).weights
    w = a["L.weight"]
    bound = 1 / np.sqrt(8 * 9)
    assert w.shape == (64, 8, 3, 3) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound  # std of U(-b, b) is b/sqrt(3)
    np.testing.assert_array_equal(a["L.weight"], b["L.weight"])
    assert not np.array_equal(a["L.weight"], c["L.weight"])


def test_symbolic_spatial_dims(tmp_path):
    """[N, C, H, W] with symbolic H and W: conv (stride, padding), pooling, upsample, batchnorm, fed two sizes."""
    text = """graphc: 1
name: spatial
inputs:
  x: [N, 3, H, W]
layers:
  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: 1, activation: relu, name: c1}
  - batchnorm: {name: bn}
  - maxpool2d: {size: 2, name: p}
  - upsample: {scale: 2, name: u}
  - conv2d: {filters: 2, kernel: 3, padding: same, name: c2}
  - avgpool2d: {size: 3, stride: 1, padding: 1, name: a}
"""
    twin = randomize(nn.ModuleDict({"c1": nn.Conv2d(3, 4, 3, 2, 1), "bn": nn.BatchNorm2d(4),
                                    "c2": nn.Conv2d(4, 2, 3, padding="same")}))

    def forward(x):
        y = twin["bn"](torch.relu(twin["c1"](x)))
        y = F.interpolate(F.max_pool2d(y, 2), scale_factor=2, mode="nearest")
        return F.avg_pool2d(twin["c2"](y), 3, 1, 1)

    model = graphc.loads(text).load_weights(save_state(twin, tmp_path / "w.npz"))
    assert model.graph.outputs[0].shape[0] == "N" and isinstance(model.graph.outputs[0].shape[2], str)
    for shape in ((1, 3, 9, 8), (7, 3, 12, 13)):
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        (got,) = model.run({"x": x}).values()
        with torch.no_grad():
            want = forward(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=str(shape))


def test_avgpool_same_excludes_padding_as_keras(tmp_path):
    """avgpool2d `padding: same` is Keras's: out = ceil(in / stride), padded cells not counted."""

    class KerasSameAvg(nn.Module):
        def forward(self, x):
            padded = torch_same_padding(x, (3, 3), (2, 2), (1, 1))
            ones = torch_same_padding(torch.ones_like(x[:, :1]), (3, 3), (2, 2), (1, 1))
            return F.avg_pool2d(padded, 3, 2) / F.avg_pool2d(ones, 3, 2)

    check_layer(tmp_path, "avgpool2d: {size: 3, stride: 2, padding: same, name: L}", KerasSameAvg(), "2, 8, 7")


def test_maxpool_same(tmp_path):
    """maxpool2d `padding: same` (Keras): out = ceil(in / stride), padding never wins."""

    class KerasSameMax(nn.Module):
        def forward(self, x):
            pads = []
            for size in (x.shape[3], x.shape[2]):
                total = max((-(-size // 2) - 1) * 2 + 3 - size, 0)
                pads += [total // 2, total - total // 2]
            return F.max_pool2d(F.pad(x, pads, value=-float("inf")), 3, 2)

    check_layer(tmp_path, "maxpool2d: {size: 3, stride: 2, padding: same, name: L}", KerasSameMax(), "2, 8, 7",
                make_input=lambda rng, s: -rng.uniform(0.5, 2.0, s).astype(np.float32))


def test_float64_dense_matches_torch(tmp_path):
    dense = randomize(nn.Linear(6, 3).double())
    check_layer(tmp_path, "dense: {units: 3, activation: tanh, name: L}", nn.Sequential(dense, nn.Tanh()), "6",
                dtype="float64", weights_of=dense)


def test_float64_conv_is_a_clear_error():
    """onnxruntime's CPU Conv has no float64 kernel: a SpecError naming the node, not a traceback."""
    model = graphc.loads(spec_text("conv2d: {filters: 2, kernel: 3, name: L}", "1, 5, 5", dtype="float64"))
    with pytest.raises(graphc.SpecError, match="float64"):
        model.run({"x": np.zeros((1, 1, 5, 5))})
