"""The models by name (`--model`), and what a run of each translates.

To add a model: a module with an `AdversarialModel` subclass and a `build(cfg, steps_per_epoch, image_shape)`
function, registered below, and its name in `choices.MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.models.base import AdversarialModel
from cyclegan_tf.models.colorization import Colorization, build_colorization
from cyclegan_tf.models.cut import CUT, build_cut
from cyclegan_tf.models.cycle_gan import CycleGAN, build_cycle_gan
from cyclegan_tf.models.dcgan import DCGAN, build_dcgan
from cyclegan_tf.models.pix2pix import Pix2Pix, build_pix2pix

MODELS: dict[str, type[AdversarialModel]] = {"cycle_gan": CycleGAN, "pix2pix": Pix2Pix, "colorization": Colorization,
                                             "dcgan": DCGAN, "cut": CUT, "fastcut": CUT}
BUILDERS: dict[str, Callable[[TrainConfig, int, tuple | None], AdversarialModel]] = {
    "cycle_gan": build_cycle_gan, "pix2pix": build_pix2pix, "colorization": build_colorization, "dcgan": build_dcgan,
    "cut": build_cut, "fastcut": build_cut,  # FastCUT is CUT with other defaults (presets.MODEL_PRESETS)
}


def model_class(config: TrainConfig) -> type[AdversarialModel]:
    """The class of a run's `--model`."""
    if config.model not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)}, not {config.model!r}")
    return MODELS[config.model]


def build_model(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None) -> AdversarialModel:
    """The compiled model of `cfg.model`, ready for `fit`.

    Args:
        cfg: the run's config.
        steps_per_epoch: steps of one epoch (the learning-rate schedule counts epochs).
        image_shape: (height, width) of every training image, or None when they vary (no image pool then).
    """
    model_class(cfg)
    return BUILDERS[cfg.model](cfg, steps_per_epoch, image_shape)


def run_directions(config: TrainConfig) -> tuple[str, ...]:
    """The directions a run translates: both for a CycleGAN, the trained `--direction` for pix2pix, AtoB (grey to
    colour) for colorization; none for a DCGAN (a `UserError`: see `translating_directions`)."""
    return tuple(model_class(config).directions(config))


def translating_directions(config: TrainConfig) -> tuple[str, ...]:
    """`run_directions`, and a `UserError` for a run that translates nothing (a DCGAN generates)."""
    directions = run_directions(config)
    if not directions:
        raise UserError(f"run {config.name} is a {config.model}: it generates images from noise and translates "
                        f"none; use `cyclegan-tf generate --name {config.name}`")
    return directions


def translation_network(config: TrainConfig, generator: keras.Model) -> keras.Model:
    """What translates with a trained generator of a run (`AdversarialModel.translation_network`)."""
    return model_class(config).translation_network(generator)


def generator_attribute(config: TrainConfig, direction: str) -> str:
    """The model attribute (and checkpoint group) of a run's generator for `direction`.

    Args:
        config: the run's configuration (its model, and a pix2pix run's `--direction`).
        direction: "AtoB" or "BtoA"; a direction the run does not translate is a `KeyError`.

    Returns:
        The attribute name, e.g. "G_AB".
    """
    return model_class(config).directions(config)[direction]


def model_generators(model: keras.Model, config: TrainConfig) -> dict[str, keras.Model]:
    """{direction: generator} of a model in training.

    Args:
        model: a built model of `config.model`.
        config: the run's configuration.

    Returns:
        The model's generators by the direction each translates.
    """
    directions = model_class(config).directions(config)
    return {direction: translation_network(config, getattr(model, attribute))
            for direction, attribute in directions.items()}
