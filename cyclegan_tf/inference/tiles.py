"""Translating images larger than memory allows, tile by tile, without seams.

Cutting an image into tiles and translating each on its own shows seams for two reasons: each tile's instance
norm computes its own mean and variance (a dark tile is brightened, a bright one darkened), and near its
borders a tile sees reflect padding instead of its neighbours. So:

1. the statistics come from the whole image: a first pass runs the generator on the whole image, scaled down
   to at most `stats_size` pixels on its longer side when it is larger, and records the mean and variance that
   every instance norm layer computes;
2. every tile then runs a copy of the generator whose instance norms use those recorded statistics (so the
   generator is one fixed convolutional function, the same for every tile);
3. tiles overlap by `overlap` pixels and are blended with weights that fall linearly to zero towards each
   tile's border inside the overlap, so what a tile gets wrong near its edge weighs little.

Batch-norm generators (in eval mode) have no per-image statistics and skip step 1.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.inference.graph import ImageTranslator, pad_to_multiple
from cyclegan_tf.nn.layers import InstanceNormalization


class FixedStatisticsNormalization(keras.layers.Layer):
    """Instance norm with given per-channel statistics instead of the input's own.

    Args:
        mean: per channel.
        variance: per channel.
        epsilon: the instance norm's.
        gamma: an affine instance norm's scale, folded in (None: not affine).
        beta: its offset.
    """

    def __init__(self, mean: np.ndarray, variance: np.ndarray, epsilon: float, gamma=None, beta=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.gamma, self.beta = float(epsilon), gamma, beta
        scale, shift = self.scale_and_shift(np.asarray(mean, np.float32), np.asarray(variance, np.float32))
        self.scale, self.shift = keras.ops.convert_to_numpy(scale), keras.ops.convert_to_numpy(shift)

    def scale_and_shift(self, mean, variance):
        """The normalization as `x * scale + shift` for statistics `mean` and `variance` (arrays or tensors, the
        channels last), the affine scale and offset folded in."""
        scale = keras.ops.rsqrt(keras.ops.cast(variance, "float32") + self.epsilon)
        shift = -keras.ops.cast(mean, "float32") * scale
        if self.gamma is not None:
            scale, shift = scale * self.gamma, shift * self.gamma + self.beta
        return scale, shift

    def call(self, x):
        return x * keras.ops.cast(self.scale, x.dtype) + keras.ops.cast(self.shift, x.dtype)


class _Moments(keras.layers.Layer):
    """Per-channel mean and variance over height and width, and over the batch unless `per_image`: one float32
    tensor, (2, C), or (N, 2, C) per image."""

    def __init__(self, per_image: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.per_image = per_image

    def call(self, x):
        axes = [1, 2] if self.per_image else [0, 1, 2]
        mean, variance = keras.ops.moments(keras.ops.cast(x, "float32"), axes=axes)
        return keras.ops.stack([mean, variance], axis=-2)


def statistics_probe(generator: keras.Model, per_image: bool = False) -> keras.Model | None:
    """A model of the generator's input to {instance-norm layer name: the statistics it computes (`_Moments`)},
    in the order of `generator.layers`; None for a generator without instance norms.

    The moments are reduced inside one graph, so each feature map is freed once its statistics are taken (a
    probe returning the maps themselves would hold all of them at once: 8 GB for ResNet-9 at 1024 px).
    """
    norms = [layer for layer in generator.layers if isinstance(layer, InstanceNormalization)]
    if not norms:
        return None
    return keras.Model(generator.input, {layer.name: _Moments(per_image, name=f"{layer.name}_moments")(layer.input)
                                         for layer in norms})


def norm_statistics(generator: keras.Model, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{instance-norm layer name: (mean, variance) per channel} of the generator run on `x` (1, H, W, C)."""
    probe = statistics_probe(generator)
    if probe is None:
        return {}
    outputs = tf.function(lambda t: probe(t, training=False))(tf.constant(x))
    return {name: (value[0].numpy(), value[1].numpy()) for name, value in outputs.items()}


