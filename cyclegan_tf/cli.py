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
    """Image-to-image translation with CycleGAN (unpaired) and pix2pix (paired) in Keras 3 / TensorFlow.

    \b
    Examples:
      cyclegan-tf train --dataset demo --name demo      # offline demo, a few minutes on a CPU
      cyclegan-tf train --dataroot ./datasets/apple2orange --name apple2orange
      cyclegan-tf translate photo.jpg --name apple2orange --output out/
      cyclegan-tf train --name apple2orange --continue-train
      cyclegan-tf evaluate --name apple2orange          # FID, KID, cycle L1/PSNR on the test split
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
      cyclegan-tf train --name h2z --resume --n-epochs-decay 150  # resume and train longer
      cyclegan-tf train --dataroot ~/data/horse2zebra --name h2z --eval-freq 10 --quiet  # FID every 10 epochs
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
    if result.fcn_score:
        f = result.fcn_score
        click.echo(f"FCN-score (labels -> photo): per-pixel acc. {f['pixel_accuracy']:.3f}, per-class acc. "
                   f"{f['class_accuracy']:.3f}, class IoU {f['class_iou']:.3f}")


@main.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--name", help="Run to use: <checkpoints-dir>/<name>.")
@click.option("--checkpoints-dir", "--checkpoints_dir", "checkpoints_dir", default="./checkpoints", show_default=True,
              help="Where run directories are kept.")
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
def translate(inputs, name, checkpoints_dir, checkpoint, epoch, direction, training_mode, output, grid) -> None:
    """Translate images of any size with a trained generator; writes PNGs of the same size.

    INPUT is an image file, a folder (all its images) or a glob pattern in quotes.

    \b
    Examples:
      cyclegan-tf translate photo.jpg --name apple2orange
      cyclegan-tf translate ~/data/apple2orange/testA --name apple2orange --output out/
      cyclegan-tf translate "shots/*.png" --name apple2orange --direction BtoA --epoch 100
      cyclegan-tf translate in.png --checkpoint checkpoints/demo/checkpoints/epoch_008
      cyclegan-tf translate ~/data/apple2orange/testA --name apple2orange --grid -o compare/
    """
    if bool(name) == bool(checkpoint):
        raise click.UsageError("give --name RUN or --checkpoint DIR (one of them)")
    source = Path(checkpoint) if checkpoint else Path(checkpoints_dir) / name
    import_tensorflow_quietly()
    from cyclegan_tf.translate import expand_inputs, load_translator, translate_files

    paths = expand_inputs(inputs)
    translator = load_translator(source, direction, epoch, training_mode)
    with click.progressbar(length=len(paths), label="translating", file=sys.stderr) as bar:
        written = translate_files(translator, paths, Path(output), on_image=lambda _: bar.update(1), grid=grid)
    click.echo(f"wrote {len(written)} image(s) to {output}")


@main.command(context_settings=CONTEXT)
@click.option("--name", required=True, help="Run to evaluate: <checkpoints-dir>/<name>.")
@click.option("--checkpoints-dir", "--checkpoints_dir", "checkpoints_dir", default="./checkpoints", show_default=True,
              help="Where run directories are kept.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA", "both"]), default="both", show_default=True,
              help="Which generator(s) to score (both: every one the run has; pix2pix has one).")
@click.option("--epoch", type=int, help="Evaluate the networks saved at this epoch (default: the latest).")
@click.option("--feature-extractor", "--feature_extractor", "feature_extractor", type=click.Path(dir_okay=False),
              help="A Keras model file (.keras) mapping images to feature vectors, instead of InceptionV3. It gets "
                   "float32 RGB images in [0, 255] at its input size (299 x 299 if not fixed) and returns "
                   "(batch, d) features.")
@click.option("--no-fid", "--no_fid", "no_fid", is_flag=True,
              help="Skip FID and KID (no feature extractor needed): the other scores only.")
@click.option("--dataroot", type=click.Path(file_okay=False),
              help="Folder with testA/ testB/ (pix2pix: test/ or val/ of A|B images) [default: the run's own "
                   "dataset].")
@click.option("--max-images", "--max_images", "max_images", type=click.IntRange(min=2),
              help="Use at most this many test images per domain.")
@click.option("--segmenter", type=click.Path(dir_okay=False),
              help="FCN-score (labels -> photo) with this Keras segmentation model (.keras): input (1, H, W, 3) "
                   "float32 RGB in [0, 255], output (1, H, W, K) class scores. The run's inputs are the label maps: "
                   "one-channel class ids, or colour maps with --palette. Runs on labels2photo_demo get the "
                   "FCN-score from its exact segmenter without this.")
@click.option("--palette", type=click.Path(dir_okay=False),
              help="JSON list of [r, g, b] colours, class i = colour i, to read colour label maps (--segmenter).")
def evaluate(name, checkpoints_dir, direction, epoch, feature_extractor, no_fid, dataroot, max_images, segmenter,
             palette) -> None:
    """Score a trained run on its test split: FID and KID, L1 and PSNR, and the embedded sets' exact scores.

    For each direction a CycleGAN run has (AtoB: testA -> G_AB -> fake B -> G_BA -> reconstructed A), FID and
    KID compare the translations with the real test images of the target domain (lower is better); cycle L1
    (in [-1, 1] units) and PSNR compare each input with its reconstruction. A pix2pix run is scored in its
    direction on the A|B pairs of test/ (else val/): FID and KID as above, L1 and PSNR against each pair's
    target. On the embedded demo dataset the exact demo score (IoU, style accuracy) is added, on
    labels2photo_demo the FCN-score of labels -> photo (per-pixel acc., per-class acc., class IoU). Prints a
    table and saves it as JSON in <run>/eval/epoch_NNN.json.

    Features are InceptionV3's (ImageNet weights, downloaded once by Keras into ~/.keras/models/); without
    internet, put inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 there, pass --feature-extractor,
    or --no-fid. FID/KID from few images are biased upwards: compare runs on the same images with the same
    features.

    \b
    Examples:
      cyclegan-tf evaluate --name apple2orange
      cyclegan-tf evaluate --name apple2orange --epoch 100 --direction AtoB
      cyclegan-tf evaluate --name demo --feature-extractor features.keras
      cyclegan-tf evaluate --name facades_pix2pix --no-fid                 # L1 / PSNR to the targets
      cyclegan-tf evaluate --name h2z --dataroot ~/data/horse2zebra --max-images 100
    """
    import_tensorflow_quietly()
    from cyclegan_tf import paired_demo
    from cyclegan_tf.evaluate import evaluate_run

    run = Path(checkpoints_dir) / name
    colours = paired_demo.read_palette(palette) if palette else None  # files the user gave fail before the work
    segment = paired_demo.keras_segmenter(segmenter) if segmenter else None
    result = evaluate_run(run, direction, epoch, feature_extractor, dataroot, max_images, features=not no_fid)
    click.echo(result.table())
    if segment:
        fcn = paired_demo.score_run(run, epoch, segment, colours, dataroot, max_images)
        click.echo(f"FCN-score with {segmenter} ({fcn.images} test images): per-pixel acc. {fcn.pixel_accuracy:.3f}, "
                   f"per-class acc. {fcn.class_accuracy:.3f}, class IoU {fcn.class_iou:.3f}")
    click.echo(f"saved {run / 'eval' / f'epoch_{result.epoch:03d}.json'}")


@main.command(context_settings=CONTEXT)
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
    of labels2photo_demo. About 2 minutes per pix2pix configuration on 2 CPU cores with --epochs 6.

    \b
    Examples:
      cyclegan-tf ablation pix2pix --out pix2pix_ablation.md
      cyclegan-tf ablation cyclegan --epochs 8 --seeds 3
      cyclegan-tf ablation pix2pix --epochs 1 --max-pairs 8      # a quick check that everything runs
    """
    import_tensorflow_quietly()
    import time

    from cyclegan_tf.ablation import bounds, markdown, run_ablation

    started = time.time()

    def progress(table, row) -> None:
        ious = ", ".join(f"{score.class_iou:.2f}" for score in row.scores)
        seeds = f", class IoU per seed {ious}" if len(row.scores) > 1 else ""
        click.echo(f"{table.model} {row.variant.label}: {row.score.row()} ({row.steps} steps, {row.seconds:.0f} s"
                   f"{seeds})")

    results = run_ablation(kind, epochs, data_dir, work_dir, on_row=progress, max_pairs=max_pairs, seeds=seeds)
    command = (f"cyclegan-tf ablation {kind} --epochs {epochs}" + (f" --seeds {seeds}" if seeds > 1 else "")
               + (f" --max-pairs {max_pairs}" if max_pairs else ""))
    identity, truth = bounds(data_dir)
    text = markdown(results, truth, command, time.time() - started, identity)
    path = Path(out or f"ablation_{kind}.md")
    path.write_text(text)
    click.echo(text)
    click.echo(f"wrote {path}")


