"""Trainable parameters and multiply-adds of a network built here."""

from __future__ import annotations

import keras
from keras import layers


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
