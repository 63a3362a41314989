"""Layers against numpy, and the image pool's behaviour."""

import keras
import numpy as np
import pytest

from cyclegan_tf.nn.layers import ImagePool, InstanceNormalization, ReflectionPadding2D


def test_instance_norm_matches_numpy_and_keras_group_norm():
    x = np.random.default_rng(0).normal(3.0, 2.0, (2, 7, 5, 4)).astype("float32")
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5)
    ours = InstanceNormalization()(x).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    group = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False)(x).numpy()
    np.testing.assert_allclose(ours, group, atol=1e-5)


def test_instance_norm_affine_and_config():
    layer = InstanceNormalization(affine=True, name="n")
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 3)).astype("float32")
    layer(x)
    layer.gamma.assign([2.0, 1.0, 0.5])
    layer.beta.assign([1.0, 0.0, -1.0])
    base = InstanceNormalization()(x).numpy()
    np.testing.assert_allclose(layer(x).numpy(), base * [2.0, 1.0, 0.5] + [1.0, 0.0, -1.0], atol=1e-5)
    clone = InstanceNormalization.from_config(layer.get_config())
    assert clone.affine and clone.epsilon == 1e-5
    assert len(InstanceNormalization().weights) == 0


def test_instance_norm_computes_in_float32_under_bfloat16():
    x = (np.random.default_rng(2).normal(size=(1, 16, 16, 2)) * 50 + 1000).astype("float32")
    out = InstanceNormalization(dtype="mixed_bfloat16")(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    # Keras casts the input to bfloat16; from there, statistics in float32 lose nothing more than
    # the output's own rounding (8 bits of mantissa: < 0.016 for |values| < 4).
    xq = np.asarray(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
    expected = (xq - xq.mean((1, 2), keepdims=True)) / np.sqrt(xq.var((1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(np.asarray(keras.ops.cast(out, "float32")), expected, atol=0.016)


@pytest.mark.parametrize("padding", [1, 3])
def test_reflection_padding_matches_numpy(padding):
    x = np.arange(2 * 5 * 6 * 3, dtype="float32").reshape(2, 5, 6, 3)
    expected = np.pad(x, [(0, 0), (padding, padding), (padding, padding), (0, 0)], mode="reflect")
    layer = ReflectionPadding2D(padding)
    np.testing.assert_array_equal(layer(x).numpy(), expected)
    assert layer.compute_output_shape((None, 5, None, 3)) == (None, 5 + 2 * padding, None, 3)


def _pool(size, seed=0):
    pool = ImagePool(size, seed=seed)
    pool.build((None, 2, 2, 1))
    return pool


def test_pool_fills_then_returns_stored_images_about_half_the_time():
    pool = _pool(10)
    # While filling, every image is stored and returned as it is.
    for i in range(10):
        out = pool(np.full((1, 2, 2, 1), i, "float32")).numpy()
        assert out[0, 0, 0, 0] == i
    assert int(pool.count.numpy()) == 10
    assert sorted(pool.images.numpy()[:, 0, 0, 0]) == list(range(10))
    # Full: an image is swapped for a stored one (older, so a different value) with probability 0.5.
    swapped = 0
    trials = 400
    for i in range(100, 100 + trials):
        out = pool(np.full((1, 2, 2, 1), i, "float32")).numpy()[0, 0, 0, 0]
        swapped += out != i
    assert 0.42 < swapped / trials < 0.58
    # What the pool returns was once given to it; what it stores now are images it was given.
    assert set(pool.images.numpy()[:, 0, 0, 0]) <= set(range(10)) | set(range(100, 100 + trials))


def test_pool_with_batches_keeps_each_image_once():
    pool = _pool(4)
    batch = np.arange(6, dtype="float32").reshape(6, 1, 1, 1) * np.ones((6, 2, 2, 1), "float32")
    out = pool(batch).numpy()
    np.testing.assert_array_equal(out[:4], batch[:4])  # the first four fill the pool
    assert int(pool.count.numpy()) == 4
    stored = pool.images.numpy()[:, 0, 0, 0]
    # Images 4 and 5 were either kept out (returned as they are) or swapped in for a stored one.
    for i in (4, 5):
        returned = out[i, 0, 0, 0]
        assert (returned == i and i not in stored) or (returned in range(4) and i in stored)


def test_pool_of_size_zero_passes_images_through():
    pool = ImagePool(0)
    x = np.ones((3, 4, 4, 3), "float32")
    np.testing.assert_array_equal(pool(x), x)


@pytest.mark.parametrize("make", [
    lambda: ReflectionPadding2D(2, name="pad"),
    lambda: InstanceNormalization(name="norm"),
    lambda: InstanceNormalization(epsilon=1e-3, affine=True, name="affine_norm"),
    lambda: ImagePool(4, seed=3, name="pool"),
], ids=["reflection_padding", "instance_norm", "instance_norm_affine", "image_pool"])
def test_custom_layers_round_trip_through_config_and_keras_files(make, tmp_path):
    layer = make()
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 3)).astype("float32")
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, layer(inputs))
    if getattr(layer, "affine", False):
        layer.gamma.assign([2.0, 1.0, 0.5])
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    model.save(tmp_path / "layer.keras")
    loaded = keras.saving.load_model(tmp_path / "layer.keras")
    assert type(loaded.layers[-1]) is type(layer) and loaded.layers[-1].get_config() == layer.get_config()
    for mine, theirs in zip(loaded.weights, model.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    if not isinstance(layer, ImagePool):  # the pool's output is random by design
        np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
