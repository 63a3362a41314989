"""CUT's taps on a ResNet generator's encoder and its patch heads (the MLPs `F`)."""

from __future__ import annotations

import keras
from keras import layers

from cyclegan_tf.nn.networks.blocks import kernel_initializer
from cyclegan_tf.nn.networks.resnet import resnet_module_names


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
