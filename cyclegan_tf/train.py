"""Training, start to end: config -> data -> model -> `fit` with callbacks -> run directory.

`train(config)` is the Python API behind `cyclegan-tf train`:

    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.train import train
    result = train(TrainConfig(dataroot="datasets/apple2orange", name="apple2orange"))
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cyclegan_tf import checkpoints, demo, paired_demo
from cyclegan_tf.callbacks import Checkpointer, monitoring_callbacks
from cyclegan_tf.config import ARCHITECTURE_FIELDS, MODEL_PRESETS, TrainConfig
from cyclegan_tf.data import list_images, load_image, training_data
from cyclegan_tf.datasets import DEMO, preset, resolve_dataroot
from cyclegan_tf.errors import UserError
from cyclegan_tf.models import AdversarialModel, CycleGAN, build_model
from cyclegan_tf.translate import Translator

log = logging.getLogger("cyclegan_tf")


class TrainingInterrupted(Exception):
    """Training was stopped (Ctrl-C or SIGTERM) after its state was saved."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    demo_score: dict[str, Any] | None = None
    fcn_score: dict[str, Any] | None = None  # labels2photo_demo runs: FCN-score of labels -> photo
    model: AdversarialModel | None = None


def make_config(given: dict[str, Any]) -> TrainConfig:
    """A config from user options (None = not given): over a dataset's preset over the model's (pix2pix's
    defaults), or over the saved run on resume.

    Without `--name`, a run is named after its dataset (or its dataroot folder).
    """
    if not given.get("name") and (given.get("dataset") or given.get("dataroot")):
        given = {**given, "name": given.get("dataset") or Path(given["dataroot"]).resolve().name}
    if not given.get("continue_train"):
        model_preset = MODEL_PRESETS.get(given.get("model") or "", {})
        return TrainConfig.from_options(given, {**model_preset, **preset(given.get("dataset"))})
    run_dir = TrainConfig.from_options({k: given.get(k) for k in ("name", "checkpoints_dir")}).run_dir
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        raise UserError(f"nothing to resume: no run at {run_dir}")
    saved = TrainConfig.load(saved_path).to_dict()
    for name in ARCHITECTURE_FIELDS:
        if given.get(name) is not None and given[name] != saved[name]:
            raise UserError(f"--{name} {given[name]} differs from the resumed run's {saved[name]}")
    return TrainConfig(**{**saved, **{k: v for k, v in given.items() if v is not None}, "continue_train": True})


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def train(cfg: TrainConfig, verbose: int | str = "auto",
          callbacks: list[keras.callbacks.Callback] | None = None) -> TrainResult:
    """Train (or, with `cfg.continue_train`, resume) a run of `cfg.model`; returns where it went and its losses.

    `callbacks` are added to `fit`'s after the checkpointer (which runs first at each step's end) and the
    monitors (`callbacks.monitoring_callbacks`). `verbose`: 1 a progress bar per epoch, 2 one line per epoch,
    0 nothing; "auto": 1 on a terminal, else 2.
    """
    cfg.validate()
    started = time.time()
    root = resolve_dataroot(cfg)
    if cfg.seed is not None:
        keras.utils.set_random_seed(cfg.seed)
    latest = checkpoints.latest_checkpoint(cfg.run_dir)
    if latest and not cfg.continue_train:
        raise UserError(f"run {cfg.run_dir} already has checkpoints: add --continue-train to resume it, "
                        "or choose another --name")
    if cfg.continue_train and latest is None:
        raise UserError(f"nothing to resume: no complete checkpoint in {cfg.run_dir}")

    data = training_data(root, cfg)
    if data.image_shape is None and cfg.pool_size and cfg.model == "cycle_gan":
        log.warning("training images differ in size (--preprocess %s): the image pool is off", cfg.preprocess)
    model = build_model(cfg, data.steps_per_epoch, data.image_shape)
    step = 0
    if cfg.continue_train:
        checkpoints.restore(latest, checkpoints.variable_groups(model, checkpoints.all_groups(model)))
        step = int(model.step_counter.numpy())
        log.info("resuming %s at step %d (epoch %d)", cfg.run_dir, step, step // data.steps_per_epoch + 1)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(cfg.run_dir / "config.json")

    spe = data.steps_per_epoch
    checkpointer = Checkpointer(cfg, spe, step)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    # Progress bars or lines (verbose 1 or 2; Keras' own output is off), logs, evaluation, samples, gallery
    monitors = monitoring_callbacks(cfg, root, spe, step, int(verbose))
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
                            callbacks=[checkpointer, *monitors, *(callbacks or [])], verbose=0,
                            shuffle=False)
            for key, values in fit.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)
    except KeyboardInterrupt:
        saved = checkpointer.save_now()
        raise TrainingInterrupted(f"interrupted at step {checkpointer.step}; saved {saved}; "
                                  f"resume with --continue-train --name {cfg.name}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)

    result = TrainResult(cfg.run_dir, checkpointer.step, checkpointer.step // spe, time.time() - started,
                         history, model=model)
    if cfg.dataset == DEMO and not cfg.dataroot:
        result.demo_score = score_demo(model, root, cfg.netG)
    if cfg.dataset == paired_demo.NAME and not cfg.dataroot and cfg.direction == "AtoB":
        result.fcn_score = paired_demo.score_translator(Translator(model.G_AB, cfg.netG), root).to_dict()
    return result


def score_demo(model: CycleGAN, root: Path, net_g: str) -> dict[str, Any]:
    """Translate the demo's test split both ways and score it exactly (see `demo.py`)."""
    scores = {}
    for direction, generator, folder, style in (("AtoB", model.G_AB, "testA", demo.A_CLASS),
                                                ("BtoA", model.G_BA, "testB", demo.B_CLASS)):
        translator = Translator(generator, net_g)
        pairs = []
        for path in list_images(Path(root) / folder):
            image = load_image(path, 3)
            pairs.append((image, translator(image)))
        scores[direction] = demo.score_direction(pairs, style)
    scores["score"] = float(np.mean([scores[d]["iou"] for d in ("AtoB", "BtoA")]))
    return scores
