"""Translate images of any size with a trained generator.

An image is reflect-padded to the generator's size multiple, translated, and cropped back, so
the output has the input's size and aspect ratio (`inference.graph`); larger than memory allows, in
tiles (`inference.tiles`).
"""

from __future__ import annotations

import glob
import io
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.choices import DIRECTIONS
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.images import IMAGE_EXTENSIONS, Skipped, attempt, load_image, png_bytes, record
from cyclegan_tf.data.scientific import (
    ValueRange,
    direction_scaling,
    encode_file,
    load_scaled,
    output_suffix,
    view_of,
)
from cyclegan_tf.errors import UserError
from cyclegan_tf.files import write_atomic
from cyclegan_tf.inference.graph import image_translator
from cyclegan_tf.inference.tiles import translate_tiled
from cyclegan_tf.models.registry import (
    build_generator,
    generator_attribute,
    translating_directions,
    translation_network,
)
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
                 tile_overlap: int = 64, scales: tuple[ValueRange | None, ValueRange | None] = (None, None)):
        self.generator = generator
        self.tile, self.tile_overlap = tile, tile_overlap
        self.scales = scales  # (input's, output's) value range of scientific images (`data.scientific`); None: 8-bit
        ranges = [None if scale is None else (scale.low, scale.high) for scale in scales]
        self.model = image_translator(generator, net_g, training=training, in_range=ranges[0], out_range=ranges[1])
        self.multiple, self.min_size = self.model.multiple, self.model.min_size
        self.channels = self.model.channels
        spec = tf.TensorSpec((None, None, None, self.channels), self.model.pixel_dtype)
        self._run = tf.function(self.model, input_signature=[spec])

    def read(self, path: Path | str | io.BytesIO, max_pixels: int | None = None) -> np.ndarray:
        """An input file as this translator takes it: uint8, or a scientific domain's float32 values."""
        if self.scales[0] is None:
            return load_image(path, self.channels, max_pixels)
        return load_scaled(path, self.channels, self.scales[0], max_pixels)

    def encode(self, output: np.ndarray, depth: str | None = None, like: str = "") -> tuple[str, bytes]:
        """(suffix, file bytes) of an output: a PNG of uint8; a scientific one at `depth` (8, 16, float; default:
        its domain's) in the format that holds it (`data.scientific.output_suffix`; `.npy` when `like` is)."""
        if self.scales[1] is None:
            return ".png", png_bytes(output)
        values = self.scales[1].encode(output, depth)
        suffix = output_suffix(values, like)
        return suffix, encode_file(values, suffix)

    def view(self, image: np.ndarray, output: bool = False) -> np.ndarray:
        """An 8-bit picture of an input (or `output`) image for grids: itself when 8-bit (`ValueRange.view`)."""
        return view_of(image, self.scales[1 if output else 0])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, C) in, uint8 (H, W, output channels) out (scientific: float32 values in and out, see
        `scales`); in tiles when larger than `tile` (see `inference.tiles`)."""
        if self.tile and max(image.shape[:2]) > self.tile:
            return translate_tiled(self.model, image, self.tile, self.tile_overlap)
        return self.batch(image[None])[0]

    def batch(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) in, uint8 (N, H, W, output channels) out, as one batch."""
        return self._run(tf.constant(images)).numpy()

    def many(self, images: list[np.ndarray], max_batch: int = 8) -> list[np.ndarray]:
        """Each of `images` (uint8 (H, W, C), any sizes) translated, in order: the images of one size in batches
        of up to `max_batch`, those larger than `tile` in tiles one at a time. What `translate` of a folder and
        the server run.

        Each image's result is the one it gets alone: instance norm takes each image's own statistics and
        batch norm (at test time) its moving ones. Run as in training (`training=True`: batch statistics), the
        images of a batch would share statistics, so they go one at a time.
        """
        out: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, image in enumerate(images):
            if self.tile and max(image.shape[:2]) > self.tile:
                out[i] = self(image)
            else:
                groups.setdefault(image.shape, []).append(i)
        size = 1 if self.model.training else max(1, max_batch)
        for members in groups.values():
            for start in range(0, len(members), size):
                chunk = members[start:start + size]
                for i, result in zip(chunk, self.batch(np.stack([images[i] for i in chunk])), strict=True):
                    out[i] = result
        return out


