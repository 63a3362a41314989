"""Learning-rate schedules of the reference's `--lr-policy`, derived from the optimizer's step counter so that
they resume exactly."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The reference's `linear` policy: constant for `n_epochs`, then linear decay over `n_epochs_decay`.

    The epoch is derived from the optimizer's step counter, so the schedule resumes with it.
    In epoch k (1-based) the rate is initial * (1 - max(0, k - n_epochs) / (n_epochs_decay + 1)).
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int, n_epochs: int, n_epochs_decay: int):
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)

    def __call__(self, step):
        epoch = tf.cast(step // self.steps_per_epoch, tf.float32) + 1.0
        decayed = tf.maximum(0.0, epoch - self.n_epochs) / (self.n_epochs_decay + 1.0)
        return self.initial_learning_rate * tf.maximum(0.0, 1.0 - decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate, "steps_per_epoch": self.steps_per_epoch,
            "n_epochs": self.n_epochs, "n_epochs_decay": self.n_epochs_decay,
        }
