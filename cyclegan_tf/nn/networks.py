"""Generators and discriminators, one functional-API builder per architecture.

Every builder is channels-last with spatial size `None`, so one model serves any image size.
The layer specs, initialisation and trainable parameter counts are those of the reference
implementation (pytorch-CycleGAN-and-pix2pix, `models/networks.py`). Where Keras' `padding="same"`
would pad asymmetrically (stride-2 convolutions pad bottom/right only), convolutions use an
explicit zero padding and `valid`, so that the pixel grid, and so ported weights, line up with
the reference exactly.

Pick a network by name with `define_generator` / `define_discriminator`; to add one, write a
builder here, and give it a name: a generator family in `choices.generator_depth` (read by
`define_generator`), a discriminator in `DISCRIMINATORS` and `choices.DISCRIMINATORS`. Each network's
variables are created under a name scope of its own name (`G_AB/stem_conv/kernel`), so that every variable of
a model, and every optimizer slot made from it, has a unique path (checkpoints key the state by it).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf
from keras import layers

from cyclegan_tf import choices
from cyclegan_tf.nn.layers import BilinearUpsample2D, BlurPool2D, InstanceNormalization, ReflectionPadding2D


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


class _Blocks:
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
    b = _Blocks(norm, init_type, init_gain)
    block = _Blocks(norm if block_norm else "none", init_type, init_gain)  # (without a norm, convs keep a bias)
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
    b = _Blocks(norm, init_type, init_gain)
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
    b = _Blocks(norm, init_type, init_gain)

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
    b = _Blocks(norm, init_type, init_gain)
    inputs = keras.Input((None, None, input_nc), name="image")
    x = layers.LeakyReLU(0.2, name="lrelu0")(b.conv(inputs, ndf, 1, name="conv0", use_bias=True))
    x = layers.LeakyReLU(0.2, name="lrelu1")(b.norm(b.conv(x, ndf * 2, 1, name="conv1"), name="norm1"))
    x = b.conv(x, 1, 1, name="logits")
    outputs = layers.Activation("sigmoid" if sigmoid else "linear", dtype="float32", name="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet_module_names(n_blocks: int, antialias: bool = True) -> list[str]:
    """Our layer names for the modules of the reference's ResNet generator (its nn.Sequential, index by index), as
    CUT's `--nce-layers` numbers them; up to the last residual block (the encoder)."""
    stem = ["stem_reflect", "stem_conv", "stem_norm", "stem_relu"]
    down = [f"down{i}_{part}" for i in (1, 2) for part in ("conv", "norm", "relu", *(("blur",) if antialias else ()))]
    return stem + down + [f"block{i + 1}_add" for i in range(n_blocks)]


def encoder_features(generator: keras.Model, modules: tuple[int, ...], antialias: bool = True) -> keras.Model:
    """A model from the generator's input to the outputs of its reference modules `modules` (CUT's `nce_layers`),
    sharing the generator's layers.

    Where the reference's module is a norm that an in-place ReLU follows, the ReLU has overwritten what it
    returns, so the ReLU's output is taken.

    Args:
        generator: a ResNet generator (`resnet_generator`).
        modules: indices into `resnet_module_names`.
        antialias: whether the generator was built with anti-aliased sampling (it numbers the modules).

    Returns:
        A model giving one feature map per index, in order.
    """
    n_blocks = sum(1 for layer in generator.layers if layer.name.endswith("_add"))
    names = resnet_module_names(n_blocks, antialias)
    outputs = []
    for index in modules:
        name = names[index]
        if name.endswith("_norm"):
            name = name[: -len("norm")] + "relu"
        outputs.append(generator.get_layer(name).output)
    return keras.Model(generator.inputs, outputs, name=f"{generator.name}_encoder")


