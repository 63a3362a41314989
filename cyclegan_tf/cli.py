"""The `cyclegan-tf` command: a thin layer over `train`, `translate` and `datasets`.

The `train` options are made from `TrainConfig`'s fields, hyphenated as is usual here and also
accepted with the reference's underscores (`--lambda-A` or `--lambda_A`). TensorFlow is imported
only by the commands that need it, so `--help` is instant.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
from pathlib import Path

import click

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.errors import UserError

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=110)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without the oneDNN/CUDA/CPU-feature lines it writes to stderr at start-up.

    Those lines come from C++ before Python logging exists, so fd 2 is redirected around the import
    and the first look for devices (where a CUDA build on a machine without a GPU reports that cuInit
    failed); if the import fails, what it wrote is shown after all.
    """
    # Level 3 also hides Grappler's "remapper failed" ERROR lines, which TF logs for a fusion it skips
    # in our discriminators' gradients: harmless, and alarming to read each epoch. Set the variable to see them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices("GPU")
        except Exception:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


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
    """Image-to-image translation with CycleGAN in Keras 3 / TensorFlow.

    \b
    Examples:
      cyclegan-tf train --dataset demo --name demo      # offline demo, a few minutes on a CPU
      cyclegan-tf train --dataroot ./datasets/apple2orange --name apple2orange
      cyclegan-tf translate photo.jpg --name apple2orange --output out/
      cyclegan-tf train --name apple2orange --continue-train
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s")


def _flag_names(name: str) -> list[str]:
    hyphenated = "--" + name.replace("_", "-")
    return [hyphenated] + (["--" + name] if "_" in name else [])


def _field_kind(f: dataclasses.Field) -> type:
    kind = str(f.type)
    return int if kind.startswith("int") else float if kind.startswith("float") else str


def config_options(command):
    """Add one option per `TrainConfig` field (default None = not given, so presets can fill it)."""
    for f in reversed(dataclasses.fields(TrainConfig)):
        meta = dict(f.metadata)
        default = f.default
        shown = default in (None, False) or "[default:" in meta["help"]
        help_text = meta["help"] + ("" if shown else f"  [default: {default}]")
        if f.name == "continue_train":
            decls = _flag_names(f.name) + ["--resume", f.name]
            command = click.option(*decls, is_flag=True, default=None, help=help_text)(command)
        elif f.name == "dropout":
            decls = ["--dropout/--no-dropout", "--use_dropout/--no_dropout", f.name]
            command = click.option(*decls, default=None, help=meta["help"] + "  [default: off]")(command)
        elif "bool" in str(f.type):
            command = click.option(*_flag_names(f.name), f.name, is_flag=True, default=None, help=help_text)(command)
        else:
            choices = meta.get("choices")
            kind = _field_kind(f)
            command = click.option(
                *_flag_names(f.name), f.name, default=None, help=help_text,
                type=click.Choice([str(c) for c in choices]) if choices else kind,
                metavar=None if choices else kind.__name__.upper(),
            )(command)
    return command


@main.command(context_settings=CONTEXT)
@config_options
@click.option("--quiet", is_flag=True, help="One line per epoch instead of a progress bar.")
def train(quiet: bool, **options) -> None:
    """Train a CycleGAN on an unpaired dataset (folders trainA/ trainB/ testA/ testB/).

    Defaults are the reference implementation's (ResNet-9 generator, 70x70 PatchGAN, lsgan,
    Adam 2e-4 / beta1 0.5, 100 + 100 epochs, 286 -> random crop 256). The run directory
    <checkpoints-dir>/<name> holds config.json and the checkpoints; Ctrl-C saves the state,
    and --continue-train resumes it.

    \b
    Examples:
      cyclegan-tf train --dataset demo --name demo
      cyclegan-tf train --dataroot ~/data/horse2zebra --name h2z --seed 1
      cyclegan-tf train --dataroot ~/data/maps --name maps --netG resnet_6blocks --load-size 143 --crop-size 128
      cyclegan-tf train --dataroot ~/data/gray2rgb --input-nc 1 --output-nc 3 --name colorize
      cyclegan-tf train --name h2z --continue-train            # resume after a stop
      cyclegan-tf train --name h2z --resume --n-epochs-decay 150  # resume and train longer
    """
    for f in dataclasses.fields(TrainConfig):  # choices arrive as strings
        if options.get(f.name) is not None and not isinstance(options[f.name], bool):
            options[f.name] = _field_kind(f)(options[f.name])
    import_tensorflow_quietly()
    from cyclegan_tf.train import TrainingInterrupted, make_config
    from cyclegan_tf.train import train as run_training

    cfg = make_config(options)
    try:
        result = run_training(cfg, verbose=2 if quiet else "auto")
    except TrainingInterrupted as stop:
        click.echo(str(stop), err=True)
        sys.exit(130)
    click.echo(f"trained {result.epoch} epochs ({result.step} steps) in {result.seconds:.0f} s; "
               f"run directory: {result.run_dir}")
    if result.demo_score:
        s = result.demo_score
        click.echo(
            f"demo score (IoU of object masks, %): {s['score']:.1f}  "
            f"[AtoB IoU {s['AtoB']['iou']:.1f}, style {s['AtoB']['style_accuracy']:.1f}; "
            f"BtoA IoU {s['BtoA']['iou']:.1f}, style {s['BtoA']['style_accuracy']:.1f}]"
        )


@main.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--name", help="Run to use: <checkpoints-dir>/<name>.")
@click.option("--checkpoints-dir", "--checkpoints_dir", "checkpoints_dir", default="./checkpoints", show_default=True,
              help="Where run directories are kept.")
@click.option("--checkpoint", type=click.Path(),
              help="A run directory or one checkpoint directory (instead of --name).")
@click.option("--epoch", type=int, help="Use the networks saved at this epoch (default: the latest).")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="AtoB uses G_AB, BtoA uses G_BA.")
@click.option("--output", "-o", type=click.Path(), default="translated", show_default=True,
              help="Folder for the translated PNGs (one per input, named after it).")
def translate(inputs, name, checkpoints_dir, checkpoint, epoch, direction, output) -> None:
    """Translate images of any size with a trained generator; writes PNGs of the same size.

    INPUT is an image file, a folder (all its images) or a glob pattern in quotes.

    \b
    Examples:
      cyclegan-tf translate photo.jpg --name apple2orange
      cyclegan-tf translate ~/data/apple2orange/testA --name apple2orange --output out/
      cyclegan-tf translate "shots/*.png" --name apple2orange --direction BtoA --epoch 100
      cyclegan-tf translate in.png --checkpoint checkpoints/demo/checkpoints/epoch_008
    """
    if bool(name) == bool(checkpoint):
        raise click.UsageError("give --name RUN or --checkpoint DIR (one of them)")
    source = Path(checkpoint) if checkpoint else Path(checkpoints_dir) / name
    import_tensorflow_quietly()
    from cyclegan_tf.translate import expand_inputs, load_translator, translate_files

    paths = expand_inputs(inputs)
    translator = load_translator(source, direction, epoch)
    with click.progressbar(length=len(paths), label="translating", file=sys.stderr) as bar:
        written = translate_files(translator, paths, Path(output), on_image=lambda _: bar.update(1))
    click.echo(f"wrote {len(written)} image(s) to {output}")


if __name__ == "__main__":
    main()
