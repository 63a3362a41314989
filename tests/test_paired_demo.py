"""The embedded paired dataset: deterministic, both layouts, an exact segmenter, and the FCN-score metrics."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cyclegan_tf.data import labels2photo as pd
from cyclegan_tf.evaluation import exact, fcn


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return pd.make_paired_dataset(tmp_path_factory.mktemp("paired"), n_train=4, n_test=40, seed=5)


def test_generation_is_deterministic_and_writes_both_layouts(small_set, tmp_path):
    again = pd.make_paired_dataset(tmp_path, n_train=4, n_test=40, seed=5)
    for split, count in (("train", 4), ("test", 40)):
        files = sorted((small_set / split).iterdir())
        assert len(files) == count
        assert all((again / split / f.name).read_bytes() == f.read_bytes() for f in files)
        pair = np.asarray(Image.open(files[0]))
        assert pair.shape == (64, 128, 3)
        a = np.asarray(Image.open(small_set / f"{split}A" / files[0].name))
        b = np.asarray(Image.open(small_set / f"{split}B" / files[0].name))
        np.testing.assert_array_equal(pair, np.concatenate([a, b], axis=1))  # unpaired view = the same halves
    other = pd.make_paired_dataset(tmp_path / "other", n_train=1, n_test=1, seed=6)
    assert (other / "test" / "0000.png").read_bytes() != (small_set / "test" / "0000.png").read_bytes()


def test_label_maps_have_several_classes_and_decode_exactly():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        labels = pd.label_map(rng, 64)
        np.testing.assert_array_equal(pd.decode_labels(pd.render_labels(labels)), labels)
        seen |= set(np.unique(labels).tolist())
    assert seen == set(range(pd.K))


def test_the_segmenter_is_exact_on_ground_truth_photos(small_set):
    score = exact.ground_truth_score(small_set)
    assert score.images == 40
    assert score.pixel_accuracy >= 0.99
    assert score.class_accuracy >= 0.98 and score.class_iou >= 0.97


def test_striped_classes_are_right_in_any_phase_and_wrong_when_blurred():
    rng = np.random.default_rng(1)
    labels = pd.label_map(rng, 64)
    while not np.isin([pd.SIDEWALK, pd.VEGETATION], labels).all():
        labels = pd.label_map(rng, 64)
    for _ in range(4):  # new phase, orientation, shading and noise each time
        assert (pd.segment(pd.render_photo(labels, rng)) == labels).mean() >= 0.98
    # The L1-optimal answer in a striped region is the stripe's mean colour = the flat partner's colour.
    blurry = pd.MEAN[labels].astype(np.uint8)
    predicted = pd.segment(blurry)
    for striped, partner in pd.PARTNER.items():
        assert (predicted[labels == striped] == partner).all()


def test_fcn_score_metrics_from_a_confusion_matrix():
    labels = np.array([0, 0, 1, 1])
    predicted = np.array([0, 1, 1, 1])
    matrix = fcn.confusion(labels, predicted, k=3)  # class 2 absent from both: left out of the means
    score = fcn.FcnScore.from_confusion(matrix, images=1)
    assert score.pixel_accuracy == pytest.approx(0.75)
    assert score.class_accuracy == pytest.approx((1 / 2 + 2 / 2) / 2)
    assert score.class_iou == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert score.row() == "0.75 / 0.75 / 0.58"


def test_score_translator_scores_a_perfect_and_a_constant_translator(small_set):
    pairs = exact.test_pairs(small_set, limit=5)
    photos = {a.tobytes(): b for a, b in pairs}
    perfect = exact.labels2photo_score(lambda a: photos[a.tobytes()], small_set, limit=5)
    assert perfect.pixel_accuracy >= 0.99
    grey = exact.labels2photo_score(lambda a: np.full_like(a, 128), small_set, limit=5)  # all road
    assert grey.pixel_accuracy < 0.6 and grey.class_iou < 0.2
    copied = exact.identity_score(small_set)  # the floor: road and sky labels are near their photo colours
    assert copied.images == 40 and copied.class_iou < 0.6


def test_a_users_keras_segmenter_and_label_maps(tmp_path):
    import keras

    # A 1x1 "segmenter" of 2 classes: class 1 where red > green.
    inputs = keras.Input((None, None, 3))
    scores = keras.layers.Conv2D(2, 1, use_bias=False, kernel_initializer=keras.initializers.Constant(
        np.array([[[[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]]], np.float32)))(inputs)
    keras.Model(inputs, scores).save(tmp_path / "seg.keras")
    segment = fcn.keras_segmenter(tmp_path / "seg.keras")
    photo = np.zeros((4, 6, 3), np.uint8)
    photo[:, :3, 0], photo[:, 3:, 1] = 200, 200
    assert segment.classes == 2
    np.testing.assert_array_equal(segment(photo), np.repeat([[1, 1, 1, 0, 0, 0]], 4, axis=0))
    ids = np.repeat([[1, 1, 1, 0, 0, 0]], 4, axis=0).astype(np.uint8)
    assert fcn.fcn_score([(fcn.labels_from_image(ids), photo)], segment, 2).pixel_accuracy == 1.0
    colours = np.array([(0, 0, 0), (255, 255, 255)])
    np.testing.assert_array_equal(fcn.labels_from_image(colours[ids].astype(np.uint8), colours), ids)
    with pytest.raises(Exception, match="not found"):
        fcn.keras_segmenter(tmp_path / "missing.keras")
