"""TensorFlow and Keras, imported on first use.

The model modules are read by `train --help` and by `config.make_config`, which must not pay TensorFlow's start-up
(about 5 s); they bind `tf` and `keras` from here and touch them only inside functions, so a model stays one module
(its options, checks and presets beside its training step) and importing it costs nothing.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A stand-in for a module that imports it when one of its names is first read."""

    def __init__(self, name: str):
        self._name = name

    def module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.module(), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


tf: Any = LazyModule("tensorflow")
keras: Any = LazyModule("keras")
