"""Translate images of any size with a trained generator.

An image is reflect-padded to the generator's size multiple, translated, and cropped back, so
the output has the input's size and aspect ratio (`inference.graph`); larger than memory allows, in
tiles (`inference.tiles`).
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.choices import DIRECTIONS
from cyclegan_tf.data.images import IMAGE_EXTENSIONS, Skipped, load_image, png_bytes, read_each
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import write_atomic
from cyclegan_tf.inference.graph import image_translator
from cyclegan_tf.inference.tiles import translate_tiled
from cyclegan_tf.models.builders import build_generator
from cyclegan_tf.models.registry import generator_attribute, translating_directions, translation_network
from cyclegan_tf.runs import checkpoints
from cyclegan_tf.runs.report import GAP, hstack


class Translator:
    """A generator with what it needs to translate whole images: channels and size multiple.

    It runs `inference.graph.ImageTranslator`, the model that export and the server run too. `training=False`
    (the default) runs batch norm on its moving statistics and dropout off. `training=True` runs the generator
    as in training (batch statistics of the one image, dropout on), as the pix2pix paper and the reference's
    test.py without `--eval` do.
    """

    def __init__(self, generator: keras.Model, net_g: str, training: bool = False, tile: int | None = None,
                 tile_overlap: int = 64):
        self.generator = generator
        self.tile, self.tile_overlap = tile, tile_overlap
        self.model = image_translator(generator, net_g, training=training)
        self.multiple, self.min_size = self.model.multiple, self.model.min_size
        self.channels = self.model.channels
        spec = tf.TensorSpec((None, None, None, self.channels), tf.uint8)
        self._run = tf.function(self.model, input_signature=[spec])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, C) in, uint8 (H, W, output channels) out; in tiles when larger than `tile` (see
        `inference.tiles`)."""
        if self.tile and max(image.shape[:2]) > self.tile:
            return translate_tiled(self.model, image, self.tile, self.tile_overlap)
        return self.batch(image[None])[0]

    def batch(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) in, uint8 (N, H, W, output channels) out, as one batch."""
        return self._run(tf.constant(images)).numpy()


def translators_of(generators: dict[str, keras.Model], net_g: str, tile: int | None = None
                   ) -> dict[str, Translator]:
    """{direction: Translator} of {direction: generator} (`load_generators`, `models.registry.model_generators`)."""
    return {direction: Translator(generator, net_g, tile=tile) for direction, generator in generators.items()}


def load_generators(checkpoint: checkpoints.Checkpoint, directions: Iterable[str] | None = None,
                    as_trained: bool = False) -> dict[str, keras.Model]:
    """The generators of an open checkpoint, with their weights, as they translate images (see
    `models.registry.translation_network`).

    Args:
        checkpoint: an open checkpoint (`runs.checkpoints.open_checkpoint`).
        directions: "AtoB" and/or "BtoA"; default: every direction the run translates.
        as_trained: the networks as the model trains them (colorization's L -> ab), not wrapped.

    Returns:
        {direction: generator}. Asking a pix2pix run for the direction it was not trained in is a `UserError`.
    """
    config = checkpoint.config
    translates = translating_directions(config)
    wanted = tuple(directions or translates)
    for direction in wanted:
        if direction not in DIRECTIONS:
            raise UserError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        if direction not in translates:
            raise UserError(f"{config.name} is a {config.model} run trained {', '.join(translates)} only: "
                            f"it cannot translate {direction}")
    out = {}
    for direction in wanted:
        generator = build_generator(config, direction)
        checkpoint.restore({generator_attribute(config, direction): generator})
        out[direction] = generator if as_trained else translation_network(config, generator)
    return out


def load_translator(checkpoint: Path | str, direction: str | None = "AtoB", epoch: int | None = None,
                    training: bool = False, tile: int | None = None, tile_overlap: int = 64) -> Translator:
    """The generator of `direction` from a run directory or a checkpoint directory, ready to translate.

    Args:
        checkpoint: a run directory (its newest checkpoint; safe while the run trains) or a checkpoint folder.
        direction: "AtoB" or "BtoA"; None: the run's first direction (a pix2pix run has only the one it was
            trained in).
        epoch: use the networks saved at this epoch.
        training: see `Translator`.
        tile: translate images larger than this in tiles of this size (`inference.tiles`); None: whole.
        tile_overlap: pixels shared by neighbouring tiles.

    Returns:
        A `Translator`: uint8 (H, W, C) in, uint8 (H, W, output channels) out.
    """
    with checkpoints.open_checkpoint(checkpoint, epoch) as opened:
        direction = direction or translating_directions(opened.config)[0]
        (generator,) = load_generators(opened, [direction]).values()
        return Translator(generator, opened.config.netG, training, tile, tile_overlap)


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
                    on_image: Callable[[Path], None] | None = None, grid: bool = False,
                    skipped: Skipped | None = None, strict: bool = False, max_pixels: int | None = None
                    ) -> list[Path]:
    """Translate each image into `output_dir/<stem>.png`, going on past files that cannot be read.

    Args:
        translator: the generator to use (`load_translator`).
        paths: image files (`expand_inputs`).
        output_dir: where the PNGs go (created); two inputs with one stem become `<stem>.png` and `<stem>_2.png`.
        on_image: called with each input's path once it is done (or skipped), e.g. to move a progress bar.
        grid: write input | output side by side instead of the output alone.
        skipped: collects the unreadable files (each is warned about once); None: a new one, not returned.
        strict: stop at the first unreadable file with a `UserError` instead.
        max_pixels: refuse images with more pixels (`data.images.open_image`).

    Returns:
        The written PNGs, in the order of `paths`.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    skipped = skipped if skipped is not None else Skipped()
    written, used = [], set()
    for path in paths:
        images = read_each([path], lambda p: load_image(p, translator.channels, max_pixels), skipped, strict)
        for image in images:
            output = translator(image)
            if grid:
                output = hstack([image, output], GAP)
            name, n = f"{path.stem}.png", 1
            while name in used:  # same stem from two folders: keep both
                n += 1
                name = f"{path.stem}_{n}.png"
            used.add(name)
            written.append(write_atomic(output_dir / name, png_bytes(output)))
        if on_image:
            on_image(path)
    return written
