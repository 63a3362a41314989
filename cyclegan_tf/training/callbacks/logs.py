"""`loss_log.csv` and TensorBoard scalars every `--print-freq` steps and per epoch; `losses.png`."""

from __future__ import annotations

import logging
import time

import keras

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.runs import report
from cyclegan_tf.training.callbacks.progress import model_order
from cyclegan_tf.training.callbacks.tensorboard import write_scalar

log = logging.getLogger("cyclegan_tf")


class LossLogger(keras.callbacks.Callback):
    """`loss_log.csv` and TensorBoard scalars (`train/<name>` by step, `epoch/<name>` by epoch), `losses.png`.

    A row every `--print-freq` steps holds each loss's mean over the steps since the previous row (from
    Keras' running means of the epoch, which it resets at each epoch's start), the learning rate and the
    images per second.
    """

    def __init__(self, config: TrainConfig, start_step: int, writer):
        super().__init__()
        self.config, self.start_step, self.writer = config, start_step, writer
        self.csv: report.CsvLog | None = None
        self.truncated = False  # the first opening drops rows after start_step, a reopening (next fit) not
        self.plot_noted = False

    def _step(self) -> int:
        return int(self.model.step_counter.numpy())

    def on_train_begin(self, logs=None):
        self.previous = self._step()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        # the last row's (step, time, running means, steps into the epoch's means)
        self.logged = (self._step(), time.time(), {}, 0)
        self.epoch_start = self._step()

    def on_train_batch_end(self, batch, logs=None):
        step, freq = self._step(), self.config.print_freq
        crossed = step // freq > self.previous // freq
        self.previous = step
        if crossed and logs:
            self._log_row(step, {k: float(v) for k, v in logs.items()})

    def _log_row(self, step: int, logs: dict[str, float]) -> None:
        logged_step, logged_time, logged_means, logged_n = self.logged
        now, n = time.time(), step - self.epoch_start
        means = {m.name for m in self.model.metrics}
        row = {}
        for key, value in logs.items():
            if key in means and n > logged_n:  # mean over this window = (sum so far - sum at last row) / steps
                row[key] = (value * n - logged_means.get(key, 0.0) * logged_n) / (n - logged_n)
            else:
                row[key] = value
        row["images_per_s"] = (step - logged_step) * self.config.batch_size / max(now - logged_time, 1e-9)
        self.logged = (step, now, logs, n)
        if self.csv is None:
            columns = ["epoch", "step", *model_order(self.model, logs), "images_per_s"]
            self.csv = report.CsvLog(self.config.run_dir / "loss_log.csv", columns,
                                     None if self.truncated else self.start_step)
            self.truncated = True
        self.csv.write({"epoch": self.epoch + 1, "step": step, **row})
        with self.writer.as_default():
            for key, value in row.items():
                write_scalar(f"train/{key}", value, step)

    def on_epoch_end(self, epoch, logs=None):
        step = self._step()
        if logs and self.logged[0] == self.epoch_start < step:  # no row yet this epoch (a short run): one now
            self._log_row(step, {k: float(v) for k, v in logs.items()})
        with self.writer.as_default():
            for key, value in (logs or {}).items():
                write_scalar(f"epoch/{key}", value, epoch + 1)
        self.writer.flush()
        path = self.config.run_dir / "loss_log.csv"
        if path.is_file() and not report.plot_losses(path, self.config.run_dir / "losses.png") and not self.plot_noted:
            log.warning("matplotlib is not installed: losses.png is skipped (pip install 'cyclegan-tf[plot]')")
            self.plot_noted = True

    def on_train_end(self, logs=None):
        if self.csv is not None:
            self.csv.close()
            self.csv = None
        self.writer.flush()
