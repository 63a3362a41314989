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
class's high and low stripe. FCN-score (`fcn_score`) is then the paper's protocol without a learned FCN:
per-pixel accuracy, per-class accuracy (mean recall) and class IoU (mean), from one confusion matrix over
the test set. Files: `train/`, `test/` of A|B images (pix2pix) and `trainA/ trainB/ testA/ testB/` of the
same halves (CycleGAN, which shuffles the domains independently, so it sees them unpaired).

No TensorFlow here: scoring takes any `translate(image) -> image` callable (`translate.Translator`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cyclegan_tf.images import list_images, load_pair

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
# Options the dataset brings (under the user's, over the model's): 64 px, slim networks, a CPU-sized run.
# A ResNet generator, because a U-Net of 8 levels (unet_256) needs 256 px inputs.
PRESET = dict(netG="resnet_6blocks", ngf=16, ndf=16, load_size=64, crop_size=64, preprocess="none",
              n_epochs=3, n_epochs_decay=3, save_epoch_freq=3, seed=0)


def label_map(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size) class indices: sky above a random horizon, road below, then 4 to 8 random shapes."""
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
    """The "photo" of a label map (the B half): class colours, stripes of random phase, shading, noise."""
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
    """(label image A, photo B), both (size, size, 3) uint8."""
    labels = label_map(rng, size)
    return render_labels(labels), render_photo(labels, rng)


def make_paired_dataset(root: Path, size: int = 64, n_train: int = 300, n_test: int = 50, seed: int = 0) -> Path:
    """Write train/ test/ (A|B images) and trainA/ trainB/ testA/ testB/ (the halves) under `root`."""
    root = Path(root)
    for split, offset in SPLITS.items():
        rng = np.random.default_rng([seed, offset])
        for folder in (split, f"{split}A", f"{split}B"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n_train if split == "train" else n_test):
            a, b = make_pair(rng, size)
            Image.fromarray(np.concatenate([a, b], axis=1)).save(root / split / f"{i:04d}.png")
            Image.fromarray(a).save(root / f"{split}A" / f"{i:04d}.png")
            Image.fromarray(b).save(root / f"{split}B" / f"{i:04d}.png")
    (root / "README.txt").write_text(
        f"cyclegan-tf {NAME}: size {size}, seed {seed}. A: label maps of {K} classes ({', '.join(CLASSES)}); "
        "B: rendered photos (sidewalk and vegetation striped, with the mean colour of road and building).\n"
    )
    return root


def ensure_dataset(root: Path) -> Path:
    """The dataset at `root`, generated on first use (README.txt is written last: its presence means complete)."""
    if not (Path(root) / "README.txt").is_file():
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


def confusion(labels: np.ndarray, predicted: np.ndarray, k: int = K) -> np.ndarray:
    """k x k counts: row = true class, column = predicted class."""
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

    def row(self) -> str:
        """'0.66 / 0.23 / 0.17' as the paper's tables show it."""
        return f"{self.pixel_accuracy:.2f} / {self.class_accuracy:.2f} / {self.class_iou:.2f}"


def fcn_score(pairs: Iterable[tuple[np.ndarray, np.ndarray]],
              segmenter: Callable[[np.ndarray], np.ndarray] = segment, k: int = K) -> FcnScore:
    """Score (label map of class indices, photo) pairs: the photo is segmented and compared with the labels."""
    matrix, n = np.zeros((k, k), np.int64), 0
    for labels, photo in pairs:
        matrix += confusion(labels, segmenter(photo), k)
        n += 1
    return FcnScore.from_confusion(matrix, n)


def test_pairs(root: Path, split: str = "test", limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(label image A, photo B) of each A|B file of `root/split`, as uint8 RGB arrays."""
    return [load_pair(path) for path in list_images(Path(root) / split, limit)]


def score_translator(translate: Callable[[np.ndarray], np.ndarray], root: Path, split: str = "test",
                     limit: int | None = None) -> FcnScore:
    """FCN-score of a labels -> photo generator (pix2pix AtoB, or a CycleGAN's G_AB) on the paired set."""
    return fcn_score((decode_labels(a), translate(a)) for a, _ in test_pairs(root, split, limit))


def identity_score(root: Path, split: str = "test") -> FcnScore:
    """The label map copied as the "photo": the floor a translation must beat (road and sky labels are near
    their photo colours, so copying already places those)."""
    return score_translator(lambda labels: labels, root, split)


def ground_truth_score(root: Path, split: str = "test") -> FcnScore:
    """The segmenter on the real photos: the ceiling of every run (the paper's "ground truth" row)."""
    return fcn_score((decode_labels(a), b) for a, b in test_pairs(root, split))


# ---------------------------------------------------------------------------------------------------------------
# FCN-score of a run directory, on this set (exact segmenter) or on a real one (a user's Keras segmenter)


def keras_segmenter(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """A user's Keras segmentation model as a segmenter.

    Format: a `.keras` file; input (1, H, W, 3) float32 RGB in [0, 255] at the image's own size (a fully
    convolutional model) and output (1, H, W, K) class scores; the class of a pixel is the argmax.
    """
    from cyclegan_tf.errors import UserError

    if not Path(path).is_file():
        raise UserError(f"--segmenter file not found: {path}")
    import keras  # TensorFlow only when a learned segmenter is used

    model = keras.saving.load_model(path, compile=False)

    def run(photo: np.ndarray) -> np.ndarray:
        rgb = np.asarray(photo, np.float32)
        rgb = np.repeat(rgb, 3, axis=-1) if rgb.shape[-1] == 1 else rgb[..., :3]
        return np.argmax(np.asarray(model(rgb[None], training=False))[0], axis=-1)

    run.classes = int(model.output_shape[-1])  # type: ignore[attr-defined]
    return run


def labels_from_image(image: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Class indices of a label map: a one-channel image of class ids, or, with `palette` ((K, 3) RGB colours),
    a colour label map (nearest palette colour)."""
    image = np.asarray(image)
    if palette is None:
        return image[..., 0].astype(np.int64) if image.ndim == 3 else image.astype(np.int64)
    pixels = image.astype(np.float32)[..., :3]
    return np.argmin(np.linalg.norm(pixels[..., None, :] - np.asarray(palette, np.float32), axis=-1), axis=-1)


def score_run(run: str | Path, epoch: int | None = None,
              segmenter: str | Path | Callable[[np.ndarray], np.ndarray] | None = None,
              palette: np.ndarray | None = None, dataroot: str | Path | None = None, limit: int | None = None
              ) -> FcnScore:
    """FCN-score of a run's label -> photo generator on its test split.

    On `labels2photo_demo` (or without `segmenter`) the exact segmenter and this set's palette are used. With
    a `segmenter` (a model file or `keras_segmenter`'s result), the run's inputs are label maps: one-channel
    class ids, or colour maps decoded with `palette`. The inputs are those `evaluate` scores: a pix2pix run's
    halves of the A|B pairs of `test/` (else `val/`) in its direction, a CycleGAN's `testA/`.
    """
    from cyclegan_tf import checkpoints
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.datasets import resolve_dataroot
    from cyclegan_tf.evaluate import test_images
    from cyclegan_tf.translate import load_translator, run_directions

    checkpoint = checkpoints.find_checkpoint(Path(run), epoch)
    config = TrainConfig.load(checkpoint / "config.json")
    root = Path(dataroot) if dataroot else resolve_dataroot(config)
    direction = run_directions(config)[0]
    translator = load_translator(checkpoint, direction)
    sources = test_images(config, root, direction, limit).inputs
    if segmenter is None:
        return fcn_score((decode_labels(s), translator(s)) for s in sources)
    segment_photo = keras_segmenter(segmenter) if isinstance(segmenter, str | Path) else segmenter
    return fcn_score(((labels_from_image(s, palette), translator(s)) for s in sources), segment_photo,
                     segment_photo.classes)


def read_palette(path: str | Path) -> np.ndarray:
    """`--palette FILE`: a JSON list of [r, g, b], one per class, as a (K, 3) array."""
    import json

    from cyclegan_tf.errors import UserError

    try:
        return np.array(json.loads(Path(path).read_text()), np.float32).reshape(-1, 3)
    except (OSError, ValueError) as error:
        raise UserError(f"--palette {path}: not a JSON list of [r, g, b] colours ({error})") from None