def patch_heads(channels: list[int], nc: int = 256, init_type: str = "xavier", init_gain: float = 0.02,
                name: str = "F") -> keras.Model:
    """CUT's projection heads (its `PatchSampleF` with MLPs): per feature layer, Dense(nc), ReLU, Dense(nc) on the
    sampled patches' features. The L2 normalisation is the loss's (`losses.patch_nce`).

    Args:
        channels: the channels of each feature layer (560,384 parameters for CUT's [3, 128, 256, 256, 256] at nc 256).
        nc: the heads' width.
        init_type: the kernels' initialisation (CUT's: xavier, gain 0.02; biases 0).
        init_gain: its gain.
        name: the model's name.

    Returns:
        A model from a list of (P, channels[j]) patch features to a list of (P, nc) projections.
    """
    inputs = [keras.Input((c,), name=f"layer{j}") for j, c in enumerate(channels)]
    outputs = []
    for j, x in enumerate(inputs):
        dense = dict(kernel_initializer=kernel_initializer(init_type, init_gain), bias_initializer="zeros")
        x = layers.Dense(nc, activation="relu", name=f"mlp{j}_dense1", **dense)(x)
        outputs.append(layers.Dense(nc, name=f"mlp{j}_dense2", dtype="float32", **dense)(x))
    return keras.Model(inputs, outputs, name=name)


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
    b = _Blocks(norm, init_type, init_gain)
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
    b = _Blocks(norm, init_type, init_gain)
    inputs = keras.Input((image_size, image_size, input_nc), name="image")
    x = layers.LeakyReLU(0.2, name="lrelu0")(b.conv(inputs, ndf, 4, stride=2, pad=1, name="conv0"))
    for level in range(1, levels):
        x = b.conv(x, ndf * 2**level, 4, stride=2, pad=1, name=f"conv{level}")
        x = layers.LeakyReLU(0.2, name=f"lrelu{level}")(b.norm(x, name=f"norm{level}"))
    x = b.conv(x, 1, 4, name="logits")
    outputs = layers.Activation("linear", dtype="float32", name="float32")(x)
    return keras.Model(inputs, outputs, name=name)


DISCRIMINATORS: dict[str, Callable[..., keras.Model]] = {
    "basic": lambda n_layers=3, **kw: patchgan_discriminator(n_layers=3, **kw),  # n_layers: fixed at 3
    "n_layers": lambda n_layers=3, **kw: patchgan_discriminator(n_layers=n_layers, **kw),
    # the pixel discriminator has no strided or stacked layers: those options do not apply to it
    "pixel": lambda n_layers=3, first_norm=False, last_stride=1, antialias=False, **kw: pixel_discriminator(**kw),
}


def size_multiple(net_g: str) -> int:
    """Height and width of a generator's input must be multiples of this."""
    family, depth = choices.generator_depth(net_g) or ("resnet", 0)
    return 2**depth if family == "unet" else 4


def min_input_size(net_g: str) -> int:
    """Smallest height and width a generator takes (a ResNet's bottleneck needs 2x2 to reflect-pad)."""
    return max(size_multiple(net_g), 8)


def define_generator(
    net_g: str, input_nc: int, output_nc: int, ngf: int, norm: str, use_dropout: bool,
    init_type: str = "normal", init_gain: float = 0.02, name: str = "generator", activation: str = "relu",
    block_norm: bool = True, upsample: str = "deconv", antialias: bool = False,
) -> keras.Model:
    """A generator by its reference name (`--netG`), its variables scoped by `name`.

    Args:
        net_g: the reference's "resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128", or any
            `resnet_<N>blocks` or `unet_<size>` (`choices.generator_depth`); anything else is a `ValueError`.
        input_nc: channels of the input image.
        output_nc: channels of the output image.
        ngf: filters of the first (outermost) convolution.
        norm: "instance", "batch", "none" or "instance_affine".
        use_dropout: dropout 0.5 where the reference has it.
        init_type: the kernels' initialisation (see `kernel_initializer`).
        init_gain: its gain.
        name: the model's name and the name scope of its variables, e.g. "G_AB".
        activation: "relu" (the reference's) or "leaky_relu".
        block_norm: norms inside a ResNet's residual blocks (the reference's) or none there.
        upsample: "deconv" (the reference's) or "nearest" / "bilinear" (resize + conv).
        antialias: CUT's anti-aliased down- and upsampling (ResNet generators; a U-Net refuses it).

    Returns:
        The generator, output float32 in [-1, 1].
    """
    parsed = choices.generator_depth(net_g)
    if parsed is None:
        raise ValueError(f"netG must be {choices.GENERATORS.describe()}, not {net_g!r}")
    family, depth = parsed
    kwargs = dict(input_nc=input_nc, output_nc=output_nc, ngf=ngf, norm=norm, use_dropout=use_dropout,
                  init_type=init_type, init_gain=init_gain, name=name, activation=activation,
                  block_norm=block_norm, upsample=upsample)
    with keras.name_scope(name):
        if family == "resnet":
            return resnet_generator(n_blocks=depth, antialias=antialias, **kwargs)
        if antialias:
            raise ValueError("anti-aliased sampling is built for ResNet generators only")
        return unet_generator(num_downs=depth, **kwargs)


