"""What a run is tested on: for each direction, the inputs and the real images of the target domain.

A CycleGAN's direction AtoB reads `testA/` (inputs) and `testB/` (targets); pix2pix reads the A|B pairs of
`test/` split into halves (`--direction BtoA` swaps them); colorization the colour photos of `test/` and their
greys. Where a dataroot has no test split, `val/` is used, else `train/` with a warning. Pillow and numpy only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

import numpy as np

from cyclegan_tf.choices import DOMAINS
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.images import (
    Skipped,
    grey_of_lightness,
    is_image_name,
    list_images,
    load_image,
    load_pair,
    read_each,
    split_pair,
)
from cyclegan_tf.data.scientific import (
    ValueRange,
    direction_scaling,
    fit_bands,
    load_scaled,
    read_bands,
    run_scaling,
)
from cyclegan_tf.errors import UserError
from cyclegan_tf.models.registry import model_class

log = logging.getLogger("cyclegan_tf")


@dataclass
class TestImages:
    """What one direction is scored on: the inputs and the real images of the target domain (uint8)."""

    inputs: list[np.ndarray]
    load_targets: Callable[[], list[np.ndarray]]  # see `targets`
    split: str  # test, val, or train when the dataroot has none of them
    paired: bool  # targets[i] is the ground truth of inputs[i] (aligned A|B data)
    source: str  # where the inputs and targets come from, e.g. "testA" or "test/ A halves": keys of their features
    target: str
    # (source's, target's) value range of scientific images, whose arrays are float32 stored values; None: uint8
    scales: tuple[ValueRange | None, ValueRange | None] = (None, None)

    @cached_property
    def targets(self) -> list[np.ndarray]:
        """Decoded on first use: a CycleGAN's target folder is only needed for FID/KID (whose features of real
        images are computed once per run) and identity panels."""
        return self.load_targets()


def split_folder(root: Path, domain: str = "") -> tuple[Path, str]:
    """`test<domain>/` of a dataroot, or, when it is missing or empty, `val<domain>/` (the aligned sets'
    held-out split) or `train<domain>/` (with a warning).

    Args:
        root: the dataroot.
        domain: "A" or "B" for a CycleGAN's folders; "" for pix2pix's test/ of A|B images.

    Returns:
        (folder, split name: "test", "val" or "train"); a `UserError` when none of them holds files.
    """
    for split in ("test", "val", "train"):
        folder = Path(root) / f"{split}{domain}"
        if folder.is_dir() and any(folder.iterdir()):
            if split == "train":
                log.warning("no test%s/ or val%s/ in %s: using train%s images instead", domain, domain, root, domain)
            return folder, split
    raise UserError(f"no test{domain}/, val{domain}/ or train{domain}/ images in {root}")


def has_images(folder: Path) -> bool:
    return folder.is_dir() and any(is_image_name(p) for p in folder.iterdir())


def single_folder(root: Path, split: str = "train") -> Path:
    """The images of `split` in a one-folder dataset (colorization, DCGAN): `<root>/<split>/`, else
    `<root>/<split>A/` (a CycleGAN set's first domain), else, for "train", the dataroot itself.

    Args:
        root: the dataroot.
        split: "train", "test" or "val".

    Returns:
        The folder; a `UserError` when none of them holds images.
    """
    candidates = [Path(root) / split, Path(root) / f"{split}A"] + ([Path(root)] if split == "train" else [])
    for folder in candidates:
        if has_images(folder):
            return folder
    raise UserError(f"no images in {' or '.join(str(c) for c in candidates)}")


def single_test_folder(root: Path) -> tuple[Path, str]:
    """(folder, split) a one-folder dataset is tested on: its test, else val, else training images (warned)."""
    for split in ("test", "val"):
        try:
            return single_folder(root, split), split
        except UserError:
            pass
    log.warning("no test/ or val/ images in %s: using training images instead", root)
    return single_folder(root, "train"), "train"


def load_split(folder: Path, channels: int, max_images: int | None = None, skipped: Skipped | None = None,
               strict: bool = False, scale: ValueRange | None = None) -> list[np.ndarray]:
    """The readable images of a split folder (the first `max_images` by name) as uint8 arrays (a scientific
    domain's, with its `scale`: float32 stored values).

    Args:
        folder: the split folder (its images, not its subfolders).
        channels: 1 decodes to grey, 3 to RGB.
        max_images: None (or 0) loads all.
        skipped: collects unreadable files (warned about once each); None: a new one, not returned.
        strict: stop at the first unreadable file instead.

    Returns:
        uint8 (H, W, channels) arrays, sorted by file name.
    """
    if scale is not None:
        return _read_split(folder, max_images, lambda path: load_scaled(path, channels, scale), skipped, strict)
    return _read_split(folder, max_images, lambda path: load_image(path, channels), skipped, strict)


def load_scaled_pair(path: Path, input_nc: int, output_nc: int, scales: tuple[ValueRange, ValueRange]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """`load_pair` of a scientific A|B file: each half float32 stored values with its domain's bands (A's, B's)."""
    a, b = split_pair(read_bands(path))
    return scales[0].levels(fit_bands(a, input_nc, path)), scales[1].levels(fit_bands(b, output_nc, path))


def _read_split(folder: Path, max_images: int | None, read, skipped: Skipped | None, strict: bool) -> list:
    """`read` of each image of a split folder, leaving out unreadable ones; none readable is a `UserError`."""
    values = read_each(list_images(folder, max_images), read, Skipped() if skipped is None else skipped, strict)
    if not values:
        raise UserError(f"no readable images in {folder}")
    return values


def test_images(config: TrainConfig, root: Path, direction: str, max_images: int | None = None,
                skipped: Skipped | None = None, strict: bool = False) -> TestImages:
    """The test images of one direction of a run, by the data its model reads (`AdversarialModel.DATA`): aligned
    A|B pairs split (`--direction BtoA` swaps them); one folder of colour photos, each one's grey in; or the
    source and target domain folders of unpaired data.

    Args:
        config: the run's configuration (model and channel counts).
        root: the dataroot.
        direction: "AtoB" (inputs from A, targets from B) or "BtoA".
        max_images: the first this many images by name; None (or 0) for all.
        skipped: collects unreadable files (left out, warned about once each).
        strict: stop at the first unreadable file instead.

    Returns:
        The inputs (uint8) and, decoded on first use, the targets, with where they come from.
    """
    kind = model_class(config).DATA
    if kind == "single":  # colour photos (colorization): the grey of each (its Lab lightness) in, the photo out
        folder, split = single_test_folder(root)
        targets = load_split(folder, 3, max_images, skipped, strict)
        return TestImages([grey_of_lightness(image) for image in targets], lambda: targets, split, True,
                          f"{folder} grey", str(folder))
    scales = direction_scaling(config, direction)
    if kind == "aligned":
        folder, split = split_folder(root)
        ab = (run_scaling(config, "A"), run_scaling(config, "B"))
        read = partial(load_scaled_pair, scales=ab) if ab[0] is not None else load_pair
        pairs = _read_split(folder, max_images, lambda p: read(p, config.input_nc, config.output_nc), skipped,
                            strict)
        a_halves, b_halves = (list(halves) for halves in zip(*pairs, strict=True))
        inputs, targets = (a_halves, b_halves) if direction == "AtoB" else (b_halves, a_halves)
        source, target = DOMAINS[direction]
        return TestImages(inputs, lambda: targets, split, True, f"{folder} {source} halves",
                          f"{folder} {target} halves", scales)
    channels = {"A": config.input_nc, "B": config.output_nc}
    source, target = DOMAINS[direction]
    folder, split = split_folder(root, source)
    target_folder, _ = split_folder(root, target)
    return TestImages(load_split(folder, channels[source], max_images, skipped, strict, scales[0]),
                      partial(load_split, target_folder, channels[target], max_images, skipped, strict, scales[1]),
                      split, False, str(folder), str(target_folder), scales)
