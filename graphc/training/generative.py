"""What generative runs show each epoch: samples.png (GAN and VAE) and the GAN discriminator's
accuracy on real and generated rows (`d_acc_real`, `d_acc_fake` in the history): the share of
the first 4,096 real rows it scores > 0.5, and of as many generated rows (noise
N(0, 1) from numpy's default_rng([seed, 8]), the same every epoch) it scores < 0.5.

A VAE is a trained graph with a `reparameterize` node: its reconstruction is the output a loss
compares with a graph input (through a sigmoid for `*_with_logits` losses), its decoder the same
graph fed z in place of the reparameterized value. Noise is fixed per run (seeded), so the
pictures of successive epochs show the same samples improving.
"""

from __future__ import annotations

import os

import numpy as np

from graphc.ir.graph import Graph
from graphc.training.plots import image_grid
from graphc.training.runner import _session
from graphc.training.step import forward_with_params

SHOWN = 8  # samples per row


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _params_session(graph: Graph, output: str, provider: str = "auto"):
    """An onnxruntime session of `graph` computing `output`, with parameters as `param.<p>` inputs."""
    g = graph.clone()
    g.outputs = [next(v for v in g.values() if v.name == output)]
    g.prune()
    read = {id(v) for n in g.nodes for v in n.inputs}
    g.inputs = [v for v in g.inputs if id(v) in read]
    return _session(forward_with_params(g), provider)


def _run(session, feeds: dict[str, np.ndarray]) -> np.ndarray:
    names = {i.name for i in session.get_inputs()}
    return session.run(["out"], {k: v for k, v in feeds.items() if k in names})[0]


class VaePictures:
    """samples.png for a VAE: inputs, reconstructions and prior samples, one row each."""

    def __init__(self, graph: Graph, cfg, splits, provider: str = "auto"):
        inputs = {v.name for v in graph.inputs}
        term = next(t for t in cfg.losses if len(t.args) >= 2 and t.args[1] in inputs and t.args[0] not in inputs)
        self.recon, self.target = term.args[0], term.args[1]
        self.squash = term.kind.endswith("_with_logits")
        self.recon_session = _params_session(graph, self.recon, provider)
        node = next(n for n in graph.nodes if n.op == "reparameterize")
        z = node.outputs[0]
        dec = graph.clone()
        z_in = next(v for v in dec.values() if v.name == z.name)
        new = dec.add_input("vae_z", z_in.type)
        for n in dec.nodes:
            n.inputs = [new if v is z_in else v for v in n.inputs]
        self.decoder = _params_session(dec, self.recon, provider)
        rows = (splits.val or splits.train)[self.target][:SHOWN]
        self.inputs = np.asarray(rows, np.float32)
        shape = tuple(d if isinstance(d, int) else SHOWN for d in z.shape)
        self.z = np.random.default_rng([cfg.seed, 7]).standard_normal((SHOWN,) + shape[1:]).astype(np.float32)

    def write(self, out_dir: str, current: dict[str, np.ndarray], epoch: int) -> None:
        params = {k: v for k, v in current.items() if k.startswith("param.")}
        recon = _run(self.recon_session, {**params, self.target: self.inputs, "seed": np.zeros((), np.int64)})
        samples = _run(self.decoder, {**params, "vae_z": self.z})
        if self.squash:
            recon, samples = _sigmoid(recon), _sigmoid(samples)
        image_grid([("input", self.inputs), ("reconstruction", recon), ("sample", samples)],
                   os.path.join(out_dir, "samples.png"), f"epoch {epoch}")


def vae_pictures(trainer) -> VaePictures | None:
    """Pictures for a Trainer whose model is a VAE (else None)."""
    if not any(n.op == "reparameterize" for n in trainer.graph.nodes):
        return None
    try:
        return VaePictures(trainer.graph, trainer.cfg, trainer.splits)
    except StopIteration:  # no loss compares an output with an input: nothing to reconstruct
        return None


class GanPictures:
    """Discriminator accuracy on real and fake rows, and samples.png of the generator."""

    EVAL_ROWS = 4096  # real rows scored (all of them for the bundled data sets)

    def __init__(self, trainer):
        self.t = trainer
        out = trainer.disc.outputs[0].name
        self.disc = _params_session(trainer.disc, out)
        self.noise = np.random.default_rng([trainer.cfg.seed, 7]).standard_normal(
            (SHOWN * SHOWN,) + trainer.noise_shape).astype(np.float32)
        n = min(len(trainer.data), self.EVAL_ROWS)
        self.real = trainer.data[:n]
        self.eval_noise = np.random.default_rng([trainer.cfg.seed, 8]).standard_normal(
            (n,) + trainer.noise_shape).astype(np.float32)

    def accuracy(self) -> dict[str, float]:
        t = self.t
        params = {f"param.{p}": t.d.current[f"param.{p}"] for p in t.d_step.params}
        real_in = t.gan["real"]
        fake = t._generate(self.eval_noise).reshape(self.real.shape)
        p_real = _run(self.disc, {**params, real_in: self.real})
        p_fake = _run(self.disc, {**params, real_in: fake})
        return {"d_acc_real": float(np.mean(p_real > 0.5)), "d_acc_fake": float(np.mean(p_fake < 0.5))}

    def write(self, out_dir: str, epoch: int) -> None:
        fake = self.t._generate(self.noise)
        rows = [("", fake[r * SHOWN:(r + 1) * SHOWN]) for r in range(SHOWN)]
        image_grid(rows, os.path.join(out_dir, "samples.png"), f"generator samples, epoch {epoch}")
