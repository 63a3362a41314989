"""The statistics of evaluation, in numpy: FID, KID, PSNR and L1 (no TensorFlow, no scipy)."""

from __future__ import annotations

import numpy as np

from cyclegan_tf.errors import UserError
from cyclegan_tf.pixels import LEVEL


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (rounding negatives to 0)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr(sqrtm(sigma1 @ sigma2)) for covariance matrices, without scipy.

    sigma1 @ sigma2 is similar to the symmetric PSD matrix sqrt(sigma1) @ sigma2 @ sqrt(sigma1), so its
    eigenvalues are real and non-negative and the trace of its square root is the sum of their square roots.

    Args:
        sigma1: a (d, d) covariance matrix (symmetric positive semi-definite).
        sigma2: another (d, d) covariance matrix.

    Returns:
        The trace, >= 0.
    """
    root = _sqrt_psd(np.asarray(sigma1, np.float64))
    middle = root @ np.asarray(sigma2, np.float64) @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2)): the Frechet distance of two Gaussians.

    Args:
        mu1: the (d,) mean of the first Gaussian.
        sigma1: its (d, d) covariance.
        mu2: the (d,) mean of the second Gaussian.
        sigma2: its (d, d) covariance.

    Returns:
        The distance, clipped at 0 against rounding.
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def fid(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two sets of feature vectors (rows).

    With fewer images than feature dimensions (usual for test splits and 2048-d Inception features), the
    covariances have rank n - 1 and tr(sqrtm(S1 S2)) is the nuclear norm of C1 C2^T, C = centred rows /
    sqrt(n - 1): the nonzero eigenvalues of S1 S2 = C1^T C1 C2^T C2 are those of (C1 C2^T)(C1 C2^T)^T. That
    is an (n1 x n2) singular-value problem instead of two (d x d) eigenproblems.

    Args:
        features1: (n1, d) features, e.g. of the translations; at least 2 rows.
        features2: (n2, d) features, e.g. of the real target images; at least 2 rows.

    Returns:
        The FID, >= 0 (lower is more alike).
    """
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if len(x) < 2 or len(y) < 2:
        raise UserError("FID needs at least 2 images on each side")
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = (x - mu1) / np.sqrt(len(x) - 1), (y - mu2) / np.sqrt(len(y) - 1)
    if max(len(x), len(y)) < x.shape[1]:
        diff = mu1 - mu2
        trace_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum()
        return float(max(diff @ diff + (c1 * c1).sum() + (c2 * c2).sum() - 2 * trace_sqrt, 0.0))
    return frechet_distance(mu1, c1.T @ c1, mu2, c2.T @ c2)


def kid(features1: np.ndarray, features2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): the unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3.

    Args:
        features1: (n1, d) features; at least 2 rows.
        features2: (n2, d) features; at least 2 rows.
        subsets: how many random subsets the estimate is averaged over (1 when a subset would be all of both sets).
        subset_size: rows drawn without replacement from each side per subset, at most min(n1, n2).
        seed: seeds the draws, so the same features give the same KID.

    Returns:
        (mean, standard deviation over subsets).
    """
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise UserError("KID needs at least 2 images on each side")
    d = x.shape[1]
    if m == len(x) == len(y):  # every subset would be the whole of both sets
        subsets = 1
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        k_xx, k_yy, k_xy = ((p @ q.T / d + 1) ** 3 for p, q in ((a, a), (b, b), (a, b)))
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


def psnr(image1: np.ndarray, image2: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images; identical images give 100 dB rather than infinity.

    Args:
        image1: uint8 image, any shape.
        image2: uint8 image of the same shape.
        peak: the span of the values (255 for uint8; 2 for images in [-1, 1]).

    Returns:
        The PSNR in dB, at most 100.
    """
    mse = np.mean((np.asarray(image1, np.float64) - np.asarray(image2, np.float64)) ** 2)
    return float(min(100.0, 10 * np.log10(peak ** 2 / max(mse, 1e-12))))


def l1(image1: np.ndarray, image2: np.ndarray, level: float = LEVEL) -> float:
    """Mean absolute difference of two uint8 images in the model's [-1, 1] units.

    Args:
        image1: uint8 image, any shape.
        image2: uint8 image of the same shape.
        level: the values one unit of [-1, 1] spans (127.5 for uint8; 1 for images in [-1, 1]).

    Returns:
        The mean |image1 - image2| / 127.5, in [0, 2].
    """
    return float(np.mean(np.abs(np.asarray(image1, np.float64) - np.asarray(image2, np.float64))) / level)
