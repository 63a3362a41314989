"""CIE Lab from sRGB with skimage.color's constants, digit for digit (numpy, TF-free).

`nn.color` computes the same in `keras.ops` inside networks and graphs; both take their constants from here.
"""

from __future__ import annotations

import numpy as np

# skimage.color's sRGB (linear) -> XYZ matrix and D65 / 2-degree white.
SRGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
D65_WHITE = (0.95047, 1.0, 1.08883)

# The sRGB transfer function's and CIE f(t)'s constants, as skimage rounds them.
DECODE_THRESHOLD = 0.04045
ENCODE_THRESHOLD = 0.0031308
F_THRESHOLD = 0.008856  # (6/29)^3
F_INVERSE_THRESHOLD = 0.2068966  # 6/29
F_SLOPE = 7.787  # 1 / (3 (6/29)^2)
F_OFFSET = 16.0 / 116.0


def srgb_to_lab(image: np.ndarray) -> np.ndarray:
    """CIE Lab of an sRGB image with values in 0..255, as `skimage.color.rgb2lab(image / 255)`.

    Args:
        image: uint8 (or float in [0, 255]) (..., 3) RGB; a 4th (alpha) channel is ignored.

    Returns:
        float64 (..., 3): L in [0, 100], a, b.
    """
    c = np.asarray(image, np.float64)[..., :3] / 255.0
    linear = np.where(c > DECODE_THRESHOLD, ((np.maximum(c, DECODE_THRESHOLD) + 0.055) / 1.055) ** 2.4, c / 12.92)
    t = linear @ np.array(SRGB_TO_XYZ).T / np.array(D65_WHITE)
    f = np.where(t > F_THRESHOLD, np.cbrt(t), F_SLOPE * t + F_OFFSET)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])],
                    axis=-1)
