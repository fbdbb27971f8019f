"""Small plain-torch versions of the vision families and transformer encoders that issue 11's
coverage list names (random weights; pip's torchvision is a CUDA build, so its building blocks
are written out here): DenseNet, Inception, SqueezeNet, ShuffleNet v2, VGG, EfficientNet,
a BERT-style encoder and a ViT. tests/test_onnx_families.py exports each with both exporters.

Each model keeps torchvision's (or Hugging Face's, for BERT) module layout and the ops its
export emits, at a size that runs in a few seconds. None needs bilinear Resize or einsum.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from onnx_torch_models import randomize_batchnorm
from torch import nn


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act=nn.ReLU) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


# -- DenseNet -------------------------------------------------------------------------------
class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (bottleneck) then BN-ReLU-Conv3x3; the input concatenated with the new features."""

    def __init__(self, cin: int, growth: int, bn_size: int = 2):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU()
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleDict):
    def __init__(self, n: int, cin: int, growth: int):
        super().__init__({f"denselayer{i + 1}": DenseLayer(cin + i * growth, growth) for i in range(n)})

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm, self.relu = nn.BatchNorm2d(cin), nn.ReLU()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet(nn.Module):
    """torchvision's DenseNet layout (features.conv0/norm0/pool0, denseblockN, transitionN, norm5; classifier)."""

    def __init__(self, growth: int = 4, blocks=(2, 2), init: int = 8, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, init, 3, 1, 1, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(init))
        self.features.add_module("relu0", nn.ReLU())
        self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        c = init
        for i, n in enumerate(blocks):
            self.features.add_module(f"denseblock{i + 1}", DenseBlock(n, c, growth))
            c += n * growth
            if i != len(blocks) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        out = F.relu(self.features(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1))


