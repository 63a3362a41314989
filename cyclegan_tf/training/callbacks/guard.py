"""Stops training at the step a loss becomes NaN or infinite, before anything saves that state."""

from __future__ import annotations

import math

import keras


class NonFiniteLoss(Exception):
    """A loss became NaN or infinite at `step` (raised out of `fit` by the `Checkpointer`)."""

    def __init__(self, step: int, name: str, value: float):
        super().__init__(f"step {step}: {name} is {value}")
        self.step, self.name, self.value = step, name, value


class NonFiniteGuard(keras.callbacks.Callback):
    """Runs first after every step: stops training (`NonFiniteLoss`) when a loss is NaN or infinite, before
    anything logs or saves that state, so the last checkpoint stays the latest."""

    def on_train_batch_end(self, batch, logs=None):
        # The logs are the epoch's running means: a non-finite loss at any step shows in them from that step on.
        for name, value in (logs or {}).items():
            if not math.isfinite(float(value)):
                raise NonFiniteLoss(int(self.model.step_counter.numpy()), name, float(value))
