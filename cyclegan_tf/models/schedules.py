"""Learning-rate schedules of the reference's `--lr-policy`, derived from the optimizer's step counter so that
they resume exactly."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from cyclegan_tf.choices import LR_POLICIES


@keras.saving.register_keras_serializable(package="cyclegan_tf")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The reference's learning-rate policies, stepped once per epoch (epoch e = 0, 1, ... from the step counter):

    - linear: constant for `n_epochs`, then linear decay over `n_epochs_decay`: in 1-based epoch k the rate is
      initial * (1 - max(0, k - n_epochs) / (n_epochs_decay + 1));
    - step: multiplied by 0.1 every `lr_decay_iters` epochs (PyTorch's StepLR);
    - cosine: initial * (1 + cos(pi * e / n_epochs)) / 2 (PyTorch's CosineAnnealingLR, T_max = n_epochs, to 0).

    The epoch comes from the optimizer's step counter, so the schedule resumes with it. `epoch_count` is the
    reference's: the number of the first epoch trained (a run continued from another's epoch k - 1 starts at k);
    as there, only the linear policy counts from it.
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int, n_epochs: int, n_epochs_decay: int,
                 policy: str = "linear", lr_decay_iters: int = 50, epoch_count: int = 1):
        if policy not in LR_POLICIES:
            raise ValueError(f"policy must be one of {LR_POLICIES}, not {policy!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)
        self.policy = policy
        self.lr_decay_iters = int(lr_decay_iters)
        self.epoch_count = int(epoch_count)

    def __call__(self, step):
        epoch = tf.cast(step // self.steps_per_epoch, tf.float32)  # 0-based
        if self.policy == "step":
            return self.initial_learning_rate * tf.pow(0.1, tf.floor(epoch / self.lr_decay_iters))
        if self.policy == "cosine":
            return self.initial_learning_rate * (1.0 + tf.cos(math.pi * epoch / max(self.n_epochs, 1))) / 2.0
        decayed = tf.maximum(0.0, epoch + self.epoch_count - self.n_epochs) / (self.n_epochs_decay + 1.0)
        return self.initial_learning_rate * tf.maximum(0.0, 1.0 - decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate, "steps_per_epoch": self.steps_per_epoch,
            "n_epochs": self.n_epochs, "n_epochs_decay": self.n_epochs_decay, "policy": self.policy,
            "lr_decay_iters": self.lr_decay_iters, "epoch_count": self.epoch_count,
        }


LinearDecay = EpochSchedule  # the name of release 0.1 (its default policy)
