"""A run's config from what the user gave: the command line over a config file over the presets (a new run), or
over the run's saved `config.json` (a resumed run, whose networks' shapes may not change)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cyclegan_tf.config.files import read_config_file
from cyclegan_tf.config.schema import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.models.registry import model_class
from cyclegan_tf.presets import DATASET_PRESETS


def preset(model: str | None, dataset: str | None) -> dict[str, Any]:
    """The options `model` and `dataset` bring (the dataset's over the model's, `AdversarialModel.PRESET` and
    `presets.DATASET_PRESETS`); None, or a name without a preset, brings nothing."""
    return {**(model_class(model).PRESET if model else {}), **DATASET_PRESETS.get(dataset or "", {})}


def fixed_options(model: str) -> tuple[str, ...]:
    """The options a resumed run of `model` may not change: those that fix the shapes of its networks' weights."""
    fields = dataclasses.fields(TrainConfig)
    return tuple(f.name for f in fields if f.metadata["architecture"]) + model_class(model).RESUME_FIXED


def make_config(given: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """A run's config from the options a user gave (None = not given), and a config file's.

    The command line wins over `config_file` (`config.files.read_config_file`), which wins over what follows.
    A new run: the options over the dataset's and the model's presets (`preset`) over the defaults; without
    `name`, the run is named after its dataset (or its dataroot folder). A resumed run (`continue_train`): the
    options over the run's saved `config.json`; options that fix the networks' shapes may not change.

    Args:
        given: {field name: value or None}, e.g. the CLI's options.
        config_file: a TOML or JSON file of options (`train --config`).

    Returns:
        The config, not yet validated (`TrainConfig.validate`).
    """
    if config_file is not None:
        given = {**read_config_file(config_file), **{k: v for k, v in given.items() if v is not None}}
    if not given.get("name") and (given.get("dataset") or given.get("dataroot")):
        given = {**given, "name": given.get("dataset") or Path(given["dataroot"]).resolve().name}
    if not given.get("continue_train"):
        return TrainConfig.from_options(given, preset(given.get("model"), given.get("dataset")))
    run_dir = TrainConfig.from_options({k: given.get(k) for k in ("name", "checkpoints_dir")}).run_dir
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        raise UserError(f"nothing to resume: no run at {run_dir}")
    saved = TrainConfig.load(saved_path).to_dict()
    for name in fixed_options(saved["model"]):
        if given.get(name) is not None and given[name] != saved[name]:
            raise UserError(f"--{name} {given[name]} differs from the resumed run's {saved[name]}")
    return TrainConfig(**{**saved, **{k: v for k, v in given.items() if v is not None}, "continue_train": True})
