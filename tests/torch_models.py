"""PyTorch twins of the example specs in specs/, for tests and benchmarks.

Each twin's `state_dict` keys are exactly the spec's parameter names (`<layer>.<param>`), so
`save_state(twin, path)` writes an .npz that `graphc compile --weights` loads one to one.
`TWINS` maps a spec file name (without .yaml) to (factory, inputs), where inputs maps each ONNX
input name to (shape without the batch dim, dtype).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn


class LinearRegression(nn.Module):
    def __init__(self):
        super().__init__()
        self.y = nn.Linear(10, 1)

    def forward(self, x):
        return self.y(x)


class LogisticRegression(nn.Module):
    def __init__(self):
        super().__init__()
        self.prob = nn.Linear(30, 1)

    def forward(self, x):
        return torch.sigmoid(self.prob(x))


class MLPKeras(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_1 = nn.Linear(784, 64)
        self.dense_2 = nn.Linear(64, 64)
        self.probs = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.dense_1(x))
        x = torch.relu(self.dense_2(x))
        return torch.softmax(self.probs(x), dim=-1)


class MLPSmall(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.hidden = nn.Linear(64, hidden)
        self.logits = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.logits(torch.relu(self.hidden(x)))


class MnistCNN(nn.Module):
    """The Keras MNIST CNN of the contract (dropout is the identity at inference)."""

    def __init__(self):
        super().__init__()
        self.conv2d_1 = nn.Conv2d(1, 32, 3)
        self.conv2d_2 = nn.Conv2d(32, 64, 3)
        self.dense_1 = nn.Linear(9216, 128)
        self.logits = nn.Linear(128, 10)

    def forward(self, image):
        x = torch.relu(self.conv2d_1(image))
        x = torch.relu(self.conv2d_2(x))
        x = nn.functional.max_pool2d(x, 2)
        x = nn.functional.dropout(x, 0.25, self.training)
        x = torch.relu(self.dense_1(torch.flatten(x, 1)))
        x = nn.functional.dropout(x, 0.5, self.training)
        return self.logits(x)


class PytorchCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, padding=1)
        self.logits = nn.Linear(16 * 7 * 7, 10)

    def forward(self, image):
        x = nn.functional.max_pool2d(torch.relu(self.conv(image)), 2)
        x = nn.functional.max_pool2d(x, 2)
        return self.logits(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(x + y)


class ResNetSmall(nn.Module):
    def __init__(self, channels: int = 16, blocks: int = 2):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.res = nn.ModuleList([BasicBlock(channels) for _ in range(blocks)])
        self.logits = nn.Linear(channels, 10)

    def forward(self, image):
        x = torch.relu(self.stem(image))
        for block in self.res:
            x = block(x)
        return self.logits(x.mean(dim=(2, 3)))


IMAGE = {"image": ((1, 28, 28), "float32")}

TWINS: dict[str, tuple[Callable[[], nn.Module], dict[str, tuple[tuple[int, ...], str]]]] = {
    "linear_regression": (LinearRegression, {"x": ((10,), "float32")}),
    "logistic_regression": (LogisticRegression, {"x": ((30,), "float32")}),
    "mlp_keras": (MLPKeras, {"x": ((784,), "float32")}),
    "mlp_small": (MLPSmall, {"x": ((64,), "float32")}),
    "mnist_cnn": (MnistCNN, IMAGE),
    "pytorch_cnn": (PytorchCNN, IMAGE),
    "resnet_block": (ResNetSmall, IMAGE),
}


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-default values in every float parameter and buffer (batch-norm statistics too), eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.2)
            elif t.numel() > 1 and t.std() > 0:  # keep PyTorch's default scale, permuted by the seed
                t.copy_(t.flatten()[torch.randperm(t.numel(), generator=gen)].reshape(t.shape) * 1.5)
            else:  # constant defaults (norm scales of ones)
                t.copy_(1 + torch.randn(t.shape, generator=gen) * 0.5)
    return module.eval()


def save_state(module: nn.Module, path, prefix: str = "", counters: bool = False) -> str:
    """The state_dict as an .npz named `<prefix>.<key>` (PyTorch layouts, the contract's names);
    batch-norm `num_batches_tracked` counters only with `counters` (graphc ignores them)."""
    arrays = {f"{prefix}.{k}" if prefix else k: v.detach().numpy() for k, v in module.state_dict().items()
              if counters or not k.endswith("num_batches_tracked")}
    np.savez(path, **arrays)
    return str(path)
