"""Pixels: uint8 [0, 255] <-> the networks' float range [-1, 1], the one place that says how.

Two flavours of the same two formulas: numpy arrays (TF-free: data tools, tiles, calibration images) and
tensors inside a graph (`keras.ops`: the input pipeline, the exported translation), so every path turns a
network's output into the same grey levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LEVEL = 127.5  # one unit of the networks' range is this many grey levels


def to_signed(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return np.asarray(image).astype(np.float32) / LEVEL - 1.0


def to_uint8(image: Any) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded to the nearest level (in the input's float precision)."""
    return np.clip(np.round((np.asarray(image) + 1.0) * LEVEL), 0, 255).astype(np.uint8)


def signed_tensor(image: Any) -> Any:
    """`to_signed` of a tensor (any integer or float dtype), in a graph."""
    from keras import ops

    return ops.cast(image, "float32") / LEVEL - 1.0


def uint8_tensor(image: Any) -> Any:
    """`to_uint8` of a tensor, in a graph."""
    from keras import ops

    return ops.cast(ops.clip(ops.round((image + 1.0) * LEVEL), 0, 255), "uint8")
