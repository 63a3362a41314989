"""DiffAugment: each transform checked against a property that holds exactly (or to float32 rounding)."""

import numpy as np
import pytest
import tensorflow as tf

from cyclegan_tf.nn import augment
from cyclegan_tf.nn.augment import POLICIES, diff_augment

SEED = tf.constant([12, 34], tf.int64)


def _images(shape, low=-1.0, high=1.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype("float32")


def _np_shift(image, dy, dx):
    """`image` (H, W, C) moved down by dy rows and right by dx columns, 0 where it moved away from."""
    height, width = image.shape[:2]
    out = np.zeros_like(image)
    out[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        image[max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    return out


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_shape_and_dtype_kept(dtype):
    x = _images((3, 20, 28, 3))
    out = diff_augment(tf.cast(x, dtype), SEED)
    assert out.shape == (3, 20, 28, 3)
    assert out.dtype == dtype
    # bfloat16 takes the same path, rounded once at the end: close to float32 on the same (rounded) input.
    rounded = tf.cast(tf.cast(x, dtype), "float32")
    expected = diff_augment(rounded, SEED).numpy()
    np.testing.assert_allclose(tf.cast(out, "float32").numpy(), expected, atol=0.02)
    assert np.abs(expected - rounded.numpy()).max() > 0.1  # and the augmentation did something


def test_same_seed_same_output_different_seed_different_output():
    x = tf.constant(_images((4, 16, 16, 3)))
    first = diff_augment(x, SEED).numpy()
    np.testing.assert_array_equal(diff_augment(x, SEED).numpy(), first)
    assert np.abs(diff_augment(x, tf.constant([12, 35], tf.int64)).numpy() - first).max() > 0.1
    # An int32 seed is the same seed as the int64 one of the same values.
    np.testing.assert_array_equal(diff_augment(x, tf.constant([12, 34], tf.int32)).numpy(), first)


def test_policies_validated_and_empty_policy_is_identity():
    x = tf.constant(_images((2, 8, 8, 3)))
    np.testing.assert_array_equal(diff_augment(x, SEED, ()).numpy(), x.numpy())
    with pytest.raises(ValueError, match="policies"):
        diff_augment(x, SEED, ("color", "rotation"))
    assert POLICIES == ("color", "translation", "cutout")


def test_translation_moves_each_image_by_an_integer_shift_and_fills_with_zero():
    n, height, width = 256, 32, 48  # largest shifts: round(32 / 8) = 4 rows, round(48 / 8) = 6 columns
    rng = np.random.default_rng(1)
    x = _images((n, height, width, 3), 0.1, 1.0)  # no zeros, so that the zero fill shows
    hot = np.stack([rng.integers(4, height - 4, n), rng.integers(6, width - 6, n)], axis=1)  # never leaves
    x[np.arange(n), hot[:, 0], hot[:, 1], :] = 5.0
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = diff_augment(x, SEED, ("translation",))
        total = tf.reduce_sum(out)
    grad = tape.gradient(total, x).numpy()
    out, x = out.numpy(), x.numpy()
    shifts = []
    for i in range(n):
        moved_to = np.argwhere(out[i, :, :, 0] == 5.0)
        assert len(moved_to) == 1
        dy, dx = moved_to[0] - hot[i]
        assert abs(dy) <= 4 and abs(dx) <= 6
        np.testing.assert_array_equal(out[i], _np_shift(x[i], dy, dx))
        # Each pixel that stays in the frame gets gradient 1, each one pushed out 0.
        np.testing.assert_array_equal(grad[i], _np_shift(np.ones_like(x[i]), -dy, -dx))
        shifts.append((dy, dx))
    dys, dxs = zip(*shifts, strict=True)
    assert set(dys) == set(range(-4, 5)) and set(dxs) == set(range(-6, 7))  # the whole range is drawn


def test_cutout_zeroes_a_half_size_square_per_image():
    n, size, side = 512, 32, 16
    ones = diff_augment(tf.ones((n, size, size, 3)), SEED, ("cutout",)).numpy()
    assert set(np.unique(ones)) == {0.0, 1.0}
    cut = ones == 0.0
    assert (cut == cut[..., :1]).all()  # the same square in every channel
    cut = cut[..., 0]
    corners = []
    for i in range(n):
        rows, cols = np.flatnonzero(cut[i].any(axis=1)), np.flatnonzero(cut[i].any(axis=0))
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        assert cut[i, top:bottom, left:right].all() and cut[i].sum() == (bottom - top) * (right - left)  # a box
        for start, stop in ((top, bottom), (left, right)):
            assert side // 2 <= stop - start <= side  # at least half of each side stays inside
            assert stop - start == side or start == 0 or stop == size  # shorter only where it crosses the border
        corners.append((top, left))
    fractions = cut.mean(axis=(1, 2))
    assert fractions.min() >= 1 / 16 and fractions.max() <= 1 / 4
    # The square's centre is uniform over [0, size] along each axis, independently: the expected fraction is
    # the square of the mean covered share of an axis, 456 / 33 / 32 per axis, about 0.187 in all.
    tops = np.arange(size + 1) - side // 2
    per_axis = np.mean(np.minimum(tops + side, size) - np.maximum(tops, 0)) / size
    assert abs(fractions.mean() - per_axis**2) < 0.01
    assert len(set(corners)) > 200  # positions vary between images
    # Everything outside the square is unchanged, whatever the image (the same seed cuts the same squares).
    x = _images((n, size, size, 3))
    np.testing.assert_array_equal(diff_augment(tf.constant(x), SEED, ("cutout",)).numpy(), x * ones)


def test_color_keeps_a_grey_image_grey_and_shifts_its_brightness():
    """Saturation and contrast scale deviations from means, which a uniform grey image does not have."""
    values = np.arange(-4, 5, dtype="float32") / 8  # exact in float32, as are their means over channels
    x = np.broadcast_to(np.tile(values, 8)[:, None, None, None], (72, 12, 12, 3))
    out = diff_augment(tf.constant(x), SEED, ("color",)).numpy()
    offsets = out - x
    assert np.abs(offsets - offsets[:, :1, :1, :1]).max() < 1e-6  # still one grey per image
    assert offsets.min() >= -0.5 and offsets.max() <= 0.5
    assert offsets[:, 0, 0, 0].std() > 0.2  # spread over the range (uniform: 0.29)


def test_brightness_adds_one_offset_per_image():
    x = _images((64, 10, 12, 3))
    offsets = augment._brightness(tf.constant(x), SEED).numpy() - x
    assert np.abs(offsets - offsets[:, :1, :1, :1]).max() < 1e-6
    assert offsets.min() >= -0.5 and offsets.max() <= 0.5 and offsets[:, 0, 0, 0].std() > 0.2


@pytest.mark.parametrize("name, axes, low, high", [("_saturation", (3,), 0.0, 2.0),
                                                   ("_contrast", (1, 2, 3), 0.5, 1.5)])
def test_saturation_and_contrast_scale_deviations_from_a_kept_mean(name, axes, low, high):
    x = _images((64, 10, 12, 3))
    out = getattr(augment, name)(tf.constant(x), SEED).numpy()
    mean = x.mean(axis=axes, keepdims=True)
    np.testing.assert_allclose(out.mean(axis=axes, keepdims=True), mean, atol=1e-6)
    deviation, new_deviation = x - mean, out - mean
    factors = (deviation * new_deviation).sum(axis=(1, 2, 3)) / (deviation**2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(new_deviation, factors[:, None, None, None] * deviation, atol=1e-5)
    assert factors.min() >= low and factors.max() < high and factors.std() > 0.2 * (high - low)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_gradients_flow_through_every_policy(dtype):
    x = tf.cast(_images((4, 16, 16, 3)), dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(tf.cast(diff_augment(x, SEED), "float32"))
    grad = tape.gradient(total, x)
    assert grad.dtype == dtype
    grad = tf.cast(grad, "float32").numpy()
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0.1


def test_gradient_is_zero_inside_the_cutout_square_and_one_outside():
    x = tf.constant(_images((16, 16, 16, 3)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(diff_augment(x, SEED, ("cutout",)))
    grad = tape.gradient(total, x).numpy()
    mask = diff_augment(tf.ones_like(x), SEED, ("cutout",)).numpy()
    np.testing.assert_array_equal(grad, mask)
    assert 0.0625 <= (grad == 0).mean() <= 0.25


def test_xla_matches_eager():
    x = tf.constant(_images((4, 32, 32, 3)))
    compiled = tf.function(diff_augment, jit_compile=True)
    # Negative and large seeds too: XLA reads only the low 32 bits of each number, eager kernels all 64.
    for seed in (SEED, tf.constant([5, 6], tf.int64), tf.constant([-7, 2**40 + 3], tf.int64),
                 tf.constant([-7, -1], tf.int32)):
        np.testing.assert_allclose(compiled(x, seed).numpy(), diff_augment(x, seed).numpy(), atol=1e-5)


def test_dynamic_shapes_in_a_traced_function():
    traced = tf.function(diff_augment, input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32),
                                                         tf.TensorSpec((2,), tf.int64)])
    for shape in ((2, 16, 16, 3), (5, 24, 20, 3)):
        x = tf.constant(_images(shape))
        out = traced(x, SEED)
        assert out.shape == shape
        np.testing.assert_allclose(out.numpy(), diff_augment(x, SEED).numpy(), atol=1e-6)
    assert traced.experimental_get_tracing_count() == 1


def test_each_policy_draws_the_same_numbers_whatever_runs_with_it():
    """Cutout runs last: the full policy's output is 0 in the square that cutout alone cuts with the same seed."""
    x = tf.constant(_images((8, 16, 16, 3), 0.1, 1.0))
    mask = diff_augment(tf.ones_like(x), SEED, ("cutout",)).numpy()
    full = diff_augment(x, SEED).numpy()
    assert (mask == 0).any() and (full[mask == 0] == 0).all()
