"""Exact scores of runs on the embedded datasets, which need no learned model to judge a translation.

- `demo` (`data.demo`): the demo score, the mean over the directions a run has of the IoU between the source's object
  mask and the output's target-style mask (and the style accuracy), in percent.
- `labels2photo_demo` (`data.labels2photo`): the FCN-score of labels -> photo with the set's exact segmenter.
- `colorization_demo` (`data.colorization_demo`): the colour accuracy of grey -> colour, in percent: of the
  shapes' pixels, those given the colour of their shape's kind.

`exact_scores` decides whether a run has one of them, so that neither the trainer nor the evaluator needs to
know a dataset by name. Translators are any `image -> image` callables (`inference.Translator`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cyclegan_tf.choices import DIRECTIONS
from cyclegan_tf.config import TrainConfig
from cyclegan_tf.data import colorization_demo, demo, labels2photo
from cyclegan_tf.data.images import grey_of_lightness, list_images, load_image, load_pair
from cyclegan_tf.evaluation.fcn import FcnScore, fcn_score
from cyclegan_tf.inference.translator import translators_of
from cyclegan_tf.models.registry import model_generators

Translate = Callable[[np.ndarray], np.ndarray]

def score_translation(source: np.ndarray, output: np.ndarray, source_style: int) -> tuple[float, float]:
    """(style accuracy, IoU) of one demo translation out of `source_style` (`demo.A_CLASS` or `demo.B_CLASS`) into
    the other style.

    Args:
        source: the input image, uint8 RGB (H, W, 3).
        output: its translation, uint8 RGB of the same size.
        source_style: the input's style: `demo.A_CLASS` or `demo.B_CLASS`.

    Returns:
        (style accuracy, IoU), fractions in [0, 1]; 0 where the source has no object pixels.
    """
    target_style = demo.B_CLASS if source_style == demo.A_CLASS else demo.A_CLASS
    objects = demo.classify(source) == source_style
    restyled = demo.classify(output) == target_style
    hit = np.logical_and(objects, restyled).sum()
    union = np.logical_or(objects, restyled).sum()
    return float(hit / max(objects.sum(), 1)), float(hit / max(union, 1))


def score_direction(pairs: list[tuple[np.ndarray, np.ndarray]], source_style: int) -> dict[str, float]:
    """Mean style accuracy and IoU (percent) over (source, output) pairs of one demo direction.

    Args:
        pairs: (source, output) uint8 RGB images; not empty.
        source_style: the sources' style: `demo.A_CLASS` or `demo.B_CLASS`.

    Returns:
        {"style_accuracy": percent, "iou": percent}.
    """
    scores = np.array([score_translation(s, o, source_style) for s, o in pairs]) * 100
    return {"style_accuracy": float(scores[:, 0].mean()), "iou": float(scores[:, 1].mean())}


def demo_score(translators: dict[str, Translate], root: Path, limit: int | None = None) -> dict[str, Any]:
    """Translate the demo's test split both ways and score it: {direction: {"iou", "style_accuracy"}, "score"}.

    Args:
        translators: {"AtoB": translate, "BtoA": translate}, each uint8 image -> uint8 image.
        root: the demo dataset's folder (testA/ and testB/).
        limit: the first this many test images of each domain; None for all.

    Returns:
        The scores in percent; "score" is the mean IoU of both directions.
    """
    scores: dict[str, Any] = {}
    for direction, folder, style in (("AtoB", "testA", demo.A_CLASS), ("BtoA", "testB", demo.B_CLASS)):
        if direction not in translators:  # a one-sided model (CUT): the score is its direction's IoU
            continue
        translate = translators[direction]
        images = [load_image(path, 3) for path in list_images(Path(root) / folder, limit)]
        scores[direction] = score_direction([(image, translate(image)) for image in images], style)
    scores["score"] = float(np.mean([scores[d]["iou"] for d in scores]))
    return scores


def colorization_score(translate: Translate, root: Path, limit: int | None = None) -> float:
    """Colour accuracy (%) of a grey -> colour translation on colorization_demo's test photos (their greys in).

    Args:
        translate: uint8 grey (H, W, 1) -> uint8 RGB.
        root: the colorization_demo folder (test/).
        limit: the first this many test images; None for all.
    """
    targets = [load_image(path, 3) for path in list_images(Path(root) / "test", limit)]
    outputs = [translate(grey_of_lightness(target)) for target in targets]
    return 100.0 * colorization_demo.colour_accuracy(outputs, targets)


def test_pairs(root: Path, split: str = "test", limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(label image A, photo B) of each A|B file of `root/split` of labels2photo_demo, as uint8 RGB arrays.

    Args:
        root: the labels2photo_demo folder.
        split: "train" or "test".
        limit: the first this many files by name; None for all.

    Returns:
        The (A, B) pairs, sorted by file name.
    """
    return [load_pair(path) for path in list_images(Path(root) / split, limit)]


