"""Reading options from a file: `train --config` TOML or JSON (a run's `config.json` too), checked field by field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from cyclegan_tf.config.schema import TrainConfig, check_values
from cyclegan_tf.errors import UserError


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The options in a config file for `train --config`: TOML (`.toml`), or JSON such as a run's `config.json`.

    Keys are option names, hyphenated or not (`lambda-A` or `lambda_A`). From a run's `config.json`, what
    records a run's state rather than an option (the strategy it used, `continue_train`, ...) is left out.

    Args:
        path: the file.

    Returns:
        {field name: value}; a `UserError` names an unreadable file, an unknown option or a wrong value.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise UserError(f"cannot read --config {path}: {error.strerror or error}") from None
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                raise UserError("TOML config files need Python 3.11 or newer: give a .json one") from None
            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise UserError(f"--config {path} is not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'} "
                        f"({error})") from None
    if not isinstance(values, dict):
        raise UserError(f"--config {path} is not a table of options")
    values = {key.replace("-", "_"): value for key, value in values.items()}
    state = {f.name for f in dataclasses.fields(TrainConfig) if not f.metadata["option"]} | {"continue_train"}
    return check_values({k: v for k, v in values.items() if k not in state}, f"--config {path}",
                        choices=True)
