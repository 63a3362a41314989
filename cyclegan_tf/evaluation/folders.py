"""FID and KID between two folders of images, or a folder and saved statistics (`cyclegan-tf fid`), as
`python -m pytorch_fid A B` computes them, with the features of `evaluation.features`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan_tf.data.images import Skipped, list_images, load_image, read_each
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation import metrics
from cyclegan_tf.evaluation.features import FeatureExtractor
from cyclegan_tf.files import write_atomic


@dataclass
class Statistics:
    """What FID and KID need of a set of images: its features' mean and covariance, and the features (KID)."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None  # None: loaded from a pytorch-fid .npz (mu and sigma only): no KID
    count: int
    extractor: str | None  # the network the features come from; None: not recorded (a pytorch-fid .npz)

    def save(self, path: Path | str) -> Path:
        """A .npz with pytorch-fid's keys (mu, sigma) and ours (features, count, extractor), written atomically."""
        return write_atomic(path, lambda f: np.savez(f, mu=self.mu, sigma=self.sigma, features=self.features,
                                                     count=self.count, extractor=self.extractor))


def folder_statistics(source: Path | str, extractor: FeatureExtractor, skipped: Skipped | None = None,
                      on_images: Callable[[int], object] | None = None, chunk: int = 256) -> Statistics:
    """The statistics of the images directly in folder `source` (any sizes, unreadable files skipped with a
    warning), or those saved in a .npz (ours, or pytorch-fid's `--save-stats`).

    Args:
        source: a folder of images, or a .npz of statistics.
        extractor: the features' network.
        skipped: collects the unreadable files.
        on_images: called with the number of files done after each chunk (a progress bar's `update`).
        chunk: files decoded at a time, so that a folder of any size fits in memory.
    """
    source = Path(source)
    if source.suffix.lower() == ".npz" and source.is_file():
        with np.load(source, allow_pickle=False) as saved:
            if "mu" not in saved or "sigma" not in saved:
                raise UserError(f"{source} holds no FID statistics (mu, sigma)")
            features = saved["features"] if "features" in saved and saved["features"].ndim == 2 else None
            name = str(saved["extractor"]) if "extractor" in saved else None
            count = int(saved["count"]) if "count" in saved else 0
            return Statistics(saved["mu"], saved["sigma"], features, count, name)
    if not source.is_dir():
        raise UserError(f"not a folder of images or a .npz of statistics: {source}")
    skipped = skipped if skipped is not None else Skipped()
    paths, parts = list_images(source), []
    for start in range(0, len(paths), chunk):
        images = read_each(paths[start:start + chunk], lambda path: load_image(path, 3), skipped)
        if images:
            parts.append(extractor(images))
        if on_images is not None:
            on_images(len(paths[start:start + chunk]))
    features = np.concatenate(parts) if parts else np.zeros((0, 0))
    if len(features) < 2:
        raise UserError(f"FID needs at least 2 readable images in {source}")
    return Statistics(features.mean(0), np.cov(features, rowvar=False), features, len(features), extractor.name)


@dataclass
class Comparison:
    fid: float
    kid: float | None  # None when one side's statistics hold no features
    kid_std: float | None
    counts: tuple[int, int]
    extractor: str

    def line(self) -> str:
        kid = f"KID {self.kid:.5f} +- {self.kid_std:.5f}" if self.kid is not None else "KID - (no features saved)"
        return (f"FID {self.fid:.3f}  {kid}  ({self.counts[0]} vs {self.counts[1]} images; features: "
                f"{self.extractor})")


def compare(first: Statistics, second: Statistics) -> Comparison:
    """FID and KID (mean and standard deviation over subsets) of two sets; a `UserError` when their features come
    from different networks (their numbers would not compare)."""
    if None not in (first.extractor, second.extractor) and first.extractor != second.extractor:
        raise UserError(f"the two sides' features come from different networks ({first.extractor}; "
                        f"{second.extractor})")
    if first.features is not None and second.features is not None:
        fid = metrics.fid(first.features, second.features)
        kid, kid_std = metrics.kid(first.features, second.features)
    else:
        fid = metrics.frechet_distance(first.mu, first.sigma, second.mu, second.sigma)
        kid = kid_std = None
    return Comparison(fid, kid, kid_std, (first.count, second.count),
                      first.extractor or second.extractor or "not recorded")
