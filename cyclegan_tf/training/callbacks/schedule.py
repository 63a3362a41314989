"""`--lr-policy plateau`: its step, once per epoch, from the epoch's mean generator loss."""

from __future__ import annotations

import logging

import keras

log = logging.getLogger("cyclegan_tf")


class PlateauStepper(keras.callbacks.Callback):
    """`--lr-policy plateau`: at each epoch's end, steps the model's `Plateau` with the epoch's mean generator loss
    (the sum of its loss terms that are not a discriminator's). Runs before the `Checkpointer`, which saves it."""

    def on_epoch_end(self, epoch, logs=None):
        names = [name for name in self.model.LOSS_NAMES if not name.startswith("D")]
        if self.model.lr_plateau.step(sum(float(logs[name]) for name in names)):
            log.info("epoch %d: the generator loss has not fallen for %d epochs: learning rate x%g", epoch + 1,
                     self.model.lr_plateau.PATIENCE + 1, self.model.lr_plateau.FACTOR)
