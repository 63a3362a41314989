"""The `cyclegan-tf` command: a thin layer over the Python API, one module per command (group).

Commands import TensorFlow only when they run, so `--help` and the `datasets` commands start instantly.
A `UserError` raised anywhere below becomes one line on stderr and exit status 1.
"""

from __future__ import annotations

import logging

import click

from cyclegan_tf.cli.ablation import ablation
from cyclegan_tf.cli.common import CONTEXT
from cyclegan_tf.cli.datasets import datasets
from cyclegan_tf.cli.deploy import export, serve
from cyclegan_tf.cli.evaluate import evaluate
from cyclegan_tf.cli.fid import fid
from cyclegan_tf.cli.generate import generate
from cyclegan_tf.cli.interop import import_torch
from cyclegan_tf.cli.pretrained import pretrained
from cyclegan_tf.cli.train import train
from cyclegan_tf.cli.translate import translate
from cyclegan_tf.errors import UserError


class Group(click.Group):
    """Turns a `UserError` anywhere below into one line on stderr and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=Group, context_settings=CONTEXT)
@click.version_option(package_name="cyclegan-tf")
@click.option("-v", "--verbose", is_flag=True, help="Show informational log lines.")
def main(verbose: bool) -> None:
    """Image-to-image translation with CycleGAN and CUT/FastCUT (unpaired), pix2pix (paired) and colorization, and
    image generation with DCGAN, in Keras 3 / TensorFlow.

    \b
    Examples:
      cyclegan-tf train --dataset demo --name demo      # offline demo, a few minutes on a CPU
      cyclegan-tf train --dataroot ./datasets/apple2orange --name apple2orange
      cyclegan-tf translate photo.jpg --name apple2orange --output out/
      cyclegan-tf train --name apple2orange --continue-train
      cyclegan-tf evaluate --name apple2orange          # FID, KID, cycle L1/PSNR on the test split
      cyclegan-tf fid translated/ datasets/apple2orange/testB   # the papers' FID/KID of two folders
      cyclegan-tf translate horse.jpg --pretrained horse2zebra   # the reference's pretrained models
      cyclegan-tf import-torch pt_checkpoints/my_run --name my_run  # the reference's .pth files
      cyclegan-tf export --name apple2orange --format onnx      # also keras, savedmodel, litert, torch
      cyclegan-tf serve --name apple2orange                     # a web page and POST /translate
      cyclegan-tf train --model dcgan --dataroot cats/ --augment diffaugment; cyclegan-tf generate --name cats
      cyclegan-tf train --model colorization --dataset mini_colorization  # grey -> colour
      cyclegan-tf train --model cut --dataset horse2zebra   # one-sided, contrastive (fastcut: quicker)
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s")


for command in (train, translate, generate, evaluate, fid, ablation, datasets, pretrained, import_torch, export,
                serve):
    main.add_command(command)


if __name__ == "__main__":
    main()
