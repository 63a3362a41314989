"""`cyclegan-tf fid`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cyclegan_tf.cli.common import CONTEXT, MODELS_DIR, finish_batch
from cyclegan_tf.cli.evaluate import FEATURES_HELP
from cyclegan_tf.startup import import_tensorflow_quietly


@click.command(context_settings=CONTEXT)
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--feature-extractor", "--fid-weights", "feature_extractor", metavar="imagenet|FILE",
              help=FEATURES_HELP)
@click.option("--save-stats", type=click.Path(dir_okay=False),
              help="Save the statistics of the one folder given as a .npz (pytorch-fid's mu and sigma, and the "
                   "features for KID), to compare later in its place.")
@MODELS_DIR
@click.option("--mirror", metavar="URL", help="Download the FID weights from URL instead of https://github.com (the "
              "same path below it) [default: $CYCLEGAN_TF_MIRROR].")
def fid(sources, feature_extractor, save_stats, models, mirror) -> None:
    """FID and KID between two folders of images (any sizes), as `python -m pytorch_fid A B` computes them.

    Features are the FID Inception network's (the papers' and pytorch-fid's; weights downloaded once into the
    models dir, or --fid-weights FILE: pytorch-fid's .pth or NVIDIA's TorchScript inception-2015-12-05.pt).
    Either side may be a .npz of statistics saved with --save-stats (or by pytorch-fid: then no KID).
    KID is given with its standard deviation over subsets.

    \b
    Examples:
      cyclegan-tf fid translated/ datasets/horse2zebra/testB
      cyclegan-tf fid translated/ testB --fid-weights inception-2015-12-05.pt
      cyclegan-tf fid datasets/horse2zebra/testB --save-stats testB.npz   # once
      cyclegan-tf fid translated/ testB.npz
    """
    if save_stats and len(sources) != 1:
        raise click.UsageError("--save-stats takes one folder")
    if not save_stats and len(sources) != 2:
        raise click.UsageError("give two folders (or .npz statistics) to compare")
    import_tensorflow_quietly()
    from cyclegan_tf.data.images import Skipped, list_images
    from cyclegan_tf.evaluation.features import load_feature_extractor
    from cyclegan_tf.evaluation.folders import compare, folder_statistics

    extractor = load_feature_extractor(feature_extractor, models, mirror)
    skipped = Skipped()
    statistics = []
    for source in sources:
        if not Path(source).is_dir():  # saved statistics
            statistics.append(folder_statistics(source, extractor, skipped))
            continue
        with click.progressbar(length=len(list_images(Path(source))), label=f"features of {source}",
                               file=sys.stderr) as bar:
            statistics.append(folder_statistics(source, extractor, skipped, bar.update))
    if save_stats:
        click.echo(f"saved the statistics of {statistics[0].count} images to {statistics[0].save(save_stats)}")
    else:
        click.echo(compare(*statistics).line())
    finish_batch(skipped)
