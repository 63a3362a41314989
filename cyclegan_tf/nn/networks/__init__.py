"""Generators and discriminators by name, one functional-API builder per architecture, a module per family:
`resnet`, `unet`, `patchgan` (and the pixel discriminator), `dcgan`, CUT's heads (`cut_heads`), with what they
share in `blocks` and the parameter and multiply-add counts in `counts`.

Every builder is channels-last with spatial size `None`, so one model serves any image size.
The layer specs, initialisation and trainable parameter counts are those of the reference
implementation (pytorch-CycleGAN-and-pix2pix, `models/networks.py`). Where Keras' `padding="same"`
would pad asymmetrically (stride-2 convolutions pad bottom/right only), convolutions use an
explicit zero padding and `valid`, so that the pixel grid, and so ported weights, line up with
the reference exactly.

Pick a network by name with `define_generator` / `define_discriminator`; to add one, write its builder in
its family's module (or a new one), and give it a name: a generator family in `choices.generator_depth` (read by
`define_generator`), a discriminator in `DISCRIMINATORS` and `choices.DISCRIMINATORS`. Each network's
variables are created under a name scope of its own name (`G_AB/stem_conv/kernel`), so that every variable of
a model, and every optimizer slot made from it, has a unique path (checkpoints key the state by it).
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from cyclegan_tf import choices
from cyclegan_tf.nn.networks.blocks import kernel_initializer
from cyclegan_tf.nn.networks.counts import count_multiply_adds, count_trainable_parameters
from cyclegan_tf.nn.networks.cut_heads import encoder_features, patch_heads
from cyclegan_tf.nn.networks.dcgan import dcgan_discriminator, dcgan_generator, dcgan_levels
from cyclegan_tf.nn.networks.patchgan import (
    min_discriminator_size,
    patchgan_discriminator,
    pixel_discriminator,
    receptive_field,
)
from cyclegan_tf.nn.networks.resnet import resnet_generator, resnet_module_names
from cyclegan_tf.nn.networks.unet import unet_generator

__all__ = ["DISCRIMINATORS", "count_multiply_adds", "count_trainable_parameters", "dcgan_discriminator",
           "dcgan_generator", "dcgan_levels", "define_discriminator", "define_generator", "encoder_features",
           "kernel_initializer", "min_discriminator_size", "min_input_size", "patch_heads", "patchgan_discriminator",
           "pixel_discriminator", "receptive_field", "resnet_generator", "resnet_module_names", "size_multiple",
           "unet_generator"]


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
