"""Pixels: stored values <-> the networks' float range [-1, 1], the one place that says how.

A domain's values run from `low` to `high`: uint8 [0, 255] for ordinary images, or the value range of
scientific images (16-bit, float, any number of bands: `data.scientific.ValueRange`). Two flavours of the
same two formulas: numpy arrays (TF-free: data tools, tiles, calibration images) and tensors inside a graph
(`keras.ops`: the input pipeline, the exported translation), so every path turns a network's output into the
same values. With (low, high) = (0, 255) the formulas are exactly the 8-bit ones (x / 127.5 - 1), bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LEVEL = 127.5  # one unit of the networks' range is this many grey levels


def range_to_signed(image: Any, low: float, high: float) -> np.ndarray:
    """Values in [low, high] -> float32 [-1, 1] (values outside the range land outside [-1, 1]; not clipped)."""
    half = np.float32((high - low) / 2)
    return (np.asarray(image).astype(np.float32) - np.float32(low)) / half - np.float32(1.0)


def signed_to_range(image: Any, low: float, high: float) -> np.ndarray:
    """float [-1, 1] -> float32 values in [low, high] (clipped to it), not rounded."""
    half = np.float32((high - low) / 2)
    signed = np.clip(np.asarray(image, np.float32), -1.0, 1.0)
    return (signed + np.float32(1.0)) * half + np.float32(low)


def to_signed(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return range_to_signed(image, 0.0, 255.0)


def to_uint8(image: Any) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded to the nearest level (in the input's float precision)."""
    return np.clip(np.round((np.asarray(image) + 1.0) * LEVEL), 0, 255).astype(np.uint8)


def signed_tensor(image: Any, low: float = 0.0, high: float = 255.0) -> Any:
    """`to_signed` of a tensor (any integer or float dtype), in a graph; with a value range, `range_to_signed`."""
    from keras import ops

    return (ops.cast(image, "float32") - low) / ((high - low) / 2) - 1.0


def uint8_tensor(image: Any) -> Any:
    """`to_uint8` of a tensor, in a graph."""
    from keras import ops

    return ops.cast(ops.clip(ops.round((image + 1.0) * LEVEL), 0, 255), "uint8")


def range_tensor(image: Any, low: float, high: float) -> Any:
    """`signed_to_range` of a tensor, in a graph: float32 values in [low, high], not rounded."""
    from keras import ops

    return (ops.clip(image, -1.0, 1.0) + 1.0) * ((high - low) / 2) + low
