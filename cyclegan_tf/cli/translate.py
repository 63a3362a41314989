"""`cyclegan-tf translate`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cyclegan_tf.cli.common import (
    CHECKPOINTS_DIR,
    CONTEXT,
    MAX_PIXELS,
    PRETRAINED,
    STRICT_FILES,
    finish_batch,
    run_source,
)
from cyclegan_tf.startup import import_tensorflow_quietly


@click.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--name", help="Run to use: <checkpoints-dir>/<name>.")
@CHECKPOINTS_DIR
@PRETRAINED
@click.option("--checkpoint", type=click.Path(),
              help="A run directory or one checkpoint directory (instead of --name).")
@click.option("--epoch", type=int, help="Use the networks saved at this epoch (default: the latest).")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]),
              help="AtoB uses G_AB, BtoA uses G_BA [default: AtoB; a pix2pix run: the direction it was trained in].")
@click.option("--training-mode", "--training_mode", "training_mode", is_flag=True,
              help="Run the generator as in training (batch norm on the image's own statistics, dropout on), as "
                   "the pix2pix paper does at test time [default: moving statistics, dropout off].")
@click.option("--output", "-o", type=click.Path(), default="translated", show_default=True,
              help="Folder for the translated PNGs (one per input, named after it).")
@click.option("--grid", is_flag=True, help="Write input | output side by side instead of the output alone.")
@click.option("--tile", type=click.IntRange(min=64),
              help="Translate images larger than this on a side in tiles of this size (instance-norm statistics "
                   "from the whole image, overlaps blended): for images too large for memory.")
@click.option("--tile-overlap", "--tile_overlap", "tile_overlap", type=click.IntRange(min=0), default=64,
              show_default=True, help="Pixels shared by neighbouring tiles.")
@click.option("--batch-size", "--batch_size", "batch_size", type=click.IntRange(min=1),
              help="Images of one size translated together (decoding and writing overlap the translation) "
                   "[default: 8 with a GPU, 1 on a CPU].")
@click.option("--output-depth", "--output_depth", "output_depth", type=click.Choice(["8", "16", "float"]),
              help="Scientific images (a run of 16-bit, float or N-band data): write 8-bit, 16-bit (PNG of one band, "
                   "else TIFF) or float (TIFF, .npy for .npy inputs) [default: the depth of the training data of "
                   "the domain translated to].")
@STRICT_FILES
@MAX_PIXELS
def translate(inputs, name, checkpoints_dir, pretrained, checkpoint, epoch, direction, training_mode, output, grid,
              tile, tile_overlap, batch_size, output_depth, strict, max_pixels) -> None:
    """Translate images of any size with a trained generator; writes PNGs of the same size.

    INPUT is an image file, a folder (all its images) or a glob pattern in quotes. An unreadable file is
    reported and skipped; the others are translated, and the exit status is 1 if any was skipped.

    \b
    Examples:
      cyclegan-tf translate photo.jpg --name apple2orange
      cyclegan-tf translate horse.jpg --pretrained horse2zebra      # the reference's model, downloaded once
      cyclegan-tf translate ~/data/apple2orange/testA --name apple2orange --output out/
      cyclegan-tf translate photos/ --name apple2orange --batch-size 16     # a GPU: same-size images together
      cyclegan-tf translate "shots/*.png" --name apple2orange --direction BtoA --epoch 100
      cyclegan-tf translate in.png --checkpoint checkpoints/demo/checkpoints/epoch_008
      cyclegan-tf translate ~/data/apple2orange/testA --name apple2orange --grid -o compare/
      cyclegan-tf translate aerial_8k.tif --name sat2map --tile 1024 --max-pixels 0   # larger than memory
      cyclegan-tf translate bands/ --name sar2optical --output-depth float   # a 16-bit run: float TIFFs
    """
    source = run_source(name, checkpoints_dir, pretrained, checkpoint, takes_checkpoint=True)
    import_tensorflow_quietly()
    from cyclegan_tf.data.images import Skipped
    from cyclegan_tf.inference.translator import expand_inputs, load_translator, translate_files

    paths = expand_inputs(inputs)
    translator = load_translator(source, direction, epoch, training_mode, tile, tile_overlap)
    skipped = Skipped()
    with click.progressbar(length=len(paths), label="translating", file=sys.stderr) as bar:
        written = translate_files(translator, paths, Path(output), on_image=lambda _: bar.update(1), grid=grid,
                                  skipped=skipped, strict=strict, max_pixels=max_pixels, batch_size=batch_size,
                                  depth=output_depth)
    click.echo(f"wrote {len(written)} image(s) to {output}")
    finish_batch(skipped)
