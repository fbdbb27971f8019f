"""The pictures `graphc train` leaves in the run folder after every epoch: curves.png always,
samples.png for generative models (see graphc/training/plots.py for their layout)."""

from __future__ import annotations

import weakref

from graphc.training.generative import GanPictures, vae_pictures
from graphc.training.plots import write_curves

_VAE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GAN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def write_pictures(trainer, out_dir: str, history: list[dict]) -> None:
    """curves.png, and samples.png when the trained model is a VAE (a Trainer)."""
    write_curves(out_dir, history, trainer.graph.name)
    if trainer not in _VAE:
        _VAE[trainer] = vae_pictures(trainer) or False
    if _VAE[trainer]:
        _VAE[trainer].write(out_dir, trainer.runner.current, history[-1]["epoch"])


def gan_epoch(trainer, record: dict, out_dir: str | None, history: list[dict]) -> None:
    """Add the discriminator's accuracies to `record`; write curves.png and samples.png (a GanTrainer)."""
    if trainer not in _GAN:
        _GAN[trainer] = GanPictures(trainer)
    pictures = _GAN[trainer]
    record.update(pictures.accuracy())
    if out_dir:
        write_curves(out_dir, history, "GAN")
        pictures.write(out_dir, record["epoch"])
