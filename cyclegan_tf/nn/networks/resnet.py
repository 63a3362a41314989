"""The reference's ResNet generator (`resnet_<N>blocks`), and its modules' names as CUT numbers them."""

from __future__ import annotations

import keras
from keras import layers

from cyclegan_tf.nn.layers import BilinearUpsample2D, BlurPool2D, ReflectionPadding2D
from cyclegan_tf.nn.networks.blocks import Blocks


def resnet_generator(
    input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str = "instance",
    use_dropout: bool = False, init_type: str = "normal", init_gain: float = 0.02, name: str = "resnet_generator",
    activation: str = "relu", block_norm: bool = True, upsample: str = "deconv", antialias: bool = False,
) -> keras.Model:
    """ResNet generator: c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-output_nc, tanh.

    Input height and width must be multiples of 4 for the output to have the input's size.

    Args:
        input_nc: channels of the input image.
        output_nc: channels of the output image.
        ngf: filters of the first convolution (the residual blocks have 4 * ngf).
        n_blocks: residual blocks (9 for resnet_9blocks, 6 for resnet_6blocks).
        norm: "instance", "batch", "none" or "instance_affine".
        use_dropout: dropout 0.5 inside each residual block.
        init_type: the kernels' initialisation (see `kernel_initializer`).
        init_gain: its gain.
        name: the model's name.
        activation: "relu" (the reference) or "leaky_relu" (slope 0.2) after every norm.
        block_norm: False leaves the norms out of the residual blocks (as some tutorials do).
        upsample: "deconv" (the reference's transposed convs) or "nearest" / "bilinear" (resize + 3x3 conv).
        antialias: CUT's anti-aliased sampling: down by a stride-1 conv, norm, activation and `BlurPool2D`; up by
            a bilinear x2 (CUT's [1, 3, 3, 1] filter, the same numbers) and a zero-padded stride-1 conv, norm,
            activation. Same parameters; `upsample` is then unused.

    Returns:
        A model from (N, H, W, input_nc) in [-1, 1] to (N, H, W, output_nc) float32 in [-1, 1].
    """
    b = Blocks(norm, init_type, init_gain)
    block = Blocks(norm if block_norm else "none", init_type, init_gain)  # (without a norm, convs keep a bias)
    inputs = keras.Input((None, None, input_nc), name="image")
    x = ReflectionPadding2D(3, name="stem_reflect")(inputs)
    x = b.activate(b.norm(b.conv(x, ngf, 7, name="stem_conv"), name="stem_norm"), activation, name="stem_relu")
    for i in range(2):
        x = b.conv(x, ngf * 2 ** (i + 1), 3, stride=1 if antialias else 2, pad=1, name=f"down{i + 1}_conv")
        x = b.activate(b.norm(x, name=f"down{i + 1}_norm"), activation, name=f"down{i + 1}_relu")
        if antialias:
            x = BlurPool2D(name=f"down{i + 1}_blur")(x)
    width = ngf * 4
    for i in range(n_blocks):
        p = f"block{i + 1}"
        y = ReflectionPadding2D(1, name=f"{p}_reflect1")(x)
        y = block.norm(block.conv(y, width, 3, name=f"{p}_conv1"), name=f"{p}_norm1")
        y = b.activate(y, activation, name=f"{p}_relu")
        if use_dropout:
            y = layers.Dropout(0.5, name=f"{p}_dropout")(y)
        y = ReflectionPadding2D(1, name=f"{p}_reflect2")(y)
        y = block.norm(block.conv(y, width, 3, name=f"{p}_conv2"), name=f"{p}_norm2")
        # The residual stream is summed in float32 under mixed precision: in bfloat16 each block's
        # addition would round away what the earlier blocks added.
        x = layers.Add(name=f"{p}_add", dtype="float32")([x, y])
    for i in range(2):
        if antialias:
            x = BilinearUpsample2D(name=f"up{i + 1}_resize")(x)
            x = b.conv(x, ngf * 2 ** (1 - i), 3, pad=1, name=f"up{i + 1}_conv")
        else:
            # PyTorch ConvTranspose2d(3, stride 2, padding 1, output_padding 1): crop one row/column top-left.
            x = b.upsample(x, ngf * 2 ** (1 - i), 3, ((1, 0), (1, 0)), upsample, name=f"up{i + 1}_deconv")
        x = b.activate(b.norm(x, name=f"up{i + 1}_norm"), activation, name=f"up{i + 1}_relu")
    x = ReflectionPadding2D(3, name="head_reflect")(x)
    # The image-producing layer computes in float32 under mixed precision: bfloat16's step near +-1 is
    # 2**-7, a whole grey level, and it costs about 1% of the generator's multiply-adds.
    x = b.conv(x, output_nc, 7, name="head_conv", use_bias=True, dtype="float32")
    outputs = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet_module_names(n_blocks: int, antialias: bool = True) -> list[str]:
    """Our layer names for the modules of the reference's ResNet generator (its nn.Sequential, index by index), as
    CUT's `--nce-layers` numbers them; up to the last residual block (the encoder)."""
    stem = ["stem_reflect", "stem_conv", "stem_norm", "stem_relu"]
    down = [f"down{i}_{part}" for i in (1, 2) for part in ("conv", "norm", "relu", *(("blur",) if antialias else ()))]
    return stem + down + [f"block{i + 1}_add" for i in range(n_blocks)]
