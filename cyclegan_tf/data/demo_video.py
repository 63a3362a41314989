"""A synthetic clip in the demo's styles (`data.demo`), to measure video translation: made by code, scored exactly.

A still, textured beige ground; orange (domain A) shapes that enter, grow and leave: a disc crossing from the
left edge to the right one, a square growing in the middle and shrinking away; and on every frame a camera's
noise. With each frame comes the mask of its objects, so that flicker can be measured where the input does not
change (`flicker`) and the translated objects scored as the demo set's are (`evaluation.exact.score_translation`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw

from cyclegan_tf.data import demo

NOISE = 3.0  # grey levels: a camera's sensor noise, new on every frame


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """The still ground: the demo's beige with a smooth texture of about +-15 grey levels, float32 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    texture = np.zeros((height, width), np.float32)
    for _ in range(4):  # a few slanted waves: texture that instance norm sees, without any object in it
        fx, fy, phase = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3), rng.uniform(0, 2 * np.pi)
        texture += np.sin(fx * xx + fy * yy + phase)
    return demo.GROUND + 15 * texture[..., None] / 4


def objects_mask(t: float, width: int, height: int) -> np.ndarray:
    """The objects at time `t` in [0, 1] of the clip: bool (H, W).

    A disc enters from the left at t = 0.1, crosses and leaves on the right by t = 0.9, growing as it goes; a
    square grows in the middle from t = 0.3 to 0.55 and shrinks away by t = 0.8.
    """
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    side = min(width, height)
    if 0.1 <= t <= 0.9:
        u = (t - 0.1) / 0.8
        radius = side * (0.12 + 0.18 * u)
        cx, cy = -radius + u * (width + 2 * radius), height * 0.35
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    if 0.3 <= t <= 0.8:
        half = side * 0.3 * (1 - abs(t - 0.55) / 0.25)
        cx, cy = width * 0.6, height * 0.6
        draw.rectangle([cx - half, cy - half, cx + half, cy + half], fill=255)
    return np.asarray(mask) > 127


def clip_frames(frames: int, width: int = 64, height: int = 48, seed: int = 0
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The clip, frame by frame (streamed: a long clip is never in memory).

    Args:
        frames: its length; the objects' motion spans the whole clip, whatever its length.
        width: in pixels.
        height: in pixels.
        seed: of the ground's texture and the noise.

    Yields:
        (uint8 RGB frame (H, W, 3), bool object mask (H, W)).
    """
    ground = background(width, height, seed)
    rng = np.random.default_rng(seed + 1)
    for i in range(frames):
        mask = objects_mask(i / max(frames - 1, 1), width, height)
        image = ground.copy()
        image[mask] = demo.ORANGE
        image += rng.normal(0, NOISE, image.shape)
        yield np.clip(np.round(image), 0, 255).astype(np.uint8), mask


def still(mask: np.ndarray, previous: np.ndarray, margin: int = 3) -> np.ndarray:
    """Where the input does not change between two frames but for noise: neither frame's objects, nor
    `margin` pixels around them. bool (H, W)."""
    moving = mask | previous
    grown = moving.copy()
    for axis in (0, 1):
        for shift in range(1, margin + 1):
            grown |= np.roll(moving, shift, axis) | np.roll(moving, -shift, axis)
    return ~grown


def flicker(outputs: list[np.ndarray] | np.ndarray, masks: list[np.ndarray] | np.ndarray) -> float:
    """Mean absolute frame-to-frame change of `outputs` (grey levels) on the still ground (`still`), over the
    clip: what a viewer sees as flicker where nothing moves."""
    total, count = 0.0, 0
    for t in range(1, len(outputs)):
        where = still(masks[t], masks[t - 1])
        change = np.abs(outputs[t].astype(np.float32) - outputs[t - 1].astype(np.float32))[where]
        total, count = total + float(change.sum()), count + change.size
    return total / max(count, 1)
