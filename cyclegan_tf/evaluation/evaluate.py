"""How good is a translation: FID, KID, L1 and PSNR (of the round trip, or against the paired target), and the
embedded datasets' exact scores.

For each direction a run translates (a CycleGAN: AtoB, testA -> G_AB -> fake B -> G_BA -> reconstructed A, and
BtoA; pix2pix: its `--direction`, on the A|B pairs of test/, else val/):
- FID and KID compare the features of the translations with those of the real test images of the target
  domain (lower is better). Features come from InceptionV3 (ImageNet weights, 2048-d pool features, images
  resized to 299 x 299 bilinearly) or from any Keras model file given as the feature extractor.
- CycleGAN: cycle L1 (mean |real - reconstructed| in the model's [-1, 1] units, the training's cycle loss
  before its lambda) and cycle PSNR (dB, mean over images): how much of the input survives the round trip.
- pix2pix: L1 and PSNR of each translation against its ground-truth target (the training's L1 term).
- On the embedded sets, their exact scores (`exact`): the demo's IoU and style accuracy, labels2photo_demo's
  FCN-score of labels -> photo. `fcn_score_run` gives the FCN-score of any labels -> photo run with a user's
  segmentation model.

    from cyclegan_tf.evaluation.evaluate import evaluate_run
    result = evaluate_run("checkpoints/demo")        # both directions, the latest checkpoint
    print(result.table())

FID/KID from few images (the demo has 30 per domain) are biased upwards and only comparable between
evaluations with the same images and the same feature extractor; the JSON records both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cyclegan_tf.choices import DIRECTIONS, REVERSE
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data import labels2photo
from cyclegan_tf.data.images import Skipped
from cyclegan_tf.data.registry import resolve_dataroot
from cyclegan_tf.data.scientific import ValueRange, view_of
from cyclegan_tf.data.splits import TestImages, load_split, single_folder, test_images
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation.exact import exact_scores
from cyclegan_tf.evaluation.fcn import FcnScore, fcn_score, keras_segmenter, labels_from_image
from cyclegan_tf.evaluation.features import FeatureExtractor, load_feature_extractor
from cyclegan_tf.evaluation.metrics import fid, kid, l1, psnr
from cyclegan_tf.files import write_text_atomic
from cyclegan_tf.inference.sampler import Sampler, sampler_of
from cyclegan_tf.inference.translator import Translator, load_generators, translators_of
from cyclegan_tf.models.registry import generates, run_directions
from cyclegan_tf.runs import checkpoints
from cyclegan_tf.runs.report import fit_square

GENERATED = "generated"  # the "direction" a DCGAN's scores are recorded under: its images from noise

# --- the scores ---------------------------------------------------------------------------------------------------

@dataclass
class DirectionMetrics:
    """The scores of one direction (lower FID, KID and L1 are better; higher PSNR, IoU and accuracies).
    A score that does not apply to the run is None."""

    direction: str
    images: int
    split: str  # "test", "val", or "train" when the dataroot has no held-out split
    fid: float | None = None
    kid: float | None = None
    kid_std: float | None = None
    # FID of the untranslated inputs against the target images: what a generator that changes nothing
    # scores, a scale for `fid` whatever the feature extractor and the number of images
    fid_input: float | None = None
    cycle_l1: float | None = None  # CycleGAN: input vs its round trip
    cycle_psnr: float | None = None
    target_l1: float | None = None  # pix2pix: translation vs its ground truth
    target_psnr: float | None = None
    demo_iou: float | None = None
    demo_style_accuracy: float | None = None
    fcn_pixel_accuracy: float | None = None  # labels2photo_demo, labels -> photo
    fcn_class_accuracy: float | None = None
    fcn_class_iou: float | None = None
    colour_accuracy: float | None = None  # colorization_demo, grey -> colour (%)


# (summary key, table header, format) of the scores a table shows when some direction has them
COLUMNS = (("fid", "FID", ".4g"), ("fid_input", "FID of input", ".4g"), ("kid", "KID", ".3g"),
           ("cycle_l1", "cycle L1", ".4f"), ("cycle_psnr", "cycle PSNR", ".2f"),
           ("target_l1", "L1 to target", ".4f"), ("target_psnr", "PSNR to target", ".2f"),
           ("demo_iou", "demo IoU %", ".1f"), ("demo_style_accuracy", "demo style %", ".1f"),
           ("fcn_pixel_accuracy", "FCN per-pixel", ".3f"), ("fcn_class_accuracy", "FCN per-class", ".3f"),
           ("fcn_class_iou", "FCN class IoU", ".3f"), ("colour_accuracy", "colour accuracy %", ".1f"))
# scores logged per evaluation (CSV columns, TensorBoard tags); FID and KID always, the others when they apply
LOGGED = ("fid", "kid", "cycle_l1", "cycle_psnr", "target_l1", "target_psnr", "demo_iou", "fcn_pixel_accuracy",
          "fcn_class_accuracy", "fcn_class_iou", "colour_accuracy")


@dataclass
class Evaluation:
    """An evaluation of one checkpoint (or of the networks at the end of a training epoch)."""

    name: str
    epoch: int
    step: int
    feature_extractor: str | None  # None: FID and KID were not computed
    dataroot: str
    directions: dict[str, DirectionMetrics] = field(default_factory=dict)
    demo_score: float | None = None  # mean demo IoU over both directions (%)
    checkpoint: str | None = None

    @property
    def mean_fid(self) -> float | None:
        values = [m.fid for m in self.directions.values() if m.fid is not None]
        return float(np.mean(values)) if values else None

    def summary(self) -> dict[str, float | None]:
        """Flat scores for TensorBoard tags and CSV columns (`fid_AtoB`, ..., `demo_score`): FID and KID always
        (None without features), the other scores when the run has them."""
        out: dict[str, float | None] = {}
        for direction, m in self.directions.items():
            for key in LOGGED:
                if key in ("fid", "kid") or getattr(m, key) is not None:
                    out[f"{key}_{direction}"] = getattr(m, key)
        if self.demo_score is not None:
            out["demo_score"] = self.demo_score
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean_fid"] = self.mean_fid
        return data

    def save(self, run_dir: Path) -> Path:
        path = Path(run_dir) / "eval" / f"epoch_{self.epoch:03d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        """The scores as a text table, one row per direction; FID, FID of input and KID always ("-" without
        features), the other columns when some direction has them."""
        metrics = list(self.directions.values())
        columns = [c for c in COLUMNS if c[0] in ("fid", "fid_input", "kid")
                   or any(getattr(m, c[0]) is not None for m in metrics)]
        header = ["direction", "images", *(title for _, title, _ in columns)]
        rows = []
        for m in metrics:
            row = [m.direction, f"{m.images} ({m.split})"]
            for key, _, spec in columns:
                text = _num(getattr(m, key), spec)
                if key == "kid" and m.kid_std:
                    text += f" ± {m.kid_std:.2g}"
                elif key.endswith("psnr") and text != "-":
                    text += " dB"
                row.append(text)
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
        title = f"{self.name}, epoch {self.epoch} (step {self.step}); features: {self.feature_extractor or 'none'}"
        lines = [title, *lines]
        if self.demo_score is not None:
            lines.append(f"demo score (mean IoU, %): {self.demo_score:.1f}")
        return "\n".join(lines)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _mean_l1_psnr(images: list[np.ndarray], others: list[np.ndarray], scale: ValueRange | None = None
                  ) -> tuple[float, float]:
    """Mean L1 (in [-1, 1] units) and PSNR of image pairs: uint8, or a scientific domain's values (`scale`) compared
    in [-1, 1] over all their bands."""
    if scale is not None:
        images, others = [scale.to_signed(a) for a in images], [scale.to_signed(b) for b in others]
    level, peak = (1.0, 2.0) if scale is not None else (127.5, 255.0)
    pairs = list(zip(images, others, strict=True))
    return (float(np.mean([l1(a, b, level) for a, b in pairs])),
            float(np.mean([psnr(a, b, peak) for a, b in pairs])))


# --- evaluating generators ----------------------------------------------------------------------------------------

def score_direction(direction: str, images: TestImages, forward: Translator, back: Translator | None,
                    extractor: FeatureExtractor | None, max_images: int | None) -> DirectionMetrics:
    """The scores of one direction: cycle L1/PSNR when `back` translates the other way, L1/PSNR to the targets
    of paired images, FID/KID with an `extractor`.

    Args:
        direction: "AtoB" or "BtoA", recorded in the result.
        images: the test inputs and target images of that direction.
        forward: translates the inputs (uint8 in, uint8 out).
        back: translates the other way, for the cycle scores; None leaves them out.
        extractor: computes the features for FID and KID; None leaves them out.
        max_images: the image limit the test images were loaded with; part of the key the real images'
            features are kept under.

    Returns:
        The scores; those that do not apply are None.
    """
    fakes = [forward(image) for image in images.inputs]
    metrics = DirectionMetrics(direction, len(fakes), images.split)
    source, target = images.scales
    if back is not None:
        metrics.cycle_l1, metrics.cycle_psnr = _mean_l1_psnr(images.inputs, [back(fake) for fake in fakes], source)
    if images.paired:
        metrics.target_l1, metrics.target_psnr = _mean_l1_psnr(fakes, images.targets, target)
    if extractor is not None:
        # scientific images are seen by their 8-bit views (first three bands, or one band as grey)
        real_features = extractor.of_real_images((images.target, max_images),
                                                 lambda: [view_of(t, target) for t in images.load_targets()])
        input_features = extractor.of_real_images((images.source, max_images),
                                                  lambda: [view_of(i, source) for i in images.inputs])
        fake_features = extractor([view_of(fake, target) for fake in fakes])
        metrics.fid = fid(fake_features, real_features)
        metrics.fid_input = fid(input_features, real_features)
        metrics.kid, metrics.kid_std = kid(fake_features, real_features)
    return metrics


def score_generation(sampler: Sampler, config: TrainConfig, root: Path, extractor: FeatureExtractor | None,
                     max_images: int | None = None, seed: int = 0) -> DirectionMetrics:
    """FID and KID of a DCGAN's images against its training images (centre squares at the training size), as many
    of each: the scores of a model that has no test split, recorded as the direction "generated".

    Args:
        sampler: the generator (`inference.sampler`).
        config: the run's configuration (image size and channels).
        root: the dataroot (its training folder, `splits.single_folder`).
        extractor: computes the features; None: no scores (the images are counted only).
        max_images: the first this many training images by name; None: those it was trained on (all, or
            `--max-dataset-size`).
        seed: the noise's seed, so that evaluations of one run compare the same z.

    Returns:
        The metrics of direction "generated", split "train".
    """
    folder = single_folder(root, "train")
    max_images = max_images or config.max_dataset_size  # the images it was trained on

    def reals() -> list[np.ndarray]:  # decoded only when their features are not cached (every evaluation of a run)
        return [fit_square(image, config.crop_size) for image in load_split(folder, config.output_nc, max_images)]

    if extractor is None:
        return DirectionMetrics(GENERATED, len(reals()), "train")
    real_features = extractor.of_real_images((f"{folder} {config.crop_size} px", max_images), reals)
    metrics = DirectionMetrics(GENERATED, len(real_features), "train")
    fake_features = extractor(list(sampler.sample(len(real_features), seed)))
    metrics.fid = fid(fake_features, real_features)
    metrics.kid, metrics.kid_std = kid(fake_features, real_features)
    return metrics


def evaluate_generators(generators: dict[str, keras.Model], config: TrainConfig, root: Path,
                        directions: tuple[str, ...] | None = None, extractor: FeatureExtractor | None = None,
                        max_images: int | None = None, dataroot: str | Path | None = None,
                        skipped: Skipped | None = None, strict: bool = False) -> dict[str, Any]:
    """Score a run's generators ({direction: generator}, see `models.registry.model_generators`) on a dataroot's
    test split: {direction: DirectionMetrics, "demo_score": ...}.

    Cycle scores need the generator of the other direction too.

    Args:
        generators: {direction: generator} of the run.
        config: the run's configuration (model, channels, `netG`, dataset).
        root: the dataroot whose test split is scored.
        directions: the directions to score; None: all of `generators`.
        extractor: computes the features for FID and KID; None leaves them out (None).
        max_images: the first this many test images by name; None for all.
        dataroot: the one the user gave instead of the run's own, which turns the embedded datasets' exact
            scores off.
        skipped: collects unreadable test images, which are left out (warned about once each).
        strict: stop at the first unreadable test image instead.

    Returns:
        {direction: DirectionMetrics}, plus "demo_score" (mean IoU, %) on the demo dataset.
    """
    translators = translators_of(generators, config.netG, config=config)
    out: dict[str, Any] = {}
    for direction in directions or tuple(generators):
        images = test_images(config, root, direction, max_images, skipped, strict)
        out[direction] = score_direction(direction, images,
                                         translators[direction], translators.get(REVERSE[direction]), extractor,
                                         max_images)
    exact = exact_scores(translators, config, root, dataroot, max_images)
    if exact.fcn is not None and "AtoB" in out:  # labels -> photo
        out["AtoB"].fcn_pixel_accuracy = exact.fcn.pixel_accuracy
        out["AtoB"].fcn_class_accuracy = exact.fcn.class_accuracy
        out["AtoB"].fcn_class_iou = exact.fcn.class_iou
    if exact.colour_accuracy is not None and "AtoB" in out:
        out["AtoB"].colour_accuracy = exact.colour_accuracy
    if exact.demo is not None:
        for direction in directions or tuple(generators):
            out[direction].demo_iou = exact.demo[direction]["iou"]
            out[direction].demo_style_accuracy = exact.demo[direction]["style_accuracy"]
        out["demo_score"] = exact.demo["score"]
    return out


def evaluate_run(run: str | Path, direction: str = "both", epoch: int | None = None,
                 feature_extractor: str | Path | FeatureExtractor | None = None,
                 dataroot: str | Path | None = None, max_images: int | None = None,
                 save: bool = True, features: bool = True, skipped: Skipped | None = None,
                 strict: bool = False) -> Evaluation:
    """Evaluate a run directory's checkpoint (latest, or of `epoch`) on its dataroot's test split.

    Args:
        run: a run directory (or a checkpoint).
        direction: "AtoB", "BtoA", or "both" (every direction the run translates: one for pix2pix).
        epoch: the checkpoint of this epoch; None: the latest.
        feature_extractor: a Keras model file, a `FeatureExtractor`, or None for InceptionV3.
        dataroot: test data instead of the run's own (turns the embedded datasets' exact scores off).
        max_images: the first this many test images by name; None for all.
        save: write the result to `<run>/eval/epoch_NNN.json`.
        features: False skips FID and KID (and loading a feature extractor).
        skipped: collects unreadable test images, which are left out (warned about once each).
        strict: stop at the first unreadable test image instead.

    Returns:
        The scores of each direction, with the checkpoint's epoch and step.
    """
    if direction not in (*DIRECTIONS, "both"):
        raise UserError(f"direction must be AtoB, BtoA or both, not {direction!r}")
    run = Path(run)
    with checkpoints.open_checkpoint(run, epoch) as opened:  # the newest readable one, also while the run trains
        checkpoint, config, state = opened.path, opened.config, opened.state
        root = Path(dataroot) if dataroot else resolve_dataroot(config)
        if not root.is_dir():
            raise UserError(f"--dataroot folder not found: {root}")
        if generates(config):
            directions, sampler = (GENERATED,), sampler_of(opened)
        else:
            directions = run_directions(config) if direction == "both" else (direction,)
            # the generators of every direction the run has: each direction's cycle needs the other one
            generators = load_generators(opened, sorted({*directions, *run_directions(config)}))
    extractor = None
    if features:  # after the checks above, before the work: a missing model fails fast
        extractor = (feature_extractor if isinstance(feature_extractor, FeatureExtractor)
                     else load_feature_extractor(feature_extractor))
    if generates(config):
        scores = {GENERATED: score_generation(sampler, config, root, extractor, max_images)}
    else:
        scores = evaluate_generators(generators, config, root, directions, extractor, max_images, dataroot, skipped,
                                     strict)
    result = Evaluation(config.name, state["epoch"], state["step"], extractor.name if extractor else None, str(root),
                        {d: scores[d] for d in directions}, scores.get("demo_score"), str(checkpoint))
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else run
    if save:
        result.save(run_dir)
    return result


def fcn_score_run(run: str | Path, epoch: int | None = None, segmenter: str | Path | Callable | None = None,
                  palette: np.ndarray | None = None, dataroot: str | Path | None = None, limit: int | None = None
                  ) -> FcnScore:
    """FCN-score of a run's label -> photo generator on its test split.

    Args:
        run: a run directory (or a checkpoint).
        epoch: the checkpoint of this epoch (default: the latest).
        segmenter: a Keras model file or a segmenter function (`fcn.keras_segmenter`); None: labels2photo_demo's
            exact segmenter and palette.
        palette: (K, 3) colours of colour label maps; None: the inputs are one-channel class ids.
        dataroot: test data instead of the run's own.
        limit: the first `limit` test images only.

    The inputs are those `evaluate` scores: a pix2pix run's halves of the A|B pairs of `test/` (else `val/`) in
    its direction, a CycleGAN's `testA/`.
    """
    with checkpoints.open_checkpoint(run, epoch) as opened:
        config = opened.config
        direction = run_directions(config)[0]
        (generator,) = load_generators(opened, [direction]).values()
    translator = Translator(generator, config.netG)
    root = Path(dataroot) if dataroot else resolve_dataroot(config)
    sources = test_images(config, root, direction, limit).inputs
    if segmenter is None:
        return fcn_score(((labels2photo.decode_labels(s), translator(s)) for s in sources), labels2photo.segment,
                         labels2photo.K)
    segment_photo = keras_segmenter(segmenter) if isinstance(segmenter, str | Path) else segmenter
    return fcn_score(((labels_from_image(s, palette), translator(s)) for s in sources), segment_photo,
                     segment_photo.classes)
