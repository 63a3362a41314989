"""Keras callbacks that connect a running `fit` to its run directory and to the person watching it.

- `NonFiniteGuard`: stops training at the step a loss becomes NaN or infinite, before anything saves it.
- `PlateauStepper`: `--lr-policy plateau`'s step, once per epoch.
- `Checkpointer`: the training state, every epoch and every `--save-latest-freq` steps.
- `Progress`: a progress bar per epoch (losses, images/s, ETA) and a one-line summary; lines only when quiet.
- `LossLogger`: `loss_log.csv` and TensorBoard scalars every `--print-freq` steps and per epoch; `losses.png`.
- `Evaluator`: FID, KID, cycle or target L1/PSNR (and exact scores) every `--eval-freq` epochs; `best.json`.
- `SampleWriter`: per epoch, panels of fixed test images (PNG grid, TensorBoard), `timelapse.gif`, `index.html`.

`monitoring_callbacks` makes the monitors (all but the guard and the checkpointer); `fit` runs the guard, the
monitors, then the checkpointer. Everything the monitors write is rebuilt from, or appended to, what is in the
run directory, so a resumed run continues its logs, gallery and time-lapse.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf.choices import DOMAINS, GENERATIVE, REVERSE
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.splits import TestImages, test_images
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation import evaluate
from cyclegan_tf.evaluation.features import FeatureExtractor, load_feature_extractor
from cyclegan_tf.files import write_text_atomic
from cyclegan_tf.inference.sampler import Sampler, noise
from cyclegan_tf.inference.translator import translators_of
from cyclegan_tf.models.registry import model_generators, run_directions
from cyclegan_tf.runs import checkpoints, report

log = logging.getLogger("cyclegan_tf")


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


class PlateauStepper(keras.callbacks.Callback):
    """`--lr-policy plateau`: at each epoch's end, steps the model's `Plateau` with the epoch's mean generator loss
    (the sum of its loss terms that are not a discriminator's). Runs before the `Checkpointer`, which saves it."""

    def on_epoch_end(self, epoch, logs=None):
        names = [name for name in self.model.LOSS_NAMES if not name.startswith("D")]
        if self.model.lr_plateau.step(sum(float(logs[name]) for name in names)):
            log.info("epoch %d: the generator loss has not fallen for %d epochs: learning rate x%g", epoch + 1,
                     self.model.lr_plateau.PATIENCE + 1, self.model.lr_plateau.FACTOR)


def monitoring_callbacks(config: TrainConfig, root: Path, steps_per_epoch: int, start_step: int,
                         verbose: int = 1) -> list[keras.callbacks.Callback]:
    """Progress (verbose 1: bars, 2: one line per epoch, 0: none), logs, evaluation and samples, in that order.

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
    if verbose:
        out.append(Progress(config.total_epochs, steps_per_epoch, config.batch_size, bar=verbose == 1))
    out.append(LossLogger(config, start_step, writer))
    if config.eval_freq:
        out.append(Evaluator(config, root, start_step, writer, verbose=bool(verbose)))
    out.append(SampleWriter(config, root, writer))
    return out


def write_scalar(tag: str, value: float, step: int) -> None:
    """A TensorBoard scalar into the default summary writer.

    Args:
        tag: its name, e.g. `train/G_AB`.
        value: the number.
        step: the x-axis value (a training step or an epoch).
    """
    tf.summary.scalar(tag, float(value), step=step)


def write_images(tag: str, images: list[np.ndarray], step: int, description: str = "") -> None:
    """TensorBoard images into the default summary writer.

    Args:
        tag: their name, e.g. `samples/AtoB`.
        images: uint8 RGB arrays of one size.
        step: the x-axis value (an epoch).
        description: shown under the images.
    """
    tf.summary.image(tag, np.stack(images), step=step, max_outputs=len(images), description=description or None)


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


def format_logs(logs: dict, digits: int = 3) -> str:
    """The logs as one line: 'G_AB 0.312 G_BA 0.298 ... lr 2.0e-04'.

    Args:
        logs: {name: value}.
        digits: decimals of the losses (the learning rate is in scientific notation).
    """
    return " ".join(f"{k} {float(v):.1e}" if k == "lr" else f"{k} {float(v):.{digits}f}" for k, v in logs.items())


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
        losses = format_logs(model_order(self.model, logs or {}), 2)
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
                    f"{format_logs(model_order(self.model, logs or {}))}{skipped}\n")


def skipped_steps(model) -> dict[str, int]:
    """{"G": n, "D": n}: steps whose update float16 loss scaling skipped (non-finite gradients; the scale is then
    lowered), counted over the whole run. Empty without loss scaling."""
    out = {}
    for player, optimizer in (("G", getattr(model, "g_optimizer", None)), ("D", getattr(model, "d_optimizer", None))):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            out[player] = int(model.step_counter.numpy()) - int(optimizer.iterations.numpy())
    return out


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


class Evaluator(keras.callbacks.Callback):
    """Every `--eval-freq` epochs: `evaluate.evaluate_generators` on the test split; the result goes to
    `eval/epoch_NNN.json`, `eval_log.csv`, TensorBoard (`eval/<score>`) and, when its FID is the lowest
    so far, `best.json`.

    Without `--feature-extractor`, InceptionV3's ImageNet weights are needed; if they cannot be had, FID and
    KID are skipped with one warning and training goes on (cycle L1, PSNR and the demo score remain).
    """

    def __init__(self, config: TrainConfig, root: Path, start_step: int, writer, verbose: bool = True):
        super().__init__()
        self.config, self.root, self.start_step, self.writer, self.verbose = config, root, start_step, writer, verbose
        self.extractor: FeatureExtractor | None = None
        self.loaded = False
        self.csv: report.CsvLog | None = None

    def on_train_begin(self, logs=None):
        if self.loaded:
            return
        self.loaded = True
        if self.config.feature_extractor:  # the user's own file: a problem with it stops the run
            self.extractor = load_feature_extractor(self.config.feature_extractor)
            return
        try:
            self.extractor = load_feature_extractor(None)
        except UserError as error:
            log.warning("%s. Training goes on; FID and KID are skipped in its evaluations.", error)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.config.eval_freq:
            return
        cfg, step = self.config, int(self.model.step_counter.numpy())
        if cfg.model in GENERATIVE:
            scores = {evaluate.GENERATED: evaluate.score_generation(Sampler(self.model.G), cfg, self.root,
                                                                    self.extractor)}
        else:
            scores = evaluate.evaluate_generators(model_generators(self.model, cfg), cfg, self.root,
                                                  extractor=self.extractor)
        result = evaluate.Evaluation(cfg.name, done, step, self.extractor.name if self.extractor else None,
                                     str(self.root), {d: m for d, m in scores.items() if d != "demo_score"},
                                     scores.get("demo_score"))
        result.save(cfg.run_dir)
        summary = result.summary()
        if self.csv is None:
            self.csv = report.CsvLog(cfg.run_dir / "eval_log.csv", ["epoch", "step", *summary], self.start_step)
        self.csv.write({"epoch": done, "step": step, **summary})
        with self.writer.as_default():
            for key, value in summary.items():
                if value is not None:
                    write_scalar(f"eval/{key}", value, done)
        self.writer.flush()
        best = update_best(cfg.run_dir, result)
        if self.verbose:
            scores_text = " ".join(f"{k} {v:.4g}" for k, v in summary.items() if v is not None)
            best_text = f"  (best FID: epoch {best['epoch']})" if best else ""
            print(f"  eval epoch {done}: {scores_text}{best_text}", flush=True)


def update_best(run_dir: Path, result: evaluate.Evaluation) -> dict | None:
    """Record `result` in `best.json` if its mean FID is the lowest so far.

    Args:
        run_dir: the run directory.
        result: an evaluation of the run.

    Returns:
        The best record (the new one, or the earlier one), or None while no evaluation had FID.
    """
    path = Path(run_dir) / "best.json"
    best = json.loads(path.read_text()) if path.is_file() else None
    fid = result.mean_fid
    if fid is not None and (best is None or fid < best["mean_fid"]):
        best = {"epoch": result.epoch, "step": result.step, "mean_fid": fid,
                "fid": {d: m.fid for d, m in result.directions.items()},
                "feature_extractor": result.feature_extractor, "evaluation": f"eval/epoch_{result.epoch:03d}.json"}
        write_text_atomic(path, json.dumps(best, indent=2) + "\n")
    return best


class SampleWriter(keras.callbacks.Callback):
    """Each epoch: fixed test images through the run's generators, as `samples/epoch_NNN.png` and TensorBoard
    images (`samples/AtoB`, `samples/BtoA`); a time-lapse frame of the first sample of each direction
    (`timelapse/`, made into `timelapse.gif`); and `index.html`. With `--sample-freq N`, also a grid every N steps
    (`samples/step_NNNNNNNN.png`), and the time-lapse frames come every N steps instead of every epoch.

    A row per sample: a CycleGAN's real_A | fake_B | rec_A | idt_B (and real_B | fake_A | rec_B | idt_A), the
    reference's panels (idt_B = G_AB(real_B): identity panels need domains with the same number of channels);
    pix2pix's input | output | target (real_A | fake_B | real_B for AtoB); a DCGAN's images of fixed noise.
    """

    def __init__(self, config: TrainConfig, root: Path, writer):
        super().__init__()
        self.config, self.root, self.writer = config, root, writer
        self.samples: dict[str, TestImages] | None = None

    def on_train_begin(self, logs=None):
        if self.samples is None:
            self.samples = fixed_samples(self.root, self.config)
            self.translators = translators_of(model_generators(self.model, self.config), self.config.netG)
            if not self.samples:  # a generator from noise: n_samples x n_samples images of the same noise
                self.sampler = Sampler(self.model.G)
                self.noise = noise(self.config.n_samples**2, self.sampler.nz, self.config.seed or 0)
        self.sampled_at = int(self.model.step_counter.numpy())  # a resumed run goes on from its step

    def panels(self) -> dict[str, tuple[list[str], list[list[np.ndarray]]]]:
        """{direction: (column labels, one row of panels per sample)}; a DCGAN's {"generated": rows of images}."""
        if not self.samples:
            images, n = self.sampler.from_noise(self.noise), self.config.n_samples
            return {"generated": (["G(z)"] + [""] * (n - 1), [list(images[i:i + n]) for i in range(0, n * n, n)])}
        out = {}
        for direction, images in self.samples.items():
            source, target = DOMAINS[direction]
            forward, back = self.translators[direction], self.translators.get(REVERSE[direction])
            identity = back is not None and self.config.input_nc == self.config.output_nc
            labels = [f"real_{source}", f"fake_{target}"]
            labels += [f"rec_{source}"] if back else []
            labels += [f"real_{target}"] if images.paired else []
            labels += [f"idt_{target}"] if identity else []
            rows = []
            for i, real in enumerate(images.inputs):
                fake = forward(real)
                other = images.targets[i % len(images.targets)]
                rows.append([real, fake] + ([back(fake)] if back else []) + ([other] if images.paired else [])
                            + ([forward(other)] if identity else []))
            out[direction] = (labels, rows)
        return out

    def on_train_batch_end(self, batch, logs=None):
        freq = self.config.sample_freq
        if not freq:
            return
        step = int(self.model.step_counter.numpy())
        if step // freq > self.sampled_at // freq:  # crossed a multiple (also with --steps-per-execution)
            self.sampled_at = step
            self.write(f"step_{step // freq * freq:08d}", f"step {step // freq * freq}", timelapse=True)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        # with --sample-freq the time-lapse is made of the step frames alone, one frame rate
        panels = self.write(f"epoch_{done:03d}", f"epoch {done}", timelapse=not self.config.sample_freq, step=done)
        step = int(self.model.step_counter.numpy())
        columns = " | ".join(next(iter(panels.values()))[0])
        report.write_gallery(self.config.run_dir, f"cyclegan-tf run {self.config.name}",
                             f"Epoch {done} of {self.config.total_epochs} done (step {step}).",
                             f"Each row, on fixed test images: {columns}.")

    def write(self, stem: str, label: str, timelapse: bool, step: int | None = None) -> dict:
        """The sample grid `samples/<stem>.png` (and TensorBoard images at `step`, an epoch), and a time-lapse frame:
        the first sample of every direction, real | fake, under `label`."""
        run_dir = self.config.run_dir
        panels = self.panels()
        grid = report.vstack([report.sample_grid(rows, labels) for labels, rows in panels.values()], 3 * report.GAP)
        report.save_png(run_dir / "samples" / f"{stem}.png", grid)
        if step is not None:
            with self.writer.as_default():
                for direction, (labels, rows) in panels.items():
                    write_images(f"samples/{direction}", [report.hstack(row) for row in rows], step,
                                 " | ".join(labels))
            self.writer.flush()
        if timelapse:
            firsts = [report.hstack(rows[0][:2], report.GAP) for _, rows in panels.values()]
            report.save_png(run_dir / "timelapse" / f"{stem}.png",
                            report.caption(report.vstack(firsts, report.GAP), label))
            prefix = stem.split("_")[0] + "_"
            report.write_gif([path for _, path in report.numbered(run_dir / "timelapse", prefix)],
                             run_dir / "timelapse.gif")
        return panels


def fixed_samples(root: Path, config: TrainConfig) -> dict[str, TestImages]:
    """The first `n_samples` test images of each direction (training images without a test split), scaled and
    centre-cropped to the training size: the same images every epoch, so the panels show progress.

    Args:
        root: the run's training data folder.
        config: the run's config (`n_samples`, `crop_size`, the model's directions).

    Returns:
        {direction: its test images}.
    """
    out = {}
    for direction in run_directions(config):
        images = test_images(config, root, direction, config.n_samples)
        images.inputs, images.targets = ([report.fit_square(image, config.crop_size) for image in group]
                                         for group in (images.inputs, images.targets))
        out[direction] = images
    return out
