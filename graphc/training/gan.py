"""GAN-style alternating training (`training: {gan: {...}}`), as the Keras GAN examples do.

Each batch runs two compiled train steps:

1. discriminator step (graph of the `discriminator` model): real rows with target 1 and
   generated rows with target 0, loss bce(discriminator output, target), updates only the
   discriminator's parameters;
2. generator step (graph of the `combined` model, which uses the generator and then the
   discriminator as layers and so shares their weights): fresh noise with target 1, loss
   bce(combined output, target), updates only `generator.*` (the discriminator is frozen).

Noise is N(0, 1) from numpy's generator seeded by (seed, step), so resumed runs are identical.
Parameters are named as in the combined model: `generator.<p>` and `discriminator.<p>`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import numpy as np

from graphc.errors import SpecError, did_you_mean
from graphc.export.onnx_export import model_bytes
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.training import checkpoint
from graphc.training.config import LossTerm, TrainConfig
from graphc.training.data import epoch_batches, make_splits
from graphc.training.pictures import gan_epoch
from graphc.training.progress import EpochBar
from graphc.training.faults import check_loss
from graphc.training.runner import StepRunner, _session
from graphc.training.step import build_train_step, forward_with_params
from graphc.util.atomic import atomic_path, write_bytes, write_text


def _with_target(graph: Graph) -> tuple[Graph, str]:
    """A copy of a one-output model graph with a float `target` input shaped like its output."""
    g = graph.clone()
    out = g.outputs[0]
    g.add_input("gan_target", TensorType(out.dtype, out.shape))
    name = next((l.name for l in g.layers if out.name in l.outputs), out.name)
    return g, name


class GanTrainer:
    def __init__(self, spec, cfg: TrainConfig, provider: str = "auto", threads: int | None = None):
        gan = cfg.gan
        for key in ("generator", "discriminator", "combined"):
            if gan[key] not in spec.models:
                raise SpecError(f"gan: no model '{gan[key]}' in this spec", gan["loc"],
                                did_you_mean(gan[key], spec.models) or f"models: {', '.join(spec.models)}")
        self.cfg, self.gan = cfg, gan
        self.gen = spec.build(gan["generator"])
        disc = self.disc = spec.build(gan["discriminator"])
        combined = spec.build(gan["combined"])
        d_graph, d_out = _with_target(disc)
        c_graph, c_out = _with_target(combined)
        d_cfg = replace(cfg, losses=[LossTerm("bce", [d_out, "gan_target"], 1.0, gan["loc"])], metrics=[])
        c_cfg = replace(cfg, losses=[LossTerm("bce", [c_out, "gan_target"], 1.0, gan["loc"])], metrics=[])
        self.d_step = build_train_step(d_graph, d_cfg)
        prefix = gan["generator"] + "."
        self.g_step = build_train_step(c_graph, c_cfg, train_only=lambda name: name.startswith(prefix))
        self.d = StepRunner(self.d_step, provider, threads)
        self.g = StepRunner(self.g_step, provider, threads)
        self.sampler = _session(forward_with_params(self.gen), provider, threads)
        names = [v.name for v in disc.inputs]
        if gan["real"] not in names:
            raise SpecError(f"gan: real '{gan['real']}' is not an input of {gan['discriminator']}", gan["loc"],
                            did_you_mean(gan["real"], names))
        gnames = [v.name for v in self.gen.inputs]
        if gan["noise"] not in gnames:
            raise SpecError(f"gan: noise '{gan['noise']}' is not an input of {gan['generator']}", gan["loc"],
                            did_you_mean(gan["noise"], gnames))
        self.noise_shape = tuple(d for d in next(v for v in self.gen.inputs if v.name == gan["noise"]).shape[1:])
        self.combined_input = next(v.name for v in combined.inputs)
        real = next(v for v in disc.inputs if v.name == gan["real"])
        self.data = make_splits(replace(cfg, validation_split=0.0, test_split=0.0), [real]).train[gan["real"]]

    def _noise(self, n: int, step: int, stream: int) -> np.ndarray:
        rng = np.random.default_rng([self.cfg.seed, step, stream])
        return rng.standard_normal((n,) + self.noise_shape).astype(np.float32)

    def _sync_discriminator(self) -> None:
        """Copy the discriminator's current weights into the generator step's frozen inputs."""
        cur, dst = self.d.current, self.g.current
        for p in self.d_step.params:
            np.copyto(dst[f"param.{self.gan['discriminator']}.{p}"], cur[f"param.{p}"])

    def _generate(self, z: np.ndarray) -> np.ndarray:
        cur = self.g.current
        prefix = f"param.{self.gan['generator']}."
        feeds = {f"param.{n[len(prefix):]}": v for n, v in cur.items() if n.startswith(prefix)}
        feeds[self.gan["noise"]] = z
        return self.sampler.run(["out"], feeds)[0]

    def fit(self, out_dir: str | None, epochs: int | None = None, resume: bool = False, log=print,
            tty: bool = False) -> list[dict]:
        epochs = epochs or self.cfg.epochs
        ckpt = os.path.join(out_dir, "checkpoint") if out_dir else None
        history, start = [], 0
        if resume:
            if ckpt is None:
                raise SpecError("resume needs a run folder (--out)")
            arrays, meta = checkpoint.load(ckpt)
            self.d.load({k[2:]: v for k, v in arrays.items() if k.startswith("d/")})
            self.g.load({k[2:]: v for k, v in arrays.items() if k.startswith("g/")})
            history, start = meta["history"], meta["epoch"]
        real_name = self.gan["real"]
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            d_sum = g_sum = 0.0
            batches = epoch_batches(len(self.data), self.cfg.batch_size, self.cfg.seed, epoch, self.cfg.shuffle)
            bar = EpochBar(epoch + 1, epochs, len(batches)) if tty and log else None
            for batch, idx in enumerate(batches, 1):
                step = self.d.global_step
                n = len(idx)
                fake = self._generate(self._noise(n, step, 0))
                x = np.concatenate([self.data[idx], fake.reshape((n,) + self.data.shape[1:])])
                target = np.concatenate([np.ones((n, 1), np.float32), np.zeros((n, 1), np.float32)])
                d_out = self.d.run({real_name: x, "gan_target": target}, step)
                self._sync_discriminator()
                g_out = self.g.run({self.combined_input: self._noise(n, step, 1),
                                    "gan_target": np.ones((n, 1), np.float32)}, step)
                check_loss(d_out["loss"], epoch + 1, step + 1, batch, "discriminator loss")
                check_loss(g_out["loss"], epoch + 1, step + 1, batch, "generator loss")
                d_sum += d_out["loss"] * n
                g_sum += g_out["loss"] * n
                if bar:
                    bar(batch, len(batches), d_out["loss"])
            if bar:
                bar.close()
            record = {"epoch": epoch + 1, "d_loss": d_sum / len(self.data), "g_loss": g_sum / len(self.data)}
            history.append(record)
            gan_epoch(self, record, out_dir, history)  # d_acc_real, d_acc_fake; curves.png, samples.png
            record["seconds"] = round(time.perf_counter() - t0, 4)
            if log:
                log(f"epoch {epoch + 1}/{epochs}  d_loss {record['d_loss']:.4f}  g_loss {record['g_loss']:.4f}  "
                    f"d_acc_real {record['d_acc_real']:.3f}  d_acc_fake {record['d_acc_fake']:.3f}  "
                    f"{record['seconds']:.2f}s")
            if out_dir:
                arrays = {f"d/{k}": v.copy() for k, v in self.d.current.items()}
                arrays.update({f"g/{k}": v.copy() for k, v in self.g.current.items()})
                checkpoint.save(ckpt, arrays, {"epoch": epoch + 1, "history": history, "seed": self.cfg.seed})
                write_text(os.path.join(out_dir, "history.json"), json.dumps(history, indent=1) + "\n")
        if out_dir:
            self._write(out_dir)
        return history

    def weights(self) -> dict[str, np.ndarray]:
        """Trained parameters, named as in the combined model (generator.<p>, discriminator.<p>)."""
        d = {f"{self.gan['discriminator']}.{p}": self.d.current[f"param.{p}"].copy() for p in self.d_step.params}
        prefix = f"{self.gan['generator']}."
        g = {p: self.g.current[f"param.{p}"].copy() for p in self.g_step.params if p.startswith(prefix)}
        return {**g, **d}

    def _write(self, out_dir: str) -> None:
        weights = self.weights()
        with atomic_path(os.path.join(out_dir, "weights.npz"), suffix=".npz") as tmp:
            np.savez(tmp, **weights)
        prefix = f"{self.gan['generator']}."
        for name, p in self.gen.params.items():
            p.data = weights[prefix + name]
        gen = self.gen.clone()
        gen.name = self.gan["generator"]
        write_bytes(os.path.join(out_dir, "generator.onnx"), model_bytes(gen))