def translators_of(generators: dict[str, keras.Model], net_g: str, tile: int | None = None,
                   config: TrainConfig | None = None) -> dict[str, Translator]:
    """{direction: Translator} of {direction: generator} (`load_generators`, `models.registry.model_generators`);
    with the run's `config`, scaled by its value ranges (scientific images), else uint8."""
    return {direction: Translator(generator, net_g, tile=tile,
                                  scales=direction_scaling(config, direction) if config else (None, None))
            for direction, generator in generators.items()}


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
        A `Translator`: uint8 (H, W, C) in, uint8 (H, W, output channels) out; a run of scientific images
        (`data.scientific`): float32 values in and out, scaled by the value ranges stored in the run.
    """
    with checkpoints.open_checkpoint(checkpoint, epoch) as opened:
        direction = direction or translating_directions(opened.config)[0]
        (generator,) = load_generators(opened, [direction]).values()
        return Translator(generator, opened.config.netG, training, tile, tile_overlap,
                          direction_scaling(opened.config, direction))


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


def output_names(paths: list[Path]) -> list[str]:
    """`<stem>.png` for each input; a stem seen before becomes `<stem>_2.png`, `<stem>_3.png`, ..."""
    names, used = [], set()
    for path in paths:
        name, n = f"{path.stem}.png", 1
        while name in used:  # same stem from two folders: keep both
            n += 1
            name = f"{path.stem}_{n}.png"
        used.add(name)
        names.append(name)
    return names


def translate_files(translator: Translator, paths: list[Path], output_dir: Path,
                    on_image: Callable[[Path], None] | None = None, grid: bool = False,
                    skipped: Skipped | None = None, strict: bool = False, max_pixels: int | None = None,
                    batch_size: int | None = None, workers: int | None = None, depth: str | None = None
                    ) -> list[Path]:
    """Translate each image into `output_dir/<stem>.png` (scientific images: `<stem>.png|.tif|.npy`, see
    `Translator.encode`), going on past files that cannot be read.

    Reading, translating and writing overlap: `workers` threads decode the next images and encode the PNGs of
    the last ones while the generator runs, and the images of one size go through it together
    (`Translator.many`), in groups of the next `4 * batch_size` files.

    Args:
        translator: the generator to use (`load_translator`).
        paths: image files (`expand_inputs`).
        output_dir: where the PNGs go (created); two inputs with one stem become `<stem>.png` and `<stem>_2.png`.
        on_image: called with each input's path once it is done (or skipped), in order, e.g. to move a progress
            bar.
        grid: write input | output side by side instead of the output alone.
        skipped: collects the unreadable files (each is warned about once); None: a new one, not returned.
        strict: stop at the first unreadable file with a `UserError` instead.
        max_pixels: refuse images with more pixels (`data.images.open_image`).
        batch_size: images of one size translated together; None: 8 with a GPU, 1 on a CPU (where the
            convolutions already run at the CPU's peak on one image, and larger batches measured no faster).
        workers: threads that decode and encode; 0: everything in this thread, one image after the other; None:
            2 with a GPU, 1 on a CPU (whose cores the generator keeps busy).
        depth: of scientific outputs, "8", "16" or "float"; None: the target domain's (its training files').

    Returns:
        The written PNGs, in the order of `paths`.
    """
    if depth not in (None, "8") and translator.scales[1] is None:
        raise UserError(f"--output-depth {depth}: this run translates to 8-bit images (its training data were "
                        "8-bit); only runs of 16-bit, float or N-band data write other depths")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    skipped = skipped if skipped is not None else Skipped()
    names = output_names(paths)
    gpu = bool(tf.config.list_logical_devices("GPU"))
    batch_size = batch_size if batch_size is not None else (8 if gpu else 1)
    workers = workers if workers is not None else (2 if gpu else 1)

    def read(path: Path) -> tuple[np.ndarray | None, str]:  # (image, "") or (None, why)
        return attempt(lambda p: translator.read(p, max_pixels), path)

    def write(name: str, image: np.ndarray, output: np.ndarray, like: str) -> Path:
        if grid:  # a picture: the 8-bit views side by side
            return write_atomic(output_dir / name, png_bytes(hstack([translator.view(image),
                                                                      translator.view(output, True)], GAP)))
        suffix, data = translator.encode(output, depth, like)
        return write_atomic(output_dir / Path(name).with_suffix(suffix), data)

    window = max(1, batch_size) * 4 if workers else 1
    chunks = [list(range(start, min(start + window, len(paths)))) for start in range(0, len(paths), window)]
    written: list[Path] = []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        submit = pool.submit if workers else _run_now
        reads = [submit(read, paths[i]) for i in chunks[0]] if chunks else []
        writes: list[tuple[int, Future | None]] = []
        for n, chunk in enumerate(chunks):
            tried, readable, stop = [], [], None
            for i, future in zip(chunk, reads, strict=True):
                image, reason = future.result()
                try:
                    record(paths[i], reason, skipped, strict)  # here, so that warnings come in the files' order
                except UserError as error:  # --strict: the files before this one are still written
                    stop = error
                    break
                tried.append(i)
                if image is not None:
                    readable.append((i, image))
            if n + 1 < len(chunks) and stop is None:  # the next files decode while this group translates
                reads = [submit(read, paths[i]) for i in chunks[n + 1]]
            outputs = translator.many([image for _, image in readable], batch_size if workers else 1)
            done = {i: submit(write, names[i], image, output, paths[i].suffix)
                    for (i, image), output in zip(readable, outputs, strict=True)}
            written += _finish(writes, on_image, paths)  # the previous group's files, while this one's encode
            writes = [(i, done.get(i)) for i in tried]
            if stop is not None:
                _finish(writes, on_image, paths)
                raise stop
        written += _finish(writes, on_image, paths)
    return written


def _run_now(function, *args) -> Future:
    """`function(*args)` run here, as a finished future (`translate_files` without threads)."""
    future: Future = Future()
    future.set_result(function(*args))
    return future


def _finish(writes: list[tuple[int, Future | None]], on_image: Callable[[Path], None] | None, paths: list[Path]
            ) -> list[Path]:
    """The files of `writes` ((input index, its write or None if unreadable)) once written; `on_image` for each."""
    written = []
    for i, future in writes:
        if future is not None:
            written.append(future.result())
        if on_image:
            on_image(paths[i])
    return written