def labels2photo_score(translate: Translate, root: Path, split: str = "test", limit: int | None = None) -> FcnScore:
    """FCN-score of a labels -> photo translation (pix2pix AtoB, or a CycleGAN's G_AB) on labels2photo_demo.

    Args:
        translate: a label image -> photo function, uint8 RGB in and out.
        root: the labels2photo_demo folder.
        split: "train" or "test".
        limit: the first this many pairs by name; None for all.

    Returns:
        The FCN-score, with the dataset's exact segmenter.
    """
    return fcn_score(((labels2photo.decode_labels(a), translate(a)) for a, _ in test_pairs(root, split, limit)),
                     labels2photo.segment, labels2photo.K)


def identity_score(root: Path, split: str = "test") -> FcnScore:
    """The label map copied as the "photo": the floor a translation must beat (road and sky labels are near
    their photo colours, so copying already places those).

    Args:
        root: the labels2photo_demo folder.
        split: "train" or "test".

    Returns:
        The FCN-score of copying.
    """
    return labels2photo_score(lambda labels: labels, root, split)


def ground_truth_score(root: Path, split: str = "test") -> FcnScore:
    """The segmenter on the real photos: the ceiling of every run (the paper's "ground truth" row).

    Args:
        root: the labels2photo_demo folder.
        split: "train" or "test".

    Returns:
        The FCN-score of the real photos.
    """
    return fcn_score(((labels2photo.decode_labels(a), b) for a, b in test_pairs(root, split)), labels2photo.segment,
                     labels2photo.K)


def on_dataset(config: TrainConfig, name: str, dataroot: str | Path | None = None) -> bool:
    """Whether a run is evaluated on the embedded dataset `name`: trained on it by name and not pointed elsewhere.

    Args:
        config: the run's configuration.
        name: an embedded dataset's name (`demo.NAME`, `labels2photo.NAME`).
        dataroot: a folder the user gave instead of the run's own; any value makes the answer False.

    Returns:
        True when the run's `--dataset` is `name` and neither it nor the user gave a dataroot.
    """
    return config.dataset == name and not config.dataroot and not dataroot


@dataclass
class ExactScores:
    """A run's exact scores; None where its dataset has none."""

    demo: dict[str, Any] | None = None  # see `demo_score`
    fcn: FcnScore | None = None  # labels -> photo
    colour_accuracy: float | None = None  # grey -> colour on colorization_demo (%)

    def lines(self) -> list[str]:
        """The scores as `train` prints them."""
        out = []
        if self.demo:
            s = self.demo
            parts = "; ".join(f"{d} IoU {s[d]['iou']:.1f}, style {s[d]['style_accuracy']:.1f}" for d in DIRECTIONS
                              if d in s)
            out.append(f"demo score (IoU of object masks, %): {s['score']:.1f}  [{parts}]")
        if self.fcn:
            out.append(f"FCN-score (labels -> photo): {self.fcn.line()}")
        if self.colour_accuracy is not None:
            out.append(f"colour accuracy (grey -> colour, % of shape pixels): {self.colour_accuracy:.1f}")
        return out


def exact_scores(translators: dict[str, Translate], config: TrainConfig, root: Path,
                 dataroot: str | Path | None = None, limit: int | None = None) -> ExactScores:
    """The exact scores a run has: the demo score for a run on `demo`, the FCN-score of labels -> photo for a
    run on `labels2photo_demo` that translates AtoB, the colour accuracy of a run on `colorization_demo`.

    Args:
        translators: {direction: translate} of the run.
        config: the run's config (which dataset it was trained on).
        root: the folder of that dataset.
        dataroot: a folder the user gave instead of the run's own; it turns exact scores off.
        limit: score the first `limit` test images only.
    """
    scores = ExactScores()
    if on_dataset(config, demo.NAME, dataroot) and translators:
        scores.demo = demo_score(translators, root, limit)
    if on_dataset(config, labels2photo.NAME, dataroot) and "AtoB" in translators:
        scores.fcn = labels2photo_score(translators["AtoB"], root, limit=limit)
    if on_dataset(config, colorization_demo.NAME, dataroot) and "AtoB" in translators:
        scores.colour_accuracy = colorization_score(translators["AtoB"], root, limit)
    return scores


def model_exact_scores(model, config: TrainConfig, root: Path) -> ExactScores:
    """`exact_scores` of a model in training (or just trained), e.g. `train`'s result: `TrainResult.model`.

    Args:
        model: a built CycleGAN or pix2pix model.
        config: the run's configuration.
        root: the folder of the dataset the run was trained on.

    Returns:
        The exact scores, None where the dataset has none.
    """
    translators = translators_of(model_generators(model, config), config.netG)
    return exact_scores(translators, config, root)
