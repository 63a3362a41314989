"""Differentiable augmentation (DiffAugment, Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
GAN Training").

The same random transforms are applied to real and generated images before the discriminator sees them, in
both the discriminator's and the generator's step. Every transform is differentiable in the image, so the
generator is trained through them; the discriminator cannot tell augmented reals from unaugmented fakes (no
leak of the augmentation into the generated images), and it overfits less on a small training set.

Images are channels-last (N, H, W, C) batches with values in [-1, 1], the range the paper's code works in:
the brightness offset (+-0.5) is a quarter of that range, and the value 0 that translation and cutout fill in
is mid-grey. Policies, applied in the order given:
- "color": brightness (a per-image offset in [-0.5, 0.5)), saturation (each pixel's deviation from its mean
  over the channels scaled by a per-image factor in [0, 2)), contrast (the deviation from the image's mean
  scaled by a per-image factor in [0.5, 1.5)).
- "translation": a per-image shift by whole pixels, in [-r, r] with r = round(size / 8) along each axis,
  filling with 0 where the image moved away.
- "cutout": a per-image square of side round(size / 2) set to 0; its centre is uniform over the image, so
  the square may cross the border (at least a quarter of it stays inside).

Randomness is stateless: `diff_augment` takes a seed tensor, so a caller that derives it from the step
counter gets the same augmentation again after a resume. Every shape may be dynamic, there is no Python loop
over the images, and the ops compile under XLA (`jit_compile=True`).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

POLICIES = ("color", "translation", "cutout")

TRANSLATION_RATIO = 0.125  # the paper's: shift by up to 1/8 of the image size
CUTOUT_RATIO = 0.5  # the paper's: cut out a square of half the image size

# Each sub-op's seed is the caller's seed folded with a fixed number, not the next of a split: a sub-op then
# draws the same numbers whatever other policies run with it (e.g. "translation" alone and in the full policy).
_BRIGHTNESS, _SATURATION, _CONTRAST, _TRANSLATION, _CUTOUT = range(5)


def _portable_seed(seed: tf.Tensor) -> tf.Tensor:
    """The seed's two numbers reduced modulo 2**32, as int64.

    Args:
        seed: a shape-(2,) int32 or int64 seed.

    Returns:
        A shape-(2,) int64 seed that draws the same numbers in eager mode and under XLA.
    """
    # TF 2.21's eager kernels read each number of a seed as 64 bits, XLA's only its low 32 bits (as unsigned): a
    # negative or large seed draws different numbers in the two, e.g. any int32 seed that fold_in returns half of
    # the time. Both read a number in [0, 2**32) alike, and int32 seeds map onto that range one to one.
    return tf.math.floormod(tf.cast(seed, tf.int64), 2**32)


def _unit_uniform(shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Float32 draws uniform in [0, 1), on a grid of 2**-24, the same in eager mode and under XLA.

    Args:
        shape: the draws' shape.
        seed: a shape-(2,) int32 or int64 seed.

    Returns:
        A float32 tensor of `shape`.
    """
    # From integers: TF 2.21's stateless float draws differ between eager and XLA (their bits-to-float
    # conversions differ), the integer draws agree, and 24 bits is float32's mantissa, so the scaling is exact.
    bits = tf.random.stateless_uniform(shape, _portable_seed(seed), minval=0, maxval=1 << 24, dtype=tf.int32)
    return tf.cast(bits, tf.float32) * 2.0**-24


