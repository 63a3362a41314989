"""Colorization (the reference's `colorization` model): pix2pix from the lightness of a photo to its colour.

Training reads colour photos (`data.pipeline.single_dataset`); each step converts them to CIE Lab and trains
pix2pix's generator from L (scaled to [-1, 1] as L / 50 - 1) to ab (scaled as ab / 110), its discriminator on
(L, ab), with pix2pix's losses. The stored generator `G_AB` is that network (1 -> 2 channels, the reference's
netG). What translates (`translation_network`) wraps it: a grey image -> its L -> the network -> Lab -> RGB, so
`translate`, `evaluate`, export and serve take a grey photo of any size and give a colour one of its size.
"""

from __future__ import annotations

import keras

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.models.builders import build_discriminator, build_generator
from cyclegan_tf.models.pix2pix import Pix2Pix, build_pix2pix
from cyclegan_tf.nn.color import LabToRGB, LightnessFromGrey, normalize_lab, rgb_to_lab


class Colorization(Pix2Pix):
    """pix2pix on Lab: `fit` takes batches of colour images in [-1, 1]; the pairs are (L, ab) of each."""

    @classmethod
    def directions(cls, config: TrainConfig) -> dict[str, str]:
        return {"AtoB": "G_AB"}  # grey -> colour, whatever --direction says

    @classmethod
    def translation_network(cls, generator: keras.Model) -> keras.Model:
        grey = keras.Input((None, None, 1), name="grey")
        lightness = LightnessFromGrey(name="lightness")(grey)
        colour = LabToRGB(name="lab_to_rgb")([lightness, generator(lightness)])
        return keras.Model(grey, colour, name="colorizer")

    def train_step(self, data):
        lightness, ab = normalize_lab(rgb_to_lab(data))
        return self.paired_step(lightness, ab)


def build_colorization_networks(cfg: TrainConfig) -> dict[str, keras.Model]:
    """The generator L -> ab and the discriminator of (L, ab) (of ab alone with --unconditional-D)."""
    return {"G_AB": build_generator(cfg), "D": build_discriminator(cfg, 2 if cfg.unconditional_D else 3, "D")}


def build_colorization(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None = None) -> Colorization:
    """A compiled colorization model: `build_pix2pix` with this model and its networks."""
    return build_pix2pix(cfg, steps_per_epoch, image_shape, Colorization, build_colorization_networks)
