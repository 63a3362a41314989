"""Training, start to end: config -> data -> model -> `fit` with callbacks -> run directory.

`train(config)` is the Python API behind `cyclegan-tf train`:

    from cyclegan_tf import TrainConfig, train
    result = train(TrainConfig(dataroot="datasets/apple2orange", name="apple2orange"))
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data.pipeline import TrainingData, training_data
from cyclegan_tf.data.registry import resolve_dataroot
from cyclegan_tf.errors import UserError
from cyclegan_tf.models.base import AdversarialModel
from cyclegan_tf.models.registry import build_model
from cyclegan_tf.runs import checkpoints
from cyclegan_tf.runs.lock import RunLock
from cyclegan_tf.training import distribute
from cyclegan_tf.training.callbacks import monitoring_callbacks
from cyclegan_tf.training.callbacks.checkpointing import Checkpointer
from cyclegan_tf.training.callbacks.guard import NonFiniteGuard, NonFiniteLoss
from cyclegan_tf.training.callbacks.health import HealthMonitor, UnhealthyRun
from cyclegan_tf.training.callbacks.schedule import PlateauStepper
from cyclegan_tf.training.health import Episode

log = logging.getLogger("cyclegan_tf")


class TrainingInterrupted(Exception):
    """Training was stopped (Ctrl-C or SIGTERM) after its state was saved."""


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; training stopped without saving that state."""


class TrainingUnhealthy(UserError):
    """A training-health detector fired under `--on-unhealthy stop`; checkpoints from the episode were set aside."""


@dataclass
class TrainResult:
    """Where a run went and how: its directory, steps and epochs done, wall time, the losses per epoch, the
    folder of its training data, the trained model and what training health found (`training.health`)."""

    run_dir: Path
    step: int
    epoch: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    dataroot: Path | None = None
    model: AdversarialModel | None = None
    health: list[Episode] = field(default_factory=list)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def train(cfg: TrainConfig, verbose: int | str = "auto",
          callbacks: list[keras.callbacks.Callback] | None = None) -> TrainResult:
    """Train (or, with `cfg.continue_train`, resume) a run of `cfg.model`.

    Args:
        cfg: the run's config (`config.make_config` applies presets and a resumed run's saved config).
        verbose: 1 a progress bar per epoch, 2 one line per epoch, 0 nothing; "auto": 1 on a terminal, else 2.
        callbacks: added to `fit`'s after the guard against non-finite losses, the monitors
            (`callbacks.monitoring_callbacks`) and the checkpointer, which run in that order at each step's end.

    Returns:
        Where the run went, the steps and epochs done, its losses per epoch and the trained model.

    Raises:
        UserError: a mistake in the options or the data, another process training this run
            (`runs.lock`), a checkpoint that cannot be written, or a loss that became NaN (`TrainingDiverged`).
        TrainingInterrupted: Ctrl-C or SIGTERM, after the state was saved.
    """
    cfg.validate()
    started = time.time()
    # first: a multi-worker strategy sets up collective ops, which must come before TensorFlow runs anything
    strategy = distribute.make_strategy(cfg)
    root = resolve_dataroot(cfg)
    if cfg.deterministic:
        cfg.seed = 0 if cfg.seed is None else cfg.seed
        # process-wide and for good: ops pick algorithms that give the same result every time
        tf.config.experimental.enable_op_determinism()
    if cfg.seed is not None:
        keras.utils.set_random_seed(cfg.seed)
    cfg.strategy_used, cfg.replicas = distribute.resolve(cfg.strategy), strategy.num_replicas_in_sync
    data = training_data(root, cfg)
    if not distribute.is_chief(strategy):
        # A worker of a cluster other than the chief trains in step with it and writes nothing into the run:
        # its copy of the checkpoints and logs goes to a temporary folder, deleted at the end.
        with tempfile.TemporaryDirectory(prefix="cyclegan-tf-worker-") as scratch:
            worker = dataclasses.replace(cfg, checkpoints_dir=scratch)
            if cfg.continue_train:  # resume from the chief's checkpoint, as the chief does
                if not (cfg.run_dir / "checkpoints").is_dir():
                    raise UserError(f"--continue-train on this worker needs the chief's run at {cfg.run_dir}: put "
                                    "--checkpoints-dir on storage every worker can read")
                shutil.copytree(cfg.run_dir, worker.run_dir, ignore=shutil.ignore_patterns(".lock"))
            return _train_locked(worker, root, data, started, 0, callbacks, strategy)
    # One writer per run: a second `train` of this run stops here, before it writes anything into it.
    with RunLock(cfg.run_dir):
        return _train_locked(cfg, root, data, started, verbose, callbacks, strategy)


def _saved_groups(model, state: dict, run_dir: Path) -> tuple[str, ...]:
    """The parts of `model` a checkpoint restores: all of them, but for a run started from imported networks
    (`checkpoints.save_networks`), whose optimizers, pools and step counter start fresh."""
    groups = checkpoints.all_groups(model)
    saved = state.get("groups") or groups  # release 0.1 did not list them
    fresh = [group for group in groups if group not in saved]
    if fresh:
        log.warning("%s holds the networks only (imported): %s start fresh", run_dir, ", ".join(fresh))
    return tuple(group for group in groups if group in saved)


