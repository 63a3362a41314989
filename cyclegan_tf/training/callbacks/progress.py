"""A progress bar per epoch (losses, images/s, ETA) and a one-line summary; lines only when quiet."""

from __future__ import annotations

import shutil
import sys
import time

import keras

from cyclegan_tf.models.health import is_signal


def format_duration(seconds: float) -> str:
    """1:02:03 or 2:03."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def model_order(model, logs: dict) -> dict:
    """`logs` with the model's metrics first, in its order (Keras sorts its logs by name), then the rest (lr).

    Args:
        model: the model in training.
        logs: what `fit` passed to a callback.

    Returns:
        The same items, reordered.
    """
    names = [m.name for m in getattr(model, "metrics", [])]
    return {**{k: logs[k] for k in names if k in logs}, **{k: v for k, v in logs.items() if k not in names}}


def losses_of(logs: dict) -> dict:
    """The logs a progress line shows: all but the training-health signals (they speak when something is wrong)."""
    return {k: v for k, v in logs.items() if not is_signal(k)}


def format_logs(logs: dict, digits: int = 3) -> str:
    """The logs as one line: 'G_AB 0.312 G_BA 0.298 ... lr 2.0e-04'.

    Args:
        logs: {name: value}.
        digits: decimals of the losses (the learning rate is in scientific notation).
    """
    return " ".join(f"{k} {float(v):.1e}" if k == "lr" else f"{k} {float(v):.{digits}f}" for k, v in logs.items())


def skipped_steps(model) -> dict[str, int]:
    """{"G": n, "D": n}: steps whose update float16 loss scaling skipped (non-finite gradients; the scale is then
    lowered), counted over the whole run. Empty without loss scaling."""
    out = {}
    for player, optimizer in (("G", getattr(model, "g_optimizer", None)), ("D", getattr(model, "d_optimizer", None))):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            out[player] = int(model.step_counter.numpy()) - int(optimizer.iterations.numpy())
    return out


class Progress(keras.callbacks.Callback):
    """Replaces Keras' own progress output: a bar per epoch with the running losses, images/s and ETA
    (`bar=True`, for a terminal), then a one-line summary of the epoch with the ETA of the whole run.

    Steps are read from the model's `step_counter`, so a run resumed mid-epoch shows where it is.
    """

    REDRAW_S = 0.25

    def __init__(self, total_epochs: int, steps_per_epoch: int, batch_size: int, bar: bool = True, stream=None):
        super().__init__()
        self.total_epochs, self.steps_per_epoch, self.batch_size = total_epochs, steps_per_epoch, batch_size
        self.bar, self.stream = bar, stream
        self._shown = 0

    def _step(self) -> int:
        return int(self.model.step_counter.numpy())

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout  # looked up late: pytest and others swap sys.stdout
        stream.write(text)
        stream.flush()

    def announce(self, line: str) -> None:
        """Print `line` on a line of its own (where the bar was: the next redraw puts the bar under it)."""
        self._write("\r" + " " * self._shown + "\r" + line + "\n")
        self._shown = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.started, self.first_step = epoch, time.time(), self._step()
        self.rate_from = None  # (time, step) after the epoch's first call: excludes tracing from the ETA
        self.last_draw = 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not self.bar:
            return
        now = time.time()
        step = self._step()
        if self.rate_from is None:
            self.rate_from = (now, step)
        if now - self.last_draw < self.REDRAW_S:
            return
        self.last_draw = now
        done = step - self.epoch * self.steps_per_epoch
        seconds, steps = now - self.rate_from[0], step - self.rate_from[1]
        rate = steps / seconds if steps and seconds > 0 else None
        eta = format_duration((self.steps_per_epoch - done) / rate) if rate else "?"
        filled = int(20 * done / self.steps_per_epoch)
        speed = f"{rate * self.batch_size:.1f} img/s" if rate else "... img/s"
        losses = format_logs(model_order(self.model, losses_of(logs or {})), 2)
        line = (f"epoch {self.epoch + 1}/{self.total_epochs} [{'#' * filled}{'.' * (20 - filled)}] "
                f"{done}/{self.steps_per_epoch} {speed} ETA {eta}  {losses}")
        width = shutil.get_terminal_size().columns - 1
        self._write("\r" + line[:width].ljust(self._shown))
        self._shown = min(len(line), width)

    def on_epoch_end(self, epoch, logs=None):
        if self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0
        seconds = time.time() - self.started
        steps = self._step() - self.first_step
        left = (self.total_epochs - epoch - 1) * self.steps_per_epoch
        eta = f"  ETA {format_duration(left * seconds / steps)}" if steps and left else ""
        skipped = ", ".join(f"{player} {n}" for player, n in skipped_steps(self.model).items() if n)
        skipped = f"  steps skipped by fp16 loss scaling (overflow) so far: {skipped}" if skipped else ""
        self._write(f"epoch {epoch + 1}/{self.total_epochs}  {steps} steps in {format_duration(seconds)} "
                    f"({steps * self.batch_size / max(seconds, 1e-9):.1f} img/s){eta}  "
                    f"{format_logs(model_order(self.model, losses_of(logs or {})))}{skipped}\n")
