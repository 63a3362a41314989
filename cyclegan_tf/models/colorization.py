"""Colorization (the reference's `colorization` model): pix2pix from the lightness of a photo to its colour.

Training reads colour photos (`data.pipeline.single_dataset`); each step converts them to CIE Lab and trains
pix2pix's generator from L (scaled to [-1, 1] as L / 50 - 1) to ab (scaled as ab / 110), its discriminator on
(L, ab), with pix2pix's losses. The stored generator `G_AB` is that network (1 -> 2 channels, the reference's
netG). What translates (`translation_network`) wraps it: a grey image -> its L -> the network -> Lab -> RGB, so
`translate`, `evaluate`, export and serve take a grey photo of any size and give a colour one of its size.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from cyclegan_tf.errors import UserError
from cyclegan_tf.lazy import keras
from cyclegan_tf.models.base import register_model
from cyclegan_tf.models.builders import reference_generator
from cyclegan_tf.models.pix2pix import Pix2Pix

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig


@register_model
class Colorization(Pix2Pix):
    """pix2pix on Lab: `fit` takes batches of colour images in [-1, 1]; the pairs are (L, ab) of each."""

    NAME = "colorization"
    SUMMARY = ("colour photos in train/ or a plain folder: the L channel of Lab in, the colour out; pix2pix's "
               "defaults")
    DATA = "single"
    PRESET = dict(Pix2Pix.PRESET, input_nc=1, output_nc=3)
    SCIENTIFIC = False
    SCIENTIFIC_NOTE = "colorization works in CIE Lab, which is defined for 8-bit sRGB photos"

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        super().validate(cfg)
        if (cfg.input_nc, cfg.output_nc) != (1, 3):
            raise UserError("--model colorization translates grey (--input-nc 1) to colour (--output-nc 3); its "
                            "network maps the L channel of Lab to the ab channels")

    @classmethod
    def generator(cls, cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
        """The network proper: L (1 channel) -> ab (2), as the reference's netG, whatever the direction."""
        return reference_generator(dataclasses.replace(cfg, input_nc=1, output_nc=2, antialias=False), "AtoB")

    @classmethod
    def networks(cls, cfg: TrainConfig) -> dict[str, keras.Model]:
        """The generator L -> ab and the discriminator of (L, ab) (of ab alone with --unconditional-D)."""
        return {"G_AB": cls.generator(cfg), "D": cls.discriminator(cfg, 2 if cfg.unconditional_D else 3, "D")}

    @classmethod
    def directions(cls, config: TrainConfig) -> dict[str, str]:
        return {"AtoB": "G_AB"}  # grey -> colour, whatever --direction says

    @classmethod
    def translation_network(cls, generator: keras.Model) -> keras.Model:
        from cyclegan_tf.nn.color import LabToRGB, LightnessFromGrey

        grey = keras.Input((None, None, 1), name="grey")
        lightness = LightnessFromGrey(name="lightness")(grey)
        colour = LabToRGB(name="lab_to_rgb")([lightness, generator(lightness)])
        return keras.Model(grey, colour, name="colorizer")

    def train_step(self, data):
        from cyclegan_tf.nn.color import normalize_lab, rgb_to_lab

        lightness, ab = normalize_lab(rgb_to_lab(data))
        return self.paired_step(lightness, ab)