# -- Inception (GoogLeNet / Inception v3 modules) --------------------------------------------
class BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionModule(nn.Module):
    """Four branches concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 pool -> 1x1 projection
    (max pool as GoogLeNet's, or average pool, padding counted, as Inception v3's InceptionA)."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, proj: int, avg: bool = False):
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, kernel_size=1), BasicConv2d(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, kernel_size=1), BasicConv2d(c5r, c5, kernel_size=5, padding=2))
        self.avg = avg
        self.pool = nn.MaxPool2d(3, 1, 1, ceil_mode=True)
        self.branch4 = BasicConv2d(cin, proj, kernel_size=1)

    def forward(self, x):
        pooled = F.avg_pool2d(x, 3, 1, 1) if self.avg else self.pool(x)
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(pooled)], 1)


class Inception(nn.Module):
    """GoogLeNet's layout: conv1, maxpool1 (ceil_mode), inception3a/3b, maxpool, inception4a, avgpool, dropout, fc."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = BasicConv2d(3, 8, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = InceptionModule(8, 4, 4, 8, 2, 4, 4)
        self.inception3b = InceptionModule(20, 8, 4, 8, 2, 4, 4, avg=True)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = InceptionModule(24, 8, 4, 8, 2, 4, 4)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.inception4a(self.maxpool3(self.inception3b(self.inception3a(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


# -- SqueezeNet -----------------------------------------------------------------------------
class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int):
        super().__init__()
        self.squeeze, self.squeeze_activation = nn.Conv2d(cin, squeeze, 1), nn.ReLU(inplace=True)
        self.expand1x1, self.expand1x1_activation = nn.Conv2d(squeeze, e1, 1), nn.ReLU(inplace=True)
        self.expand3x3, self.expand3x3_activation = nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """torchvision's SqueezeNet 1.1 layout (features: conv, relu, ceil-mode max pools, Fire modules;
    classifier: dropout, final 1x1 conv, relu, adaptive average pool)."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(16, 4, 8, 8), Fire(16, 4, 8, 8), nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 8, 12, 12))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(24, classes, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


# -- ShuffleNet v2 --------------------------------------------------------------------------
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    """torchvision's ShuffleNetV2 InvertedResidual: channel split (stride 1) or two strided branches,
    concatenated, then a channel shuffle."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))
        else:
            self.branch1 = nn.Sequential()
        bin_ = cin if stride > 1 else half
        self.branch2 = nn.Sequential(
            nn.Conv2d(bin_, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = _conv_bn(3, 8, 3, 2)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.stage2 = nn.Sequential(ShuffleUnit(8, 16, 2), ShuffleUnit(16, 16, 1))
        self.stage3 = nn.Sequential(ShuffleUnit(16, 32, 2), ShuffleUnit(32, 32, 1))
        self.conv5 = _conv_bn(32, 64, 1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.conv5(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(x.mean([2, 3]))


# -- VGG ------------------------------------------------------------------------------------
class VGG(nn.Module):
    """torchvision's VGG layout: features (3x3 conv [+ BN] + ReLU stacks, max pools), avgpool
    (adaptive, to 2x2 here), classifier (Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear)."""

    def __init__(self, cfg=(8, "M", 16, "M", 16, 16, "M"), batch_norm: bool = False, classes: int = 10):
        super().__init__()
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1)] + ([nn.BatchNorm2d(v)] if batch_norm else []) + [nn.ReLU(True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(c * 4, 32), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(32, 32),
                                        nn.ReLU(True), nn.Dropout(0.5), nn.Linear(32, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# -- EfficientNet ---------------------------------------------------------------------------
class SqueezeExcitation(nn.Module):
    def __init__(self, c: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
        self.activation, self.scale_activation = nn.SiLU(), nn.Sigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class MBConv(nn.Module):
    """Expand 1x1 + BN + SiLU, depthwise kxk + BN + SiLU, squeeze-excitation, project 1x1 + BN,
    residual where the shape allows (stochastic depth is the identity in eval mode)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = [_conv_bn(cin, hidden, 1, act=nn.SiLU)] if expand != 1 else []
        layers += [_conv_bn(hidden, hidden, k, stride, groups=hidden, act=nn.SiLU),
                   SqueezeExcitation(hidden, max(1, cin // 4)), _conv_bn(hidden, cout, 1, act=None)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return y + x if self.use_res else y


class EfficientNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn(3, 8, 3, 2, act=nn.SiLU),
            MBConv(8, 8, 3, 1, 1), MBConv(8, 12, 3, 2, 4), MBConv(12, 12, 5, 1, 4), MBConv(12, 16, 5, 2, 4),
            _conv_bn(16, 32, 1, act=nn.SiLU))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# -- BERT-style encoder (Hugging Face's BertModel layout) ------------------------------------
class BertEmbeddings(nn.Module):
    def __init__(self, vocab: int, hidden: int, max_len: int, types: int = 2):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_len, hidden)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)
        self.register_buffer("position_ids", torch.arange(max_len).expand((1, -1)), persistent=False)
        self.register_buffer("token_type_ids", torch.zeros((1, max_len), dtype=torch.long), persistent=False)

    def forward(self, input_ids):
        seq = input_ids.shape[1]
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(self.token_type_ids[:, :seq])
        x = x + self.position_embeddings(self.position_ids[:, :seq])
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.head_size = heads, hidden // heads
        self.query, self.key, self.value = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.1)

    def _split(self, x):
        return x.view(x.size()[:-1] + (self.heads, self.head_size)).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size()[:-2] + (self.heads * self.head_size,))


class BertLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, inter: int):
        super().__init__()
        self.attention = BertSelfAttention(hidden, heads)
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, inter)
        self.output = nn.Linear(inter, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, mask):
        x = self.attention_norm(x + self.attention_output(self.attention(x, mask)))
        return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))  # GELU: the erf form


class Bert(nn.Module):
    """Token + token-type + position embeddings (Gather), additive attention mask built from the
    0/1 mask input (Where on a boolean mask), post-norm encoder layers (GELU, LayerNorm), and the
    pooler (first token, dense, tanh)."""

    def __init__(self, vocab: int = 50, hidden: int = 16, heads: int = 2, inter: int = 32, layers: int = 2,
                 max_len: int = 16):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, hidden, max_len)
        self.encoder = nn.ModuleList(BertLayer(hidden, heads, inter) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask):
        keep = attention_mask[:, None, None, :].bool()
        mask = torch.where(keep, 0.0, torch.finfo(torch.float32).min)  # additive: -inf-like where masked
        x = self.embeddings(input_ids)
        for layer in self.encoder:
            x = layer(x, mask)
        return torch.tanh(self.pooler(x[:, 0]))


# -- ViT (torchvision's VisionTransformer layout) ---------------------------------------------
class MLPBlock(nn.Sequential):
    def __init__(self, dim: int, hidden: int):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, hidden)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = self.dropout(y) + x
        return x + self.mlp(self.ln_2(x))


class ViTEncoder(nn.Module):
    def __init__(self, seq: int, layers: int, dim: int, heads: int, hidden: int):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        self.layers = nn.Sequential(*[EncoderBlock(dim, heads, hidden) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class ViT(nn.Module):
    """Conv patch embedding, flatten + transpose to tokens, class token expanded over the batch and
    concatenated, position embedding added, pre-norm encoder (nn.MultiheadAttention), head on the class token."""

    def __init__(self, image: int = 32, patch: int = 8, dim: int = 16, layers: int = 2, heads: int = 2,
                 hidden: int = 32, classes: int = 10):
        super().__init__()
        self.patch, self.dim = patch, dim
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.encoder = ViTEncoder((image // patch) ** 2 + 1, layers, dim, heads, hidden)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(dim, classes))

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def _bert_inputs(gen: torch.Generator) -> dict[str, torch.Tensor]:
    ids = torch.randint(1, 50, (2, 8), generator=gen)
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0  # the second sequence is padded
    ids[1, 5:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _image(*shape):
    return lambda gen: {"x": torch.randn(*shape, generator=gen)}


# name -> (constructor, inputs from a generator)
FAMILIES = {
    "densenet": (DenseNet, _image(2, 3, 32, 32)),
    "inception": (Inception, _image(2, 3, 32, 32)),
    "squeezenet": (SqueezeNet, _image(2, 3, 32, 32)),
    "shufflenet": (ShuffleNet, _image(2, 3, 32, 32)),
    "vgg": (VGG, _image(2, 3, 32, 32)),
    "vgg_bn": (lambda: VGG(batch_norm=True), _image(2, 3, 32, 32)),
    "efficientnet": (EfficientNet, _image(2, 3, 32, 32)),
    "bert": (Bert, _bert_inputs),
    "vit": (ViT, _image(2, 3, 32, 32)),
}
# exported with a symbolic batch dim N (on every input's axis 0)
DYNAMIC = {"densenet", "inception", "squeezenet", "shufflenet", "vgg", "efficientnet", "bert", "vit"}


def build(name: str, seed: int = 0) -> nn.Module:
    """The model with random weights and random batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    return randomize_batchnorm(FAMILIES[name][0]())


def inputs(name: str, seed: int = 1) -> dict[str, torch.Tensor]:
    return FAMILIES[name][1](torch.Generator().manual_seed(seed))


def export(model: nn.Module, feeds: dict[str, torch.Tensor], path: str, dynamo: bool, dynamic: bool = False) -> str:
    """torch.onnx.export of a model with named inputs (as onnx_torch_models.export: legacy without
    constant folding, dynamo with optimize=False); `dynamic`: a symbolic batch dim N on every input."""
    names = list(feeds)
    args = tuple(feeds.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            n = torch.export.Dim("N", min=2)
            shapes = tuple({0: n} for _ in names) if dynamic else None
            torch.onnx.export(model, args, path, dynamo=True, optimize=False, input_names=names,
                              output_names=["y"], verbose=False, dynamic_shapes=shapes)
        else:
            axes = {**{k: {0: "N"} for k in names}, "y": {0: "N"}} if dynamic else None
            torch.onnx.export(model, args, path, dynamo=False, do_constant_folding=False, input_names=names,
                              output_names=["y"], opset_version=17, dynamic_axes=axes)
    return path
