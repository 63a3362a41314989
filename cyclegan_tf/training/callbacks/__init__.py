"""Keras callbacks that connect a running `fit` to its run directory and to the person watching it, a module each.

- `guard.NonFiniteGuard`: stops training at the step a loss becomes NaN or infinite, before anything saves it.
- `schedule.PlateauStepper`: `--lr-policy plateau`'s step, once per epoch.
- `checkpointing.Checkpointer`: the training state, every epoch and every `--save-latest-freq` steps.
- `health.HealthMonitor`: training health (identity or mode collapse, a discriminator that wins or has lost, no
  learning): one line per episode, `health.json`, `--on-unhealthy stop`.
- `progress.Progress`: a progress bar per epoch (losses, images/s, ETA) and a one-line summary; lines only when quiet.
- `logs.LossLogger`: `loss_log.csv` and TensorBoard scalars every `--print-freq` steps and per epoch; `losses.png`.
- `evaluator.Evaluator`: FID, KID, cycle or target L1/PSNR (and exact scores) every `--eval-freq` epochs; `best.json`.
- `samples.SampleWriter`: per epoch, panels of fixed test images (PNG grid, TensorBoard), `timelapse.gif`, `index.html`.

`tensorboard` writes the TensorBoard scalars and images. `monitoring_callbacks` (here) makes the monitors
(all but the guard and the checkpointer); `fit` runs the guard, the monitors, then the checkpointer. Everything
the monitors write is rebuilt from, or appended to, what is in the run directory, so a resumed run continues its
logs, gallery and time-lapse.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.training.callbacks.evaluator import Evaluator
from cyclegan_tf.training.callbacks.health import HealthMonitor
from cyclegan_tf.training.callbacks.logs import LossLogger
from cyclegan_tf.training.callbacks.progress import Progress
from cyclegan_tf.training.callbacks.samples import SampleWriter


def monitoring_callbacks(config: TrainConfig, root: Path, steps_per_epoch: int, start_step: int,
                         verbose: int = 1) -> list[keras.callbacks.Callback]:
    """Health (unless `--on-unhealthy off`), progress (verbose 1: bars, 2: one line per epoch, 0: none), logs,
    evaluation and samples, in that order.

    The evaluator runs before the sample writer so that the gallery it rewrites shows this epoch's scores.

    Args:
        config: the run's config.
        root: its training data folder (the test images come from there).
        steps_per_epoch: steps of one epoch.
        start_step: the step the run starts (or resumes) at: logs written after it by a killed process are dropped.
        verbose: 1, 2 or 0 (see above).

    Returns:
        The callbacks, for `fit` (before the `Checkpointer`).
    """
    writer = tf.summary.create_file_writer(str(Path(config.logdir) if config.logdir else config.run_dir / "logs"))
    out: list[keras.callbacks.Callback] = []
    progress = Progress(config.total_epochs, steps_per_epoch, config.batch_size, bar=verbose == 1) if verbose else None
    if config.on_unhealthy != "off":  # first: the progress line and the gallery show what it found this step
        out.append(HealthMonitor(config, start_step, progress.announce if progress else None))
    if progress:
        out.append(progress)
    out.append(LossLogger(config, start_step, writer))
    if config.eval_freq:
        out.append(Evaluator(config, root, start_step, writer, verbose=bool(verbose)))
    out.append(SampleWriter(config, root, writer))
    return out
