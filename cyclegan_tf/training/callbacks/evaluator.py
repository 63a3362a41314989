"""FID, KID, cycle or target L1/PSNR (and exact scores) every `--eval-freq` epochs; `best.json`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation import evaluate
from cyclegan_tf.evaluation.features import FeatureExtractor, load_feature_extractor
from cyclegan_tf.files import write_text_atomic
from cyclegan_tf.inference.sampler import Sampler
from cyclegan_tf.models.registry import generates, model_generators
from cyclegan_tf.runs import report
from cyclegan_tf.training.callbacks.tensorboard import write_scalar

log = logging.getLogger("cyclegan_tf")


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
        if generates(cfg):
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
