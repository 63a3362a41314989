"""CIE Lab colour conversion for the colorization model, in `keras.ops` (traceable, exportable).

The reference (pytorch-CycleGAN-and-pix2pix, `colorization` dataset and model) converts with
`skimage.color.rgb2lab` / `lab2rgb`: sRGB, D65 white, 2-degree observer. Its network sees the lightness as
`L / 50 - 1` and predicts `ab / 110`. We use skimage's constants digit for digit (its RGB -> XYZ matrix,
its white (0.95047, 1.0, 1.08883), its rounded 0.008856 = (6/29)^3 and 7.787 = 1 / (3 (6/29)^2)), so that
our Lab values are the reference's to float32 rounding. One consequence, shared with skimage: its matrix
maps sRGB white to X = 0.950456 (not exactly the white's 0.95047), so white has a = -0.0025, b = 0.0047.

Only element-wise ops, `where`, `power`, `split` and `concatenate` are used, which convert to ONNX and to
TFLite builtins (no `cbrt`: cube roots are `power(., 1/3)` of a clamped value, the linear segments a `where`;
the clamp keeps the unused branch finite, so gradients stay finite too).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from cyclegan_tf.cielab import (
    D65_WHITE,
    DECODE_THRESHOLD,
    ENCODE_THRESHOLD,
    F_INVERSE_THRESHOLD,
    F_OFFSET,
    F_SLOPE,
    F_THRESHOLD,
    SRGB_TO_XYZ,
)

XYZ_TO_SRGB = tuple(tuple(row) for row in np.linalg.inv(np.array(SRGB_TO_XYZ)).tolist())

# The reference's normalisation of the network's input (L) and output (ab).
LAB_L_SCALE = 50.0
LAB_AB_SCALE = 110.0



def _srgb_decode(c):
    """Gamma-encoded sRGB in [0, 1] -> linear light."""
    curve = ops.power((ops.maximum(c, DECODE_THRESHOLD) + 0.055) / 1.055, 2.4)
    return ops.where(c > DECODE_THRESHOLD, curve, c / 12.92)


def _srgb_encode(linear):
    """Linear light -> gamma-encoded sRGB (not clipped)."""
    curve = 1.055 * ops.power(ops.maximum(linear, ENCODE_THRESHOLD), 1.0 / 2.4) - 0.055
    return ops.where(linear > ENCODE_THRESHOLD, curve, linear * 12.92)


def _lab_f(t):
    """CIE f(t): the cube root above (6/29)^3, a line below."""
    return ops.where(t > F_THRESHOLD, ops.power(ops.maximum(t, F_THRESHOLD), 1.0 / 3.0), F_SLOPE * t + F_OFFSET)


def _lab_f_inverse(f):
    """The inverse of `_lab_f`."""
    return ops.where(f > F_INVERSE_THRESHOLD, f * f * f, (f - F_OFFSET) / F_SLOPE)


def _mix(channels, matrix):
    """`matrix @ channels` for three (..., 1) tensors: weighted sums rather than a matmul, so the graph is only
    element-wise ops whatever the rank (and the same float32 sums wherever a row is applied)."""
    first, second, third = channels
    return [row[0] * first + row[1] * second + row[2] * third for row in matrix]


def rgb_to_lab(rgb):
    """sRGB in [-1, 1] -> CIE Lab, as `skimage.color.rgb2lab` of `(rgb + 1) / 2`.

    Args:
        rgb: float (..., 3), e.g. (N, H, W, 3), gamma-encoded sRGB in [-1, 1] (a generator's range).

    Returns:
        float32 (..., 3): L in [0, 100], a and b (about -86..98 and -108..94 for sRGB colours).
    """
    c = (ops.cast(rgb, "float32") + 1.0) * 0.5
    xyz = _mix([_srgb_decode(channel) for channel in ops.split(c, 3, axis=-1)], SRGB_TO_XYZ)
    fx, fy, fz = (_lab_f(t / white) for t, white in zip(xyz, D65_WHITE, strict=True))
    return ops.concatenate([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """CIE Lab -> sRGB in [-1, 1], as `skimage.color.lab2rgb` (then `* 2 - 1`).

    Like skimage, a negative Z is set to 0 and out-of-gamut colours are clipped channel by channel.

    Args:
        lab: float (..., 3): L in [0, 100], a, b.

    Returns:
        float32 (..., 3) in [-1, 1].
    """
    lightness, a, b = ops.split(ops.cast(lab, "float32"), 3, axis=-1)
    fy = (lightness + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = ops.maximum(fy - b / 200.0, 0.0)
    xyz = [_lab_f_inverse(f) * white for f, white in zip((fx, fy, fz), D65_WHITE, strict=True)]
    rgb = ops.concatenate([_srgb_encode(channel) for channel in _mix(xyz, XYZ_TO_SRGB)], axis=-1)
    return ops.clip(rgb, 0.0, 1.0) * 2.0 - 1.0


def normalize_lab(lab):
    """Lab -> the reference's network tensors: (L / 50 - 1, ab / 110).

    Args:
        lab: float (..., 3), as `rgb_to_lab` gives.

    Returns:
        (l_norm, ab_norm): float32 (..., 1) in [-1, 1] and float32 (..., 2), about [-1, 1].
    """
    lab = ops.cast(lab, "float32")
    return lab[..., :1] / LAB_L_SCALE - 1.0, lab[..., 1:] / LAB_AB_SCALE


def denormalize_lab(l_norm, ab_norm):
    """The inverse of `normalize_lab`.

    Args:
        l_norm: float (..., 1), L / 50 - 1.
        ab_norm: float (..., 2), ab / 110.

    Returns:
        float32 (..., 3) Lab.
    """
    lightness = (ops.cast(l_norm, "float32") + 1.0) * LAB_L_SCALE
    return ops.concatenate([lightness, ops.cast(ab_norm, "float32") * LAB_AB_SCALE], axis=-1)


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class LightnessFromGrey(keras.layers.Layer):
    """A grey image in [-1, 1] -> the normalised lightness `L / 50 - 1` of the colour (v, v, v).

    The colorization generator's input: a grey photo becomes exactly what `normalize_lab(rgb_to_lab(.))`
    gives for its grey pixels, so a model trained on Lab tensors can be served grey images.

    The layer computes in float32 (its default dtype; under a mixed policy Keras casts the input up),
    because 8 bits of mantissa would move L by up to 0.4.

    Args:
        **kwargs: passed to `keras.layers.Layer` (name, dtype...).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        c = (ops.cast(inputs, "float32") + 1.0) * 0.5
        linear = _srgb_decode(c)
        # The same float32 sums as rgb_to_lab's, so the result is its L to the last bit.
        y = _mix([linear, linear, linear], SRGB_TO_XYZ)[1]
        lightness = 116.0 * _lab_f(y / D65_WHITE[1]) - 16.0
        return ops.cast(lightness / LAB_L_SCALE - 1.0, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        return super().get_config()


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class LabToRGB(keras.layers.Layer):
    """`[l_norm, ab_norm]` (the reference's normalised Lab) -> sRGB in [-1, 1], out-of-gamut colours clipped.

    The colorization generator's output head: `denormalize_lab` then `lab_to_rgb`, in float32 (the default
    dtype; see `LightnessFromGrey`).

    Args:
        **kwargs: passed to `keras.layers.Layer` (name, dtype...).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        l_norm, ab_norm = inputs
        return ops.cast(lab_to_rgb(denormalize_lab(l_norm, ab_norm)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        l_shape, _ = input_shape
        return (*l_shape[:-1], 3)

    def get_config(self):
        return super().get_config()

