"""The embedded demo dataset `demo`: made by code in seconds, no download, and scored exactly.

Both domains show the same kinds of shapes (discs, squares, triangles) on a noisy beige ground.
Domain A paints them solid orange; domain B paints them in blue stripes. The two training
domains are drawn with different seeds, so the data is unpaired. Because the styles are
known, a translation is scored exactly, pixel by pixel (`evaluation.exact`):

- every pixel is classified as ground, A-style or B-style by its nearest style colour;
- style accuracy: of the source's object pixels, the fraction in the target style in the output;
- IoU: the intersection over union of the source's object mask and the output's target-style mask
  (it falls if shapes move, grow, shrink or appear).

The demo score is the mean IoU over both directions, in percent (a one-sided model, CUT: its AtoB IoU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cyclegan_tf.data.synthetic import write_image_set

NAME = "demo"
GROUND = np.array([225, 220, 205], np.float32)
ORANGE = np.array([230, 120, 40], np.float32)  # domain A: solid
BLUE_DARK = np.array([45, 80, 190], np.float32)  # domain B: stripes of these two
BLUE_LIGHT = np.array([95, 145, 235], np.float32)
# Classification references: ground, A style, B style (the mean of its stripes).
STYLE_COLOURS = np.stack([GROUND, ORANGE, (BLUE_DARK + BLUE_LIGHT) / 2])
GROUND_CLASS, A_CLASS, B_CLASS = 0, 1, 2

SPLITS = {"trainA": (A_CLASS, 0), "trainB": (B_CLASS, 1), "testA": (A_CLASS, 2), "testB": (B_CLASS, 3)}


def shapes_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A boolean mask of 1 to 3 random discs, squares and triangles.

    Args:
        rng: the random generator the shapes are drawn from.
        size: the side of the square mask, in pixels.

    Returns:
        bool (size, size), True on the shapes.
    """
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(rng.integers(1, 4)):
        extent = rng.uniform(0.18, 0.42) * size
        cx, cy = rng.uniform(extent / 2, size - extent / 2, 2)
        box = [cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2]
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse(box, fill=255)
        elif kind == 1:
            draw.rectangle(box, fill=255)
        else:
            draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=255)
    return np.asarray(mask) > 127


def render(mask: np.ndarray, style: int, rng: np.random.Generator) -> np.ndarray:
    """Paint the objects of `mask` in `style` (A_CLASS or B_CLASS) on the ground: uint8 RGB.

    Args:
        mask: bool (H, W), True where the objects are.
        style: A_CLASS paints them solid orange; B_CLASS (or any other value) in blue stripes.
        rng: draws the per-image colour cast and the pixel noise.

    Returns:
        uint8 (H, W, 3).
    """
    shape = (*mask.shape, 3)
    image = np.broadcast_to(GROUND, shape).copy()
    if style == A_CLASS:
        paint = np.broadcast_to(ORANGE, shape)
    else:
        yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
        stripes = ((xx + yy) // 4) % 2 == 0
        paint = np.where(stripes[..., None], BLUE_DARK, BLUE_LIGHT)
    image[mask] = (paint + rng.uniform(-12, 12, 3))[mask]  # a colour cast per image
    image += rng.normal(0, 5, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_demo_dataset(root: Path, size: int = 64, n_train: int = 200, n_test: int = 30, seed: int = 0) -> Path:
    """Write trainA/ trainB/ testA/ testB/ of PNGs under `root` (deterministic for a seed).

    A README.txt naming the size and seed is written last (`synthetic.write_image_set`).

    Args:
        root: the folder to write into; created if needed, its splits of the same names replaced.
        size: the side of each square image, in pixels.
        n_train: images in each of trainA/ and trainB/.
        n_test: images in each of testA/ and testB/.
        seed: the same seed writes the same images.

    Returns:
        `root`, as a `Path`.
    """
    counts = {split: n_train if split.startswith("train") else n_test for split in SPLITS}
    draw = lambda split, rng: {split: render(shapes_mask(rng, size), SPLITS[split][0], rng)}
    return write_image_set(root, counts, draw, seed, f"cyclegan-tf demo dataset: size {size}, seed {seed}. A: solid "
                           "orange shapes; B: blue striped shapes.\n")


def classify(image: np.ndarray) -> np.ndarray:
    """Per-pixel class (GROUND_CLASS, A_CLASS or B_CLASS) by the nearest style colour."""
    pixels = np.asarray(image, np.float32)[..., :3]
    distances = np.linalg.norm(pixels[..., None, :] - STYLE_COLOURS, axis=-1)
    return np.argmin(distances, axis=-1)

