"""PyTorch twins of the specs that tests/torch_models.py does not cover (yet), for bench/inference.py.

Same format as `torch_models.TWINS` (spec name -> (factory, inputs without the batch dim)),
plus `graphc_state(module)`: the module's weights under the spec's parameter names
(nn.LSTM's `weight_ih_l0` -> `lstm.weight_ih`, nn.MultiheadAttention's packed `in_proj_weight`
-> `att.q.weight`, `.k.weight`, `.v.weight`, `out_proj` -> `att.out`). Each twin follows the
PyTorch model written in its spec's header comment. Sequence lengths are fixed (T = 16, S = 12).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

T, S = 16, 12


def _mha(mha: nn.MultiheadAttention, prefix: str) -> dict[str, torch.Tensor]:
    """nn.MultiheadAttention's weights as graphc's attention parameters."""
    if mha.in_proj_weight is not None:
        q, k, v = mha.in_proj_weight.chunk(3)
    else:
        q, k, v = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
    qb, kb, vb = mha.in_proj_bias.chunk(3)
    return {f"{prefix}.q.weight": q, f"{prefix}.q.bias": qb, f"{prefix}.k.weight": k, f"{prefix}.k.bias": kb,
            f"{prefix}.v.weight": v, f"{prefix}.v.bias": vb, f"{prefix}.out.weight": mha.out_proj.weight,
            f"{prefix}.out.bias": mha.out_proj.bias}


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.logits = nn.Linear(32, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.logits(h[-1])

    def graphc_state(self):
        return {k.replace("_l0", ""): v for k, v in self.state_dict().items()}


class CharRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(96, 32)
        self.rnn = nn.RNN(32, 128, batch_first=True)
        self.logits = nn.Linear(128, 96)

    def forward(self, chars):
        y, h = self.rnn(self.embed(chars))
        return self.logits(y), h[-1]

    def graphc_state(self):
        return {k.replace("_l0", ""): v for k, v in self.state_dict().items()}


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(1000, 64)
        self.gru = nn.GRU(64, 64, num_layers=2, bidirectional=True, batch_first=True)
        self.logits = nn.Linear(128, 2)

    def forward(self, tokens):
        _, h = self.gru(self.embed(tokens))
        return self.logits(torch.cat([h[-2], h[-1]], -1))


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_att = nn.MultiheadAttention(64, 4, batch_first=True)
        self.norm = nn.LayerNorm(64)
        self.cross_att = nn.MultiheadAttention(64, 4, kdim=32, vdim=32, batch_first=True)

    def forward(self, x, memory):
        mask = torch.triu(torch.full((x.shape[1], x.shape[1]), float("-inf")), 1)
        a, _ = self.self_att(x, x, x, attn_mask=mask, need_weights=False)
        n = self.norm(x + a)
        c, _ = self.cross_att(n, memory, memory, need_weights=False)
        return c

    def graphc_state(self):
        return {**_mha(self.self_att, "self_att"), "norm.weight": self.norm.weight, "norm.bias": self.norm.bias,
                **_mha(self.cross_att, "cross_att")}


class EncoderLayer(nn.Module):
    def __init__(self, d: int = 128, heads: int = 4, ff: int = 512):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.dense_1 = nn.Linear(d, ff)
        self.ff_out = nn.Linear(ff, d)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.att(h, h, h, need_weights=False)[0]
        return x + self.ff_out(F.gelu(self.dense_1(self.ln2(x))))


class TransformerEncoder(nn.Module):
    def __init__(self, layers: int = 6):
        super().__init__()
        self.embedding_1 = nn.Embedding(1000, 128)
        self.encoder_layer_1 = nn.ModuleList([EncoderLayer() for _ in range(layers)])
        self.final_norm = nn.LayerNorm(128)
        self.logits = nn.Linear(128, 2)

    def forward(self, tokens):
        x = self.embedding_1(tokens)
        for layer in self.encoder_layer_1:
            x = layer(x)
        return self.logits(self.final_norm(x).mean(1))

    def graphc_state(self):
        state = {k: v for k, v in self.state_dict().items() if ".att." not in k}
        for i, layer in enumerate(self.encoder_layer_1):
            state.update(_mha(layer.att, f"encoder_layer_1.{i}.att"))
        return state


class VAE(nn.Module):
    """Inference form: z = mu (the spec's reparameterize without sample: true)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(784, 400)
        self.mu = nn.Linear(400, 20)
        self.logvar = nn.Linear(400, 20)
        self.dec = nn.Linear(20, 400)
        self.recon = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        return torch.sigmoid(self.recon(F.relu(self.dec(mu)))), mu, logvar


class Generator(nn.Module):
    """The first model of gan.yaml (graphc.load's default model)."""

    def __init__(self):
        super().__init__()
        self.dense_1 = nn.Linear(100, 128)
        self.dense_2 = nn.Linear(128, 784)

    def forward(self, z):
        return torch.tanh(self.dense_2(F.relu(self.dense_1(z))))


EXTRA_TWINS = {
    "lstm_classifier": (LSTMClassifier, {"x": ((8, 8), "float32")}),
    "rnn": (CharRNN, {"chars": ((T,), "int64")}),
    "gru": (GRUClassifier, {"tokens": ((T,), "int64")}),
    "self_attention": (SelfAttention, {"x": ((T, 64), "float32"), "memory": ((S, 32), "float32")}),
    "transformer_encoder": (TransformerEncoder, {"tokens": ((T,), "int64")}),
    "vae": (VAE, {"x": ((784,), "float32")}),
    "gan": (Generator, {"z": ((100,), "float32")}),
}


def graphc_state(module: nn.Module) -> dict[str, np.ndarray]:
    """The weights under the spec's parameter names (batch-norm counters left out)."""
    state = module.graphc_state() if hasattr(module, "graphc_state") else module.state_dict()
    return {k: v.detach().numpy().copy() for k, v in state.items() if not k.endswith("num_batches_tracked")}
