"""A whole translation as one Keras model: uint8 images of any size in, uint8 images of the same size out.

`ImageTranslator` scales the pixels to [-1, 1], reflect-pads height and width up to the generator's size
multiple (inside the graph, so that an exported model does it too), runs the generator, crops back and rounds to
uint8. `translate`, the exported files and the server all run this model, so they give the same pixels.

The padding reflects as often as needed (an image smaller than the padding, as a 45x37 image into a U-Net-256,
is mirrored back and forth), with indices computed by a gather rather than `tf.pad(mode="REFLECT")`, which
refuses paddings larger than the image; a 1-pixel side is repeated.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from cyclegan_tf.pixels import (
    range_tensor,
    range_to_signed,
    signed_tensor,
    signed_to_range,
    to_signed,
    to_uint8,
    uint8_tensor,
)


def reflect_indices(size, before, after):
    """Indices of `size` positions reflected periodically, `before` extra positions before and `after` after."""
    period = ops.maximum(2 * (size - 1), 1)
    # shifted by whole periods to stay non-negative: runtimes disagree on the sign of a negative modulo (ONNX)
    positions = ops.mod(ops.arange(before + size + after) - before + period * (before // period + 1), period)
    return ops.where(positions < size, positions, period - positions)


def _pad_amounts(size, multiple: int, min_size: int):
    target = ops.maximum(ops.cast(min_size, "int32"), ((size + multiple - 1) // multiple) * multiple)
    extra = target - size
    return extra // 2, extra - extra // 2


def pad_to_multiple(x, multiple: int, min_size: int):
    """(x reflect-padded to height and width multiples of `multiple`, at least `min_size`; top; left).

    Args:
        x: (N, H, W, C) images.
        multiple: the generator's size multiple.
        min_size: the smallest side it takes.
    """
    shape = ops.shape(x)
    height, width = ops.cast(shape[1], "int32"), ops.cast(shape[2], "int32")
    top, bottom = _pad_amounts(height, multiple, min_size)
    left, right = _pad_amounts(width, multiple, min_size)
    x = ops.take(x, reflect_indices(height, top, bottom), axis=1)
    return ops.take(x, reflect_indices(width, left, right), axis=2), top, left


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class ImageTranslator(keras.Model):
    """A generator wrapped into a whole translation.

    Args:
        generator: a generator from [-1, 1] images to [-1, 1] images (`nn.networks`).
        multiple: height and width are padded to a multiple of this (`nn.networks.size_multiple`).
        min_size: and to at least this (`nn.networks.min_input_size`).
        raw: float32 [-1, 1] in and out, no scaling or rounding (the padding and cropping stay).
        training: run the generator as in training (batch statistics, dropout), see `Translator`.
        in_range: (low, high) of scientific inputs (`data.scientific.ValueRange`): float32 stored values in, scaled
            to [-1, 1] (clipped, as in training); None: uint8 in.
        out_range: (low, high) of scientific outputs: float32 values in [low, high] out, unrounded; None: uint8.
    """

    def __init__(self, generator: keras.Model, multiple: int, min_size: int, raw: bool = False,
                 training: bool = False, in_range: tuple[float, float] | None = None,
                 out_range: tuple[float, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.multiple, self.min_size, self.raw, self.training = int(multiple), int(min_size), bool(raw), training
        self.in_range = None if in_range is None else (float(in_range[0]), float(in_range[1]))
        self.out_range = None if out_range is None else (float(out_range[0]), float(out_range[1]))
        self.channels = int(generator.input_shape[-1])
        self.output_channels = int(generator.output_shape[-1])
        self.pixel_dtype = "float32" if raw or self.in_range else "uint8"
        self.built = True  # its only weights are the generator's, built already

    def signed(self, images):
        """Its inputs (a tensor) in the generator's [-1, 1]."""
        if self.raw:
            return ops.cast(images, "float32")
        if self.in_range:
            return ops.clip(signed_tensor(images, *self.in_range), -1.0, 1.0)
        return signed_tensor(images)

    def unsigned(self, y):
        """The generator's [-1, 1] output (a tensor) as this model returns it."""
        if self.raw:
            return y
        return range_tensor(y, *self.out_range) if self.out_range else uint8_tensor(y)

    def signed_array(self, images: np.ndarray) -> np.ndarray:
        """`signed` of a numpy array (tiles)."""
        if self.in_range:
            return np.clip(range_to_signed(images, *self.in_range), -1.0, 1.0)
        return to_signed(images)

    def unsigned_array(self, y: np.ndarray) -> np.ndarray:
        """`unsigned` of a numpy array (tiles)."""
        return signed_to_range(y, *self.out_range) if self.out_range else to_uint8(y)

    def call(self, images):
        x = self.signed(images)
        shape = ops.shape(x)
        height, width = shape[1], shape[2]
        x, top, left = pad_to_multiple(x, self.multiple, self.min_size)
        y = self.generator(x, training=self.training)
        y = y[:, top:top + height, left:left + width, :]
        return self.unsigned(y)

    def compute_output_spec(self, images):
        dtype = "float32" if self.raw or self.out_range else "uint8"
        return keras.KerasTensor((*images.shape[:3], self.output_channels), dtype=dtype)

    def get_config(self):
        return {**super().get_config(), "generator": keras.saving.serialize_keras_object(self.generator),
                "multiple": self.multiple, "min_size": self.min_size, "raw": self.raw, "in_range": self.in_range,
                "out_range": self.out_range}

    @classmethod
    def from_config(cls, config):
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        return cls(generator, **config)


def image_translator(generator: keras.Model, net_g: str, raw: bool = False, training: bool = False,
                     in_range: tuple[float, float] | None = None, out_range: tuple[float, float] | None = None
                     ) -> ImageTranslator:
    """The whole translation of a generator of architecture `net_g` (its size multiple and smallest size); the
    value ranges of scientific inputs and outputs as `ImageTranslator` takes them."""
    # Imported here: this module registers a Keras class as soon as Keras is first imported, which may happen
    # while nn.networks or nn.layers is itself being imported (a first `import cyclegan_tf.nn.layers`).
    from cyclegan_tf.nn import networks

    return ImageTranslator(generator, networks.size_multiple(net_g), networks.min_input_size(net_g), raw=raw,
                           training=training, in_range=in_range, out_range=out_range)


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class ImageGenerator(keras.Model):
    """A generator from noise (a DCGAN's) wrapped to give uint8 images: float32 z (N, nz) in, uint8 (N, H, W, C) out
    (`raw`: float32 [-1, 1] out). What `generate`, sample grids and export run.

    Args:
        generator: a network from (N, nz) to images in [-1, 1].
        raw: return the generator's float32 output as it is.
    """

    def __init__(self, generator: keras.Model, raw: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.raw = generator, bool(raw)
        self.nz = int(generator.input_shape[-1])
        self.image_shape = tuple(int(d) for d in generator.output_shape[1:])
        self.built = True

    def call(self, z):
        y = self.generator(ops.cast(z, "float32"), training=False)
        return y if self.raw else uint8_tensor(y)

    def compute_output_spec(self, z):
        return keras.KerasTensor((z.shape[0], *self.image_shape), dtype="float32" if self.raw else "uint8")

    def get_config(self):
        return {**super().get_config(), "generator": keras.saving.serialize_keras_object(self.generator),
                "raw": self.raw}

    @classmethod
    def from_config(cls, config):
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        return cls(generator, **config)
