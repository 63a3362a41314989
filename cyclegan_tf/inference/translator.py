"""Translate images of any size with a trained generator.

An image is reflect-padded to the generator's size multiple, translated, and cropped back, so
the output has the input's size and aspect ratio.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from cyclegan_tf.choices import DIRECTIONS
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.images import IMAGE_EXTENSIONS, load_image, to_uint8
from cyclegan_tf.errors import UserError
from cyclegan_tf.models.builders import build_generator
from cyclegan_tf.models.registry import generator_attribute, run_directions
from cyclegan_tf.nn.networks import min_input_size, size_multiple
from cyclegan_tf.runs import checkpoints
from cyclegan_tf.runs.report import GAP, hstack


class Translator:
    """A generator with what it needs to translate whole images: channels and size multiple.

    `training=False` (the default) runs batch norm on its moving statistics and dropout off. `training=True`
    runs the generator as in training (batch statistics of the one image, dropout on), as the pix2pix paper
    and the reference's test.py without `--eval` do.
    """

    def __init__(self, generator: keras.Model, net_g: str, training: bool = False):
        self.generator = generator
        self.multiple = size_multiple(net_g)
        self.min_size = min_input_size(net_g)
        self.channels = generator.input_shape[-1]
        self._run = tf.function(lambda x: generator(x, training=training), reduce_retracing=True)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, C) in, uint8 (H, W, output channels) out."""
        height, width = image.shape[:2]
        pad_h, pad_w = (max(self.min_size, size + -size % self.multiple) - size for size in (height, width))
        x = image.astype(np.float32) / 127.5 - 1.0
        # numpy's reflect pads beyond the image's own size by reflecting again (small inputs).
        x = np.pad(x, [(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)], mode="reflect"
                   if min(height, width) > 1 else "edge")
        y = self._run(tf.constant(x[None]))[0].numpy()
        return to_uint8(y[pad_h // 2: pad_h // 2 + height, pad_w // 2: pad_w // 2 + width])


def load_generators(checkpoint: Path, config: TrainConfig, directions: Iterable[str] | None = None
                    ) -> dict[str, keras.Model]:
    """{direction: generator with its weights} from a checkpoint directory, for `directions` (default: all the
    run's). Asking a pix2pix run for the direction it was not trained in is a `UserError`."""
    wanted = tuple(directions or run_directions(config))
    for direction in wanted:
        if direction not in DIRECTIONS:
            raise UserError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        if direction not in run_directions(config):
            raise UserError(f"{config.name} is a pix2pix run trained {config.direction} only: it cannot translate "
                            f"{direction}")
    out = {}
    for direction in wanted:
        generator = build_generator(config, direction)
        checkpoints.restore(checkpoint, {generator_attribute(config, direction): generator})
        out[direction] = generator
    return out


def load_translator(checkpoint: Path | str, direction: str | None = "AtoB", epoch: int | None = None,
                    training: bool = False) -> Translator:
    """The generator of `direction` from a run directory or a checkpoint directory.

    A pix2pix run has one generator, for the direction it was trained in; `direction` None means that one
    (AtoB for a CycleGAN). `training`: see `Translator`.
    """
    path = checkpoints.find_checkpoint(Path(checkpoint), epoch)
    config = TrainConfig.load(path / "config.json")
    direction = direction or run_directions(config)[0]
    (generator,) = load_generators(path, config, [direction]).values()
    return Translator(generator, config.netG, training)


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Image files from files, folders (their images) and glob patterns, in the order given."""
    found: list[Path] = []
    for item in inputs:
        matches = [Path(p) for p in sorted(glob.glob(item))] if glob.has_magic(item) else [Path(item)]
        if not matches:
            raise UserError(f"no file matches {item}")
        for path in matches:
            if path.is_dir():
                found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()))
            elif path.is_file():
                found.append(path)
            else:
                raise UserError(f"input not found: {path}")
    if not found:
        raise UserError("no images to translate")
    return found


def translate_files(translator: Translator, paths: list[Path], output_dir: Path,
                    on_image: Callable[[Path], None] | None = None, grid: bool = False) -> list[Path]:
    """Translate each image into `output_dir/<stem>.png` (with `grid`: input | output side by side);
    returns the written paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written, used = [], set()
    for path in paths:
        try:
            image = load_image(path, translator.channels)
        except Exception as error:  # noqa: BLE001 - any decoding failure is the user's file
            raise UserError(f"cannot read image {path}: {error}") from None
        output = translator(image)
        if grid:
            output = hstack([image, output], GAP)
        name, n = f"{path.stem}.png", 1
        while name in used:  # same stem from two folders: keep both
            n += 1
            name = f"{path.stem}_{n}.png"
        used.add(name)
        Image.fromarray(output[..., 0] if output.shape[-1] == 1 else output).save(output_dir / name)
        written.append(output_dir / name)
        if on_image:
            on_image(path)
    return written
