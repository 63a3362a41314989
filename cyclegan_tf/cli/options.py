"""The `train` command's options, made from `TrainConfig`'s fields.

Each field becomes `--name-hyphenated` (also the reference's `--name_underscored`), typed from its annotation,
with its help text and choices from its metadata; a field's `flags` metadata replaces those declarations where
a flag is negatable or has an alias (`--dropout/--no-dropout`, `--resume`). Defaults are None ("not given"), so
that presets and a resumed run's config can fill them (`config.make_config`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from cyclegan_tf.config import TrainConfig, option_type
from cyclegan_tf.config.schema import SharedOptions


class NameOf(click.ParamType):
    """A name a `choices.GeneratorNames`-like collection accepts (`in`), beyond the ones it lists."""

    name = "name"

    def __init__(self, names):
        self.names = names

    def convert(self, value, param, ctx):
        if value in self.names:
            return value
        self.fail(f"{value!r} is not {self.names.describe()}", param, ctx)

    def get_metavar(self, param, ctx=None):
        return "[" + "|".join(self.names) + "|...]"


def choice_type(choices) -> click.ParamType:
    """The click type of a field's choices: a fixed list, or a family of names (`choices.GENERATORS`)."""
    return NameOf(choices) if hasattr(choices, "describe") else click.Choice([str(c) for c in choices])


def flag_names(name: str) -> list[str]:
    """`--lambda-A` and `--lambda_A` for `lambda_A`."""
    hyphenated = "--" + name.replace("_", "-")
    return [hyphenated] + (["--" + name] if "_" in name else [])


def config_options(command: Callable) -> Callable:
    """Add one option per `TrainConfig` field to a click command (default None = not given); a model's own
    options say whose they are ("CUT: ...")."""
    shared = {f.name for f in dataclasses.fields(SharedOptions)}
    for f in reversed(dataclasses.fields(TrainConfig)):
        if not f.metadata["option"]:
            continue
        meta, kind = f.metadata, option_type(f.name)[0]
        shown = f.default in (None, False) or "[default:" in meta["help"]
        help_text = meta["help"]
        if f.name not in shared:  # whose option it is: "CUT: weight of the GAN loss."
            help_text = f"{meta['group']}: {help_text[0].lower()}{help_text[1:]}"
        if kind is bool and meta["flags"] and "/" in meta["flags"][0]:  # negatable: say which side is the default
            help_text = f"{help_text}  [default: {'on' if f.default else 'off'}]"
        else:
            help_text += "" if shown else f"  [default: {f.default}]"
        decls = [*(meta["flags"] or flag_names(f.name)), f.name]
        if kind is bool:  # a negatable flag ("--x/--no-x") is a flag by its declaration
            flag = {} if "/" in decls[0] else {"is_flag": True}
            command = click.option(*decls, default=None, help=help_text, **flag)(command)
        else:
            choices = meta["choices"]
            command = click.option(
                *decls, default=None, help=help_text,
                type=choice_type(choices) if choices else kind,
                metavar=None if choices else kind.__name__.upper(),
            )(command)
    return command


def typed_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options click gave, with choices (strings) converted to their field's type (`--input-nc 1` -> 1)."""
    return {name: value if value is None or isinstance(value, bool) else option_type(name)[0](value)
            for name, value in options.items()}
