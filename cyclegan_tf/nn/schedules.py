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
    - cosine: initial * (1 + cos(pi * e / n_epochs)) / 2 (PyTorch's CosineAnnealingLR, T_max = n_epochs, to 0);
    - plateau: initial x 0.2 each time the epoch's mean generator loss has not fallen by 1% for 5 epochs (`Plateau`).

    The epoch comes from the optimizer's step counter, so the schedule resumes with it. `epoch_count` is the
    reference's: the number of the first epoch trained (a run continued from another's epoch k - 1 starts at k);
    as there, only the linear policy counts from it.
    """

    def __init__(self, initial_learning_rate: float, steps_per_epoch: int, n_epochs: int, n_epochs_decay: int,
                 policy: str = "linear", lr_decay_iters: int = 50, epoch_count: int = 1, plateau=None):
        if policy not in LR_POLICIES:
            raise ValueError(f"policy must be one of {LR_POLICIES}, not {policy!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)
        self.policy = policy
        self.lr_decay_iters = int(lr_decay_iters)
        self.epoch_count = int(epoch_count)
        self.plateau = plateau  # "plateau": a `Plateau` whose scale the rate is multiplied by
        if policy == "plateau" and plateau is None:
            raise ValueError("the plateau policy needs a Plateau")

    def __call__(self, step):
        if self.policy == "plateau":
            return self.initial_learning_rate * self.plateau.scale
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


class Plateau(keras.layers.Layer):
    """The state of the plateau policy (PyTorch's ReduceLROnPlateau with the reference's settings: mode min,
    factor 0.2, threshold 0.01 relative, patience 5): the rate's scale, the best value seen and the epochs since it
    improved. A layer so that its variables go into a run's checkpoint (`TRAINING_STATE`) and resume with it.

    The reference steps it with a metric its models never set (0 every epoch, so its rate falls x0.2 every sixth
    epoch); here the trainer steps it with the epoch's mean generator loss.
    """

    FACTOR, THRESHOLD, PATIENCE = 0.2, 0.01, 5

    def __init__(self, **kwargs):
        super().__init__(name="lr_plateau", **kwargs)
        self.scale = self.add_weight(shape=(), initializer="ones", trainable=False, name="scale")
        self.best = self.add_weight(shape=(), initializer=keras.initializers.Constant(float("inf")), trainable=False,
                                    name="best")
        self.bad_epochs = self.add_weight(shape=(), initializer="zeros", trainable=False, name="bad_epochs")

    def step(self, value: float) -> bool:
        """One epoch's value of the monitored loss; returns whether the rate was lowered."""
        if value < float(self.best.numpy()) * (1.0 - self.THRESHOLD):
            self.best.assign(value)
            self.bad_epochs.assign(0.0)
            return False
        self.bad_epochs.assign_add(1.0)
        if self.bad_epochs.numpy() > self.PATIENCE:
            self.scale.assign(self.scale * self.FACTOR)
            self.bad_epochs.assign(0.0)
            return True
        return False


LinearDecay = EpochSchedule  # the name of release 0.1 (its default policy)
