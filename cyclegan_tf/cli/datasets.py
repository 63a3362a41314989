"""`cyclegan-tf datasets ...`: no TensorFlow here (these commands start instantly)."""

from __future__ import annotations

import sys

import click

from cyclegan_tf.cli.common import CONTEXT, DATA_DIR_HELP, DOWNLOAD_TIMEOUT, MIRROR


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


def _echo_unreadable(failed: list[str], total: int, limit: int = 20) -> None:
    """'2 of 1,000 files skipped: path: why; ...' on stderr and exit status 1, when any file was unreadable."""
    if failed:
        more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
        click.echo(f"{len(failed):,} of {total:,} files skipped: {'; '.join(failed[:limit])}{more}", err=True)
        sys.exit(1)


@click.group(context_settings=CONTEXT)
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
    from cyclegan_tf.data.registry import data_root, statuses

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
@MIRROR
@DOWNLOAD_TIMEOUT
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
    from cyclegan_tf.data.registry import download_named

    for name in names:
        click.echo(download_named(name, kind, data_dir, mirror, timeout, keep_archive))


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
    from cyclegan_tf.data.tools import format_report, inspect_dataset

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
    from cyclegan_tf.data.tools import combine

    with _Progress("combining") as progress:
        result = combine(folder_a, folder_b, out, overwrite=overwrite, on_item=progress)
    click.echo(f"wrote {len(result.written)} A|B image(s) to {out}")
    _echo_list("only in A, skipped", result.only_a)
    _echo_list("only in B, skipped", result.only_b)
    _echo_list("several files with one name, skipped", result.ambiguous)
    _echo_unreadable(result.failed, len(result.written) + len(result.failed))


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
    from cyclegan_tf.data.tools import resize_images

    with _Progress("resizing") as progress:
        result = resize_images(src, dst, size, mode, overwrite=overwrite, on_item=progress)
    click.echo(f"wrote {len(result.written)} image(s) to {dst}")
    _echo_list("files without an image extension, not copied", [str(p) for p in result.skipped])
    _echo_unreadable(result.failed, len(result.written) + len(result.failed))
