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
- On the embedded demo dataset, `train.score_demo`'s exact IoU and style accuracy; on labels2photo_demo,
  the FCN-score of labels -> photo (`paired_demo`).

    from cyclegan_tf.evaluate import evaluate_run
    result = evaluate_run("checkpoints/demo")        # both directions, the latest checkpoint
    print(result.table())

FID/KID from few images (the demo has 30 per domain) are biased upwards and only comparable between
evaluations with the same images and the same feature extractor; the JSON records both.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property, partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cyclegan_tf import checkpoints, paired_demo
from cyclegan_tf.config import TrainConfig, write_text_atomic
from cyclegan_tf.data import list_images, load_image, load_pair
from cyclegan_tf.datasets import DEMO, resolve_dataroot
from cyclegan_tf.errors import UserError
from cyclegan_tf.translate import Translator, load_generators, run_directions

log = logging.getLogger("cyclegan_tf")

DIRECTIONS = ("AtoB", "BtoA")
# (source domain, target domain) of each direction
DOMAINS = {"AtoB": ("A", "B"), "BtoA": ("B", "A")}
REVERSE = {"AtoB": "BtoA", "BtoA": "AtoB"}
INCEPTION_SIZE = 299
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_WEIGHTS
DOWNLOAD_TIMEOUT_S = 60


# --- the statistics -------------------------------------------------------------------------------------------

