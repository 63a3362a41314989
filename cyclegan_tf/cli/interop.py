"""`cyclegan-tf import-torch`: a run from the reference's PyTorch files (`export --format torch` goes back)."""

from __future__ import annotations

import click

from cyclegan_tf import choices
from cyclegan_tf.cli.common import CHECKPOINTS_DIR, CONTEXT
from cyclegan_tf.cli.options import choice_type
from cyclegan_tf.models.registry import model_names
from cyclegan_tf.startup import import_tensorflow_quietly


@click.command("import-torch", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True), metavar="PATH")
@click.option("--name", required=True, help="The new run: <checkpoints-dir>/<name>.")
@CHECKPOINTS_DIR
@click.option("--netG", "--netg", "net_g", type=choice_type(choices.GENERATORS),
              help="Generator architecture [default: read from the file].")
@click.option("--norm", type=click.Choice(choices.NORMS), help="Normalization [default: read from the file].")
@click.option("--ngf", type=click.IntRange(min=1), help="Generator width [default: read from the file].")
@click.option("--model", type=click.Choice(model_names()),
              help="For one generator file: how it was trained [default: pix2pix for a U-Net with batch norm, "
                   "else cycle_gan].")
@click.option("--direction", type=click.Choice(choices.DIRECTIONS), default="AtoB", show_default=True,
              help="The direction a single generator (or a pix2pix run) translates.")
@click.option("--dataset", help="The dataset the networks were trained on, for `evaluate` (optional).")
def import_torch(paths, name, checkpoints_dir, net_g, norm, ngf, model, direction, dataset) -> None:
    """Make a run from the reference's PyTorch files (no PyTorch needed, no pickled code run).

    PATH is one generator .pth (a run that translates one direction), or a reference checkpoints folder:
    latest_net_G_A.pth, latest_net_G_B.pth, latest_net_D_A.pth, latest_net_D_B.pth make a CycleGAN run,
    latest_net_G.pth and latest_net_D.pth a pix2pix run. The architecture (ResNet or U-Net, blocks, width,
    norm, channels) is read from the files. The reference's files hold no optimizer state, so
    `train --continue-train` fine-tunes an imported run with fresh optimizers.

    \b
    Examples:
      cyclegan-tf import-torch checkpoints_pt/horse2zebra --name h2z
      cyclegan-tf import-torch latest_net_G.pth --name my_pix2pix --model pix2pix --direction BtoA
      cyclegan-tf train --name h2z --continue-train --dataset horse2zebra --n-epochs 5 --n-epochs-decay 5
    """
    import_tensorflow_quietly()
    from cyclegan_tf.interop.importer import FRESH_OPTIMIZERS, Overrides
    from cyclegan_tf.interop.importer import import_torch as run_import
    from cyclegan_tf.models.registry import run_directions

    config = run_import(list(paths), name, checkpoints_dir, Overrides(net_g, norm, ngf), direction, dataset, model)
    click.echo(f"imported {config.model} run {config.run_dir}: {config.netG} (ngf {config.ngf}, norm {config.norm}), "
               f"translates {', '.join(run_directions(config))}")
    if config.translates is None:
        click.echo(f"note: {FRESH_OPTIMIZERS}")
