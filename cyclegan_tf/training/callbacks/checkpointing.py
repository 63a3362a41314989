"""Saves the training state every epoch and every `--save-latest-freq` steps (`runs.checkpoints`)."""

from __future__ import annotations

from pathlib import Path

import keras

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.runs import checkpoints


class Checkpointer(keras.callbacks.Callback):
    """Saves the full training state as `latest` every epoch and every `save_latest_freq` steps,
    and the networks every `save_epoch_freq` epochs and at the last epoch.

    It runs after the monitors of a step or an epoch: whatever they wrote for a step (a log row, the epoch's
    samples) is on disk before the checkpoint that a resume starts from, so a process killed in between
    redoes that step and rewrites it, and none is lost or doubled.

    The step is the model's `step_counter` (with `--steps-per-execution N`, Keras calls batch
    callbacks once per N steps, so counting calls would not do). `save_now` is also called by
    the trainer when a run is interrupted.
    """

    def __init__(self, config: TrainConfig, steps_per_epoch: int, start_step: int):
        super().__init__()
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.step = start_step

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    def save_now(self) -> Path:
        epoch = self.step // self.steps_per_epoch
        return checkpoints.save_checkpoint(self.model, self.run_dir, f"latest_{self.step:08d}", self.step, epoch,
                                           self.config, training_state=True)

    def on_train_batch_end(self, batch, logs=None):
        before, self.step = self.step, int(self.model.step_counter.numpy())
        freq = self.config.save_latest_freq
        if self.step // freq > before // freq and self.step % self.steps_per_epoch:
            self.save_now()

    def on_epoch_end(self, epoch, logs=None):
        self.step = int(self.model.step_counter.numpy())
        done = epoch + 1
        if done % self.config.save_epoch_freq == 0 or done == self.config.total_epochs:
            checkpoints.save_checkpoint(self.model, self.run_dir, f"epoch_{done:03d}", self.step, done,
                                        self.config, training_state=False)
        self.save_now()
