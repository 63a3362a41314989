"""Lab conversion against an independent numpy implementation, known colours, round trips, and the layers'
serialisation, saving and XLA compilation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclegan_tf.cielab import srgb_to_lab
from cyclegan_tf.data.images import grey_of_lightness
from cyclegan_tf.nn.color import (
    LAB_AB_SCALE,
    LAB_L_SCALE,
    LabToRGB,
    LightnessFromGrey,
    denormalize_lab,
    lab_to_rgb,
    normalize_lab,
    rgb_to_lab,
)

# The textbook definition (sRGB IEC 61966-2-1, CIE 1976 L*a*b* with the exact (6/29) constants), written
# independently of the module; skimage's matrix and D65 white, which the reference uses.
MATRIX = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
WHITE = np.array([0.95047, 1.0, 1.08883])
DELTA = 6.0 / 29.0


def numpy_lab(rgb01: np.ndarray) -> np.ndarray:
    """Lab of sRGB in [0, 1], float64."""
    linear = np.where(rgb01 <= 0.04045, rgb01 / 12.92, ((rgb01 + 0.055) / 1.055) ** 2.4)
    t = np.einsum("ij,...j->...i", MATRIX, linear) / WHITE
    f = np.where(t > DELTA**3, np.cbrt(t), t / (3 * DELTA**2) + 4.0 / 29.0)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def to_signed(rgb8) -> np.ndarray:
    return (np.asarray(rgb8, np.float32) / 255.0 * 2.0 - 1.0).reshape(1, 1, -1, 3)


def test_rgb_to_lab_matches_numpy_on_random_pixels():
    rgb01 = np.random.default_rng(0).uniform(0, 1, (4, 16, 16, 3))
    rgb01[0, 0, :8] = np.linspace(0, 0.05, 8)[:, None]  # dark pixels: the linear segments of both curves
    ours = np.asarray(rgb_to_lab((rgb01 * 2 - 1).astype(np.float32)))
    assert ours.dtype == np.float32 and ours.shape == (4, 16, 16, 3)
    assert np.abs(ours - numpy_lab(rgb01)).max() < 1e-3


def test_rgb_to_lab_known_colours():
    white, red, black = np.asarray(rgb_to_lab(to_signed([(255, 255, 255), (255, 0, 0), (0, 0, 0)])))[0, 0]
    assert abs(white[0] - 100.0) < 1e-3
    # skimage's matrix maps sRGB white to X = 0.950456 (the white is 0.95047): skimage itself gives
    # a = -0.0025, b = 0.0047 for white, and so do we.
    assert np.abs(white[1:]).max() < 0.006
    np.testing.assert_allclose(red, [53.24, 80.09, 67.20], atol=0.05)
    np.testing.assert_allclose(black, [0.0, 0.0, 0.0], atol=1e-4)


def test_numpy_lab_of_the_dataset_module_is_the_same():
    rgb8 = np.random.default_rng(1).integers(0, 256, (8, 8, 3))
    np.testing.assert_allclose(np.asarray(rgb_to_lab(to_signed(rgb8.reshape(-1, 3))))[0, 0],
                               srgb_to_lab(rgb8).reshape(-1, 3), atol=1e-3)


def test_round_trip_rgb_lab_rgb():
    rgb = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    rgb[0, 0, :6] = np.array([[-1, -1, -1], [1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1], [-0.99, -1, -0.98]])
    back = np.asarray(lab_to_rgb(rgb_to_lab(rgb)))
    assert back.dtype == np.float32
    assert np.abs(back - rgb).max() < 1e-4


def test_normalisation_is_the_reference_one_and_inverts():
    lab = np.array([[[[100.0, 110.0, -55.0], [0.0, 0.0, 0.0]]]], np.float32)
    l_norm, ab_norm = normalize_lab(lab)
    np.testing.assert_allclose(np.asarray(l_norm)[..., 0], [[[1.0, -1.0]]])
    np.testing.assert_allclose(np.asarray(ab_norm), [[[[1.0, -0.5], [0.0, 0.0]]]])
    assert (LAB_L_SCALE, LAB_AB_SCALE) == (50.0, 110.0)
    np.testing.assert_allclose(np.asarray(denormalize_lab(l_norm, ab_norm)), lab, atol=1e-5)


def test_out_of_gamut_lab_is_clipped_into_range():
    lab = np.array([[[[50.0, 110.0, 110.0], [50.0, -110.0, -110.0], [100.0, 0.0, 120.0], [0.0, 50.0, -100.0]]]],
                   np.float32)
    rgb = np.asarray(lab_to_rgb(lab))
    assert np.isfinite(rgb).all() and rgb.min() >= -1.0 and rgb.max() <= 1.0
    assert rgb[0, 0, 0, 0] == 1.0 and rgb[0, 0, 0, 2] == -1.0  # saturated red: red clipped high, blue low


def test_lightness_from_grey_is_the_l_of_grey_colour():
    grey = np.random.default_rng(3).uniform(-1, 1, (2, 9, 7, 1)).astype(np.float32)
    grey[0, 0, :3, 0] = [-1.0, 1.0, -0.98]
    expected = np.asarray(normalize_lab(rgb_to_lab(np.repeat(grey, 3, axis=-1)))[0])
    ours = np.asarray(LightnessFromGrey()(grey))
    assert ours.shape == (2, 9, 7, 1) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_lab_to_rgb_layer_round_trip():
    rgb = np.random.default_rng(4).uniform(-1, 1, (3, 5, 11, 3)).astype(np.float32)
    l_norm, ab_norm = normalize_lab(rgb_to_lab(rgb))
    layer = LabToRGB()
    out = np.asarray(layer([l_norm, ab_norm]))
    assert out.shape == (3, 5, 11, 3) and out.dtype == np.float32
    assert np.abs(out - rgb).max() < 1e-4
    assert layer.compute_output_shape([(None, 5, None, 1), (None, 5, None, 2)]) == (None, 5, None, 3)
    assert LightnessFromGrey().compute_output_shape((4, None, 8, 1)) == (4, None, 8, 1)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_layers_compute_in_float32_for_half_inputs(dtype):
    rng = np.random.default_rng(5)
    grey = keras.ops.cast(rng.uniform(-1, 1, (1, 6, 6, 1)).astype(np.float32), dtype)
    ab = keras.ops.cast(rng.uniform(-0.5, 0.5, (1, 6, 6, 2)).astype(np.float32), dtype)
    grey32, ab32 = keras.ops.cast(grey, "float32"), keras.ops.cast(ab, "float32")
    l_norm = LightnessFromGrey()(grey)
    rgb = LabToRGB()([l_norm, ab])
    assert keras.backend.standardize_dtype(l_norm.dtype) == "float32"
    assert keras.backend.standardize_dtype(rgb.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(l_norm), np.asarray(LightnessFromGrey()(grey32)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(rgb), np.asarray(LabToRGB()([l_norm, ab32])), atol=1e-6)


def test_grey_of_lightness_keeps_the_lightness():
    rgb8 = np.random.default_rng(6).integers(0, 256, (20, 24, 3)).astype(np.uint8)
    rgb8[0, :4] = [(255, 255, 255), (0, 0, 0), (0, 0, 255), (255, 255, 0)]
    grey = grey_of_lightness(rgb8)
    assert grey.shape == (20, 24, 1) and grey.dtype == np.uint8
    lightness = numpy_lab(rgb8 / 255.0)[..., 0]
    grey_lightness = numpy_lab(np.repeat(grey, 3, axis=-1) / 255.0)[..., 0]
    assert np.abs(grey_lightness - lightness).max() < 0.5


def two_layer_model() -> keras.Model:
    grey = keras.Input((None, None, 1), name="grey")
    ab = keras.Input((None, None, 2), name="ab")
    rgb = LabToRGB(name="to_rgb")([LightnessFromGrey(name="lightness")(grey), ab])
    return keras.Model([grey, ab], rgb)


def model_inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.uniform(-1, 1, (2, 12, 10, 1)).astype(np.float32),
            rng.uniform(-0.6, 0.6, (2, 12, 10, 2)).astype(np.float32)]


def test_layers_serialise_and_model_saves(tmp_path):
    for layer in (LightnessFromGrey(name="l"), LabToRGB(name="r")):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is type(layer) and clone.name == layer.name
        assert clone.get_config() == layer.get_config()
    model = two_layer_model()
    inputs = model_inputs()
    expected = np.asarray(model(inputs))
    model.save(tmp_path / "color.keras")
    loaded = keras.saving.load_model(tmp_path / "color.keras")
    assert isinstance(loaded.get_layer("to_rgb"), LabToRGB)
    np.testing.assert_array_equal(np.asarray(loaded(inputs)), expected)


def test_layers_compile_under_xla():
    model = two_layer_model()
    inputs = model_inputs()
    compiled = tf.function(lambda grey, ab: model([grey, ab]), jit_compile=True)
    np.testing.assert_allclose(np.asarray(compiled(*inputs)), np.asarray(model(inputs)), atol=1e-5)
