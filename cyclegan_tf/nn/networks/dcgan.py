"""The DCGAN's generator from noise and its discriminator (Radford et al. 2016), sized by the image."""

from __future__ import annotations

import keras
from keras import layers

from cyclegan_tf.nn.networks.blocks import Blocks, kernel_initializer


def dcgan_levels(image_size: int) -> int:
    """The stride-2 layers between a DCGAN's 4x4 map and its `image_size` image (a power of two, 16 or more)."""
    if image_size < 16 or image_size & (image_size - 1):
        raise ValueError(f"a DCGAN's image size is a power of two from 16, not {image_size}")
    return image_size.bit_length() - 3  # 64 px: 4 -> 8 -> 16 -> 32 -> 64


def dcgan_generator(
    image_size: int = 64, nz: int = 100, output_nc: int = 3, ngf: int = 64, norm: str = "batch",
    init_type: str = "normal", init_gain: float = 0.02, name: str = "dcgan_generator", upsample: str = "deconv",
) -> keras.Model:
    """DCGAN generator (Radford et al. 2016): z -> 4x4 transposed conv -> 4x4 stride-2 transposed convs, each with
    a norm and ReLU, halving the channels, to `image_size`; the last to `output_nc` channels and tanh.

    At 64 px with nz 100, ngf 64 and 3 channels: 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x64 -> 64x64x3, no
    biases with batch norm (its offsets do their work; the PyTorch DCGAN example's layers), 3,576,704 trainable
    parameters. With another norm the convs keep their biases.

    Args:
        image_size: the side of the square images made, a power of two from 16.
        nz: the size of the noise vector.
        output_nc: channels of the images.
        ngf: channels of the last hidden layer (doubling towards the 4x4 map).
        norm: "batch" (the paper's), "instance", "instance_affine" or "none".
        init_type: the kernels' initialisation (see `kernel_initializer`; the paper's: normal 0.02).
        init_gain: its gain.
        name: the model's name.
        upsample: "deconv" (the paper's transposed convs) or "nearest" / "bilinear" (resize + conv).

    Returns:
        A model from (N, nz) to (N, image_size, image_size, output_nc) float32 in [-1, 1].
    """
    levels = dcgan_levels(image_size)
    b = Blocks(norm, init_type, init_gain)
    inputs = keras.Input((nz,), name="z")
    x = layers.Reshape((1, 1, nz), name="z_map")(inputs)
    x = layers.Conv2DTranspose(ngf * 2 ** (levels - 1), 4, padding="valid", use_bias=b.use_bias, name="project",
                               kernel_initializer=kernel_initializer(init_type, init_gain))(x)
    x = layers.ReLU(name="project_relu")(b.norm(x, name="project_norm"))
    crop = ((1, 1), (1, 1))  # PyTorch ConvTranspose2d(4, stride 2, padding 1)
    for level in range(1, levels):
        x = b.upsample(x, ngf * 2 ** (levels - 1 - level), 4, crop, upsample, name=f"up{level}")
        x = layers.ReLU(name=f"up{level}_relu")(b.norm(x, name=f"up{level}_norm"))
    # float32 under mixed precision, as the other generators' heads: it writes the image
    x = b.upsample(x, output_nc, 4, crop, upsample, name="head", dtype="float32")
    outputs = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def dcgan_discriminator(
    image_size: int = 64, input_nc: int = 3, ndf: int = 64, norm: str = "batch", init_type: str = "normal",
    init_gain: float = 0.02, name: str = "dcgan_discriminator",
) -> keras.Model:
    """DCGAN discriminator: 4x4 stride-2 convs with leaky ReLU 0.2 (no norm on the first), doubling the channels
    down to a 4x4 map, then a 4x4 conv to one logit. 2,765,568 parameters at 64 px, ndf 64, 3 channels.

    Args:
        image_size: the side of the images it judges, a power of two from 16.
        input_nc: their channels.
        ndf: channels of the first conv.
        norm: "batch" (the paper's), "instance", "instance_affine" or "none" (for --gan-mode wgangp).
        init_type: the kernels' initialisation (see `kernel_initializer`).
        init_gain: its gain.
        name: the model's name.

    Returns:
        A model from (N, image_size, image_size, input_nc) to float32 logits (N, 1, 1, 1).
    """
    levels = dcgan_levels(image_size)
    b = Blocks(norm, init_type, init_gain)
    inputs = keras.Input((image_size, image_size, input_nc), name="image")
    x = layers.LeakyReLU(0.2, name="lrelu0")(b.conv(inputs, ndf, 4, stride=2, pad=1, name="conv0"))
    for level in range(1, levels):
        x = b.conv(x, ndf * 2**level, 4, stride=2, pad=1, name=f"conv{level}")
        x = layers.LeakyReLU(0.2, name=f"lrelu{level}")(b.norm(x, name=f"norm{level}"))
    x = b.conv(x, 1, 4, name="logits")
    outputs = layers.Activation("linear", dtype="float32", name="float32")(x)
    return keras.Model(inputs, outputs, name=name)
