"""Training health while a run trains: the detectors (`training.health`) fed every step, one line per episode,
`health.json` (read by index.html), and `--on-unhealthy stop`."""

from __future__ import annotations

import logging
from collections.abc import Callable

import keras
import numpy as np

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.models.health import is_signal
from cyclegan_tf.runs import report
from cyclegan_tf.training.health import STALL_EVERY, Episode, Health

log = logging.getLogger("cyclegan_tf")


class UnhealthyRun(Exception):
    """A health detector fired under `--on-unhealthy stop` (raised out of `fit`; the trainer says what to do)."""

    def __init__(self, episode: Episode):
        super().__init__(episode.line())
        self.episode = episode


def generator_weights(model) -> list[np.ndarray]:
    """Copies of the generators' trainable weights."""
    return [np.array(v.numpy()) for v in model.trainable_variables_of(model.generators)]


def movement(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    """How far weights moved, as a fraction of their norm: |after - before| / |before|."""
    moved = sum(float(np.sum(np.square(a - b))) for a, b in zip(after, before, strict=True))
    size = sum(float(np.sum(np.square(b))) for b in before)
    return float(np.sqrt(moved / max(size, 1e-30)))


class HealthMonitor(keras.callbacks.Callback):
    """Feeds each step's `health_*` logs to the detectors, checks every `STALL_EVERY` steps that the generators'
    weights move, says each new episode in one line (`say`: the progress display's, else the log), keeps
    `health.json` current, and stops training (`UnhealthyRun`) under `--on-unhealthy stop`.

    Args:
        config: the run's config (`run_dir`, `on_unhealthy`).
        start_step: the step this process starts at; episodes a killed process found after it are dropped.
        say: prints one line where the user looks; None: a warning in the log.
    """

    def __init__(self, config: TrainConfig, start_step: int, say: Callable[[str], None] | None = None):
        super().__init__()
        self.config, self.start_step = config, start_step
        self.say = say or log.warning
        self.health = Health.from_dict(report.read_health(config.run_dir), start_step)

    def on_train_begin(self, logs=None):
        self.weights = generator_weights(self.model)
        self.next_check = int(self.model.step_counter.numpy()) + STALL_EVERY

    def on_train_batch_end(self, batch, logs=None):
        if not logs or not any(is_signal(key) for key in logs):
            return
        step = int(self.model.step_counter.numpy())
        started = self.health.observe(step, logs)
        if step >= self.next_check:
            weights = generator_weights(self.model)
            started += self.health.observe_movement(step, movement(self.weights, weights))
            self.weights, self.next_check = weights, step + STALL_EVERY
        for episode in started:
            self.say(episode.line())
        if started:
            self.write()
            if self.config.on_unhealthy == "stop":
                raise UnhealthyRun(started[0])

    def on_epoch_end(self, epoch, logs=None):
        self.write()

    def write(self) -> None:
        report.write_health(self.config.run_dir, self.health.to_dict())

    @property
    def episodes(self) -> list[Episode]:
        return self.health.episodes
