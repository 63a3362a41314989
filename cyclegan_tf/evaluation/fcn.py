"""The pix2pix paper's FCN-score: how well a segmenter recognises the classes of a label map in its translation.

Per-pixel accuracy, per-class accuracy (mean recall over the classes present) and class IoU (mean), from one
confusion matrix over a test set. The segmenter is any function from a photo to class indices: a user's
Keras model (`keras_segmenter`), or an exact one for a synthetic set (`data.labels2photo.segment`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cyclegan_tf.errors import UserError


def confusion(labels: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """k x k counts: row = true class, column = predicted class.

    Args:
        labels: the true class indices, ints in [0, k), any shape.
        predicted: the predicted class indices, of the same shape.
        k: the number of classes.

    Returns:
        int64 (k, k) pixel counts.
    """
    return np.bincount(np.asarray(labels).ravel() * k + np.asarray(predicted).ravel(), minlength=k * k).reshape(k, k)


@dataclass
class FcnScore:
    """The pix2pix paper's FCN-score: fractions in [0, 1] as in its tables."""

    pixel_accuracy: float
    class_accuracy: float  # mean over the classes present of their recall
    class_iou: float  # mean over the classes present (in labels or predictions) of TP / (TP + FP + FN)
    images: int

    @classmethod
    def from_confusion(cls, matrix: np.ndarray, images: int) -> FcnScore:
        matrix = np.asarray(matrix, np.float64)
        true, predicted, hit = matrix.sum(1), matrix.sum(0), np.diag(matrix)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(true > 0, hit / true, np.nan)
            union = true + predicted - hit
            iou = np.where(union > 0, hit / union, np.nan)
        return cls(float(hit.sum() / max(matrix.sum(), 1)), float(np.nanmean(recall)), float(np.nanmean(iou)), images)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def line(self) -> str:
        """'per-pixel acc. 0.660, per-class acc. 0.230, class IoU 0.170'."""
        return (f"per-pixel acc. {self.pixel_accuracy:.3f}, per-class acc. {self.class_accuracy:.3f}, "
                f"class IoU {self.class_iou:.3f}")

    def row(self) -> str:
        """'0.66 / 0.23 / 0.17' as the paper's tables show it."""
        return f"{self.pixel_accuracy:.2f} / {self.class_accuracy:.2f} / {self.class_iou:.2f}"


def fcn_score(pairs: Iterable[tuple[np.ndarray, np.ndarray]], segmenter: Callable[[np.ndarray], np.ndarray],
              k: int) -> FcnScore:
    """The FCN-score of (label map of class indices, photo) pairs.

    Args:
        pairs: (labels (H, W) of ints in [0, k), photo (H, W, C) uint8) pairs, e.g. a label map and its translation.
        segmenter: photo -> (H, W) class indices (`keras_segmenter`, or an exact one such as
            `data.labels2photo.segment`).
        k: number of classes.

    Returns:
        The scores from one confusion matrix over all pairs.
    """
    matrix, n = np.zeros((k, k), np.int64), 0
    for labels, photo in pairs:
        matrix += confusion(labels, segmenter(photo), k)
        n += 1
    return FcnScore.from_confusion(matrix, n)


def keras_segmenter(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """A user's Keras segmentation model as a segmenter.

    Format: a `.keras` file; input (1, H, W, 3) float32 RGB in [0, 255] at the image's own size (a fully
    convolutional model) and output (1, H, W, K) class scores; the class of a pixel is the argmax.
    """
    if not Path(path).is_file():
        raise UserError(f"--segmenter file not found: {path}")
    import keras  # TensorFlow only when a learned segmenter is used: the rest of this module is numpy

    model = keras.saving.load_model(path, compile=False)

    def run(photo: np.ndarray) -> np.ndarray:
        rgb = np.asarray(photo, np.float32)
        rgb = np.repeat(rgb, 3, axis=-1) if rgb.shape[-1] == 1 else rgb[..., :3]
        return np.argmax(np.asarray(model(rgb[None], training=False))[0], axis=-1)

    run.classes = int(model.output_shape[-1])  # type: ignore[attr-defined]
    return run


def labels_from_image(image: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Class indices of a label map: a one-channel image of class ids, or, with `palette` ((K, 3) RGB colours),
    a colour label map (nearest palette colour).

    Args:
        image: a label map, (H, W) or (H, W, C).
        palette: (K, 3) RGB colours, one per class; None: the first channel holds the class ids.

    Returns:
        int64 (H, W) class indices.
    """
    image = np.asarray(image)
    if palette is None:
        return image[..., 0].astype(np.int64) if image.ndim == 3 else image.astype(np.int64)
    pixels = image.astype(np.float32)[..., :3]
    return np.argmin(np.linalg.norm(pixels[..., None, :] - np.asarray(palette, np.float32), axis=-1), axis=-1)


def read_palette(path: str | Path) -> np.ndarray:
    """`--palette FILE`: a JSON list of [r, g, b], one per class, as a (K, 3) array."""
    try:
        return np.array(json.loads(Path(path).read_text()), np.float32).reshape(-1, 3)
    except (OSError, ValueError) as error:
        raise UserError(f"--palette {path}: not a JSON list of [r, g, b] colours ({error})") from None