def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (rounding negatives to 0)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr(sqrtm(sigma1 @ sigma2)) for covariance matrices, without scipy.

    sigma1 @ sigma2 is similar to the symmetric PSD matrix sqrt(sigma1) @ sigma2 @ sqrt(sigma1), so its
    eigenvalues are real and non-negative and the trace of its square root is the sum of their square roots.
    """
    root = _sqrt_psd(np.asarray(sigma1, np.float64))
    middle = root @ np.asarray(sigma2, np.float64) @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2)): the Frechet distance of two Gaussians."""
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def fid(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two sets of feature vectors (rows).

    With fewer images than feature dimensions (usual for test splits and 2048-d Inception features), the
    covariances have rank n - 1 and tr(sqrtm(S1 S2)) is the nuclear norm of C1 C2^T, C = centred rows /
    sqrt(n - 1): the nonzero eigenvalues of S1 S2 = C1^T C1 C2^T C2 are those of (C1 C2^T)(C1 C2^T)^T. That
    is an (n1 x n2) singular-value problem instead of two (d x d) eigenproblems.
    """
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if len(x) < 2 or len(y) < 2:
        raise UserError("FID needs at least 2 images on each side")
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = (x - mu1) / np.sqrt(len(x) - 1), (y - mu2) / np.sqrt(len(y) - 1)
    if max(len(x), len(y)) < x.shape[1]:
        diff = mu1 - mu2
        trace_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum()
        return float(max(diff @ diff + (c1 * c1).sum() + (c2 * c2).sum() - 2 * trace_sqrt, 0.0))
    return frechet_distance(mu1, c1.T @ c1, mu2, c2.T @ c2)


def kid(features1: np.ndarray, features2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): the unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3.

    Averaged over `subsets` random subsets of min(subset_size, n1, n2) rows each side (drawn without
    replacement, seeded); returns (mean, standard deviation over subsets).
    """
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise UserError("KID needs at least 2 images on each side")
    d = x.shape[1]
    if m == len(x) == len(y):  # every subset would be the whole of both sets
        subsets = 1
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        k_xx, k_yy, k_xy = ((p @ q.T / d + 1) ** 3 for p, q in ((a, a), (b, b), (a, b)))
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


def psnr(image1: np.ndarray, image2: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images; identical images give 100 dB rather than infinity."""
    mse = np.mean((np.asarray(image1, np.float64) - np.asarray(image2, np.float64)) ** 2)
    return float(min(100.0, 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))))


def l1(image1: np.ndarray, image2: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images in the model's [-1, 1] units."""
    return float(np.mean(np.abs(np.asarray(image1, np.float64) - np.asarray(image2, np.float64))) / 127.5)


# --- features ---------------------------------------------------------------------------------------------------

class FeatureExtractor:
    """A Keras model from images to feature vectors, with the input contract of `--feature-extractor`.

    The model gets float32 RGB images in [0, 255] (grayscale repeated to RGB; a 1-channel model gets
    grayscale), resized bilinearly to its input size, or to 299 x 299 if its input size is not fixed. It
    returns (batch, d) features; a (batch, h, w, d) output is averaged over space.
    """

    def __init__(self, model: keras.Model, name: str, batch_size: int = 32):
        self.model, self.name, self.batch_size = model, name, batch_size
        shape = model.input_shape
        self.size = (shape[1], shape[2]) if shape[1] and shape[2] else (INCEPTION_SIZE, INCEPTION_SIZE)
        self.channels = shape[-1] or 3
        self._run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._kept: dict[tuple, np.ndarray] = {}

    def of_real_images(self, key: tuple, load: Callable[[], list[np.ndarray]]) -> np.ndarray:
        """Features of the real images `load` gives, kept under `key` (where they come from, how many): they do
        not change, so evaluations during training decode and compute them once."""
        if key not in self._kept:
            self._kept[key] = self(load())
        return self._kept[key]

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """uint8 images (any sizes) -> float64 features (n, d)."""
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = [self._prepare(image) for image in images[start: start + self.batch_size]]
            features = self._run(tf.stack(batch)).numpy()
            out.append(features.mean(axis=(1, 2)) if features.ndim == 4 else features.reshape(len(batch), -1))
        return np.concatenate(out).astype(np.float64)

    def _prepare(self, image: np.ndarray) -> tf.Tensor:
        x = tf.convert_to_tensor(image, tf.float32)
        if x.shape[-1] != self.channels:
            x = tf.image.rgb_to_grayscale(x) if self.channels == 1 else tf.repeat(x, 3, axis=-1)
        return tf.image.resize(x, self.size, method="bilinear")


def inception_extractor() -> FeatureExtractor:
    """InceptionV3 with ImageNet weights (Keras caches them in ~/.keras/models/ on first use)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a stalled connection fails instead of hanging
    try:
        backbone = keras.applications.InceptionV3(include_top=False, pooling="avg", weights="imagenet",
                                                  input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    except Exception as error:  # noqa: BLE001 - download and file errors alike: the user has to act
        models_dir = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        reason = " ".join(str(error).replace(f" on {INCEPTION_URL}", "").split()) or type(error).__name__
        raise UserError(f"cannot load the InceptionV3 weights for FID/KID ({reason[:160]}): put {INCEPTION_URL} "
                        f"into {models_dir}/ or pass --feature-extractor FILE.keras (or evaluate --no-fid)") from None
    finally:
        socket.setdefaulttimeout(previous)
    inputs = keras.Input((INCEPTION_SIZE, INCEPTION_SIZE, 3))
    # keras.applications.inception_v3.preprocess_input: [0, 255] -> [-1, 1]
    model = keras.Model(inputs, backbone(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)))
    return FeatureExtractor(model, "InceptionV3 (ImageNet), pool features, 299 px")


def load_feature_extractor(path: str | Path | None = None) -> FeatureExtractor:
    """The model of `--feature-extractor FILE` (any Keras model file), or InceptionV3 without one."""
    if path is None:
        return inception_extractor()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"feature extractor not found: {path}")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - a file Keras cannot read is the user's
        raise UserError(f"cannot load the feature extractor {path}: {str(error).splitlines()[0][:200]}") from None
    return FeatureExtractor(model, str(path))


# --- what is scored -------------------------------------------------------------------------------------------

@dataclass
class TestImages:
    """What one direction is scored on: the inputs and the real images of the target domain (uint8)."""

    inputs: list[np.ndarray]
    load_targets: Callable[[], list[np.ndarray]]  # see `targets`
    split: str  # test, val, or train when the dataroot has none of them
    paired: bool  # targets[i] is the ground truth of inputs[i] (aligned A|B data)
    source: str  # where the inputs and targets come from, e.g. "testA" or "test/ A halves": keys of their features
    target: str

    @cached_property
    def targets(self) -> list[np.ndarray]:
        """Decoded on first use: a CycleGAN's target folder is only needed for FID/KID (whose features of real
        images are computed once per run) and identity panels."""
        return self.load_targets()


def split_folder(root: Path, domain: str = "") -> tuple[Path, str]:
    """`test<domain>/` of a dataroot, or, when it is missing or empty, `val<domain>/` (the aligned sets'
    held-out split) or `train<domain>/` (with a warning)."""
    for split in ("test", "val", "train"):
        folder = Path(root) / f"{split}{domain}"
        if folder.is_dir() and any(folder.iterdir()):
            if split == "train":
                log.warning("no test%s/ or val%s/ in %s: using train%s images instead", domain, domain, root, domain)
            return folder, split
    raise UserError(f"no test{domain}/, val{domain}/ or train{domain}/ images in {root}")


def load_split(folder: Path, channels: int, max_images: int | None = None) -> list[np.ndarray]:
    """The images of a split folder (the first `max_images` by name) as uint8 arrays."""
    return [load_image(path, channels) for path in list_images(folder, max_images)]


def test_images(config: TrainConfig, root: Path, direction: str, max_images: int | None = None) -> TestImages:
    """The test images of one direction of a run: pix2pix's A|B pairs split (`--direction BtoA` swaps them),
    a CycleGAN's source and target domain folders."""
    if config.model == "pix2pix":
        folder, split = split_folder(root)
        pairs = [load_pair(path, config.input_nc, config.output_nc) for path in list_images(folder, max_images)]
        a_halves, b_halves = (list(halves) for halves in zip(*pairs, strict=True))
        inputs, targets = (a_halves, b_halves) if direction == "AtoB" else (b_halves, a_halves)
        source, target = DOMAINS[direction]
        return TestImages(inputs, lambda: targets, split, True, f"{folder} {source} halves",
                          f"{folder} {target} halves")
    channels = {"A": config.input_nc, "B": config.output_nc}
    source, target = DOMAINS[direction]
    folder, split = split_folder(root, source)
    target_folder, _ = split_folder(root, target)
    return TestImages(load_split(folder, channels[source], max_images),
                      partial(load_split, target_folder, channels[target], max_images), split, False,
                      str(folder), str(target_folder))


def on_dataset(config: TrainConfig, name: str, dataroot: str | Path | None = None) -> bool:
    """Whether a run is evaluated on the embedded dataset `name` (which has an exact score)."""
    return config.dataset == name and not config.dataroot and not dataroot


def is_demo_run(config: TrainConfig, dataroot: str | Path | None = None) -> bool:
    """Whether a run evaluates on the embedded demo dataset."""
    return on_dataset(config, DEMO, dataroot)


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


# (summary key, table header, format) of the scores a table shows when some direction has them
COLUMNS = (("fid", "FID", ".4g"), ("fid_input", "FID of input", ".4g"), ("kid", "KID", ".3g"),
           ("cycle_l1", "cycle L1", ".4f"), ("cycle_psnr", "cycle PSNR", ".2f"),
           ("target_l1", "L1 to target", ".4f"), ("target_psnr", "PSNR to target", ".2f"),
           ("demo_iou", "demo IoU %", ".1f"), ("demo_style_accuracy", "demo style %", ".1f"),
           ("fcn_pixel_accuracy", "FCN per-pixel", ".3f"), ("fcn_class_accuracy", "FCN per-class", ".3f"),
           ("fcn_class_iou", "FCN class IoU", ".3f"))
# scores logged per evaluation (CSV columns, TensorBoard tags); FID and KID always, the others when they apply
LOGGED = ("fid", "kid", "cycle_l1", "cycle_psnr", "target_l1", "target_psnr", "demo_iou", "fcn_pixel_accuracy",
          "fcn_class_accuracy", "fcn_class_iou")


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


def _mean_l1_psnr(images: list[np.ndarray], others: list[np.ndarray]) -> tuple[float, float]:
    pairs = list(zip(images, others, strict=True))
    return float(np.mean([l1(a, b) for a, b in pairs])), float(np.mean([psnr(a, b) for a, b in pairs]))


# --- evaluating generators ----------------------------------------------------------------------------------------

def score_direction(direction: str, images: TestImages, forward: Translator, back: Translator | None,
                    extractor: FeatureExtractor | None, max_images: int | None, fcn: bool) -> DirectionMetrics:
    """The scores of one direction: cycle L1/PSNR when `back` translates the other way, L1/PSNR to the targets
    of paired images, FID/KID with an `extractor`, and the FCN-score of labels2photo_demo with `fcn`."""
    fakes = [forward(image) for image in images.inputs]
    metrics = DirectionMetrics(direction, len(fakes), images.split)
    if back is not None:
        metrics.cycle_l1, metrics.cycle_psnr = _mean_l1_psnr(images.inputs, [back(fake) for fake in fakes])
    if images.paired:
        metrics.target_l1, metrics.target_psnr = _mean_l1_psnr(fakes, images.targets)
    if extractor is not None:
        real_features = extractor.of_real_images((images.target, max_images), images.load_targets)
        input_features = extractor.of_real_images((images.source, max_images), lambda: images.inputs)
        fake_features = extractor(fakes)
        metrics.fid = fid(fake_features, real_features)
        metrics.fid_input = fid(input_features, real_features)
        metrics.kid, metrics.kid_std = kid(fake_features, real_features)
    if fcn:
        score = paired_demo.fcn_score((paired_demo.decode_labels(a), fake)
                                      for a, fake in zip(images.inputs, fakes, strict=True))
        metrics.fcn_pixel_accuracy, metrics.fcn_class_accuracy, metrics.fcn_class_iou = (
            score.pixel_accuracy, score.class_accuracy, score.class_iou)
    return metrics



def evaluate_generators(generators: dict[str, keras.Model], config: TrainConfig, root: Path,
                        directions: tuple[str, ...] | None = None, extractor: FeatureExtractor | None = None,
                        max_images: int | None = None, dataroot: str | Path | None = None) -> dict[str, Any]:
    """Score a run's generators ({direction: generator}, see `translate.model_generators`) on a dataroot's
    test split: {direction: DirectionMetrics, "demo_score": ...}.

    `directions` default to all of `generators`. Cycle scores need the generator of the other direction too;
    without an `extractor`, FID and KID are left out (None). `dataroot`: the one the user gave instead of the
    run's own, which turns the embedded datasets' exact scores off.
    """
    translators = {d: Translator(g, config.netG) for d, g in generators.items()}
    fcn = on_dataset(config, paired_demo.NAME, dataroot)
    out: dict[str, Any] = {}
    for direction in directions or tuple(generators):
        out[direction] = score_direction(direction, test_images(config, root, direction, max_images),
                                         translators[direction], translators.get(REVERSE[direction]), extractor,
                                         max_images, fcn and direction == "AtoB")  # FCN-score: labels -> photo
    if is_demo_run(config, dataroot) and set(DIRECTIONS) <= set(translators):
        # train imports the callbacks, which import this module: import it when it is needed
        from cyclegan_tf.train import score_demo

        scores = score_demo(SimpleNamespace(G_AB=generators["AtoB"], G_BA=generators["BtoA"]), root, config.netG)
        for direction in directions or DIRECTIONS:
            out[direction].demo_iou = scores[direction]["iou"]
            out[direction].demo_style_accuracy = scores[direction]["style_accuracy"]
        out["demo_score"] = scores["score"]
    return out


def evaluate_run(run: str | Path, direction: str = "both", epoch: int | None = None,
                 feature_extractor: str | Path | FeatureExtractor | None = None,
                 dataroot: str | Path | None = None, max_images: int | None = None,
                 save: bool = True, features: bool = True) -> Evaluation:
    """Evaluate a run directory's checkpoint (latest, or of `epoch`) on its dataroot's test split.

    `direction`: "AtoB", "BtoA", or "both" (every direction the run translates: one for pix2pix).
    `feature_extractor` is a Keras model file, a `FeatureExtractor`, or None for InceptionV3; `features=False`
    skips FID and KID. With `save`, the result is written to `<run>/eval/epoch_NNN.json`.
    """
    if direction not in (*DIRECTIONS, "both"):
        raise UserError(f"direction must be AtoB, BtoA or both, not {direction!r}")
    run = Path(run)
    checkpoint = checkpoints.find_checkpoint(run, epoch)
    config = TrainConfig.load(checkpoint / "config.json")
    root = Path(dataroot) if dataroot else resolve_dataroot(config)
    if not root.is_dir():
        raise UserError(f"--dataroot folder not found: {root}")
    directions = run_directions(config) if direction == "both" else (direction,)
    # the generators of every direction the run has: each direction's cycle needs the other one
    generators = load_generators(checkpoint, config, sorted({*directions, *run_directions(config)}))
    extractor = None
    if features:  # after the checks above, before the work: a missing model fails fast
        extractor = (feature_extractor if isinstance(feature_extractor, FeatureExtractor)
                     else load_feature_extractor(feature_extractor))
    scores = evaluate_generators(generators, config, root, directions, extractor, max_images, dataroot)
    state = checkpoints.read_state(checkpoint)
    result = Evaluation(config.name, state["epoch"], state["step"], extractor.name if extractor else None, str(root),
                        {d: scores[d] for d in directions}, scores.get("demo_score"), str(checkpoint))
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else run
    if save:
        result.save(run_dir)
    return result