def replace_norms(generator: keras.Model, replacement: Callable[[InstanceNormalization], keras.layers.Layer]
                  ) -> keras.Model:
    """A copy of `generator` with each instance norm replaced by `replacement(norm)` (a layer of the same name
    that folds in the norm's own weights, if any); every other layer keeps its weights."""
    def clone(layer):
        if isinstance(layer, InstanceNormalization):
            return replacement(layer)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(generator, clone_function=clone)
    weights = {f"{layer.name}/{w.name}": w for layer in generator.layers for w in layer.weights}
    for layer in copy.layers:
        if isinstance(layer, FixedStatisticsNormalization):  # its weights, if any, are its own state
            continue
        for w in layer.weights:
            w.assign(weights[f"{layer.name}/{w.name}"])
    return copy


def affine_weights(norm: InstanceNormalization) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(gamma, beta) of an affine instance norm, (None, None) of one without."""
    if getattr(norm, "gamma", None) is None:
        return None, None
    return norm.gamma.numpy(), norm.beta.numpy()


def with_fixed_statistics(generator: keras.Model, stats: dict) -> keras.Model:
    """A copy of `generator` whose instance norms use `stats` (`norm_statistics`)."""
    return replace_norms(generator, lambda norm: FixedStatisticsNormalization(
        *stats[norm.name], norm.epsilon, *affine_weights(norm), name=norm.name))


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """Blending weights along one side of a tile: 1 inside, falling to ~0 across `overlap` at inner edges."""
    weights = np.ones(length, np.float32)
    if overlap:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not at_start:
            weights[:overlap] = np.minimum(weights[:overlap], ramp)
        if not at_end:
            weights[-overlap:] = np.minimum(weights[-overlap:], ramp[::-1])
    return weights


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(starts))


def translate_tiled(translator: ImageTranslator, image: np.ndarray, tile: int = 512, overlap: int = 64,
                    stats_size: int = 1024) -> np.ndarray:
    """Translate one uint8 (H, W, C) image tile by tile (see the module's docstring).

    Args:
        translator: the whole translation (`inference.graph.ImageTranslator`) of a generator.
        image: uint8 (H, W, C).
        tile: the side of a square tile in pixels (rounded up to the generator's size multiple).
        overlap: pixels shared by neighbouring tiles, blended (less than half a tile).
        stats_size: the whole image is scaled to at most this many pixels on its longer side for the
            instance-norm statistics.

    Returns:
        uint8 (H, W, output channels).
    """
    multiple = translator.multiple
    tile = max(translator.min_size, -(-tile // multiple) * multiple)
    overlap = int(min(overlap, tile // 2 - 1))
    height, width = image.shape[:2]
    generator = translator.generator
    x = translator.signed_array(image)
    small = x
    if max(height, width) > stats_size:
        scale = stats_size / max(height, width)
        small = tf.image.resize(x, (max(1, round(height * scale)), max(1, round(width * scale))),
                                method="area", antialias=True).numpy()
    stats = norm_statistics(generator, np.asarray(pad_to_multiple(small[None], multiple, translator.min_size)[0]))
    fixed = with_fixed_statistics(generator, stats) if stats else generator
    whole = ImageTranslator(fixed, multiple, translator.min_size, raw=True)
    run = tf.function(lambda t: whole(t), reduce_retracing=True)

    out = np.zeros((height, width, translator.output_channels), np.float32)
    total = np.zeros((height, width, 1), np.float32)
    rows, cols = _starts(height, tile, overlap), _starts(width, tile, overlap)
    for top in rows:
        for left in cols:
            window = x[top: top + tile, left: left + tile]
            y = run(tf.constant(window[None]))[0].numpy()
            h, w = window.shape[:2]
            weight = np.outer(_ramp(h, overlap, top == rows[0], top == rows[-1]),
                              _ramp(w, overlap, left == cols[0], left == cols[-1]))[..., None]
            out[top: top + h, left: left + w] += y * weight
            total[top: top + h, left: left + w] += weight
    return translator.unsigned_array(out / total)
