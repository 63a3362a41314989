"""Images from a generator of noise (a DCGAN run): `cyclegan-tf generate`, sample grids and FID of generation.

    from cyclegan_tf.inference.sampler import load_sampler
    images = load_sampler("checkpoints/cats").sample(16, seed=1)   # uint8 (16, 64, 64, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.data.images import png_bytes
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import write_atomic
from cyclegan_tf.inference.graph import ImageGenerator
from cyclegan_tf.models.registry import all_models, build_generator, generates
from cyclegan_tf.runs import checkpoints
from cyclegan_tf.runs.report import GAP, hstack, vstack


def noise(count: int, nz: int, seed: int | None = 0) -> np.ndarray:
    """`count` noise vectors z ~ N(0, I) of size `nz`, float32; the same for one seed (None: a fresh draw)."""
    return np.random.default_rng(seed).standard_normal((count, nz)).astype(np.float32)


class Sampler:
    """A generator of noise with what it needs to make uint8 images in batches.

    Args:
        generator: a network from (N, nz) to images in [-1, 1] (`nn.networks.dcgan_generator`).
        batch_size: images per call.
    """

    def __init__(self, generator: keras.Model, batch_size: int = 64):
        self.model = ImageGenerator(generator)
        self.nz, self.image_shape, self.batch_size = self.model.nz, self.model.image_shape, batch_size
        self._run = tf.function(self.model, input_signature=[tf.TensorSpec((None, self.nz), tf.float32)])

    def from_noise(self, z: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) images of noise vectors (N, nz)."""
        parts = [self._run(tf.constant(z[i:i + self.batch_size])).numpy() for i in range(0, len(z), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.image_shape), np.uint8)

    def sample(self, count: int, seed: int | None = 0) -> np.ndarray:
        """`count` images, uint8 (count, H, W, C); one seed gives the same images."""
        return self.from_noise(noise(count, self.nz, seed))


def load_sampler(run: Path | str, epoch: int | None = None) -> Sampler:
    """The generator of a DCGAN run (its newest readable checkpoint, or that of `epoch`), ready to sample.

    Args:
        run: a run directory or a checkpoint folder.
        epoch: use the networks saved at this epoch.

    Returns:
        A `Sampler`; a run that translates rather than generates is a `UserError`.
    """
    with checkpoints.open_checkpoint(run, epoch) as opened:
        return sampler_of(opened)


def sampler_of(checkpoint: checkpoints.Checkpoint) -> Sampler:
    """The `Sampler` of an open checkpoint of a DCGAN run; another model's is a `UserError`."""
    return Sampler(noise_generator(checkpoint))


def noise_generator(checkpoint: checkpoints.Checkpoint) -> keras.Model:
    """The generator of an open checkpoint of a DCGAN run, with its weights; another model's is a `UserError`."""
    config = checkpoint.config
    if not generates(config):
        makers = " or ".join(name for name, model in all_models().items() if model.GENERATES)
        raise UserError(f"run {config.name} is a {config.model} run: it translates images (cyclegan-tf translate); "
                        f"only a {makers} run generates from noise")
    generator = build_generator(config)
    checkpoint.restore({"G": generator})
    return generator


def grid_of(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """One image of many: rows of `columns` (default: a square's side) images, GAP pixels apart."""
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = [hstack(list(images[i:i + columns]), GAP) for i in range(0, len(images), columns)]
    if len(rows) > 1 and rows[-1].shape[1] < rows[0].shape[1]:  # a last row that is not full: pad it
        padded = np.full_like(rows[0], 255)
        padded[:, :rows[-1].shape[1]] = rows[-1]
        rows[-1] = padded
    return vstack(rows, GAP)


def generate_files(sampler: Sampler, count: int, output_dir: Path | str, seed: int | None = 0, grid: bool = False,
                   on_images: Callable[[int], None] | None = None) -> list[Path]:
    """`count` images as `output_dir/generated_NNNNN.png` (and `grid.png` of them all with `grid`).

    Args:
        sampler: the generator (`load_sampler`).
        count: how many images.
        output_dir: where the PNGs go (created).
        seed: the noise's seed: one seed gives the same images; None draws fresh noise.
        grid: also write all of them in one `grid.png`.
        on_images: called with the number of images written after each batch (a progress bar).

    Returns:
        The PNGs written.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    z = noise(count, sampler.nz, seed)
    digits = max(5, len(str(count)))
    written, images = [], []
    for start in range(0, count, sampler.batch_size):
        batch = sampler.from_noise(z[start:start + sampler.batch_size])
        for i, image in enumerate(batch):
            written.append(write_atomic(output_dir / f"generated_{start + i:0{digits}d}.png", png_bytes(image)))
        if grid:
            images.extend(batch)
        if on_images:
            on_images(len(batch))
    if grid:
        written.append(write_atomic(output_dir / "grid.png", png_bytes(grid_of(np.stack(images)))))
    return written