def define_discriminator(
    net_d: str, input_nc: int, ndf: int, norm: str, n_layers: int = 3,
    init_type: str = "normal", init_gain: float = 0.02, name: str = "discriminator",
    first_norm: bool = False, last_stride: int = 1, sigmoid: bool = False, antialias: bool = False,
) -> keras.Model:
    """A discriminator by its reference name (`--netD`): basic (= n_layers 3), n_layers, pixel.

    Args:
        net_d: "basic", "n_layers" or "pixel"; anything else is a `ValueError`.
        input_nc: channels of the images it judges.
        ndf: filters of the first convolution.
        norm: "instance", "batch", "none" or "instance_affine".
        n_layers: the PatchGAN's strided layers; used by "n_layers" only.
        init_type: the kernels' initialisation (see `kernel_initializer`).
        init_gain: its gain.
        name: the model's name and the name scope of its variables, e.g. "D_A".
        first_norm: a PatchGAN's norm after its first conv too.
        last_stride: 2: a PatchGAN's last strided layer count includes the `n_layers`-th conv.
        sigmoid: end in a sigmoid instead of logits.
        antialias: a PatchGAN's strided convs anti-aliased as CUT's.

    Returns:
        The discriminator, output float32 logits (scores in (0, 1) with `sigmoid`).
    """
    if net_d not in DISCRIMINATORS:
        raise ValueError(f"netD must be one of {tuple(DISCRIMINATORS)}, not {net_d!r}")
    with keras.name_scope(name):
        return DISCRIMINATORS[net_d](input_nc=input_nc, ndf=ndf, norm=norm, n_layers=n_layers, init_type=init_type,
                                     init_gain=init_gain, name=name, first_norm=first_norm,
                                     last_stride=last_stride, sigmoid=sigmoid, antialias=antialias)


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


def count_trainable_parameters(model: keras.Model) -> int:
    return int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))


def count_multiply_adds(model: keras.Model, height: int, width: int) -> int:
    """Multiply-adds of one forward pass of one image of height x width, counted from the conv layers.

    Convolutions dominate these networks; norms, activations and padding are not counted.
    A Conv2D costs (output pixels) x kh x kw x in x out; a Conv2DTranspose (input pixels) x kh x kw x in x out.

    Args:
        model: a network built here (its convolutions are direct layers of the model).
        height: the image's height, in pixels.
        width: the image's width, in pixels.

    Returns:
        The count for batch 1.
    """
    convs = [layer for layer in model.layers if isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose))]
    probe = keras.Model(model.inputs, [t for layer in convs for t in (layer.input, layer.output)])
    shapes = probe.compute_output_spec(keras.KerasTensor((1, height, width, model.input_shape[-1])))
    total = 0
    for i, layer in enumerate(convs):
        in_shape, out_shape = shapes[2 * i].shape, shapes[2 * i + 1].shape
        kh, kw = layer.kernel_size
        pixels = in_shape[1] * in_shape[2] if isinstance(layer, layers.Conv2DTranspose) else out_shape[1] * out_shape[2]
        total += pixels * kh * kw * in_shape[-1] * layer.filters
    return int(total)
