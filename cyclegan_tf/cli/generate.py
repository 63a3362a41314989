"""`cyclegan-tf generate`."""

from __future__ import annotations

import sys

import click

from cyclegan_tf.cli.common import CHECKPOINTS_DIR, CONTEXT, run_source
from cyclegan_tf.startup import import_tensorflow_quietly


@click.command(context_settings=CONTEXT)
@click.option("--name", help="A DCGAN run: <checkpoints-dir>/<name>.")
@CHECKPOINTS_DIR
@click.option("--checkpoint", type=click.Path(),
              help="A run directory or one checkpoint directory (instead of --name).")
@click.option("--epoch", type=int, help="Use the generator saved at this epoch (default: the latest).")
@click.option("-n", "count", type=click.IntRange(min=1), default=64, show_default=True, help="Images to make.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the noise: one seed gives the same images (--seed -1: fresh noise each time).")
@click.option("--output", "-o", type=click.Path(), default="generated", show_default=True,
              help="Folder for the PNGs (generated_00000.png, ...).")
@click.option("--grid", is_flag=True, help="Also write all of them in one grid.png.")
def generate(name, checkpoints_dir, checkpoint, epoch, count, seed, output, grid) -> None:
    """Make images from noise with a trained DCGAN (`train --model dcgan`).

    \b
    Examples:
      cyclegan-tf generate --name cats -n 64 --grid -o samples/
      cyclegan-tf generate --name cats -n 1000 --seed 7 -o fid_set/    # the same 1000 images every time
      cyclegan-tf generate --checkpoint checkpoints/cats/checkpoints/epoch_050 -n 16 --grid
    """
    source = run_source(name, checkpoints_dir, None, checkpoint, takes_checkpoint=True)
    import_tensorflow_quietly()
    from cyclegan_tf.inference.sampler import generate_files, load_sampler

    sampler = load_sampler(source, epoch)
    with click.progressbar(length=count, label="generating", file=sys.stderr) as bar:
        generate_files(sampler, count, output, None if seed == -1 else seed, grid, on_images=bar.update)
    click.echo(f"wrote {count} image(s){' and grid.png' if grid else ''} to {output}")
