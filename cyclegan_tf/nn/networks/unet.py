"""The reference's U-Net generator (`unet_<size>`)."""

from __future__ import annotations

import keras
from keras import layers

from cyclegan_tf.nn.networks.blocks import Blocks


def unet_generator(
    input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
    use_dropout: bool = False, init_type: str = "normal", init_gain: float = 0.02, name: str = "unet_generator",
    activation: str = "relu", block_norm: bool = True, upsample: str = "deconv",
) -> keras.Model:
    """U-Net generator with `num_downs` stride-2 levels and skip concatenations.

    Level 0 is the outermost (image <-> ngf), the innermost is the bottleneck. Height and width
    must be multiples of 2**num_downs (256 for unet_256).

    Args:
        input_nc: channels of the input image.
        output_nc: channels of the output image.
        num_downs: stride-2 levels, at least 5 (8 for unet_256, 7 for unet_128).
        ngf: filters of the outermost level (doubling per level, up to 8 * ngf).
        norm: "instance", "batch", "none" or "instance_affine".
        use_dropout: dropout 0.5 after the up-path of the ngf*8 levels between the fourth and the innermost, as in
            the reference.
        init_type: the kernels' initialisation (see `kernel_initializer`).
        init_gain: its gain.
        name: the model's name.
        activation: the up path's "relu" (the reference) or "leaky_relu" (the down path's is always leaky).
        block_norm: unused (a ResNet option), accepted so that every generator takes the same options.
        upsample: "deconv" (the reference's 4x4 transposed convs) or "nearest" / "bilinear" (resize + 4x4 conv).

    Returns:
        A model from (N, H, W, input_nc) in [-1, 1] to (N, H, W, output_nc) float32 in [-1, 1].
    """
    if num_downs < 5:
        raise ValueError("a U-Net needs at least 5 downsamplings")
    b = Blocks(norm, init_type, init_gain)
    # Channels entering (outer) and leaving (inner) the down-convolution of each level.
    inner = [ngf * min(2**i, 8) for i in range(num_downs)]
    outer = [output_nc] + inner[:-1]
    innermost = num_downs - 1
    crop = ((1, 1), (1, 1))  # PyTorch ConvTranspose2d(4, stride 2, padding 1)

    inputs = keras.Input((None, None, input_nc), name="image")
    skips = []  # the input of each level, concatenated to its output on the way up
    x = inputs
    for level in range(num_downs):
        skips.append(x)
        if level > 0:
            x = layers.LeakyReLU(0.2, name=f"down{level}_lrelu")(x)
        x = b.conv(x, inner[level], 4, stride=2, pad=1, name=f"down{level}_conv")
        if 0 < level < innermost:
            x = b.norm(x, name=f"down{level}_norm")
    for level in reversed(range(num_downs)):
        x = b.activate(x, activation, name=f"up{level}_relu")
        if level == 0:
            # float32 under mixed precision, as the ResNet's head: it writes the image.
            x = b.upsample(x, outer[0], 4, crop, upsample, name="up0_deconv", use_bias=True, dtype="float32")
            break
        x = b.upsample(x, outer[level], 4, crop, upsample, name=f"up{level}_deconv")
        x = b.norm(x, name=f"up{level}_norm")
        if use_dropout and 4 <= level < innermost:
            x = layers.Dropout(0.5, name=f"up{level}_dropout")(x)
        x = layers.Concatenate(name=f"skip{level}")([skips[level], x])
    outputs = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)