def _uniform(x: tf.Tensor, seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
    """One factor per image, uniform in [low, high), shaped (N, 1, 1, 1) in x's dtype."""
    # Drawn in float32 and the same whatever x's dtype.
    return tf.cast(low + (high - low) * _unit_uniform([tf.shape(x)[0], 1, 1, 1], seed), x.dtype)


def _rounded_fraction(size: tf.Tensor, ratio: float) -> tf.Tensor:
    """int(size * ratio + 0.5), as the paper rounds, for a (maybe dynamic) int32 size."""
    return tf.cast(tf.cast(size, tf.float32) * ratio + 0.5, tf.int32)


def _brightness(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Adds a per-image offset in [-0.5, 0.5) to every pixel.

    Args:
        x: images (N, H, W, C) in [-1, 1].
        seed: a shape-(2,) int32 or int64 seed.

    Returns:
        The images, same shape and dtype.
    """
    return x + _uniform(x, seed, -0.5, 0.5)


def _saturation(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Scales each pixel's deviation from its channel mean by a per-image factor in [0, 2) (0 makes it grey).

    Args:
        x: images (N, H, W, C) in [-1, 1].
        seed: a shape-(2,) int32 or int64 seed.

    Returns:
        The images, same shape and dtype; each pixel keeps its mean over the channels.
    """
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    return (x - mean) * _uniform(x, seed, 0.0, 2.0) + mean


def _contrast(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Scales each image's deviation from its mean (over H, W and C) by a per-image factor in [0.5, 1.5).

    Args:
        x: images (N, H, W, C) in [-1, 1].
        seed: a shape-(2,) int32 or int64 seed.

    Returns:
        The images, same shape and dtype; each image keeps its mean.
    """
    mean = tf.reduce_mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * _uniform(x, seed, 0.5, 1.5) + mean


def _random_offsets(x: tf.Tensor, seed: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Two int32 draws per image, uniform in [low[i], high[i]) for the rows (i = 0) and the columns (i = 1).

    Args:
        x: the images (N, H, W, C), for N.
        seed: a shape-(2,) int32 or int64 seed.
        low: the (2,) int32 lower bounds, included.
        high: the (2,) int32 upper bounds, excluded, each above its lower bound.

    Returns:
        A pair of (N,) int32 tensors: the rows' draw and the columns' draw.
    """
    # One draw in [0, 1) per image and axis, mapped onto each axis's own integer range (the ranges are dynamic
    # tensors and differ between the axes, which a single integer draw cannot express).
    u = _unit_uniform([tf.shape(x)[0], 2], seed)
    span = tf.cast(high - low, tf.float32)
    # min(): u * span is below span in exact arithmetic, but float32 may round it up to span.
    draws = tf.minimum(tf.cast(tf.floor(u * span), tf.int32), high - low - 1) + low
    return draws[:, 0], draws[:, 1]


def _translation(x: tf.Tensor, seed: tf.Tensor, ratio: float = TRANSLATION_RATIO) -> tf.Tensor:
    """Shifts each image by whole pixels, in [-r, r] along each axis with r = round(size * ratio), filling with 0.

    Output pixel (i, j) of image n is input pixel (i - dy[n], j - dx[n]), or 0 where that lies outside the
    image: 0 is mid-grey for images in [-1, 1].

    Args:
        x: images (N, H, W, C).
        seed: a shape-(2,) int32 or int64 seed.
        ratio: the largest shift as a fraction of the image's height (rows) and width (columns).

    Returns:
        The shifted images, same shape and dtype.
    """
    shape = tf.shape(x)
    height, width = shape[1], shape[2]
    max_shift = tf.stack([_rounded_fraction(height, ratio), _rounded_fraction(width, ratio)])
    dy, dx = _random_offsets(x, seed, -max_shift, max_shift + 1)
    # Gathers rather than tf.roll: roll's shift is one per call, a gather shifts every image by its own amount.
    rows = tf.range(height)[tf.newaxis, :] - dy[:, tf.newaxis]  # (N, H): the source row of each output row
    cols = tf.range(width)[tf.newaxis, :] - dx[:, tf.newaxis]  # (N, W)
    rows_inside = (rows >= 0) & (rows < height)
    cols_inside = (cols >= 0) & (cols < width)
    # Clipped indices read some pixel of the image; the mask below then zeroes what came from outside it.
    x = tf.gather(x, tf.clip_by_value(rows, 0, height - 1), axis=1, batch_dims=1)
    x = tf.gather(x, tf.clip_by_value(cols, 0, width - 1), axis=2, batch_dims=1)
    inside = rows_inside[:, :, tf.newaxis, tf.newaxis] & cols_inside[:, tf.newaxis, :, tf.newaxis]
    return x * tf.cast(inside, x.dtype)


def _cutout_mask(x: tf.Tensor, seed: tf.Tensor, ratio: float = CUTOUT_RATIO) -> tf.Tensor:
    """The cutout's mask: 0 in a square of side round(size * ratio) per image, 1 elsewhere, shaped (N, H, W, 1).

    The square's centre is uniform over the rows [0, H] (even side) or [0, H) (odd side), and the same for the
    columns, as in the paper, so that at least half of each side lies inside the image.
    """
    shape = tf.shape(x)
    height, width = shape[1], shape[2]
    side = tf.stack([_rounded_fraction(height, ratio), _rounded_fraction(width, ratio)])
    centre_y, centre_x = _random_offsets(x, seed, tf.zeros_like(side), tf.stack([height, width]) + 1 - side % 2)
    top = centre_y - side[0] // 2
    left = centre_x - side[1] // 2
    rows = tf.range(height)[tf.newaxis, :]
    cols = tf.range(width)[tf.newaxis, :]
    rows_cut = (rows >= top[:, tf.newaxis]) & (rows < top[:, tf.newaxis] + side[0])  # (N, H)
    cols_cut = (cols >= left[:, tf.newaxis]) & (cols < left[:, tf.newaxis] + side[1])  # (N, W)
    cut = rows_cut[:, :, tf.newaxis, tf.newaxis] & cols_cut[:, tf.newaxis, :, tf.newaxis]
    return tf.cast(~cut, x.dtype)


def _cutout(x: tf.Tensor, seed: tf.Tensor, ratio: float = CUTOUT_RATIO) -> tf.Tensor:
    """Sets a random square of side round(size * ratio) per image to 0 (mid-grey), by multiplying by a mask.

    Args:
        x: images (N, H, W, C).
        seed: a shape-(2,) int32 or int64 seed.
        ratio: the square's side as a fraction of the image's height and width.

    Returns:
        The images, same shape and dtype; the gradient is 0 inside the square and 1 outside it.
    """
    return x * _cutout_mask(x, seed, ratio)


# Each policy's sub-ops, in the paper's order, with the number its seed is folded with.
_OPS: dict[str, tuple[tuple[Callable[[tf.Tensor, tf.Tensor], tf.Tensor], int], ...]] = {
    "color": ((_brightness, _BRIGHTNESS), (_saturation, _SATURATION), (_contrast, _CONTRAST)),
    "translation": ((_translation, _TRANSLATION),),
    "cutout": ((_cutout, _CUTOUT),),
}


def diff_augment(images: tf.Tensor, seed: tf.Tensor, policy: tuple[str, ...] = POLICIES) -> tf.Tensor:
    """Applies the DiffAugment policies to a batch of images, differentiably.

    Apply it, with the same policy, to the real and the generated images before every discriminator call,
    in both networks' updates (the paper's "T(x)" and "T(G(z))").

    Args:
        images: a batch (N, H, W, C) with values in [-1, 1], any float dtype; any dimension may be dynamic.
        seed: a shape-(2,) int32 or int64 tensor seeding the stateless random ops: the same seed and batch
            shape give the same augmentation, in eager mode and under XLA. Only the low 32 bits of each of its
            two numbers count (so the int32 and the int64 seed of the same values are the same seed). Give
            real and fake batches different seeds (or fold in a different number) unless they should be
            transformed alike.
        policy: names from `POLICIES`, applied in the order given; empty returns the images unchanged.

    Returns:
        The augmented images, same shape and dtype as `images`.
    """
    unknown = [name for name in policy if name not in _OPS]
    if unknown:
        raise ValueError(f"DiffAugment policies must be in {POLICIES}, not {unknown}")
    images = tf.convert_to_tensor(images)
    # Computed in at least float32: bfloat16's 8-bit mantissa would round the colour factors' products and means;
    # a single cast at the end rounds once.
    x = images if images.dtype in (tf.float32, tf.float64) else tf.cast(images, tf.float32)
    seed = _portable_seed(seed)
    for name in policy:
        for op, number in _OPS[name]:
            x = op(x, tf.random.experimental.stateless_fold_in(seed, number))
    return tf.cast(x, images.dtype)
