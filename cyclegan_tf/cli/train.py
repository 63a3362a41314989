"""`cyclegan-tf train`."""

from __future__ import annotations

import sys

import click

from cyclegan_tf.cli.common import CONTEXT
from cyclegan_tf.cli.options import config_options, typed_options
from cyclegan_tf.startup import import_tensorflow_quietly


@click.command(context_settings=CONTEXT)
@config_options
@click.option("--quiet", is_flag=True, help="One line per epoch instead of a progress bar.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A TOML (or JSON, e.g. a run's config.json) file of options; the command line wins over it.")
def train(quiet: bool, config_file: str | None, **options) -> None:
    """Train a CycleGAN on unpaired folders, or a pix2pix model (--model pix2pix) on A|B pairs.

    CycleGAN reads trainA/ trainB/ (testA/ testB/); pix2pix reads train/ (test/) of A|B side-by-side images.

    Defaults are the reference implementation's (ResNet-9 generator, 70x70 PatchGAN, lsgan,
    Adam 2e-4 / beta1 0.5, 100 + 100 epochs, 286 -> random crop 256). The run directory
    <checkpoints-dir>/<name> holds config.json and the checkpoints; Ctrl-C saves the state,
    and --continue-train resumes it. To watch it: index.html (sample grids of every epoch, time-lapse,
    loss plot), samples/, timelapse.gif, loss_log.csv, and TensorBoard logs in logs/.

    \b
    Examples:
      cyclegan-tf train --dataset demo --name demo
      cyclegan-tf train --dataset apple2orange --mixed-precision auto   # downloads on first use; bf16 here
      cyclegan-tf train --dataroot ~/data/horse2zebra --name h2z --seed 1
      cyclegan-tf train --dataroot ~/data/maps --name maps --netG resnet_6blocks --load-size 143 --crop-size 128
      cyclegan-tf train --dataroot ~/data/gray2rgb --input-nc 1 --output-nc 3 --lambda-identity 0 --name colorize
      cyclegan-tf train --name h2z --continue-train            # resume after a stop
      cyclegan-tf train --model pix2pix --dataset facades --direction BtoA   # pix2pix, the reference's defaults
      cyclegan-tf train --model pix2pix --dataset labels2photo_demo   # offline, scored exactly (FCN-score)
      cyclegan-tf train --model colorization --dataset colorization_demo   # grey -> colour, offline, scored exactly
      cyclegan-tf train --model colorization --dataroot ~/photos --name colour   # any folder of colour photos
      cyclegan-tf train --model dcgan --dataroot ~/cats --augment diffaugment  # images from noise; then generate
      cyclegan-tf train --name h2z --resume --n-epochs-decay 150  # resume and train longer
      cyclegan-tf train --dataroot ~/data/horse2zebra --name h2z --eval-freq 10 --quiet  # FID every 10 epochs
      cyclegan-tf train --config my_setup.toml --name try2 --lr 1e-4   # options from a file, --lr overrides it
      cyclegan-tf train --config checkpoints/h2z/config.json --name h2z_again --seed 2   # another run's options
    """
    import_tensorflow_quietly()
    from cyclegan_tf.config import make_config
    from cyclegan_tf.evaluation.exact import model_exact_scores
    from cyclegan_tf.training.health import summary
    from cyclegan_tf.training.trainer import TrainingInterrupted
    from cyclegan_tf.training.trainer import train as run_training

    cfg = make_config(typed_options(options), config_file)
    try:
        result = run_training(cfg, verbose=2 if quiet else "auto")
    except TrainingInterrupted as stop:
        click.echo(str(stop), err=True)
        sys.exit(130)
    click.echo(f"trained {result.epoch} epochs ({result.step} steps) in {result.seconds:.0f} s; "
               f"run directory: {result.run_dir}")
    for line in model_exact_scores(result.model, cfg, result.dataroot).lines():
        click.echo(line)
    if cfg.on_unhealthy != "off":
        for line in summary(result.health):
            click.echo(line)