# ---------------------------------------------------------------------------------------------------------------
# datasets: no TensorFlow below this line


class _Progress:
    """A progress bar on stderr made at the first update, when the total is known; silent when not a terminal."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _echo_list(title: str, items: list, limit: int = 20) -> None:
    if items:
        shown = ", ".join(str(i) for i in items[:limit])
        click.echo(f"{title} ({len(items)}): {shown}" + (f", ... and {len(items) - limit} more" if len(items) > limit
                                                        else ""))


DATA_DIR_HELP = "Where named datasets live [default: $CYCLEGAN_TF_DATA or ~/.cache/cyclegan-tf/datasets]."


@main.group(context_settings=CONTEXT)
def datasets() -> None:
    """The reference's datasets by name, and tools to check and prepare your own folders.

    Downloads go to the data dir: <data dir>/NAME for CycleGAN's unpaired datasets (trainA/ trainB/
    testA/ testB/), <data dir>/pix2pix/NAME for pix2pix's aligned ones (train/ val/ test/ of A|B images).

    \b
    Examples:
      cyclegan-tf datasets list
      cyclegan-tf datasets download apple2orange
      cyclegan-tf datasets download facades --kind aligned      # pix2pix's facades
      cyclegan-tf datasets inspect ~/data/horse2zebra
      cyclegan-tf datasets combine --a photos/ --b labels/ --out facades_AB/
      cyclegan-tf datasets resize ~/data/raw ~/data/raw256 --size 256
    """


def _size_text(mb: int) -> str:
    return "-" if not mb else f"~{mb / 1000:.1f} GB" if mb >= 1000 else f"~{mb} MB"


@datasets.command("list", context_settings=CONTEXT)
@click.option("--data-dir", "--data_dir", "data_dir", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
def datasets_list(data_dir) -> None:
    """The reference's datasets: name, kind, approximate size and whether it is in the data dir.

    \b
    Examples:
      cyclegan-tf datasets list
      cyclegan-tf datasets list --data-dir /mnt/big/datasets
    """
    from cyclegan_tf.datasets import data_root, statuses

    click.echo(f"data dir: {data_root(data_dir)}")
    click.echo(f"{'name':<26} {'kind':<9} {'size':>8}  status")
    for s in statuses(data_dir):
        click.echo(f"{s.info.key:<26} {s.info.kind:<9} {_size_text(s.info.size_mb):>8}  {s.state}")
    click.echo("facades, maps and cityscapes are both unpaired (CycleGAN) and aligned (pix2pix): "
               "write pix2pix/NAME or add --kind aligned for pix2pix's")


@datasets.command("download", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.option("--kind", type=click.Choice(["unpaired", "aligned"]),
              help="For facades, maps, cityscapes: CycleGAN's unpaired set or pix2pix's aligned one "
                   "[default: unpaired].")
@click.option("--data-dir", "--data_dir", "data_dir", type=click.Path(file_okay=False), help=DATA_DIR_HELP)
@click.option("--mirror", "--base-url", "mirror", metavar="URL",
              help="Download from URL instead of http://efrosgans.eecs.berkeley.edu (same paths below it; "
                   "file:///dir works too) [default: $CYCLEGAN_TF_MIRROR].")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the server before giving up.")
@click.option("--keep-archive", is_flag=True, help="Keep the archive in <data dir>/.downloads after extracting it.")
def datasets_download(names, kind, data_dir, mirror, timeout, keep_archive) -> None:
    """Download and extract datasets by name (a cached one makes no request).

    An interrupted download is resumed by running the command again; the archive is checked
    before extraction and nothing is written outside the dataset's folder. `cyclegan-tf train
    --dataset NAME` does the same on first use.

    \b
    Examples:
      cyclegan-tf datasets download horse2zebra monet2photo
      cyclegan-tf datasets download facades --kind aligned --data-dir ~/data
      CYCLEGAN_TF_MIRROR=https://mirror.example.org cyclegan-tf datasets download maps
    """
    from cyclegan_tf.datasets import DEMO, dataset_folder, is_complete, lookup, resolve_dataset

    for name in names:
        info = lookup(name, kind)
        if info is None and name != DEMO:
            other = lookup(name, None)
            raise UserError(f"{name!r} has no {kind} dataset (it is {other.kind})" if other else
                            f"unknown dataset {name!r}: `cyclegan-tf datasets list` shows the names")
        cached = info is not None and is_complete(dataset_folder(name, data_dir, info.kind), info.kind)
        folder = resolve_dataset(name, data_dir, kind=info.kind if info else None, mirror=mirror, timeout=timeout,
                                 keep_archive=keep_archive)
        click.echo(f"{name}: {'already in' if cached else 'ready in'} {folder}")


@datasets.command("inspect", context_settings=CONTEXT)
@click.argument("folder", type=click.Path())
@click.option("--crop-size", "--crop_size", "crop_size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Warn about images smaller than this (the training crop).")
@click.option("--kind", type=click.Choice(["auto", "unpaired", "aligned"]), default="auto", show_default=True,
              help="Layout: auto finds trainA/... (unpaired) or train/... (aligned, A|B images); a plain folder "
                   "of images is checked as one split.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="List at most N files per finding (0: all).")
@click.option("--strict", is_flag=True, help="Exit with status 1 on warnings too.")
def datasets_inspect(folder, crop_size, kind, limit, strict) -> None:
    """Check a dataset folder before training: every file is decoded once, as the trainer does.

    Reports counts per split, image sizes and modes, unreadable / truncated / empty / non-image files
    by path, duplicates (same bytes), and warnings that matter for training: images smaller than
    --crop-size, mixed grayscale and colour images, an empty split, A|B images of odd width.

    Exit status: 0 when nothing stops training (warnings are printed), 1 on errors (unreadable
    images, a missing or empty training split, a bad FOLDER), and with --strict on warnings too.

    \b
    Examples:
      cyclegan-tf datasets inspect ~/data/horse2zebra
      cyclegan-tf datasets inspect ~/.cache/cyclegan-tf/datasets/pix2pix/facades --crop-size 256
      cyclegan-tf datasets inspect my_photos/ --limit 0 --strict
    """
    from cyclegan_tf.dataset_tools import format_report, inspect_dataset

    with _Progress("inspecting") as progress:
        report = inspect_dataset(folder, crop_size=crop_size, kind=kind, on_item=progress)
    for line in format_report(report, limit):
        click.echo(line)
    if report.errors or (strict and report.warnings):
        sys.exit(1)


@datasets.command("combine", context_settings=CONTEXT)
@click.option("--a", "folder_a", required=True, type=click.Path(), help="Folder of A images (e.g. photos).")
@click.option("--b", "folder_b", required=True, type=click.Path(), help="Folder of B images (e.g. labels).")
@click.option("--out", required=True, type=click.Path(), help="Folder for the A|B images.")
@click.option("--overwrite", is_flag=True, help="Replace A|B images already in --out.")
def datasets_combine(folder_a, folder_b, out, overwrite) -> None:
    """Make A|B side-by-side images for aligned (pix2pix) training.

    Pairs are matched by file name without extension (A/12.jpg with B/12.png); B is resized to A's
    size; the output is named as A's file. If --a and --b hold train/ val/ test/ subfolders instead
    of images, each common subfolder is combined into the same subfolder of --out. Names found on one
    side only are listed. Exit status 1 when an image could not be read.

    \b
    Examples:
      cyclegan-tf datasets combine --a photos/ --b labels/ --out facades/train
      cyclegan-tf datasets combine --a A/ --b B/ --out AB/        # A/train + B/train -> AB/train, ...
    """
    from cyclegan_tf.dataset_tools import combine

    with _Progress("combining") as progress:
        result = combine(folder_a, folder_b, out, overwrite=overwrite, on_item=progress)
    click.echo(f"wrote {len(result.written)} A|B image(s) to {out}")
    _echo_list("only in A, skipped", result.only_a)
    _echo_list("only in B, skipped", result.only_b)
    _echo_list("several files with one name, skipped", result.ambiguous)
    _echo_list("unreadable, skipped", result.failed)
    if result.failed:
        sys.exit(1)


@datasets.command("resize", context_settings=CONTEXT)
@click.argument("src", type=click.Path())
@click.argument("dst", type=click.Path())
@click.option("--size", required=True, type=click.IntRange(min=1), help="Target size N in pixels.")
@click.option("--mode", type=click.Choice(["cover", "fit"]), default="cover", show_default=True,
              help="cover: scale to cover NxN, then centre-crop to NxN; fit: scale to fit inside NxN, keep aspect.")
@click.option("--overwrite", is_flag=True, help="Replace images already in DST.")
def datasets_resize(src, dst, size, mode, overwrite) -> None:
    """Write a resized copy of every image below SRC to DST, keeping names and subfolders.

    Images are decoded as for training (transparency on white, 16-bit to 8-bit, EXIF rotation) and
    saved in their own format. For A|B images, resize the A and B folders before `combine`.
    Exit status 1 when an image could not be read.

    \b
    Examples:
      cyclegan-tf datasets resize ~/data/horse2zebra ~/data/horse2zebra_128 --size 128
      cyclegan-tf datasets resize scans/ scans_512/ --size 512 --mode fit
    """
    from cyclegan_tf.dataset_tools import resize_images

    with _Progress("resizing") as progress:
        result = resize_images(src, dst, size, mode, overwrite=overwrite, on_item=progress)
    click.echo(f"wrote {len(result.written)} image(s) to {dst}")
    _echo_list("files without an image extension, not copied", [str(p) for p in result.skipped])
    _echo_list("unreadable, skipped", result.failed)
    if result.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
