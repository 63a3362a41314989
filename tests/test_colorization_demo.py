"""The colorization demo set: isoluminant in-gamut colours, the files written, and that its exact score
measures colour (and where it is put)."""

import numpy as np
from PIL import Image

from cyclegan_tf.cielab import srgb_to_lab
from cyclegan_tf.data import colorization_demo as cd
from cyclegan_tf.data.synthetic import is_written


def greyed(image: np.ndarray) -> np.ndarray:
    """The colour removed: each pixel replaced by the grey of its Lab lightness (a = b = 0), in numpy."""
    lightness = srgb_to_lab(image)[..., 0]
    fy = (lightness + 16) / 116
    y = np.where(fy > 6 / 29, fy**3, (fy - 4 / 29) * 3 * (6 / 29) ** 2)  # the white's Y is 1
    grey = np.where(y > 0.0031308, 1.055 * np.maximum(y, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * y)
    return np.repeat(np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def sample(n: int = 12, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [cd.render(cd.shapes_map(rng), rng) for _ in range(n)]


def test_kind_colours_are_isoluminant_saturated_and_in_gamut():
    lab = srgb_to_lab(cd.KIND_COLOURS)
    assert np.ptp(lab[:, 0]) < 1.0 and abs(lab[:, 0].mean() - 60) < 1
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    assert chroma.min() > 55  # far from the ground (chroma 0) and from each other
    hues = np.sort(np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360)
    assert np.diff(np.r_[hues, hues[0] + 360]).min() > 90
    # In gamut: the uint8 values are exact sRGB colours (no channel clipped at 0 or 255).
    assert cd.KIND_COLOURS.min() > 0 and cd.KIND_COLOURS.max() < 255
    assert np.array_equal(cd.KIND_COLOURS, np.round(cd.KIND_COLOURS))
    ground = srgb_to_lab(cd.GROUND)
    assert np.hypot(*ground[1:]) < 0.01 and ground[0] - lab[:, 0].max() > 15  # neutral, lighter than the shapes


def test_grey_image_does_not_tell_the_kinds_apart():
    grey = greyed(cd.KIND_COLOURS[None].astype(np.uint8))[0, :, 0].astype(int)
    assert np.ptp(grey) <= 2  # the three colours are one grey (up to uint8 rounding)


def test_make_dataset_writes_the_counts_deterministically(tmp_path):
    root = cd.make_dataset(tmp_path / cd.NAME, train=7, test=3, seed=5)
    assert root == tmp_path / cd.NAME
    train, test = sorted((root / "train").glob("*.png")), sorted((root / "test").glob("*.png"))
    assert (len(train), len(test)) == (7, 3)
    for path in train + test:
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.size == (64, 64)
    assert is_written(root, tuple(cd.SPLITS))
    assert not list(tmp_path.glob(".*partial*"))  # the staging folder is gone
    again = cd.make_dataset(tmp_path / "again", train=7, test=3, seed=5)
    assert (again / "train" / "0006.png").read_bytes() == (root / "train" / "0006.png").read_bytes()
    # Writing over an existing dataset replaces its splits.
    cd.make_dataset(root, train=2, test=1, seed=5)
    assert len(list((root / "train").glob("*.png"))) == 2


def test_ensure_dataset_completes_an_incomplete_folder_only(tmp_path):
    folder = tmp_path / cd.NAME
    (folder / "train").mkdir(parents=True)  # e.g. an interrupted older run: no README, no test/
    cd.ensure_dataset(folder)
    assert is_written(folder, tuple(cd.SPLITS))
    assert (len(list((folder / "train").glob("*.png"))), len(list((folder / "test").glob("*.png")))) == (200, 30)
    stamp = (folder / "README.txt").stat().st_mtime_ns
    cd.ensure_dataset(folder)
    assert (folder / "README.txt").stat().st_mtime_ns == stamp


def test_classes_follow_the_drawn_shapes():
    rng = np.random.default_rng(1)
    for _ in range(20):
        classes = cd.shapes_map(rng)
        assert (cd.colour_classes(cd.render(classes, rng)) == classes).all()


def test_score_measures_colour_and_position():
    targets = sample()
    assert cd.colour_accuracy(targets, targets) == 1.0
    assert cd.colour_accuracy([greyed(t) for t in targets], targets) < 0.4
    shifted = [np.roll(t, (9, 7), axis=(0, 1)) for t in targets]
    assert cd.colour_accuracy(shifted, targets) < 0.9
    # The right colours on the wrong kinds: each kind painted in the next kind's colour.
    wrong = []
    for target in targets:
        classes = cd.colour_classes(target)
        image = target.copy()
        for kind in (cd.DISC_CLASS, cd.SQUARE_CLASS, cd.TRIANGLE_CLASS):
            image[classes == kind] = cd.KIND_COLOURS[kind % 3]
        wrong.append(image)
    assert cd.colour_accuracy(wrong, targets) == 0.0
    # A washed-out but right-hued answer (half the chroma, as a blurry regression gives) still counts.
    washed = [np.round((t.astype(np.float32) + greyed(t)) / 2).astype(np.uint8) for t in targets]
    assert cd.colour_accuracy(washed, targets) > 0.99
