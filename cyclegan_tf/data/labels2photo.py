"""The embedded paired dataset, `labels2photo_demo`: label maps -> "photos", with an exact segmenter.

In the spirit of Cityscapes labels -> photo (the pix2pix paper's FCN-score task), made by code in seconds
and deterministic by seed. A is a flat label map of `K` classes (a sky / road split, then rectangles,
ellipses and triangles of several sizes), in Cityscapes' palette. B is its rendered "photo": every class
has a colour; two classes are textured with diagonal stripes of period 4 and random phase and orientation,
whose mean colour is EXACTLY the colour of a flat class (sidewalk ~ road, vegetation ~ building). Shading
(a gentle gradient per image) and noise are added on top.

Why: the stripes' phase cannot be read off the label map, so the L1-optimal output in a striped region
is its per-pixel median, which is the stripe's mean colour = the flat partner's colour. An L1-only model
therefore paints sidewalks as road and vegetation as building (a blurry answer lands in the wrong class),
while a model that draws stripes (any phase) is right. That is what the GAN term of pix2pix buys.

The segmenter is exact for this domain (`segment`, >= 0.99 per-pixel accuracy on the ground-truth photos,
tested): each pixel goes to the nearest prototype colour (flat colours, stripe highs and lows); a pixel
with a flat partner's colour becomes the striped class when its left/right or up/down neighbours are that
class's high and low stripe. The FCN-score (`evaluation.fcn`) with this segmenter is then the paper's
protocol without a learned FCN (`evaluation.exact` scores runs with it). Files: `train/`, `test/` of A|B
images (pix2pix) and `trainA/ trainB/ testA/ testB/` of the same halves (CycleGAN, which shuffles the
domains independently, so it sees them unpaired).

No TensorFlow here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cyclegan_tf.data.synthetic import is_written, write_image_set

NAME = "labels2photo_demo"
CLASSES = ("road", "sidewalk", "building", "vegetation", "sky", "car")
K = len(CLASSES)
ROAD, SIDEWALK, BUILDING, VEGETATION, SKY, CAR = range(K)
# Label map colours (Cityscapes' palette for these classes).
PALETTE = np.array([(128, 64, 128), (244, 35, 232), (70, 70, 70), (107, 142, 35), (70, 130, 180), (0, 0, 142)],
                   np.float32)
# Photo colours: the mean colour of each class.
MEAN = np.array([(128, 128, 128), (128, 128, 128), (150, 90, 60), (150, 90, 60), (80, 140, 220), (220, 200, 40)],
                np.float32)
# Striped classes: their stripe amplitude, and the flat class whose colour is their mean.
STRIPES = {SIDEWALK: np.array([64, 64, 64], np.float32), VEGETATION: np.array([60, 60, 50], np.float32)}
PARTNER = {SIDEWALK: ROAD, VEGETATION: BUILDING}
STRIPE = np.array([0.0, 1.0, 0.0, -1.0])  # the profile across a stripe, period 4: mid, high, mid, low
SHADING = 0.04  # brightness varies by up to +-4 % across an image
NOISE = 2.5  # standard deviation of the pixel noise, in 0..255 units
SPLITS = {"train": 0, "test": 1}


def label_map(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size) class indices: sky above a random horizon, road below, then 4 to 8 random shapes.

    Args:
        rng: the random generator the horizon and shapes are drawn from.
        size: the side of the square map, in pixels.

    Returns:
        int64 (size, size) of class indices in 0..K-1 (ROAD, SIDEWALK, ...).
    """
    image = Image.new("L", (size, size), ROAD)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, size, int(rng.uniform(0.2, 0.45) * size)], fill=SKY)
    for _ in range(rng.integers(4, 9)):
        cls = int(rng.choice([SIDEWALK, BUILDING, VEGETATION, CAR, SIDEWALK, VEGETATION]))
        w, h = rng.uniform(0.15, 0.5, 2) * size
        x, y = rng.uniform(-0.1 * size, size - 0.5 * w), rng.uniform(0, size - 0.5 * h)
        box = [x, y, x + w, y + h]
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle(box, fill=cls)
        elif kind == 1:
            draw.ellipse(box, fill=cls)
        else:
            draw.polygon([(x + w * rng.uniform(0, 1), y), (x + w, y + h), (x, y + h)], fill=cls)
    return np.asarray(image, np.int64)


def render_labels(labels: np.ndarray) -> np.ndarray:
    """The label map as an RGB image in the palette (the A half)."""
    return PALETTE[labels].astype(np.uint8)


def decode_labels(image: np.ndarray) -> np.ndarray:
    """Class indices of a palette image (nearest palette colour)."""
    pixels = np.asarray(image, np.float32)[..., :3]
    return np.argmin(np.linalg.norm(pixels[..., None, :] - PALETTE, axis=-1), axis=-1)


