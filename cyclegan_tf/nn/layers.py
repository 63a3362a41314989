"""Small Keras layers the networks need and Keras does not ship in the exact form.

The image layers are channels-last and accept any spatial size.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import numpy as np
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by mirroring the image at its border (PyTorch's `ReflectionPad2d`).

    Args:
        padding: pixels added on every side.
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        grow = 2 * self.padding
        return (
            batch,
            None if height is None else height + grow,
            None if width is None else width + grow,
            channels,
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


_PORTABLE = contextvars.ContextVar("portable_ops", default=False)


@contextlib.contextmanager
def portable_ops():
    """Within it, layers build graphs of ops every converter takes (`InstanceNormalization` without the fused
    batch-norm kernel): for exported graphs (SavedModel, ONNX, LiteRT)."""
    token = _PORTABLE.set(True)
    try:
        yield
    finally:
        _PORTABLE.reset(token)


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class InstanceNormalization(keras.layers.Layer):
    """Normalizes each channel of each image over its height and width.

    With `affine=False` (the default) this is the reference's
    `InstanceNorm2d(affine=False, track_running_stats=False)`, and the same computation as
    `keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False)`.
    We keep our own small layer because it computes the statistics in float32 under
    mixed precision and is a single reduction (GroupNormalization reshapes into groups first).
    tensorflow-addons' InstanceNormalization, the usual choice before Keras 3, is end-of-life.

    It runs TensorFlow's fused batch-norm kernel in training mode on each image, which over one image is
    instance norm: one op forward and one backward (oneDNN on CPUs, cuDNN on GPUs) instead of a dozen
    element-wise passes, with float32 statistics of bfloat16/float16 inputs and no casts: forward + backward
    2-3.5x faster on a CPU. Under `portable_ops()` (exported graphs: ONNX and LiteRT converters do not take that
    kernel in training mode) it is built from plain reductions; the two agree within 2e-5.

    Args:
        epsilon: added to the variance before the square root.
        affine: learn a per-channel scale (init 1) and offset (init 0).
    """

    def __init__(self, epsilon: float = 1e-5, affine: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.affine = bool(affine)

    def build(self, input_shape):
        if self.affine:
            channels = input_shape[-1]
            self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, inputs):
        if not _PORTABLE.get():
            return self._fused(inputs)
        # Statistics in float32: bfloat16 has 8 bits of mantissa, too few for a variance.
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        x = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.affine:
            x = x * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(x, self.compute_dtype)

    def _fused(self, inputs):
        def normalize(x, copies: int | tf.Tensor = 1):  # statistics over the batch: x must hold one image
            if self.affine:
                scale, offset = tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32")
                if not isinstance(copies, int) or copies != 1:
                    scale, offset = tf.tile(scale, [copies]), tf.tile(offset, [copies])
            else:
                scale = tf.ones(tf.shape(x)[3:], "float32")
                offset = tf.zeros_like(scale)
            none = tf.zeros((0,), "float32")  # no running statistics in training mode
            return tf.raw_ops.FusedBatchNormV3(x=x, scale=scale, offset=offset, mean=none, variance=none,
                                               epsilon=self.epsilon, data_format="NHWC", is_training=True).y

        batch = inputs.shape[0]
        if batch == 1:
            return normalize(inputs)
        if batch is not None:  # one image at a time; a split on the batch axis copies nothing
            return tf.concat([normalize(image) for image in tf.split(inputs, batch)], axis=0)
        # batch known only at run time: the images side by side as channels of one (a transpose that moves only
        # the batch axis of a batch of one copies nothing either)
        shape = tf.shape(inputs)
        channels = inputs.shape[-1]
        side_by_side = tf.reshape(tf.transpose(inputs, (1, 2, 0, 3)), (1, shape[1], shape[2], shape[0] * channels))
        y = normalize(side_by_side, shape[0])
        return tf.transpose(tf.reshape(y, (shape[1], shape[2], shape[0], channels)), (2, 0, 1, 3))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "affine": self.affine}


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class BlurPool2D(keras.layers.Layer):
    """Anti-aliased downsampling by 2 (Zhang 2019), as CUT's `Downsample`: reflect-pad by 1, blur each channel with
    [1, 2, 1] x [1, 2, 1] / 16, keep every other pixel. Output side: floor((n - 1) / 2) + 1. No weights."""

    def build(self, input_shape):
        taps = np.array([1.0, 2.0, 1.0])
        # a fixed filter, not a weight (no checkpoint key): one [1,2,1] x [1,2,1] / 16 per channel
        self.kernel = np.tile((np.outer(taps, taps) / 16.0)[:, :, None, None], (1, 1, input_shape[-1], 1))

    def call(self, inputs):
        x = ops.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
        # a strided depthwise conv: 5x faster on a CPU than blurring every pixel and keeping a quarter
        return ops.depthwise_conv(x, ops.cast(self.kernel, x.dtype), strides=2, padding="valid")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        half = lambda n: None if n is None else (n - 1) // 2 + 1
        return batch, half(height), half(width), channels


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class BilinearUpsample2D(keras.layers.Layer):
    """x2 in height and width, bilinear with half-pixel centres (`tf.image.resize`'s, PyTorch's
    `align_corners=False`, and CUT's anti-aliased `Upsample`: taps [1, 3, 3, 1] / 4 per axis, edges repeated).
    Unlike Keras' `UpSampling2D(interpolation="bilinear")` it takes images whose size is known only when it runs
    (Keras 3.15's fails in a graph on a dynamic size). No weights."""

    def call(self, inputs):
        shape = ops.shape(inputs)
        # tf.image.resize's bilinear is the half-pixel one; it takes a size known only when the graph runs. It
        # computes in float32 whatever it is given: given float32 (and its gradient float32), so that XLA does not
        # meet a bfloat16 image with float32 gradients in ResizeBilinearGrad (an XLA error under --mixed-precision)
        resized = tf.image.resize(tf.cast(inputs, "float32"), [2 * shape[1], 2 * shape[2]], method="bilinear")
        return tf.cast(resized, inputs.dtype)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return batch, None if height is None else 2 * height, None if width is None else 2 * width, channels


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class ImagePool(keras.layers.Layer):
    """A history of generated images, so that the discriminator also sees older fakes.

    The reference's ImagePool (Shrivastava et al. 2017), held in variables so that it runs
    inside the compiled training step: while the pool is filling, each image is stored and
    returned; once full, each image is, with probability 0.5, swapped for a random stored one
    (which is returned in its place), else returned as it is. All images of a batch read the
    pool as it was before the batch. Shapes are static, so the layer also compiles under XLA.

    Args:
        pool_size: images kept; 0 turns the pool off (images pass through).
        seed: seed of the pool's random choices.
    """

    def __init__(self, pool_size: int = 50, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if self.pool_size and None in tuple(input_shape[1:]):
            raise ValueError(f"ImagePool needs a fixed image shape, got {input_shape}")
        # One pool per replica under tf.distribute (each replica's discriminators see its own history, as each
        # process of the reference's DataParallel would); a checkpoint keeps the first replica's.
        per_replica = dict(trainable=False, synchronization="on_read", aggregation="only_first_replica")
        self.images = keras.Variable(keras.initializers.Zeros()((max(self.pool_size, 1), *input_shape[1:])),
                                     name="images", **per_replica)
        self.count = keras.Variable(0, dtype="int32", name="count", **per_replica)

    def call(self, images):
        if not self.pool_size:
            return images
        images = ops.cast(images, "float32")
        batch = ops.shape(images)[0]
        slot = self.count + ops.arange(batch, dtype="int32")
        filling = slot < self.pool_size
        random_slot = keras.random.randint((batch,), 0, self.pool_size, seed=self.seed_generator)
        swap = ops.logical_and(
            ops.logical_not(filling), keras.random.uniform((batch,), seed=self.seed_generator) > 0.5
        )
        returned = ops.where(swap[:, None, None, None], ops.take(self.images, random_slot, axis=0), images)

        # Store each written image in its slot; if two images of a batch pick one slot, the later wins.
        target = ops.where(filling, slot, random_slot)
        writes = ops.one_hot(target, self.pool_size) * ops.cast(ops.logical_or(filling, swap), "float32")[:, None]
        later = ops.flip(ops.cumsum(ops.flip(writes, axis=0), axis=0), axis=0) - writes
        writes = writes * ops.cast(later == 0, "float32")
        written = ops.sum(writes, axis=0)[:, None, None, None]
        stored = ops.einsum("bp,bhwc->phwc", writes, images)
        self.images.assign(self.images * (1.0 - written) + stored)
        self.count.assign(ops.minimum(self.count + batch, self.pool_size))
        return returned

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "seed": self.seed}
