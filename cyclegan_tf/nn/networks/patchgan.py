"""The reference's discriminators: the PatchGAN (`basic`, `n_layers`) and the 1x1 `pixel` one, with their sizes."""

from __future__ import annotations

import keras
from keras import layers

from cyclegan_tf.nn.layers import BlurPool2D
from cyclegan_tf.nn.networks.blocks import Blocks


def patchgan_discriminator(
    input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
    init_type: str = "normal", init_gain: float = 0.02, name: str = "patchgan",
    first_norm: bool = False, last_stride: int = 1, sigmoid: bool = False, antialias: bool = False,
) -> keras.Model:
    """PatchGAN: a map of real/fake logits, each judging one patch of the input.

    Args:
        input_nc: channels of the images it judges.
        ndf: filters of the first convolution (doubling per layer, up to 8 * ndf).
        n_layers: strided layers: 3 gives the 70x70 receptive field (a 30x30 map at 256 px); 1 gives 16x16,
            5 gives 286x286.
        norm: "instance", "batch", "none" or "instance_affine".
        init_type: the kernels' initialisation (see `kernel_initializer`).
        init_gain: its gain.
        name: the model's name.
        first_norm: a norm after the first conv too (the reference has none there).
        last_stride: 2 makes the last of the `n_layers` convs strided too (a map half as wide; the reference: 1).
        sigmoid: end in a sigmoid (scores in (0, 1), for LSGAN as some tutorials do) instead of logits.
        antialias: CUT's anti-aliased PatchGAN: each stride-2 conv becomes a stride-1 conv, (norm,) leaky ReLU and
            `BlurPool2D`; the same parameters.

    Returns:
        A model from (N, H, W, input_nc) to float32 logits (N, h, w, 1) (scores with `sigmoid`).
    """
    b = Blocks(norm, init_type, init_gain)

    def strided(x, filters, stride, n, norm_here):
        x = b.conv(x, filters, 4, stride=1 if antialias else stride, pad=1, name=f"conv{n}",
                   use_bias=True if n == 0 else None)
        if norm_here:
            x = b.norm(x, name=f"norm{n}")
        x = layers.LeakyReLU(0.2, name=f"lrelu{n}")(x)
        return BlurPool2D(name=f"blur{n}")(x) if antialias and stride == 2 else x

    inputs = keras.Input((None, None, input_nc), name="image")
    x = strided(inputs, ndf, 2, 0, first_norm)
    for n in range(1, n_layers + 1):
        x = strided(x, ndf * min(2**n, 8), 2 if n < n_layers else last_stride, n, True)
    x = b.conv(x, 1, 4, stride=1, pad=1, name="logits", use_bias=True)
    outputs = layers.Activation("sigmoid" if sigmoid else "linear", dtype="float32", name="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def pixel_discriminator(
    input_nc: int = 3, ndf: int = 64, norm: str = "instance",
    init_type: str = "normal", init_gain: float = 0.02, name: str = "pixel_discriminator", sigmoid: bool = False,
) -> keras.Model:
    """1x1 PatchGAN ("PixelGAN"): judges every pixel's colour on its own.

    Args:
        input_nc: channels of the images it judges.
        ndf: filters of the first 1x1 convolution (the second has 2 * ndf).
        norm: "instance", "batch", "none" or "instance_affine".
        init_type: the kernels' initialisation (see `kernel_initializer`).
        init_gain: its gain.
        name: the model's name.
        sigmoid: end in a sigmoid instead of logits.

    Returns:
        A model from (N, H, W, input_nc) to float32 logits (N, H, W, 1).
    """
    b = Blocks(norm, init_type, init_gain)
    inputs = keras.Input((None, None, input_nc), name="image")
    x = layers.LeakyReLU(0.2, name="lrelu0")(b.conv(inputs, ndf, 1, name="conv0", use_bias=True))
    x = layers.LeakyReLU(0.2, name="lrelu1")(b.norm(b.conv(x, ndf * 2, 1, name="conv1"), name="norm1"))
    x = b.conv(x, 1, 1, name="logits")
    outputs = layers.Activation("sigmoid" if sigmoid else "linear", dtype="float32", name="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def min_discriminator_size(net_d: str, n_layers: int = 3, last_stride: int = 1) -> int:
    """Smallest image side a discriminator gives at least one output for.

    Args:
        net_d: "basic", "n_layers" or "pixel".
        n_layers: the PatchGAN's strided layers; used by "n_layers" only.
        last_stride: 2 when the PatchGAN's last middle conv is strided too.

    Returns:
        The side in pixels: 1 for "pixel", 3 * 2**(strided convs) for a PatchGAN.
    """
    if net_d == "pixel":
        return 1
    depth = (3 if net_d == "basic" else n_layers) + (last_stride == 2)
    return 3 * 2**depth  # the two stride-1 4x4 convs need a 3x3 map after the strided ones


def receptive_field(n_layers: int) -> int:
    """Receptive field in pixels of one PatchGAN output (n_layers 0 = the pixel discriminator)."""
    if n_layers == 0:
        return 1
    field = 1
    for stride in reversed([2] * n_layers + [1, 1]):  # 4x4 kernels
        field = (field - 1) * stride + 4
    return field
