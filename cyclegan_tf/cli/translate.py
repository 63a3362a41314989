"""`cyclegan-tf translate`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from cyclegan_tf.choices import TEMPORAL_MODES, VIDEO_EXTENSIONS, is_video
from cyclegan_tf.cli.common import (
    CHECKPOINTS_DIR,
    CONTEXT,
    MAX_PIXELS,
    PRETRAINED,
    STRICT_FILES,
    finish_batch,
    run_source,
)
from cyclegan_tf.errors import UserError
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
@click.option("--temporal", type=click.Choice(TEMPORAL_MODES), default="running", show_default=True,
              help="A video: running = instance-norm statistics averaged over --temporal-span seconds centred "
                   "on each frame (steady colours, no flicker); off = each frame on its own, as an image.")
@click.option("--temporal-span", "--temporal_span", "temporal_span", type=click.FloatRange(min=0), default=1.0,
              show_default=True,
              help="A video: seconds the averaged statistics span (half before a frame, half after).")
@click.option("--start", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="A video: seconds to skip at its start.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="A video: seconds to translate.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=25.0, show_default=True,
              help="A folder of frames into a video: its frame rate.")
def translate(inputs, name, checkpoints_dir, pretrained, checkpoint, epoch, direction, training_mode, output, grid,
              tile, tile_overlap, batch_size, output_depth, strict, max_pixels, temporal, temporal_span, start,
              duration, fps) -> None:
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

    A video (.mp4, .mov, .avi, .webm; or a folder of frames with -o ending in one of those) becomes a video of
    the same size, frame rate and duration, with its audio (needs pip install 'cyclegan-tf[video]'):

    \b
      cyclegan-tf translate clip.mp4 --name horse2zebra -o zebra.mp4
      cyclegan-tf translate clip.mov --name horse2zebra -o try.mp4 --start 10 --duration 3
      cyclegan-tf translate frames/ --name horse2zebra -o out.webm --fps 30
    """
    source = run_source(name, checkpoints_dir, pretrained, checkpoint, takes_checkpoint=True)
    if is_video(output) or any(is_video(item) for item in inputs):
        return _translate_videos(inputs, source, output, direction, epoch, training_mode, batch_size, temporal,
                                 temporal_span, start, duration, fps)
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


def _translate_videos(inputs, source, output, direction, epoch, training_mode, batch_size, temporal, temporal_span,
                      start, duration, fps) -> None:
    """`translate` of videos: each input clip (or folder of frames) into `output` (a video file for one input,
    else a folder where each keeps its name)."""
    if is_video(output) and len(inputs) > 1:
        raise UserError(f"one input per output video: give -o a folder for {len(inputs)} inputs")
    outputs = []
    for item in inputs:
        path = Path(item)
        if not is_video(path) and not path.is_dir():
            raise UserError(f"{item}: not a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder of frames")
        if not is_video(output) and not is_video(path):
            raise UserError(f"{item}: a folder of frames becomes a video when -o ends in {', '.join(VIDEO_EXTENSIONS)}")
        outputs.append(Path(output) if is_video(output) else Path(output) / path.name)
    import_tensorflow_quietly()
    from cyclegan_tf.inference.translator import load_translator
    from cyclegan_tf.inference.video import ffmpeg, open_clip, translate_video

    ffmpeg()  # the missing extra is one line before the network loads
    translator = load_translator(source, direction, epoch, training_mode)
    for item, target in zip(inputs, outputs, strict=True):
        clip = open_clip(item, start, duration, fps, translator.channels)
        began = time.monotonic()

        def rate(done, began=began):
            seconds = time.monotonic() - began
            return f"{done / seconds:.1f} frames/s" if done and seconds > 0 else ""

        with click.progressbar(length=clip.expected or None, label=f"translating {Path(item).name}",
                               file=sys.stderr, show_pos=True, item_show_func=rate) as bar:
            result = translate_video(translator, item, target, batch_size or 8, temporal, temporal_span,
                                     on_frame=lambda done: bar.update(1, done), opened=clip)
        sound = "with its audio" if result["audio"] else "no audio"
        click.echo(f"wrote {target}: {result['frames']} frames at {result['fps']:g} fps, "
                   f"{result['size'][0]}x{result['size'][1]}, {sound}")
