"""What every network builder shares: the reference's weight initialisations and `Blocks`, the layer factories
(one norm, one initialisation, unique layer names)."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from cyclegan_tf import choices
from cyclegan_tf.nn.layers import BilinearUpsample2D, InstanceNormalization, ReflectionPadding2D


def kernel_initializer(init_type: str = "normal", gain: float = 0.02) -> keras.initializers.Initializer:
    """The reference's weight initialisations (`init_weights` in its networks.py).

    Args:
        init_type: "normal", "xavier", "kaiming" or "orthogonal"; anything else is a `ValueError`.
        gain: the standard deviation for "normal", the gain for "xavier" and "orthogonal"; "kaiming" ignores it.

    Returns:
        A Keras initializer for convolution kernels.
    """
    if init_type == "normal":
        return keras.initializers.RandomNormal(mean=0.0, stddev=gain)
    if init_type == "xavier":  # xavier_normal_ with gain: std = gain * sqrt(2 / (fan_in + fan_out))
        return keras.initializers.VarianceScaling(gain**2, mode="fan_avg", distribution="untruncated_normal")
    if init_type == "kaiming":  # kaiming_normal_(a=0, mode="fan_in"): the gain is not used
        return keras.initializers.VarianceScaling(2.0, mode="fan_in", distribution="untruncated_normal")
    if init_type == "orthogonal":
        return keras.initializers.Orthogonal(gain=gain)
    raise ValueError(f"init_type must be one of {choices.INIT_TYPES}, not {init_type!r}")


class Blocks:
    """Layer factories shared by the builders: one norm, one init and unique layer names."""

    def __init__(self, norm: str, init_type: str, init_gain: float):
        if norm not in choices.NORMS:
            raise ValueError(f"norm must be one of {choices.NORMS}, not {norm!r}")
        self.norm_type = norm
        self.init_type = init_type
        self.init_gain = init_gain
        # Batch norm has its own offset; instance norm is non-affine, so convs keep their bias.
        # (The reference also drops the bias with norm "none", leaving those convs with no offset at
        # all; we keep it there, the one deliberate difference.)
        self.use_bias = norm != "batch"

    def conv(self, x, filters: int, kernel: int, stride: int = 1, pad: int = 0, *, name: str, use_bias=None,
             dtype=None):
        """A convolution with PyTorch's symmetric zero padding of `pad` pixels."""
        if pad:
            x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        return layers.Conv2D(
            filters, kernel, strides=stride, padding="valid",
            use_bias=self.use_bias if use_bias is None else use_bias,
            kernel_initializer=kernel_initializer(self.init_type, self.init_gain), name=name, dtype=dtype,
        )(x)

    def conv_transpose(self, x, filters: int, kernel: int, crop: tuple, *, name: str, use_bias=None, dtype=None):
        """A stride-2 transposed convolution cropped as PyTorch's padding/output_padding do.

        `crop` is ((top, bottom), (left, right)) removed from the full (`valid`) output.
        """
        x = layers.Conv2DTranspose(
            filters, kernel, strides=2, padding="valid",
            use_bias=self.use_bias if use_bias is None else use_bias,
            kernel_initializer=kernel_initializer(self.init_type, self.init_gain), name=name, dtype=dtype,
        )(x)
        return layers.Cropping2D(crop, name=f"{name}_crop", dtype=dtype)(x)

    def activate(self, x, activation: str, *, name: str):
        """ReLU, or leaky ReLU with slope 0.2."""
        if activation == "leaky_relu":
            return layers.LeakyReLU(0.2, name=name)(x)
        return layers.ReLU(name=name)(x)

    def upsample(self, x, filters: int, kernel: int, crop: tuple, mode: str, *, name: str, use_bias=None,
                 dtype=None):
        """x2 in height and width: the reference's transposed conv ("deconv"), or a resize ("nearest",
        "bilinear") and a stride-1 conv of the same kernel (no checkerboard artifacts, the same parameters)."""
        if mode == "deconv":
            return self.conv_transpose(x, filters, kernel, crop, name=name, use_bias=use_bias, dtype=dtype)
        resize = BilinearUpsample2D if mode == "bilinear" else lambda **kw: layers.UpSampling2D(2, **kw)
        x = resize(name=f"{name}_resize", dtype=dtype)(x)
        if kernel % 2:  # an odd kernel: reflect-pad by its half, as the ResNet's other convs
            x = ReflectionPadding2D(kernel // 2, name=f"{name}_reflect")(x)
            return self.conv(x, filters, kernel, name=name, use_bias=use_bias, dtype=dtype)
        x = layers.ZeroPadding2D(((kernel // 2 - 1, kernel // 2), (kernel // 2 - 1, kernel // 2)), name=f"{name}_pad",
                                 dtype=dtype)(x)
        return self.conv(x, filters, kernel, name=name, use_bias=use_bias, dtype=dtype)

    def norm(self, x, *, name: str):
        if self.norm_type in ("instance", "instance_affine"):
            return InstanceNormalization(epsilon=1e-5, affine=self.norm_type == "instance_affine", name=name)(x)
        if self.norm_type == "batch":
            return layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5,  # PyTorch's momentum 0.1 is Keras' 0.9
                gamma_initializer=keras.initializers.RandomNormal(1.0, self.init_gain), name=name,
                # built under a tf.distribute strategy of several replicas: statistics of the global batch
                synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1,
            )(x)
        return x
