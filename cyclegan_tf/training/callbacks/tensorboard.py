"""TensorBoard scalars and images of a run (`tf.summary`, into the default summary writer)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def write_scalar(tag: str, value: float, step: int) -> None:
    """A TensorBoard scalar into the default summary writer.

    Args:
        tag: its name, e.g. `train/G_AB`.
        value: the number.
        step: the x-axis value (a training step or an epoch).
    """
    tf.summary.scalar(tag, float(value), step=step)


def write_images(tag: str, images: list[np.ndarray], step: int, description: str = "") -> None:
    """TensorBoard images into the default summary writer.

    Args:
        tag: their name, e.g. `samples/AtoB`.
        images: uint8 RGB arrays of one size.
        step: the x-axis value (an epoch).
        description: shown under the images.
    """
    tf.summary.image(tag, np.stack(images), step=step, max_outputs=len(images), description=description or None)
