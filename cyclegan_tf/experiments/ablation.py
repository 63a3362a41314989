"""The papers' ablations, re-run at a small size on the embedded paired set and scored exactly.

`cyclegan-tf ablation pix2pix` trains pix2pix's Table 1 (which loss: L1, GAN, cGAN, L1+GAN, L1+cGAN) and
Table 3 (the discriminator's receptive field) configurations; `cyclegan-tf ablation cyclegan` trains the
CycleGAN paper's loss ablation (cycle alone, GAN alone, GAN + one cycle, both). Every run uses the dataset's
preset (64 px, ResNet-6 generator, ngf = ndf = 16), the same seed and the same number of epochs; each is
scored with the FCN-score protocol (`evaluation.exact`: labels -> photo on the 50 test pairs) and the tables
are written as Markdown, next to the papers' numbers (Cityscapes, 256 px, a learned FCN: compare orderings,
not values).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cyclegan_tf.data import labels2photo
from cyclegan_tf.data.registry import data_root
from cyclegan_tf.errors import UserError
from cyclegan_tf.evaluation.fcn import FcnScore
from cyclegan_tf.nn.networks import receptive_field

Paper = tuple[float, float, float]  # per-pixel acc., per-class acc., class IoU


@dataclass(frozen=True)
class Variant:
    """One configuration of an ablation table: its options over the dataset's preset, and the paper's score."""

    label: str
    options: dict[str, Any] = field(default_factory=dict)
    paper: Paper | None = None

    @property
    def flags(self) -> str:
        """The options as `train` flags."""
        def flag(key, value):
            name = "--" + key.replace("_", "-")
            return name if value is True else f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
        return " ".join(flag(k, v) for k, v in self.options.items()) or "(defaults)"


@dataclass(frozen=True)
class Table:
    title: str
    model: str
    variants: tuple[Variant, ...]
    paper_source: str
    base: dict[str, Any] = field(default_factory=dict)  # options of every run of the table


PIX2PIX_LOSSES = Table(
    "pix2pix Table 1: which loss (labels -> photo)", "pix2pix", (
        Variant("L1", dict(no_gan=True), (0.42, 0.15, 0.11)),
        Variant("GAN", dict(lambda_L1=0.0, unconditional_D=True), (0.22, 0.05, 0.01)),
        Variant("cGAN", dict(lambda_L1=0.0), (0.57, 0.22, 0.16)),
        Variant("L1+GAN", dict(unconditional_D=True), (0.64, 0.20, 0.15)),
        Variant("L1+cGAN", {}, (0.66, 0.23, 0.17)),
    ), "pix2pix paper, Table 1 (Cityscapes, 256 px)")

# At 64 px the largest PatchGAN that still gives an output is n_layers 4 (a 142 x 142 field: the whole
# image, as the paper's 286 x 286 field is at 256 px); n_layers 5 needs 96 px images.
PIX2PIX_PATCHES = Table(
    "pix2pix Table 3: the discriminator's receptive field (L1+cGAN)", "pix2pix", (
        Variant("1x1 (PixelGAN)", dict(netD="pixel"), (0.39, 0.15, 0.10)),
        Variant(f"{receptive_field(1)}x{receptive_field(1)}", dict(netD="n_layers", n_layers_D=1), (0.65, 0.21, 0.17)),
        Variant(f"{receptive_field(3)}x{receptive_field(3)}", dict(netD="n_layers", n_layers_D=3), (0.66, 0.23, 0.17)),
        Variant(f"{receptive_field(4)}x{receptive_field(4)} (whole image; paper: 286x286)",
                dict(netD="n_layers", n_layers_D=4), (0.42, 0.16, 0.11)),
    ), "pix2pix paper, Table 3 (Cityscapes, 256 px)")

# The CycleGAN paper's Cityscapes runs have no identity loss; REFERENCE.md holds its full model's score only.
CYCLEGAN_LOSSES = Table(
    "CycleGAN: which loss (labels -> photo, trained unpaired)", "cycle_gan", (
        Variant("Cycle alone", dict(no_gan=True)),
        Variant("GAN alone", dict(lambda_A=0.0, lambda_B=0.0)),
        Variant("GAN + forward cycle", dict(cycle="forward")),
        Variant("GAN + backward cycle", dict(cycle="backward")),
        Variant("CycleGAN", {}, (0.52, 0.17, 0.11)),
    ), "CycleGAN paper (Cityscapes labels -> photo, 256 px)", base=dict(lambda_identity=0.0))

TABLES: dict[str, tuple[Table, ...]] = {"pix2pix": (PIX2PIX_LOSSES, PIX2PIX_PATCHES), "cyclegan": (CYCLEGAN_LOSSES,)}


@dataclass
class Row:
    variant: Variant
    scores: list[FcnScore]  # one per seed
    steps: int  # per seed
    seconds: float  # all seeds
    same_as: str | None = None  # the label of the run this row reuses (a configuration shared by two tables)

    @property
    def score(self) -> FcnScore:
        """The mean over seeds."""
        return FcnScore(*(float(np.mean([getattr(s, key) for s in self.scores]))
                                      for key in ("pixel_accuracy", "class_accuracy", "class_iou")),
                                    self.scores[0].images)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def run_variant(table: Table, variant: Variant, epochs: int, data_dir: str | Path | None, work_dir: Path,
                verbose: int = 0, max_pairs: int | None = None, seed: int = 0) -> Row:
    """Train one configuration from scratch with `seed` (its old run directory is replaced) and score it.

    Args:
        table: the table the configuration belongs to (its model and the options of every run).
        variant: the configuration: its options over the dataset's preset.
        epochs: training epochs: half (rounded up) at the full learning rate, the rest with it decaying.
        data_dir: the data dir holding labels2photo_demo (generated if missing); None: the default.
        work_dir: the folder the run directory is written under.
        verbose: the trainer's verbosity (0: quiet).
        max_pairs: train on the first pairs only (a quick check; the tables use all 300); None for all.
        seed: the training seed; a nonzero seed is added to the run's name.

    Returns:
        The row of one seed: its FCN-score, training steps and wall-clock seconds.
    """
    # TensorFlow: imported when a run starts
    from cyclegan_tf.config import make_config
    from cyclegan_tf.evaluation.exact import model_exact_scores
    from cyclegan_tf.training.trainer import train

    name = f"{table.model}_{slug(variant.label)}" + (f"_seed{seed}" if seed else "")
    shutil.rmtree(work_dir / name, ignore_errors=True)
    options = dict(model=table.model, dataset=labels2photo.NAME, data_dir=str(data_dir) if data_dir else None,
                   name=name, checkpoints_dir=str(work_dir), n_epochs=(epochs + 1) // 2, n_epochs_decay=epochs // 2,
                   save_epoch_freq=max(epochs, 1), seed=seed, max_dataset_size=max_pairs, **table.base,
                   **variant.options)
    started = time.time()
    config = make_config(options)
    result = train(config, verbose=verbose)
    score = model_exact_scores(result.model, config, result.dataroot).fcn
    return Row(variant, [score], result.step, time.time() - started)


def run_ablation(kind: str, epochs: int = 6, data_dir: str | Path | None = None, work_dir: str | Path | None = None,
                 verbose: int = 0, on_row=None, max_pairs: int | None = None, seeds: int = 1
                 ) -> list[tuple[Table, list[Row]]]:
    """Every table of `kind` ("pix2pix" or "cyclegan"): each configuration trained with seeds 0 .. `seeds` - 1
    and scored; a row holds the scores of every seed.

    A configuration shared by two tables (L1+cGAN with the 70x70 PatchGAN) is trained once.

    Args:
        kind: "pix2pix" or "cyclegan".
        epochs: training epochs of every run; at least 1.
        data_dir: the data dir holding labels2photo_demo (generated if missing); None: the default.
        work_dir: where the runs go; None: <data dir>/../ablation-runs.
        verbose: the trainer's verbosity (0: quiet).
        on_row: called with (table, row) as each configuration finishes; None for nothing.
        max_pairs: train on the first pairs only (a quick check); None for all.
        seeds: how many seeds each configuration is trained with; at least 1.

    Returns:
        (table, its rows) for each table of `kind`.
    """
    if kind not in TABLES:
        raise UserError(f"ablation must be one of {', '.join(TABLES)}, not {kind!r}")
    if epochs < 1 or seeds < 1:
        raise UserError("--epochs and --seeds must be at least 1")
    work_dir = Path(work_dir) if work_dir else data_root(data_dir).parent / "ablation-runs"
    done: dict[tuple, Row] = {}
    out = []
    for table in TABLES[kind]:
        rows = []
        for variant in table.variants:
            options = {**table.base, **variant.options}
            key = (table.model, tuple(sorted(_canonical(options).items())))
            if key not in done:
                runs = [run_variant(table, variant, epochs, data_dir, work_dir, verbose, max_pairs, seed)
                        for seed in range(seeds)]
                done[key] = Row(variant, [run.scores[0] for run in runs], runs[0].steps,
                                sum(run.seconds for run in runs))
                rows.append(done[key])
            else:
                first = done[key]
                rows.append(Row(variant, first.scores, first.steps, first.seconds, first.variant.label))
            if on_row:
                on_row(table, rows[-1])
        out.append((table, rows))
    return out


def _canonical(options: dict[str, Any]) -> dict[str, Any]:
    """Options with the defaults that spell the same network the same way (basic = n_layers 3)."""
    if options.get("netD") == "n_layers" and options.get("n_layers_D", 3) == 3:
        options = {k: v for k, v in options.items() if k not in ("netD", "n_layers_D")}
    return options


def markdown(results: list[tuple[Table, list[Row]]], ground_truth: FcnScore | None = None,
             command: str = "", seconds: float | None = None, identity: FcnScore | None = None) -> str:
    """The tables as Markdown: ours (per-pixel acc. / per-class acc. / class IoU, the mean over seeds, and each
    seed's class IoU when there are several) beside the paper's, with the floor (`identity`: the label map
    copied) and the ceiling (`ground_truth`: the real photos) when given.

    Args:
        results: what `run_ablation` returns.
        ground_truth: the segmenter's score on the real photos, a row of every table; None leaves it out.
        command: the command that made the tables, named under them; "" leaves the line out.
        seconds: the wall-clock time the tables took, given in minutes after `command`; None leaves it out.
        identity: the score of copying the label map, a row of every table; None leaves it out.

    Returns:
        The Markdown text, ending with a newline.
    """
    lines = []
    for table, rows in results:
        seeds = max(len(row.scores) for row in rows)
        mean = f", mean of {seeds} seeds" if seeds > 1 else ""
        per_seed = " class IoU of each seed |" if seeds > 1 else ""
        lines += [f"### {table.title}", "",
                  f"| configuration | options | ours: per-pixel acc. / per-class acc. / class IoU{mean} |{per_seed} "
                  f"{table.paper_source} | steps | time |",
                  "|---|---|---|---|---|---|" + ("---|" if seeds > 1 else "")]
        blank = " |" if seeds > 1 else ""
        for row in rows:
            paper = " / ".join(f"{v:.2f}" for v in row.variant.paper) if row.variant.paper else "-"
            time_text = f"the {row.same_as} run" if row.same_as else f"{row.seconds:.0f} s"
            each = f" {', '.join(f'{s.class_iou:.2f}' for s in row.scores)} |" if seeds > 1 else ""
            lines.append(f"| {row.variant.label} | `{row.variant.flags}` | {row.score.row()} |{each} {paper} | "
                         f"{row.steps} | {time_text} |")
        if identity is not None:
            lines.append(f"| identity (the label map copied) | | {identity.row()} |{blank} - | | |")
        if ground_truth is not None:
            lines.append(f"| ground truth (the segmenter on real photos) | | {ground_truth.row()} |{blank} "
                         f"{'0.80 / 0.26 / 0.21' if table.model == 'pix2pix' else '-'} | | |")
        lines.append("")
    if command:
        lines.append(f"Made by `{command}`" + (f" in {seconds / 60:.1f} min." if seconds is not None else "."))
    return "\n".join(lines) + "\n"


def bounds(data_dir: str | Path | None = None) -> tuple[FcnScore, FcnScore]:
    """(identity, ground truth) scores on the test split: what copying the input gets, and the real photos."""
    from cyclegan_tf.evaluation.exact import ground_truth_score, identity_score

    root = labels2photo.ensure_dataset(data_root(data_dir) / labels2photo.NAME)
    return identity_score(root), ground_truth_score(root)


def command_line(kind: str, epochs: int, seeds: int = 1, max_pairs: int | None = None) -> str:
    """The `cyclegan-tf ablation` command that makes these tables (written under them).

    Args:
        kind: "pix2pix" or "cyclegan".
        epochs: the `--epochs` value.
        seeds: the `--seeds` value; left out when 1.
        max_pairs: the `--max-pairs` value; left out when None (or 0).

    Returns:
        The command as one line.
    """
    return (f"cyclegan-tf ablation {kind} --epochs {epochs}" + (f" --seeds {seeds}" if seeds > 1 else "")
            + (f" --max-pairs {max_pairs}" if max_pairs else ""))


def progress_line(table: Table, row: Row) -> str:
    """One line per configuration as it finishes.

    Args:
        table: the table the row belongs to.
        row: the finished configuration's scores, steps and time.

    Returns:
        The line, without a newline.
    """
    ious = ", ".join(f"{score.class_iou:.2f}" for score in row.scores)
    seeds = f", class IoU per seed {ious}" if len(row.scores) > 1 else ""
    return f"{table.model} {row.variant.label}: {row.score.row()} ({row.steps} steps, {row.seconds:.0f} s{seeds})"


def ablation_markdown(kind: str, epochs: int = 6, data_dir: str | Path | None = None,
                      work_dir: str | Path | None = None, max_pairs: int | None = None, seeds: int = 1,
                      on_row: Callable[[Table, Row], None] | None = None) -> str:
    """Run an ablation (`run_ablation`) and return its tables as Markdown, with the floor, the ceiling and the
    command that made them.

    Args:
        kind: "pix2pix" or "cyclegan".
        epochs: training epochs of every run; at least 1.
        data_dir: the data dir holding labels2photo_demo (generated if missing); None: the default.
        work_dir: where the runs go; None: <data dir>/../ablation-runs.
        max_pairs: train on the first pairs only (a quick check); None for all.
        seeds: how many seeds each configuration is trained with; at least 1.
        on_row: called with (table, row) as each configuration finishes; None for nothing.

    Returns:
        The Markdown text (see `markdown`).
    """
    started = time.time()
    results = run_ablation(kind, epochs, data_dir, work_dir, on_row=on_row, max_pairs=max_pairs, seeds=seeds)
    identity, truth = bounds(data_dir)
    return markdown(results, truth, command_line(kind, epochs, seeds, max_pairs), time.time() - started, identity)
