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
from PIL import Image, ImageOps

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.networks import min_discriminator_size, min_input_size, size_multiple

log = logging.getLogger("cyclegan_tf")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
Image.MAX_IMAGE_PIXELS = None  # users' own high-resolution images are not decompression bombs


def list_images(folder: Path, max_count: int | None = None) -> list[Path]:
    """Image files directly in `folder` (any letter case of the extension), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"folder not found: {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not paths:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return paths[:max_count] if max_count else paths


def load_image(path: Path | str, channels: int = 3) -> np.ndarray:
    """An image file as a uint8 array (height, width, channels), whatever its mode.

    Transparency is composited on white; 16-bit images are scaled to 8 bits; EXIF rotation is applied.
    """
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            values = np.asarray(image, dtype=np.float64)
            scale = 257.0 if values.max(initial=0) > 255 else 1.0
            image = Image.fromarray(np.clip(values / scale, 0, 255).astype(np.uint8), "L")
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        image = image.convert("L" if channels == 1 else "RGB")
        array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def _check_one(path: Path) -> tuple[Path, tuple[int, int] | None, str]:
    try:
        if path.stat().st_size == 0:
            return path, None, "empty file"
        with Image.open(path) as image:
            image.load()  # a full decode: header checks miss truncated files
            return path, image.size, ""
    except Exception as error:  # noqa: BLE001 - any failure to decode makes the file unusable
        return path, None, f"{type(error).__name__}: {error}".strip()


def check_images(paths: list[Path], strict: bool = False, threads: int = 8) -> list[tuple[Path, int, int]]:
    """Decode every file once; return (path, width, height) of the good ones.

    Bad files are skipped with one warning that counts them and names each, or, with `strict`,
    stop the run with a `UserError`.
    """
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(_check_one, paths))
    good = [(path, size[0], size[1]) for path, size, _ in results if size]
    bad = [(path, reason) for path, size, reason in results if not size]
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
    """(height, width) after the deterministic part of `--preprocess`, before any random crop."""
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
    """A uint8 image read with Pillow inside the pipeline, resized (bicubic) to `size` if it differs."""
    image = tf.numpy_function(lambda p: load_image(p.decode(), channels), [path], tf.uint8, stateful=False)
    image.set_shape([None, None, channels])

    def resize():
        resized = tf.image.resize(image, size, method="bicubic", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    return tf.cond(tf.reduce_all(tf.shape(image)[:2] == size), lambda: image, resize)


def to_model_range(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def to_uint8(image) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.round((np.asarray(image, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


@dataclass
class TrainingData:
    dataset: tf.data.Dataset  # batches (real_A, real_B), repeated forever
    steps_per_epoch: int
    image_shape: tuple[int, int] | None  # (height, width) of every training image, None if they vary
    counts: dict[str, int]


def _domain_dataset(folder: Path, channels: int, cfg: TrainConfig, seed: int | None):
    files = check_images(list_images(folder, cfg.max_dataset_size), strict=cfg.strict)
    sizes = [resized_size(w, h, cfg) for _, w, h in files]
    paths = tf.constant([str(path) for path, _, _ in files])
    ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(sizes, tf.int32)))
    decode = lambda path, size: decode_and_resize(path, size, channels)  # noqa: E731
    decoded_bytes = sum(h * w * channels for h, w in sizes)
    if decoded_bytes <= cfg.cache_mb * 2**20:
        # Decode and resize each file once; later epochs read memory.
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache()
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    crop = "crop" in cfg.preprocess

    def augment(image):
        if crop:
            image = tf.image.random_crop(image, [cfg.crop_size, cfg.crop_size, channels])
        if not cfg.no_flip:
            image = tf.image.random_flip_left_right(image)
        return to_model_range(image)

    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    shape = (cfg.crop_size, cfg.crop_size) if crop else (sizes[0] if len(set(sizes)) == 1 else None)
    smallest = min(min(shape or size) for size in sizes)
    needed = min_discriminator_size(cfg.netD, cfg.n_layers_D)
    if smallest < needed:
        raise UserError(f"training images of {smallest} px are too small for --netD {cfg.netD}, "
                        f"which needs at least {needed} px: raise --crop-size/--load-size or use a smaller D")
    return ds, len(files), shape


def unpaired_dataset(root: Path, cfg: TrainConfig) -> TrainingData:
    """Batches of (A, B) from `root/trainA` and `root/trainB`, each domain shuffled on its own."""
    root = Path(root)
    multiple = size_multiple(cfg.netG)
    if "crop" in cfg.preprocess and cfg.crop_size % multiple:
        raise UserError(f"--crop-size {cfg.crop_size} must be a multiple of {multiple} for --netG {cfg.netG}")
    seed_b = None if cfg.seed is None else cfg.seed + 1
    ds_a, n_a, shape_a = _domain_dataset(root / "trainA", cfg.input_nc, cfg, cfg.seed)
    ds_b, n_b, shape_b = _domain_dataset(root / "trainB", cfg.output_nc, cfg, seed_b)
    shape = shape_a if shape_a == shape_b else None
    if shape is None and cfg.batch_size > 1:
        raise UserError(f"--preprocess {cfg.preprocess} gives images of different sizes here; "
                        "use --batch-size 1 or a cropping --preprocess")
    ds = tf.data.Dataset.zip((ds_a, ds_b)).batch(cfg.batch_size, drop_remainder=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    steps = math.ceil(max(n_a, n_b) / cfg.batch_size)
    return TrainingData(ds, steps, shape, {"A": n_a, "B": n_b})
