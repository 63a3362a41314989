"""`cyclegan-tf ablation`."""

from __future__ import annotations

from pathlib import Path

import click

from cyclegan_tf.cli.common import CONTEXT
from cyclegan_tf.startup import import_tensorflow_quietly


@click.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(["pix2pix", "cyclegan"]))
@click.option("--out", type=click.Path(dir_okay=False), help="Markdown file for the tables [default: "
              "ablation_<kind>.md].")
@click.option("--epochs", type=click.IntRange(min=1), default=6, show_default=True,
              help="Epochs of 300 pairs per configuration (half at the initial rate, half decaying).")
@click.option("--data-dir", "--data_dir", "data_dir", type=click.Path(file_okay=False),
              help="Where the generated labels2photo_demo set lives [default: $CYCLEGAN_TF_DATA or "
                   "~/.cache/cyclegan-tf/datasets].")
@click.option("--work-dir", type=click.Path(file_okay=False),
              help="Run directories of the configurations [default: <data dir>/../ablation-runs].")
@click.option("--max-pairs", type=click.IntRange(min=1),
              help="Train on the first N of the 300 training pairs only: a quick check that every configuration "
                   "runs (the tables need all of them).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train each configuration with seeds 0 .. N-1: the table shows the mean and each seed's class "
                   "IoU (GAN runs differ from seed to seed).")
def ablation(kind, out, epochs, data_dir, work_dir, max_pairs, seeds) -> None:
    """Re-run a paper's ablation at a small size on the embedded paired set and write the tables.

    pix2pix: Table 1 (L1, GAN, cGAN, L1+GAN, L1+cGAN) and Table 3 (PatchGAN 1x1, 16x16, 70x70 and a
    whole-image field). cyclegan: cycle alone, GAN alone, GAN + forward / backward cycle, CycleGAN.
    Each configuration is trained from scratch (64 px, ResNet-6, ngf = ndf = 16, seed 0) and scored
    with the FCN-score protocol (per-pixel acc. / per-class acc. / class IoU) using the exact segmenter
    of labels2photo_demo (docs/reproductions.md gives the time each configuration takes).

    \b
    Examples:
      cyclegan-tf ablation pix2pix --out pix2pix_ablation.md
      cyclegan-tf ablation cyclegan --epochs 8 --seeds 3
      cyclegan-tf ablation pix2pix --epochs 1 --max-pairs 8      # a quick check that everything runs
    """
    import_tensorflow_quietly()
    from cyclegan_tf.experiments.ablation import ablation_markdown, progress_line

    text = ablation_markdown(kind, epochs, data_dir, work_dir, max_pairs, seeds,
                             on_row=lambda table, row: click.echo(progress_line(table, row)))
    path = Path(out or f"ablation_{kind}.md")
    path.write_text(text)
    click.echo(text)
    click.echo(f"wrote {path}")
