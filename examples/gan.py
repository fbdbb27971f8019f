"""GAN: alternating training of specs/train_gan.yaml, then sampling digits from the generator.

    python examples/gan.py [--epochs 5] [--samples 3] [--out DIR]

The spec has three models: `generator` (noise z [N, 16] -> 64 pixels), `discriminator`
(64 pixels -> probability of real) and `gan` (the two chained, sharing their weights). Its
`training: {gan: ...}` section makes `Model.fit` (like `graphc train`) alternate a discriminator
step and a generator step per batch (docs/training.md). `graphc.load` picks the first model,
the generator, which gets the trained weights; sampling is then a plain `Model.run`.
Files go to DIR (default: a new temporary folder), never into the repository: the run folder
(generator.onnx, weights.npz, history.json, checkpoint/) and samples.npy.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import graphc

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "train_gan.yaml")
SHADES = " .:-=+*#%@"


def ascii_image(pixels: np.ndarray) -> list[str]:
    """An 8x8 image with values in [0, 1] as 8 lines of characters (2 per pixel)."""
    idx = np.clip((pixels * len(SHADES)).astype(int), 0, len(SHADES) - 1)
    return ["".join(SHADES[i] * 2 for i in row) for row in idx.reshape(8, 8)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs to train (the spec says 20)")
    parser.add_argument("--samples", type=int, default=3, help="digits to sample")
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="graphc-gan-")
    os.makedirs(out, exist_ok=True)

    generator = graphc.load(SPEC)  # the first model of the spec: the generator
    history = generator.fit(out=os.path.join(out, "run"), epochs=args.epochs, verbose=False)
    for record in history:
        print(f"epoch {record['epoch']}: d_loss {record['d_loss']:.3f}  g_loss {record['g_loss']:.3f}")

    z = np.random.default_rng(0).standard_normal((args.samples, 16)).astype(np.float32)
    images = generator.run({"z": z})["image"]
    np.save(os.path.join(out, "samples.npy"), images)
    rows = [ascii_image(image) for image in images]
    for line in zip(*rows):
        print("   ".join(line))
    print(f"sampled {len(images)} digits of shape {images.shape[1:]} into {out}")


if __name__ == "__main__":
    main()
