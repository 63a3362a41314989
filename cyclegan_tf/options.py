"""How an option is declared: a dataclass field that carries its CLI help, choices and flags.

`TrainConfig`'s shared options and each model's own (`AdversarialModel.OPTIONS`) are declared with `option`;
the CLI (`cli.options`), config files (`config.files`) and the resume rule (`config.resolve`) read the metadata.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def option(default: Any, help: str, choices: tuple | None = None, group: str = "training",
           flags: tuple[str, ...] | None = None, option: bool = True, architecture: bool = False) -> Any:
    """A dataclass field that is an option.

    Args:
        default: the value when nobody gives one (the reference's).
        help: the CLI help text.
        choices: the values allowed (a `choices` list), or None for any value of the field's type.
        group: the help section; a model's own options use the model's title.
        flags: click declarations when not the usual `--name-hyphenated` (and `--name_underscored`), e.g.
            ("--dropout/--no-dropout",) for a negatable flag.
        option: False for what the trainer records in config.json and nobody sets (not a command-line option).
        architecture: the option fixes the shape of the networks' weights, so a resumed run may not change it.
    """
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "group": group,
                                                        "flags": flags, "option": option,
                                                        "architecture": architecture})


def field_type(cls: type, name: str) -> tuple[type, bool]:
    """(value type, whether None is allowed) of field `name` of dataclass `cls`, from its annotation
    (`int | None` -> (int, True))."""
    hint = typing.get_type_hints(cls)[name]
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (kind,) = [arg for arg in args if arg is not type(None)]
        return kind, type(None) in args
    return hint, False


def value_fits(value: Any, kind: type, optional: bool) -> bool:
    """Whether a JSON value is one of a field's type (an int is a float; a bool is no int)."""
    if value is None:
        return optional
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
