"""The models by name (`--model`): every module of this package is read once, and each model in it registers
itself (`base.register_model`); what a run of each translates.

To add a model: one module here with an `AdversarialModel` subclass decorated with `@register_model` (see
`base.AdversarialModel` for what it declares). Nothing else names it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from typing import TYPE_CHECKING

from cyclegan_tf.errors import UserError
from cyclegan_tf.models.base import MODELS, AdversarialModel

if TYPE_CHECKING:
    import keras

    from cyclegan_tf.config import TrainConfig


@functools.cache
def all_models() -> dict[str, type[AdversarialModel]]:
    """{name: class} of every model by name (imported here, without TensorFlow)."""
    import cyclegan_tf.models as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(sorted(MODELS.items()))


def model_names() -> tuple[str, ...]:
    """The `--model` names."""
    return tuple(all_models())


def default_model() -> str:
    """The name `--model` defaults to (the model declaring `DEFAULT`)."""
    (name,) = [name for name, model in all_models().items() if model.DEFAULT]
    return name


def model_options() -> tuple[type, ...]:
    """Every model's own options dataclass, once each (a subclass that keeps its parent's is not counted twice);
    two models that declare one option name under different dataclasses are a `ValueError`."""
    unique = list(dict.fromkeys(model.OPTIONS for model in all_models().values() if model.OPTIONS))
    owner: dict[str, type] = {}
    for options in unique:
        for field in dataclasses.fields(options):
            if field.name in owner:
                raise ValueError(f"option {field.name} is declared by {owner[field.name].__name__} and "
                                 f"{options.__name__}")
            owner[field.name] = options
    return tuple(unique)


def model_class(config: TrainConfig | str) -> type[AdversarialModel]:
    """The class of a run's `--model` (or of a model name)."""
    name = config if isinstance(config, str) else config.model
    models = all_models()
    if name not in models:
        raise UserError(f"--model must be one of {', '.join(models)}, not {name!r}")
    return models[name]


def build_model(cfg: TrainConfig, steps_per_epoch: int, image_shape: tuple | None) -> AdversarialModel:
    """The compiled model of `cfg.model`, ready for `fit`.

    Args:
        cfg: the run's config.
        steps_per_epoch: steps of one epoch (the learning-rate schedule counts epochs).
        image_shape: (height, width) of every training image, or None when they vary (no image pool then).
    """
    model = model_class(cfg).build(cfg, steps_per_epoch, image_shape)
    if cfg.on_unhealthy != "off":
        model.watch_health()
    return model


def build_generator(cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
    """The generator of a run for `direction` ("AtoB" -> G_AB, "BtoA" -> G_BA), as its model makes it (a
    DCGAN's from noise, a colorization's from L to ab), not compiled, under the current Keras dtype policy."""
    return model_class(cfg).generator(cfg, direction)


def build_discriminator(cfg: TrainConfig, input_nc: int, name: str) -> keras.Model:
    """A discriminator of a run as its model makes it, judging images of `input_nc` channels, named `name`."""
    return model_class(cfg).discriminator(cfg, input_nc, name)


def run_directions(config: TrainConfig) -> tuple[str, ...]:
    """The directions a run translates: both for a CycleGAN, the trained `--direction` for pix2pix, AtoB (grey to
    colour) for colorization; none for a model that generates (see `translating_directions`)."""
    return tuple(model_class(config).directions(config))


def translating_directions(config: TrainConfig) -> tuple[str, ...]:
    """`run_directions`, and a `UserError` for a run that translates nothing (a DCGAN generates)."""
    directions = run_directions(config)
    if not directions:
        raise UserError(f"run {config.name} is a {config.model}: it generates images from noise and translates "
                        f"none; use `cyclegan-tf generate --name {config.name}`")
    return directions


def generates(config: TrainConfig) -> bool:
    """Whether a run's model makes images from noise (`cyclegan-tf generate`) rather than translating."""
    return model_class(config).GENERATES


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
