"""The embedded colorization dataset `colorization_demo`: made by code in seconds, and scored exactly.

64x64 colour images of 1 to 3 shapes (discs, squares, triangles, drawn as `demo.shapes_mask` draws them) on a
light neutral grey ground with mild noise. Each kind of shape has its own colour, and the three colours are
ISOLUMINANT: the same CIE Lab lightness (L 60, chroma 60, hues 30, 140 and 290 degrees; `KIND_COLOURS`).
The grey photo the colorization model is shown (its L channel) therefore has all shapes in the same grey:
the colour can only be recovered from the shape, which is what the network has to learn. A per-image
brightness factor moves all colours together, so they stay isoluminant within an image and keep their hue.

The layout is the reference's colorization layout: colour images in `train/` and `test/` (the model takes
their L channel as input and their ab channels as target).

Because the colours are known, an output is scored exactly (`colour_accuracy`): every pixel is classified
as ground (low chroma) or as the kind whose colour is nearest in the Lab ab plane, and the score is the
fraction of the targets' object pixels that the output paints in the right kind's colour. A grey output
scores 0; a model that colours by position rather than shape, or blurs colour over the ground, loses.

No TensorFlow here (numpy and Pillow): the Lab conversion below uses the same formulas and constants as
`nn.color.rgb_to_lab` (skimage's), and a test keeps the two equal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cyclegan_tf.cielab import srgb_to_lab
from cyclegan_tf.data.synthetic import is_written, write_image_set

NAME = "colorization_demo"
SIZE = 64
GROUND = np.array([200, 200, 200], np.float32)  # Lab L 80.6, a = b = 0
KINDS = ("disc", "square", "triangle")
GROUND_CLASS, DISC_CLASS, SQUARE_CLASS, TRIANGLE_CLASS = range(4)
# One colour per kind, isoluminant: Lab (L, a, b) of the uint8 values, chroma about 60 each.
KIND_COLOURS = np.array(
    [
        (237, 101, 95),  # disc, coral red: L 60.02, a 52.11, b 29.97 (hue 30)
        (72, 163, 73),  # square, green: L 59.94, a -45.75, b 38.28 (hue 140)
        (111, 138, 244),  # triangle, periwinkle blue: L 59.97, a 20.28, b -56.23 (hue 290)
    ],
    np.float32,
)
BRIGHTNESS = 0.05  # each image's colours are scaled by a factor in 1 +- this
NOISE = 3.0  # standard deviation of the pixel noise, in 0..255 units
# Pixels of lower chroma (|ab|) are ground: the ground's noise stays below ~12, the kinds' colours are at ~60,
# so an output of the right hue at half the chroma (a washed-out, blurry answer) still counts.
GROUND_CHROMA = 18.0
SPLITS = {"train": 0, "test": 1}

KIND_AB = srgb_to_lab(KIND_COLOURS)[:, 1:]  # where `colour_classes` looks for each kind


def shapes_map(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """1 to 3 random discs, squares and triangles, as a map of their classes (later shapes on top).

    The shapes are drawn as `demo.shapes_mask` draws them (side 0.18 to 0.42 of the image, inside it),
    but each keeps its kind.

    Args:
        rng: the random generator the shapes are drawn from.
        size: the side of the square map, in pixels.

    Returns:
        uint8 (size, size): GROUND_CLASS, DISC_CLASS, SQUARE_CLASS or TRIANGLE_CLASS.
    """
    classes = Image.new("L", (size, size), GROUND_CLASS)
    draw = ImageDraw.Draw(classes)
    for _ in range(rng.integers(1, 4)):
        extent = rng.uniform(0.18, 0.42) * size
        cx, cy = rng.uniform(extent / 2, size - extent / 2, 2)
        box = [cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2]
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse(box, fill=DISC_CLASS)
        elif kind == 1:
            draw.rectangle(box, fill=SQUARE_CLASS)
        else:
            draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=TRIANGLE_CLASS)
    return np.asarray(classes)


def render(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paint a class map: the ground grey and each kind's colour, a brightness factor, pixel noise.

    Args:
        classes: (H, W) map of GROUND_CLASS and the kinds' classes, as `shapes_map` gives.
        rng: draws the brightness factor and the noise.

    Returns:
        uint8 (H, W, 3) RGB.
    """
    palette = np.concatenate([GROUND[None], KIND_COLOURS])
    image = palette[classes] * rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS)
    image += rng.normal(0, NOISE, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_dataset(folder: Path, train: int = 200, test: int = 30, seed: int = 0) -> Path:
    """Write `folder/train/*.png` and `folder/test/*.png` (64x64 RGB, deterministic for a seed).

    The images are written into a temporary sibling folder, then moved into place, so that an interrupted
    run leaves no half-written dataset under `folder` (a README.txt naming the counts comes last).

    Args:
        folder: the dataset's folder; its train/ and test/ are replaced if present.
        train: images in train/.
        test: images in test/.
        seed: the same seed writes the same images.

    Returns:
        `folder`, as a `Path`.
    """
    draw = lambda split, rng: {split: render(shapes_map(rng), rng)}
    return write_image_set(folder, {"train": train, "test": test}, draw, seed, f"cyclegan-tf {NAME}: size {SIZE}, "
                           f"seed {seed}, train {train}, test {test}. Shapes on a grey ground, one isoluminant colour "
                           f"per kind ({', '.join(KINDS)}): the colour follows from the shape only.\n")


def ensure_dataset(folder: Path) -> Path:
    """The dataset at `folder`, generated (with the defaults) when missing or incomplete.

    Args:
        folder: the dataset's folder.

    Returns:
        `folder`, as a `Path`.
    """
    folder = Path(folder)
    if not is_written(folder, tuple(SPLITS)):
        make_dataset(folder)
    return folder


def colour_classes(image: np.ndarray) -> np.ndarray:
    """Per-pixel class of a colour image: GROUND_CLASS where the chroma is low, else the kind whose colour is
    nearest in the Lab ab plane.

    Args:
        image: uint8 (H, W, 3) RGB (values in 0..255).

    Returns:
        int64 (H, W) of GROUND_CLASS, DISC_CLASS, SQUARE_CLASS or TRIANGLE_CLASS.
    """
    ab = srgb_to_lab(image)[..., 1:]
    nearest = np.argmin(np.linalg.norm(ab[..., None, :] - KIND_AB, axis=-1), axis=-1) + DISC_CLASS
    return np.where(np.linalg.norm(ab, axis=-1) < GROUND_CHROMA, GROUND_CLASS, nearest).astype(np.int64)


def colour_accuracy(outputs: list[np.ndarray], targets: list[np.ndarray]) -> float:
    """Of all object pixels of the targets (pixels not ground), the fraction an output gives the same class.

    Args:
        outputs: colorized images, uint8 (H, W, 3) RGB, one per target and of its size.
        targets: the true colour images, uint8 (H, W, 3) RGB.

    Returns:
        The accuracy in [0, 1], pooled over all images; 0.0 when the targets have no object pixels.
    """
    if len(outputs) != len(targets):
        raise ValueError(f"{len(outputs)} outputs for {len(targets)} targets")
    hits = total = 0
    for output, target in zip(outputs, targets, strict=True):
        if np.shape(output)[:2] != np.shape(target)[:2]:
            raise ValueError(f"an output of shape {np.shape(output)} for a target of shape {np.shape(target)}")
        truth = colour_classes(target)
        objects = truth != GROUND_CLASS
        hits += int((colour_classes(output)[objects] == truth[objects]).sum())
        total += int(objects.sum())
    return hits / total if total else 0.0
