"""From image folders to a `tf.data` pipeline of training batches.

Stages for each domain: list the folder -> check every file once with Pillow (bad files are
reported by path before training, never as a stack trace mid-epoch) -> decode with Pillow (any
mode: grayscale, palette, RGBA, CMYK, 16-bit) -> the deterministic resize of `--preprocess` ->
in-memory cache when the decoded images fit `--cache-mb` -> shuffle, repeat -> random crop and
flip -> float32 in [-1, 1]. The two domains are shuffled independently and zipped; an epoch is
max(|A|, |B|) images, as in the reference.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.images import check_image, list_images, load_image, load_pair, mixed_channels_note, split_pair
from cyclegan_tf.data.scientific import ValueRange, describe, fit_bands, is_scientific, read_bands, resolve_range
from cyclegan_tf.data.splits import single_folder
from cyclegan_tf.errors import UserError
from cyclegan_tf.models.registry import model_class
from cyclegan_tf.nn.networks import min_discriminator_size, min_input_size, size_multiple
from cyclegan_tf.pixels import signed_tensor

log = logging.getLogger("cyclegan_tf")


def check_images(paths: list[Path], strict: bool = False, threads: int = 8) -> list[tuple[Path, int, int]]:
    """Decode every file once; return (path, width, height) of the good ones.

    Args:
        paths: image files of one folder (named in warnings and errors); not empty.
        strict: stop the run with a `UserError` naming the bad files; otherwise they are skipped with one
            warning that counts them and names each.
        threads: how many files are decoded at once.

    Returns:
        (path, width, height) of each readable file, in the order of `paths`; a `UserError` if there is none.
    """
    with ThreadPoolExecutor(threads) as pool:
        checks = list(pool.map(check_image, paths))
    good = [(c.path, c.size[0], c.size[1]) for c in checks if c.ok]
    bad = [(c.path, c.error) for c in checks if not c.ok]
    if mixed_channels_note(checks):
        log.warning("%s: %s", paths[0].parent, mixed_channels_note(checks))
    if bad:
        listing = "; ".join(f"{path} ({reason})" for path, reason in bad[:20])
        more = f"; and {len(bad) - 20} more" if len(bad) > 20 else ""
        if strict:
            raise UserError(f"{len(bad)} unreadable image(s): {listing}{more}")
        log.warning("skipping %d unreadable image(s): %s%s", len(bad), listing, more)
    if not good:
        raise UserError(f"no readable images in {paths[0].parent}")
    return good


def resized_size(width: int, height: int, cfg: TrainConfig) -> tuple[int, int]:
    """(height, width) after the deterministic part of `--preprocess`, before any random crop.

    Args:
        width: the image's width, in pixels.
        height: the image's height, in pixels.
        cfg: gives `preprocess`, `load_size`, `crop_size`, and `netG`, whose size step the sides are rounded
            to when nothing is cropped.

    Returns:
        (height, width) in pixels (the reverse order of the arguments); each side at least `crop_size` when
        `--preprocess` crops.
    """
    mode = cfg.preprocess
    if mode == "resize_and_crop":
        height, width = cfg.load_size, cfg.load_size
    elif mode.startswith("scale_width"):
        height, width = max(int(cfg.load_size * height / width), cfg.crop_size), cfg.load_size
    if "crop" in mode and min(height, width) < cfg.crop_size:  # too small to crop: scale up
        scale = cfg.crop_size / min(height, width)
        height, width = max(cfg.crop_size, round(height * scale)), max(cfg.crop_size, round(width * scale))
    if "crop" not in mode:  # the generator's input must be a multiple of its size step
        multiple, smallest = size_multiple(cfg.netG), min_input_size(cfg.netG)
        height, width = (max(smallest, int(round(side / multiple)) * multiple) for side in (height, width))
    return height, width


def decode_and_resize(path: tf.Tensor, size: tf.Tensor, channels: int) -> tf.Tensor:
    """A uint8 image read with Pillow inside the pipeline, resized (bicubic) to `size` if it differs.

    Args:
        path: a scalar string tensor, the file's path.
        size: int32 (height, width) to resize to.
        channels: 1 decodes to grey, 3 to RGB.

    Returns:
        uint8 (height, width, channels).
    """
    image = tf.numpy_function(lambda p: load_image(p.decode(), channels), [path], tf.uint8, stateful=False)
    image.set_shape([None, None, channels])
    return resize_to(image, size)


def decode_scaled(path: tf.Tensor, size: tf.Tensor, channels: int, scale: ValueRange) -> tf.Tensor:
    """A scientific image (`data.scientific`: 16-bit, float, N bands) as float32 in [-1, 1] by its domain's value
    range, resized (bicubic) to `size` if it differs: (height, width, channels)."""
    read = lambda p: scale.to_signed(fit_bands(read_bands(p.decode()), channels, p.decode()))
    image = tf.numpy_function(read, [path], tf.float32, stateful=False)
    image.set_shape([None, None, channels])
    return resize_to(image, size)


def resize_to(image: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """An image resized (bicubic, antialiased) to `size` (height, width), or as it is if it has that size.

    Args:
        image: uint8 (H, W, C), or float32 in [-1, 1] (a scientific image, not rounded).
        size: int32 (height, width).

    Returns:
        (height, width, C) of the image's dtype.
    """

    def resize():
        resized = tf.image.resize(image, size, method="bicubic", antialias=True)
        if image.dtype == tf.float32:
            return tf.clip_by_value(resized, -1.0, 1.0)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    return tf.cond(tf.reduce_all(tf.shape(image)[:2] == size), lambda: image, resize)


@dataclass
class TrainingData:
    dataset: tf.data.Dataset  # batches (real_A, real_B), repeated forever
    steps_per_epoch: int
    image_shape: tuple[int, int] | None  # (height, width) of every training image, None if they vary
    counts: dict[str, int]


def domain_scaling(cfg: TrainConfig, domains: str, paths: list[Path], select=None) -> dict[str, ValueRange | None]:
    """{domain: its value range} of "A", "B" or "AB" (an A|B set): the one the run stored (`cfg.scaling_A`, ...),
    else resolved from the training files (`data.scientific.resolve_range`) and set in `cfg`, which the trainer
    then saves in config.json; None: an 8-bit domain, read as ever (uint8). The domains of an A|B set go the
    scientific way together (their halves are stacked).

    Args:
        cfg: the run's options (`--value-range-A/B`, channels, the model's `SCIENTIFIC`).
        domains: "A", "B" or "AB".
        paths: the training files.
        select: {domain: the part of a file that is it}, for A|B images.
    """
    channels = {"A": cfg.input_nc, "B": cfg.output_nc}
    stored = {d: getattr(cfg, f"scaling_{d}") for d in domains}
    if any(stored.values()):
        return {d: ValueRange.from_dict(stored[d]) for d in domains}
    if not model_class(cfg).SCIENTIFIC:
        return dict.fromkeys(domains)
    infos = [describe(path) for path in paths]
    if not any(is_scientific(infos, channels[d], getattr(cfg, f"value_range_{d}"), paths) for d in domains):
        return dict.fromkeys(domains)
    out = {}
    for d in domains:
        out[d] = resolve_range(paths, channels[d], getattr(cfg, f"value_range_{d}"), (select or {}).get(d))
        setattr(cfg, f"scaling_{d}", out[d].to_dict())
        log.info("domain %s: values %g..%g -> [-1, 1] (%s-bit files, --value-range-%s %s)", d, out[d].low,
                 out[d].high, out[d].depth, d, out[d].spec)
    return out


def _domain_dataset(folder: Path, domain: str, cfg: TrainConfig, seed: int | None):
    channels = cfg.input_nc if domain == "A" else cfg.output_nc
    files = check_images(list_images(folder, cfg.max_dataset_size), strict=cfg.strict)
    sizes = [resized_size(w, h, cfg) for _, w, h in files]
    scale = domain_scaling(cfg, domain, [path for path, _, _ in files])[domain]
    if scale is None:
        decode = lambda path, size: decode_and_resize(path, size, channels)
    else:
        decode = lambda path, size: decode_scaled(path, size, channels, scale)
    ds, shape = _image_pipeline([path for path, _, _ in files], sizes, decode, channels, cfg, seed,
                                scaled=scale is not None)
    return ds, len(files), shape


def _image_pipeline(files: list[Path], sizes: list[tuple[int, int]], decode, channels: int, cfg: TrainConfig,
                    seed: int | None, check_discriminator: bool = True, scaled: bool = False
                    ) -> tuple[tf.data.Dataset, tuple[int, int] | None]:
    """decode(path, size) -> (cache) -> shuffle -> repeat -> random crop and flip -> [-1, 1], and the image shape.

    `decode` gives uint8, or with `scaled` float32 already in [-1, 1] (scientific images, `decode_scaled`).

    Crop and flip act on all `channels` at once, so images stacked on the channel axis (an A|B pair) move together.
    They are stateless random ops seeded by (seed, the element's position in the stream), so a seed fixes every
    crop and flip whatever the map's parallelism (`--deterministic`); without a seed one is drawn.
    """
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    paths = tf.constant([str(path) for path in files])
    ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(sizes, tf.int32)))
    decoded_bytes = sum(h * w * channels for h, w in sizes) * (4 if scaled else 1)
    if decoded_bytes <= cfg.cache_mb * 2**20:
        # Decode and resize each file once; later epochs read memory.
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache()
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    crop = "crop" in cfg.preprocess

    def augment(position, image):
        if crop:
            image = tf.image.stateless_random_crop(image, [cfg.crop_size, cfg.crop_size, channels],
                                                   seed=tf.stack([tf.constant(seed, tf.int64), 2 * position]))
        if not cfg.no_flip:
            image = tf.image.stateless_random_flip_left_right(
                image, seed=tf.stack([tf.constant(seed, tf.int64), 2 * position + 1]))
        return image if scaled else signed_tensor(image)

    ds = ds.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    shape = (cfg.crop_size, cfg.crop_size) if crop else (sizes[0] if len(set(sizes)) == 1 else None)
    smallest = min(min(shape or size) for size in sizes)
    needed = min_discriminator_size(cfg.netD, cfg.n_layers_D, cfg.d_last_stride)
    if check_discriminator and smallest < needed:
        raise UserError(f"training images of {smallest} px are too small for --netD {cfg.netD}, "
                        f"which needs at least {needed} px: raise --crop-size/--load-size or use a smaller D")
    return ds, shape


def unpaired_dataset(root: Path, cfg: TrainConfig) -> TrainingData:
    """Batches of (A, B) from `root/trainA` and `root/trainB`, each domain shuffled on its own.

    Args:
        root: the dataset folder, holding trainA/ and trainB/.
        cfg: the training options (preprocessing, channels, batch size, seed; B is shuffled with `seed` + 1).

    Returns:
        Batches of float32 in [-1, 1], repeated forever; an epoch is max(|A|, |B|) / batch size steps (rounded
        up); `counts` is {"A": |A|, "B": |B|}.
    """
    root = Path(root)
    _check_crop_size(cfg)
    seed_b = None if cfg.seed is None else cfg.seed + 1
    ds_a, n_a, shape_a = _domain_dataset(root / "trainA", "A", cfg, cfg.seed)
    ds_b, n_b, shape_b = _domain_dataset(root / "trainB", "B", cfg, seed_b)
    shape = shape_a if shape_a == shape_b else None
    _check_batchable(shape, cfg)
    ds = tf.data.Dataset.zip((ds_a, ds_b)).batch(cfg.batch_size, drop_remainder=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    steps = math.ceil(max(n_a, n_b) / cfg.batch_size)
    return TrainingData(ds, steps, shape, {"A": n_a, "B": n_b})


def _check_crop_size(cfg: TrainConfig) -> None:
    multiple = size_multiple(cfg.netG)
    if "crop" in cfg.preprocess and cfg.crop_size % multiple:
        raise UserError(f"--crop-size {cfg.crop_size} must be a multiple of {multiple} for --netG {cfg.netG}")


def _check_batchable(shape: tuple[int, int] | None, cfg: TrainConfig) -> None:
    if shape is None and cfg.batch_size > 1:
        raise UserError(f"--preprocess {cfg.preprocess} gives images of different sizes here; "
                        "use --batch-size 1 or a cropping --preprocess")


def decode_pair(path: tf.Tensor, size: tf.Tensor, input_nc: int, output_nc: int) -> tf.Tensor:
    """An A|B image read with Pillow, split, each half resized to `size`: (H, W, input_nc + output_nc) uint8.

    Args:
        path: a scalar string tensor, the A|B file's path.
        size: int32 (height, width) each half is resized to.
        input_nc: channels of A (1 or 3).
        output_nc: channels of B (1 or 3).

    Returns:
        uint8 (height, width, input_nc + output_nc): A's channels, then B's.
    """
    a, b = tf.numpy_function(lambda p: load_pair(p.decode(), input_nc, output_nc), [path], (tf.uint8, tf.uint8),
                             stateful=False)
    a.set_shape([None, None, input_nc])
    b.set_shape([None, None, output_nc])
    return tf.concat([resize_to(a, size), resize_to(b, size)], axis=-1)


def decode_scaled_pair(path: tf.Tensor, size: tf.Tensor, input_nc: int, output_nc: int, scale_a: ValueRange,
                       scale_b: ValueRange) -> tf.Tensor:
    """`decode_pair` of a scientific A|B file: each half scaled to [-1, 1] by its domain's range, float32."""

    def read(p):
        a, b = split_pair(read_bands(p.decode()))
        return (scale_a.to_signed(fit_bands(a, input_nc, p.decode())),
                scale_b.to_signed(fit_bands(b, output_nc, p.decode())))

    a, b = tf.numpy_function(read, [path], (tf.float32, tf.float32), stateful=False)
    a.set_shape([None, None, input_nc])
    b.set_shape([None, None, output_nc])
    return tf.concat([resize_to(a, size), resize_to(b, size)], axis=-1)


def aligned_dataset(root: Path, cfg: TrainConfig) -> TrainingData:
    """Batches of (input, target) from the A|B images of `root/train` (pix2pix's aligned layout).

    A has `--input-nc` channels, B `--output-nc`; each half is scaled as `--preprocess` says (sizes computed
    on the half), and one random crop and flip act on both halves of a pair (they are stacked on the channel
    axis through `_image_pipeline`).

    Args:
        root: the dataset folder, holding train/ of A|B images (A on the left half).
        cfg: the training options; with `--direction BtoA` the batch is (B, A).

    Returns:
        Batches of float32 in [-1, 1], repeated forever; an epoch is pairs / batch size steps (rounded up);
        `counts` is {"pairs": n}.
    """
    _check_crop_size(cfg)
    folder = Path(root) / "train"
    if not folder.is_dir():
        raise UserError(f"no train/ folder of A|B images in {root} (--model {cfg.model} needs aligned data)")
    files = check_images(list_images(folder, cfg.max_dataset_size), strict=cfg.strict)
    sizes = [resized_size(w // 2, h, cfg) for _, w, h in files]
    halves = {"A": lambda values: split_pair(values)[0], "B": lambda values: split_pair(values)[1]}
    scales = domain_scaling(cfg, "AB", [path for path, _, _ in files], halves)
    if scales["A"] is None:
        decode = lambda path, size: decode_pair(path, size, cfg.input_nc, cfg.output_nc)
    else:
        decode = lambda path, size: decode_scaled_pair(path, size, cfg.input_nc, cfg.output_nc, scales["A"],
                                                       scales["B"])
    ds, shape = _image_pipeline([path for path, _, _ in files], sizes, decode, cfg.input_nc + cfg.output_nc, cfg,
                                cfg.seed, scaled=scales["A"] is not None)
    _check_batchable(shape, cfg)
    a_then_b = cfg.direction == "AtoB"
    ds = ds.map(lambda pair: (pair[..., :cfg.input_nc], pair[..., cfg.input_nc:]) if a_then_b
                else (pair[..., cfg.input_nc:], pair[..., :cfg.input_nc]), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(cfg.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return TrainingData(ds, math.ceil(len(files) / cfg.batch_size), shape, {"pairs": len(files)})


def single_dataset(root: Path, cfg: TrainConfig) -> TrainingData:
    """Batches of images from one folder (`splits.single_folder`: train/, trainA/ or the dataroot itself).

    Images are read as `--preprocess` says, or as the model's `data_config` changes it (a DCGAN's are square, sized
    by its `--augment`); a model whose networks take one size (not `FULLY_CONVOLUTIONAL`) skips the size checks.

    Args:
        root: the dataroot.
        cfg: the training options (images of `--output-nc` channels).

    Returns:
        Batches of float32 in [-1, 1], repeated forever; an epoch is images / batch size steps (rounded up);
        `counts` is {"images": n}.
    """
    model = model_class(cfg)
    cfg = model.data_config(cfg)
    if model.FULLY_CONVOLUTIONAL:
        _check_crop_size(cfg)
    channels = cfg.output_nc
    folder = single_folder(root, "train")
    files = check_images(list_images(folder, cfg.max_dataset_size), strict=cfg.strict)
    sizes = [resized_size(w, h, cfg) for _, w, h in files]
    decode = lambda path, size: decode_and_resize(path, size, channels)
    ds, shape = _image_pipeline([path for path, _, _ in files], sizes, decode, channels, cfg, cfg.seed,
                                check_discriminator=model.FULLY_CONVOLUTIONAL)
    _check_batchable(shape, cfg)
    ds = ds.batch(cfg.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return TrainingData(ds, math.ceil(len(files) / cfg.batch_size), shape, {"images": len(files)})


def training_data(root: Path, cfg: TrainConfig) -> TrainingData:
    """The training batches of `cfg.model` (its `DATA`): aligned pairs (pix2pix), unpaired domains
    (CycleGAN), or images of one folder (colorization, DCGAN).

    Args:
        root: the dataset folder: train/ of A|B images for pix2pix, trainA/ and trainB/ for CycleGAN, train/
            (or trainA/, or the folder itself) for the others.
        cfg: the training options; `cfg.model` picks the layout.

    Returns:
        The batches (float32 in [-1, 1], repeated forever), the steps of an epoch (`--epoch-size` images, or one
        pass over the data), the image shape and counts.
    """
    loaders = {"aligned": aligned_dataset, "unpaired": unpaired_dataset, "single": single_dataset}
    data = loaders[model_class(cfg).DATA](root, cfg)
    if cfg.epoch_size:  # the batches repeat forever: an epoch is as many steps as the user says
        data.steps_per_epoch = math.ceil(cfg.epoch_size / cfg.batch_size)
    return data