def render_photo(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The "photo" of a label map (the B half): class colours, stripes of random phase, shading, noise.

    Args:
        labels: (H, W) class indices in 0..K-1.
        rng: draws the stripes' phase and orientation, the shading direction and the noise.

    Returns:
        uint8 (H, W, 3) RGB.
    """
    size_y, size_x = labels.shape
    yy, xx = np.mgrid[:size_y, :size_x]
    image = MEAN[labels].copy()
    for cls, amplitude in STRIPES.items():
        diagonal = xx + yy if rng.integers(2) else xx - yy
        profile = STRIPE[(diagonal + rng.integers(4)) % 4]
        mask = labels == cls
        image[mask] += profile[mask][:, None] * amplitude
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    ramp = (direction[0] * (xx / max(size_x - 1, 1) * 2 - 1) + direction[1] * (yy / max(size_y - 1, 1) * 2 - 1))
    image *= 1 + SHADING * ramp[..., None] / np.sqrt(2)
    image += rng.normal(0, NOISE, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(label image A, photo B), both (size, size, 3) uint8.

    Args:
        rng: the random generator that draws the label map and renders the photo.
        size: the side of both images, in pixels.

    Returns:
        (A, B): A the label map in Cityscapes' palette, B its rendered photo.
    """
    labels = label_map(rng, size)
    return render_labels(labels), render_photo(labels, rng)


def make_paired_dataset(root: Path, size: int = 64, n_train: int = 300, n_test: int = 50, seed: int = 0) -> Path:
    """Write train/ test/ (A|B images) and trainA/ trainB/ testA/ testB/ (the halves) under `root`.

    A README.txt is written last: its presence means the dataset is complete (`ensure_dataset`).

    Args:
        root: the folder to write into; created if needed.
        size: the side of each half, in pixels (the A|B images are 2 * size wide).
        n_train: pairs in train/ (and images in each of trainA/ and trainB/).
        n_test: pairs in test/ (and images in each of testA/ and testB/).
        seed: the same seed writes the same images.

    Returns:
        `root`, as a `Path`.
    """
    def draw(split: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
        a, b = make_pair(rng, size)
        return {split: np.concatenate([a, b], axis=1), f"{split}A": a, f"{split}B": b}

    counts = {split: n_train if split == "train" else n_test for split in SPLITS}
    return write_image_set(root, counts, draw, seed, f"cyclegan-tf {NAME}: size {size}, seed {seed}. A: label maps "
                           f"of {K} classes ({', '.join(CLASSES)}); B: rendered photos (sidewalk and vegetation "
                           "striped, with the mean colour of road and building).\n")


def ensure_dataset(root: Path) -> Path:
    """The dataset at `root`, generated on first use (README.txt is written last: its presence means complete)."""
    if not is_written(root, tuple(name for split in SPLITS for name in (split, f"{split}A", f"{split}B"))):
        make_paired_dataset(root)
    return Path(root)


def _prototypes() -> tuple[np.ndarray, np.ndarray]:
    """(colours, class of each): every flat colour, and each striped class's high and low stripe."""
    colours, classes = [], []
    for cls in range(K):
        if cls in STRIPES:
            colours += [MEAN[cls] + STRIPES[cls], MEAN[cls] - STRIPES[cls]]
            classes += [cls, cls]
        else:
            colours.append(MEAN[cls])
            classes.append(cls)
    return np.array(colours), np.array(classes)


PROTOTYPES, PROTOTYPE_CLASSES = _prototypes()


def segment(photo: np.ndarray) -> np.ndarray:
    """The exact segmenter of the rendered domain: (H, W) class indices of an RGB photo.

    Nearest prototype colour first. A pixel of a flat partner's colour is the striped class instead when,
    along a row or a column, its two neighbours are that class's high and low stripe, or one is a stripe
    and the other belongs to a third class (a stripe's mid pixel at the edge of its region).
    """
    pixels = np.asarray(photo, np.float32)[..., :3]
    nearest = np.argmin(np.linalg.norm(pixels[..., None, :] - PROTOTYPES, axis=-1), axis=-1)
    labels = PROTOTYPE_CLASSES[nearest]
    padded_nearest = np.pad(nearest, 1, constant_values=-1)
    padded_labels = np.pad(labels, 1, constant_values=-1)  # -1: outside the image

    def neighbours(padded: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(padded[1:-1, :-2], padded[1:-1, 2:]), (padded[:-2, 1:-1], padded[2:, 1:-1])]

    promoted = labels.copy()
    for cls, partner in PARTNER.items():
        high, low = np.flatnonzero(PROTOTYPE_CLASSES == cls)  # the order of `_prototypes`
        striped = np.zeros(labels.shape, bool)
        for (n1, n2), (c1, c2) in zip(neighbours(padded_nearest), neighbours(padded_labels), strict=True):
            third1, third2 = (~np.isin(c, (cls, partner, -1)) for c in (c1, c2))
            stripe1, stripe2 = np.isin(n1, (high, low)), np.isin(n2, (high, low))
            striped |= ((n1 == high) & (n2 == low)) | ((n1 == low) & (n2 == high))
            striped |= (stripe1 & third2) | (third1 & stripe2)
        promoted[(labels == partner) & striped] = cls
    return promoted