def _train_locked(cfg: TrainConfig, root: Path, data: TrainingData, started: float, verbose: int | str,
                  callbacks: list[keras.callbacks.Callback] | None, strategy: tf.distribute.Strategy) -> TrainResult:
    checkpoints.remove_temporaries(cfg.run_dir)  # what a killed writer left half-written
    latest = checkpoints.latest_checkpoint(cfg.run_dir)
    if latest and not cfg.continue_train:
        raise UserError(f"run {cfg.run_dir} already has checkpoints: add --continue-train to resume it, "
                        "or choose another --name")
    if cfg.continue_train and latest is None:
        raise UserError(f"nothing to resume: no complete checkpoint in {cfg.run_dir}")

    with strategy.scope():  # variables mirrored on every replica; `fit` then runs each step on all of them
        model = build_model(cfg, data.steps_per_epoch, data.image_shape)
        if cfg.continue_train:  # also with another number of replicas than the run had: the state is one copy
            with checkpoints.open_checkpoint(cfg.run_dir) as opened:  # the newest readable one
                opened.restore(checkpoints.parts_of(model, _saved_groups(model, opened.state, cfg.run_dir)))
    if cfg.epoch_count > 1 and int(model.step_counter.numpy()) == 0:  # a new (or imported) run starts later
        model.step_counter.assign((cfg.epoch_count - 1) * data.steps_per_epoch)
    step = int(model.step_counter.numpy())
    if cfg.continue_train:
        log.info("resuming %s at step %d (epoch %d)", cfg.run_dir, step, step // data.steps_per_epoch + 1)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(cfg.run_dir / "config.json")

    spe = data.steps_per_epoch
    checkpointer = Checkpointer(cfg, spe, step)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    # Progress bars or lines (verbose 1 or 2; Keras' own output is off), logs, evaluation, samples, gallery
    monitors = monitoring_callbacks(cfg, root, spe, step, int(verbose))
    plateau = [PlateauStepper()] if cfg.lr_policy == "plateau" else []
    history: dict[str, list[float]] = {}
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        epoch = step // spe
        plan = []  # (first epoch, end epoch, steps per epoch) of each `fit`
        if step % spe:  # a run stopped within an epoch first finishes that epoch's remaining steps
            plan.append((epoch, epoch + 1, spe - step % spe))
            epoch += 1
        if epoch < cfg.total_epochs:
            plan.append((epoch, cfg.total_epochs, spe))
        for first, end, steps in plan:
            fit = model.fit(data.dataset, initial_epoch=first, epochs=end, steps_per_epoch=steps,
                            callbacks=[NonFiniteGuard(), *monitors, *plateau, checkpointer, *(callbacks or [])],
                            verbose=0,
                            shuffle=False)
            for key, values in fit.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)
    except KeyboardInterrupt:
        saved = checkpointer.save_now()
        raise TrainingInterrupted(f"interrupted at step {checkpointer.step}; saved {saved}; "
                                  f"resume with --continue-train --name {cfg.name}") from None
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError, tf.errors.InternalError) as error:
        if cfg.replicas == 1 or cfg.strategy_used != "multiworker":
            raise
        raise UserError(f"a worker of the cluster stopped answering at step {checkpointer.step} "
                        f"({type(error).__name__}); start every worker again with --continue-train to resume from "
                        "the chief's last checkpoint") from None
    except UnhealthyRun as stop:
        raise TrainingUnhealthy(_unhealthy_message(cfg, stop.episode, checkpointer.step)) from None
    except NonFiniteLoss as stop:  # nothing is saved: the state after this step is not worth keeping
        kept = checkpoints.latest_checkpoint(cfg.run_dir)
        raise TrainingDiverged(f"step {stop.step}: loss {stop.name} is {stop.value} (training diverged); "
                               f"nothing was saved after it, {kept.name if kept else 'no checkpoint'} stays the "
                               f"latest: lower --lr and resume with --continue-train --name {cfg.name}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)

    health = next((m.episodes for m in monitors if isinstance(m, HealthMonitor)), [])
    return TrainResult(cfg.run_dir, checkpointer.step, checkpointer.step // spe, time.time() - started, history,
                       root, model, health)


def _unhealthy_message(cfg: TrainConfig, episode: Episode, step: int) -> str:
    """What `--on-unhealthy stop` says: what went wrong, which checkpoint a resume starts from, what to change."""
    kept, moved = checkpoints.set_aside_after(cfg.run_dir, episode.since)
    if kept is None:
        where = "no checkpoint was saved yet; "
    elif checkpoints.read_state(kept)["step"] <= episode.since:
        where = f"{kept.name}, from before it, is the latest" + (f" (later ones are in {moved[0].parent})" if moved
                                                                  else "") + "; "
    else:
        where = f"no checkpoint from before step {episode.since} is left, so {kept.name} (after it) stays the latest; "
    resume = (f"resume from {kept.name} with: cyclegan-tf train --continue-train --name {cfg.name} and the options "
              "you change" if kept else f"start again with --name {cfg.name} and the options you change")
    return (f"stopped at step {step} (--on-unhealthy stop): {episode.title} since step {episode.since}: "
            f"{episode.meaning}. {where}{resume}. Try: {episode.advice}")
